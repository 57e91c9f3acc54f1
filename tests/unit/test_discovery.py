"""DNS discovery from the kube-dns Service and its EndpointSlices."""

from __future__ import annotations

from collections.abc import Mapping

from headless_auditor.core import discovery, records

KUBE_DNS = {
    "metadata": {"name": "kube-dns", "namespace": "kube-system"},
    "spec": {
        "clusterIP": "10.96.0.10",
        "clusterIPs": ["10.96.0.10"],
        "ports": [
            {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
            {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
            {"name": "metrics", "port": 9153, "protocol": "TCP"},
        ],
    },
}


def slice_(*endpoints: Mapping[str, object], port: int = 53) -> dict[str, object]:
    return {
        "addressType": "IPv4",
        "endpoints": list(endpoints),
        "ports": [{"name": "metrics", "port": 9153}, {"name": "dns", "port": port}],
    }


def test_service_ip_then_ready_replicas() -> None:
    slices = [
        slice_(
            {"addresses": ["10.244.1.3"], "conditions": {"ready": True}},
            {"addresses": ["10.244.0.2"], "conditions": {}},
            {"addresses": ["10.244.2.9"], "conditions": {"ready": False}},
        )
    ]
    assert discovery.dns_servers(KUBE_DNS, slices) == (
        records.DNSServer("10.96.0.10", 53, "service"),
        records.DNSServer("10.244.0.2", 53, "replica"),
        records.DNSServer("10.244.1.3", 53, "replica"),
    )


def test_replica_port_comes_from_the_slice() -> None:
    slices = [slice_({"addresses": ["127.0.10.1"], "conditions": {"ready": True}}, port=1053)]
    assert discovery.replica_servers(slices) == [records.DNSServer("127.0.10.1", 1053)]


def test_missing_or_headless_service_gives_no_service_ip() -> None:
    headless = {"spec": {"clusterIP": "None", "ports": []}}
    assert discovery.service_servers(None) == []
    assert discovery.service_servers(headless) == []


def test_duplicates_are_dropped() -> None:
    endpoint = {"addresses": ["10.244.0.2"]}
    servers = discovery.dns_servers(None, [slice_(endpoint), slice_(endpoint)])
    assert servers == (records.DNSServer("10.244.0.2", 53),)
