"""gather: the paths ``check`` reads, the live Corefile's options, and the DNS servers to ask."""

from __future__ import annotations

import logging
from typing import Any, cast

import builders
import pytest

from headless_auditor import config
from headless_auditor.core import corefile, records
from headless_auditor.kube import client, gather

DEFAULTS = corefile.CorefileOptions()
KUBE_DNS_SERVICE = {
    "metadata": {"name": "kube-dns", "namespace": "kube-system"},
    "spec": {
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10"],
        "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP"},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP"},
        ],
    },
}
KUBE_DNS_SLICE = {
    "metadata": {"name": "kube-dns-x7k2p", "namespace": "kube-system"},
    "addressType": "IPv4",
    "endpoints": [
        {"addresses": ["10.244.0.3"], "conditions": {"ready": True}},
        {"addresses": ["10.244.0.2"], "conditions": {"ready": True}},
        {"addresses": ["10.244.0.4"], "conditions": {"ready": False}},
    ],
    "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
}


FakeKube = builders.FakeKube


class UntouchableKube:
    """Fails the test on any use."""

    def __getattr__(self, name: str) -> Any:
        raise AssertionError(f"Kube.{name} must not be used")


def as_kube(fake: object) -> client.Kube:
    return cast(client.Kube, fake)


# -- objects -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespace", "paths"),
    [
        pytest.param(
            "team-a",
            [
                "/api/v1/namespaces/team-a/services",
                "/apis/discovery.k8s.io/v1/namespaces/team-a/endpointslices",
                "/apis/apps/v1/namespaces/team-a/statefulsets",
            ],
            id="namespaced",
        ),
        pytest.param(
            None,
            [
                "/api/v1/services",
                "/apis/discovery.k8s.io/v1/endpointslices",
                "/apis/apps/v1/statefulsets",
            ],
            id="cluster-wide",
        ),
    ],
)
def test_objects_paths(namespace: str | None, paths: list[str]) -> None:
    kube = FakeKube()
    gather.objects(as_kube(kube), namespace)
    assert sorted(path for path, _query in kube.lists) == sorted(paths)
    assert all(query == {} for _path, query in kube.lists)
    assert kube.gets == []


def test_objects_sorted_by_kind() -> None:
    service, slice_, statefulset = (
        builders.service_api(),
        builders.slice_api(),
        builders.statefulset_api(),
    )
    kube = FakeKube(
        collections={
            "/api/v1/namespaces/default/services": [service],
            "/apis/discovery.k8s.io/v1/namespaces/default/endpointslices": [slice_],
            "/apis/apps/v1/namespaces/default/statefulsets": [statefulset],
        }
    )
    objects = gather.objects(as_kube(kube), "default")
    assert objects == gather.Objects(
        services=[service], slices=[slice_], statefulsets=[statefulset]
    )


# -- the Corefile ------------------------------------------------------------------------------

NO_KUBERNETES = ".:53 {\n    errors\n    forward . /etc/resolv.conf\n}\n"
UNCLOSED = ".:53 {\n    kubernetes cluster.local {\n        ttl 30\n"
BAD_TTL = ".:53 {\n    kubernetes cluster.local {\n        ttl soon\n    }\n}\n"


@pytest.mark.parametrize(
    ("configmap", "logged"),
    [
        pytest.param(None, "no Corefile", id="no-configmap"),
        pytest.param({"data": None}, "no Corefile", id="data-null"),
        pytest.param({"data": {"other": "x"}}, "no Corefile", id="no-corefile-key"),
        pytest.param({"data": {"Corefile": ""}}, "no Corefile", id="empty-corefile"),
        pytest.param({"data": {"Corefile": NO_KUBERNETES}}, "no 'kubernetes'", id="no-plugin"),
        pytest.param({"data": {"Corefile": UNCLOSED}}, "never closed", id="unclosed-block"),
        pytest.param({"data": {"Corefile": BAD_TTL}}, "'soon'", id="bad-ttl"),
    ],
)
def test_unusable_corefile_gives_defaults_with_a_warning(
    configmap: dict[str, Any] | None, logged: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger=gather.__name__)
    assert gather.corefile_options(configmap) == DEFAULTS
    [record] = [r for r in caplog.records if r.name == gather.__name__]
    assert record.levelno == logging.WARNING
    assert "kube-system/coredns" in record.getMessage()
    assert "defaults" in record.getMessage()
    assert logged in record.getMessage()


def test_kubeadm_corefile(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger=gather.__name__)
    options = gather.corefile_options({"data": {"Corefile": builders.KUBEADM_COREFILE}})
    assert options == corefile.parse_corefile(builders.KUBEADM_COREFILE)
    assert options.ttl == 30
    assert options.cluster_zone == "cluster.local"
    assert options.cache is not None
    assert options.cache.success_disabled == ("cluster.local.",)
    assert caplog.records == []


def test_live_corefile_reads_the_coredns_configmap() -> None:
    configmap = {"data": {"Corefile": builders.OLD_KUBEADM_COREFILE}}
    kube = FakeKube(objects={"/api/v1/namespaces/kube-system/configmaps/coredns": configmap})
    options = gather.live_corefile(as_kube(kube))
    assert kube.gets == ["/api/v1/namespaces/kube-system/configmaps/coredns"]
    assert options == corefile.parse_corefile(builders.OLD_KUBEADM_COREFILE)
    assert options != DEFAULTS


def test_live_corefile_missing_configmap_gives_defaults() -> None:
    assert gather.live_corefile(as_kube(FakeKube())) == DEFAULTS


# -- DNS servers -------------------------------------------------------------------------------


def test_configured_servers_win_without_asking_the_cluster() -> None:
    servers = (records.DNSServer("127.0.0.1", 1053), records.DNSServer("fd00::53", 53))
    settings = config.Settings(dns_servers=servers)
    kube = as_kube(UntouchableKube())
    assert settings.servers_or(lambda: gather.dns_servers(kube)) == servers


def test_servers_discovered_from_kube_dns() -> None:
    kube = FakeKube(
        objects={"/api/v1/namespaces/kube-system/services/kube-dns": KUBE_DNS_SERVICE},
        collections={
            "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices": [KUBE_DNS_SLICE]
        },
    )
    servers = config.Settings().servers_or(lambda: gather.dns_servers(as_kube(kube)))
    assert servers == (
        records.DNSServer("10.96.0.10", 53, "service"),
        records.DNSServer("10.244.0.2", 53, "replica"),
        records.DNSServer("10.244.0.3", 53, "replica"),
    )
    assert kube.lists == [
        (
            "/apis/discovery.k8s.io/v1/namespaces/kube-system/endpointslices",
            {"labelSelector": "kubernetes.io/service-name=kube-dns"},
        )
    ]


def test_no_kube_dns_means_no_servers() -> None:
    assert gather.dns_servers(as_kube(FakeKube())) == ()


def test_existing_reports_are_listed_once_cluster_wide_by_service() -> None:
    path = "/apis/headless-auditor.io/v1alpha1/headlessserviceaudits"
    kube = FakeKube(
        collections={
            path: [
                {"metadata": {"name": "nginx", "namespace": "a"}, "status": {"dnsState": "X"}},
                {"metadata": {"name": "nginx", "namespace": "b"}},  # not written yet
            ]
        }
    )
    assert gather.existing_reports(as_kube(kube)) == {
        ("a", "nginx"): {"dnsState": "X"},
        ("b", "nginx"): {},
    }
    assert kube.lists == [(path, {})]
