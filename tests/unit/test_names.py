"""names: the labels and domains CoreDNS's kubernetes plugin builds for endpoints and Services."""

from __future__ import annotations

import pytest
from builders import endpoint

from headless_auditor.core import names, objects


@pytest.mark.parametrize(
    ("address", "label"),
    [
        pytest.param("10.244.1.5", "10-244-1-5", id="ipv4"),
        pytest.param("fd00::5", "fd00--5", id="ipv6"),
        pytest.param("fd00:1::", "fd00-1--0", id="ipv6-trailing-dash-gets-0"),
        pytest.param("::1", "--1", id="ipv6-leading"),
        pytest.param("2001:db8:0:0:0:0:0:1", "2001-db8-0-0-0-0-0-1", id="ipv6-as-written"),
    ],
)
def test_dashed_ip(address: str, label: str) -> None:
    assert names.dashed_ip(address) == label


@pytest.mark.parametrize(
    ("ep", "pod_names", "label"),
    [
        pytest.param(endpoint("10.0.0.1", pod="web-0"), False, "web-0", id="hostname"),
        pytest.param(
            endpoint("10.0.0.1", pod="p", hostname="Db-0"), False, "db-0", id="hostname-lower"
        ),
        pytest.param(endpoint("10.0.0.1", pod="p", hostname=""), False, "10-0-0-1", id="dashed-ip"),
        pytest.param(
            endpoint("10.0.0.1", pod="p", hostname=""), True, "p", id="endpoint-pod-names"
        ),
        pytest.param(
            endpoint("10.0.0.1", pod="n", hostname="", kind="Node"),
            True,
            "n",
            id="pod-names-any-target-kind",
        ),
        pytest.param(
            endpoint("10.0.0.1", pod="p" * 64, hostname=""),
            True,
            "10-0-0-1",
            id="pod-name-too-long",
        ),
        pytest.param(
            endpoint("10.0.0.1", pod="p" * 63, hostname=""), True, "p" * 63, id="pod-name-63"
        ),
        pytest.param(endpoint("10.0.0.1"), True, "10-0-0-1", id="pod-names-without-target"),
        pytest.param(
            endpoint("10.0.0.1", pod="web-0", hostname="h"), True, "h", id="hostname-beats-pod-name"
        ),
    ],
)
def test_endpoint_label(ep: objects.Endpoint, pod_names: bool, label: str) -> None:
    assert names.endpoint_label(ep, "10.0.0.1", endpoint_pod_names=pod_names) == label


@pytest.mark.parametrize(
    ("zone", "domain"),
    [
        pytest.param("cluster.local", "nginx.default.svc.cluster.local.", id="zone"),
        pytest.param("Cluster.Local.", "nginx.default.svc.cluster.local.", id="fqdn-upper-case"),
        pytest.param(".", "nginx.default.svc.", id="root"),
        pytest.param("", "nginx.default.svc.", id="empty"),
    ],
)
def test_service_domain(zone: str, domain: str) -> None:
    assert names.service_domain("default", "nginx", zone) == domain


@pytest.mark.parametrize(
    ("label", "zone", "name"),
    [
        pytest.param("", "cluster.local", "nginx.default.svc.cluster.local", id="service"),
        pytest.param("web-0", "cluster.local", "web-0.nginx.default.svc.cluster.local", id="pod"),
        pytest.param("web-0", ".", "web-0.nginx.default.svc", id="root-zone"),
        pytest.param(
            "Db-0", "cluster.local", "Db-0.nginx.default.svc.cluster.local", id="as-given"
        ),
    ],
)
def test_display_name(label: str, zone: str, name: str) -> None:
    assert names.display_name("default", "nginx", zone, label) == name
