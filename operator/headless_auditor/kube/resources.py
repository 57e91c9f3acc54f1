"""Where our objects and the ones we read live in the API: paths and the report's shape."""

from __future__ import annotations

from typing import Any

GROUP = "headless-auditor.io"
REPORT_API_VERSION = f"{GROUP}/v1alpha1"
REPORT_KIND = "HeadlessServiceAudit"
REPORT_PLURAL = "headlessserviceaudits"
REPORT_CRD = f"{REPORT_PLURAL}.{GROUP}"
COREDNS_CONFIGMAP = "/api/v1/namespaces/kube-system/configmaps/coredns"


def report_path(namespace: str, name: str, *, status: bool = False) -> str:
    base = f"/apis/{REPORT_API_VERSION}/namespaces/{namespace}/{REPORT_PLURAL}/{name}"
    return base + "/status" if status else base


def reports_path() -> str:
    """Every report object in the cluster."""
    return f"/apis/{REPORT_API_VERSION}/{REPORT_PLURAL}"


def report_skeleton(namespace: str, name: str, service_uid: str) -> dict[str, Any]:
    """The report object without status, owned by its Service (garbage-collected with it)."""
    return {
        "apiVersion": REPORT_API_VERSION,
        "kind": REPORT_KIND,
        "metadata": {
            "name": name,
            "namespace": namespace,
            "labels": {"app.kubernetes.io/managed-by": "headless-auditor"},
            "ownerReferences": [
                {"apiVersion": "v1", "kind": "Service", "name": name, "uid": service_uid}
            ],
        },
        "spec": {},
    }
