"""The HeadlessServiceAudit report object for one Service, from an audit (pure).

Also whether report objects can be written at all: the operator runs without its CRD (the
Deployment applied without ``crds/``, ``helm install --skip-crds``), auditing and writing the
Service conditions, Events and metrics as usual. The one LIST of the report objects made at start
tells: 404 means the CRD is not installed (:func:`after_listing` decides what that changes and
what to say, once); the operator then skips report writes and repeats that LIST at each sweep
until it answers. A CRD deleted while the operator runs is not looked for.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
import logging
from collections.abc import Sequence
from typing import Any

from headless_auditor.core import audit, verdict
from headless_auditor.kube import client
from headless_auditor.sinks import conditions

GROUP = "headless-auditor.io"
API_VERSION = f"{GROUP}/v1alpha1"
KIND = "HeadlessServiceAudit"
PLURAL = "headlessserviceaudits"
CRD = f"{PLURAL}.{GROUP}"
INSTALL_CRD = "kubectl apply --server-side -f charts/headless-auditor/crds/"
CRD_MISSING = (
    f"the {KIND} CRD ({CRD}) is not installed: reports are not written until it is (Service "
    f'conditions, Events and metrics are); install it with "{INSTALL_CRD}" (helm install does this)'
)
CRD_INSTALLED = f"the {KIND} CRD ({CRD}) is installed now: reports are written from now on"


def path(namespace: str, name: str, *, status: bool = False) -> str:
    base = f"/apis/{API_VERSION}/namespaces/{namespace}/{PLURAL}/{name}"
    return base + "/status" if status else base


def skeleton(namespace: str, name: str, service_uid: str) -> dict[str, Any]:
    """The object without status, owned by its Service (garbage-collected with it)."""
    return {
        "apiVersion": API_VERSION,
        "kind": KIND,
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


def _servers(v: verdict.Verdict) -> list[dict[str, Any]]:
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for d in v.missing:
        counts[d.server.address]["missing"] += 1
    for m in v.outcome_mismatches:
        counts[m.server.address]["missing"] += 1
    for d in v.unexpected:
        counts[d.server.address]["unexpected"] += 1
    for f in v.failures:
        counts[f.server.address]["failures"] += 1
    rows = []
    for server in v.servers:
        c = counts[server.address]
        state = (
            "Unreachable"
            if c["failures"]
            else "Mismatch"
            if c["missing"] + c["unexpected"]
            else "OK"
        )
        rows.append(
            {
                "address": server.address,
                "role": server.role,
                "state": state,
                "missing": c["missing"],
                "unexpected": c["unexpected"],
                "failures": c["failures"],
            }
        )
    return rows


def findings_json(result: audit.Audit) -> list[dict[str, str]]:
    """Findings as the report object and ``check -o json`` show them."""
    return [
        {"code": f.code, "severity": str(f.severity), "subject": f.subject, "message": f.message}
        for f in result.findings
    ]


def pod_problems_json(result: audit.Audit) -> list[dict[str, str]]:
    """Why pod names do not resolve, as the report object and ``check -o json`` show it."""
    return [
        {"pod": p.pod, "statefulSet": p.statefulset, "code": p.code, "message": p.message}
        for p in result.pod_problems
    ]


def status(
    result: audit.Audit, current: Sequence[conditions.Condition], now: datetime.datetime
) -> dict[str, Any]:
    """The report's status; ``current`` are the Service's conditions after this audit."""
    v, counts = result.verdict, result.record_counts
    return {
        "conditions": list(current),
        "dnsState": result.dns_state,
        "expectedRecords": counts["expected"],
        "missingRecords": counts["missing"],
        "unexpectedRecords": counts["unexpected"],
        "findingCount": len(result.findings),
        "summary": v.summary if v else "",
        "findings": findings_json(result),
        "podNameProblems": pod_problems_json(result),
        "servers": _servers(v) if v else [],
        "lastAuditTime": now.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def same_content(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether two report statuses differ only in lastAuditTime."""
    if old is None:
        return False
    return _without_time(old) == _without_time(new)


def _without_time(report_status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report_status.items() if k != "lastAuditTime"}


class Availability(enum.Enum):
    """Whether report objects can be written, as the last LIST of them told."""

    NOT_LISTED = "not listed"
    """Not listed yet (the first audit lists them)."""
    INSTALLED = "installed"
    """The LIST answered: the CRD is there."""
    MISSING = "missing"
    """The LIST answered 404: the CRD is not installed. Reports are not written, and the LIST is
    repeated at each sweep until it answers."""
    UNLISTED = "unlisted"
    """The LIST failed otherwise (RBAC, the API server): each report is written once more."""


@dataclasses.dataclass(frozen=True)
class AfterListing:
    """What a LIST of the report objects changes, and what to log about it (once)."""

    availability: Availability
    message: str | None = None
    level: int = logging.WARNING


def after_listing(before: Availability, error: Exception | None) -> AfterListing:
    """The availability after a LIST that succeeded (``error`` None) or failed with ``error``.

    Only a change is told: a CRD still missing at the next sweep says nothing again. Another
    error while the CRD is known missing leaves it missing, to be asked again at the next sweep."""
    missing = before is Availability.MISSING
    if error is None:
        message = CRD_INSTALLED if missing else None
        return AfterListing(Availability.INSTALLED, message, logging.INFO)
    if isinstance(error, client.ApiError) and error.status == 404:
        return AfterListing(Availability.MISSING, None if missing else CRD_MISSING)
    if missing:
        message = f"cannot tell whether the {KIND} CRD is installed now (asked again): {error}"
        return AfterListing(Availability.MISSING, message)
    message = f"cannot list the report objects, so each is written once more: {error}"
    return AfterListing(Availability.UNLISTED, message)
