"""Read once, for the one-shot ``check``: the objects to audit, the live Corefile, the DNS servers.

The operator gets the same inputs from its watches; this module lists them with plain GETs.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any

from headless_auditor.core import corefile, discovery, records, snapshots
from headless_auditor.kube import client, resources

logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class Objects:
    services: list[dict[str, Any]]
    slices: list[dict[str, Any]]
    statefulsets: list[dict[str, Any]]


def _collection(group_path: str, resource: str, namespace: str | None) -> str:
    scope = f"/namespaces/{namespace}" if namespace else ""
    return f"{group_path}{scope}/{resource}"


def objects(kube: client.Kube, namespace: str | None) -> Objects:
    """Services, EndpointSlices and StatefulSets of one namespace, or of all (None)."""
    return Objects(
        services=kube.list(_collection("/api/v1", "services", namespace)),
        slices=kube.list(_collection("/apis/discovery.k8s.io/v1", "endpointslices", namespace)),
        statefulsets=kube.list(_collection("/apis/apps/v1", "statefulsets", namespace)),
    )


def corefile_options(configmap: dict[str, Any] | None) -> corefile.CorefileOptions:
    """The options of the live Corefile; CoreDNS's defaults (logged) when it cannot be read."""
    text = ((configmap or {}).get("data") or {}).get("Corefile")
    if not text:
        logger.warning("no Corefile in kube-system/coredns; assuming CoreDNS defaults")
        return corefile.CorefileOptions()
    try:
        return corefile.parse_corefile(text)
    except corefile.CorefileError as error:
        logger.warning(
            "cannot use the Corefile in kube-system/coredns (%s); assuming defaults", error
        )
        return corefile.CorefileOptions()


def live_corefile(kube: client.Kube) -> corefile.CorefileOptions:
    return corefile_options(kube.get(resources.COREDNS_CONFIGMAP))


def existing_reports(kube: client.Kube) -> dict[snapshots.Key, dict[str, Any]]:
    """The status of every report object in the cluster, by its Service's key (one LIST).

    Raises :class:`errors.ApiError` 404 when the HeadlessServiceAudit CRD is not installed."""
    found = kube.list(resources.reports_path())
    return {snapshots.key_of(item): dict(item.get("status") or {}) for item in found}


def dns_servers(kube: client.Kube) -> tuple[records.DNSServer, ...]:
    """The kube-dns Service IP and every ready CoreDNS endpoint (two GETs)."""
    ns = discovery.NAMESPACE
    service = kube.get(f"/api/v1/namespaces/{ns}/services/{discovery.SERVICE}")
    slices = kube.list(
        f"/apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices",
        labelSelector=f"kubernetes.io/service-name={discovery.SERVICE}",
    )
    return discovery.dns_servers(service, slices)
