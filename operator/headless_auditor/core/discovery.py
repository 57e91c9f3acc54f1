"""Which DNS servers to ask: the kube-dns Service IP and every CoreDNS replica behind it.

Clients in a pod go through the Service IP, which kube-proxy spreads over the replicas; each
replica has its own informers and cache, so a single stale replica only shows when it is asked
directly. Discovery therefore returns the Service IP (role ``service``) and each ready endpoint of
the kube-dns EndpointSlices (role ``replica``), from objects the caller has already read: this
module does no I/O.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Mapping
from typing import Any

from headless_auditor.core import records

NAMESPACE = "kube-system"
SERVICE = "kube-dns"
DNS_PORT_NAMES = ("dns", "dns-tcp")


def _dns_port(ports: Iterable[Mapping[str, Any]], key: str) -> int:
    """The port named ``dns`` (UDP) or ``dns-tcp``; 53 when neither is listed."""
    by_name = {p.get("name"): p.get(key) for p in ports}
    for name in DNS_PORT_NAMES:
        value = by_name.get(name)
        if isinstance(value, int):
            return value
    return 53


def _is_ip(text: object) -> bool:
    try:
        ipaddress.ip_address(str(text))
    except ValueError:
        return False
    return True


def service_servers(service: Mapping[str, Any] | None) -> list[records.DNSServer]:
    """The kube-dns Service's cluster IPs (none for a headless or missing Service)."""
    if service is None:
        return []
    spec = service.get("spec", {})
    ips = spec.get("clusterIPs") or [spec.get("clusterIP")]
    port = _dns_port(spec.get("ports", []), "port")
    return [records.DNSServer(ip, port, "service") for ip in ips if _is_ip(ip)]


def replica_servers(slices: Iterable[Mapping[str, Any]]) -> list[records.DNSServer]:
    """Every ready address of the kube-dns EndpointSlices, at the slice's DNS port."""
    servers = []
    for endpoint_slice in slices:
        port = _dns_port(endpoint_slice.get("ports") or [], "port")
        for endpoint in endpoint_slice.get("endpoints") or []:
            if endpoint.get("conditions", {}).get("ready") is False:
                continue
            servers += [
                records.DNSServer(ip, port, "replica")
                for ip in endpoint.get("addresses", [])
                if _is_ip(ip)
            ]
    return servers


def dns_servers(
    service: Mapping[str, Any] | None, slices: Iterable[Mapping[str, Any]]
) -> tuple[records.DNSServer, ...]:
    """Service IP(s) first, then the replicas, without duplicates, in a stable order."""
    found = service_servers(service) + sorted(replica_servers(slices))
    return tuple(dict.fromkeys(found))
