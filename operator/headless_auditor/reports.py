"""The HeadlessServiceAudit report object for one Service, from an audit (pure)."""

from __future__ import annotations

import collections
import datetime
from collections.abc import Sequence
from typing import Any

from headless_auditor import audit, conditions, verdict

API_VERSION = "headless-auditor.io/v1alpha1"
KIND = "HeadlessServiceAudit"
PLURAL = "headlessserviceaudits"


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
