"""Audits rendered for people (a table to scan) and for programs (JSON), plus the exit code.

Pure: takes finished :class:`audit.Audit` objects and returns text.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from headless_auditor.core import audit, records, verdict

EXIT_OK = 0
EXIT_PROBLEMS = 1
EXIT_CANNOT_AUDIT = 2

_COLUMNS = ("NAMESPACE", "NAME", "DNS", "EXPECTED", "MISSING", "UNEXPECTED", "FAILED", "FINDINGS")


def exit_code(audits: Sequence[audit.Audit]) -> int:
    """0 all consistent and valid; 1 something inconsistent, converging or invalid; 2 DNS could
    not be asked (a server down) and nothing else is wrong."""
    states = {a.dns_state for a in audits}
    bad_dns = {verdict.State.INCONSISTENT.value, verdict.State.CONVERGING.value}
    if states & bad_dns or not all(a.valid for a in audits):
        return EXIT_PROBLEMS
    if verdict.State.UNKNOWN.value in states:
        return EXIT_CANNOT_AUDIT
    return EXIT_OK


def _counts(a: audit.Audit) -> tuple[str, str, str, str]:
    if a.verdict is None:
        return ("-", "-", "-", "-")
    counts = a.record_counts
    return (
        str(counts["expected"]),
        str(counts["missing"]),
        str(counts["unexpected"]),
        str(len(a.verdict.failures)),
    )


def table(audits: Sequence[audit.Audit]) -> str:
    """One row per Service, then the details that need action under it."""
    rows = [_COLUMNS] + [
        (a.namespace, a.name, a.dns_state, *_counts(a), str(len(a.findings))) for a in audits
    ]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_COLUMNS))]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(row, widths, strict=True)).rstrip()
        for row in rows
    ]
    details = [line for a in audits for line in _details(a)]
    if details:
        lines += ["", *details]
    if not audits:
        lines.append("(no headless Services and no StatefulSets with a serviceName)")
    return "\n".join(lines) + "\n"


def _details(a: audit.Audit) -> list[str]:
    head = f"{a.namespace}/{a.name}:"
    out = []
    if a.verdict is not None and a.verdict.state is not verdict.State.CONSISTENT:
        out.append(f"  {a.verdict.state}: {a.verdict.summary}")
    out += [f"  {f.severity} {f.code} ({f.subject}): {f.message}" for f in a.findings]
    out += [f"  pod {p.pod} {p.code}: {p.message}" for p in a.pod_problems]
    return [head, *out] if out else []


def _server(s: records.DNSServer) -> str:
    return s.address


def _question(q: records.Question) -> dict[str, str]:
    return {"name": q.name, "type": str(q.rdtype)}


def _verdict_json(v: verdict.Verdict) -> dict[str, Any]:
    def diff(d: verdict.RecordDiff) -> dict[str, str]:
        return {"server": _server(d.server), **_question(d.question), "record": d.record}

    return {
        "state": str(v.state),
        "servers": [_server(s) for s in v.servers],
        "expectedRecords": v.expected_records,
        "missing": [diff(d) for d in v.missing],
        "unexpected": [diff(d) for d in v.unexpected],
        "outcomeMismatches": [
            {
                "server": _server(m.server),
                **_question(m.question),
                "expected": str(m.expected),
                "observed": str(m.observed),
            }
            for m in v.outcome_mismatches
        ],
        "failures": [
            {"server": _server(f.server), **_question(f.question), "reason": f.reason}
            for f in v.failures
        ],
        "disagreements": [
            {
                **_question(d.question),
                "answers": {
                    _server(s): {"outcome": str(ans.outcome), "records": sorted(ans.records)}
                    for s, ans in d.answers
                },
            }
            for d in v.disagreements
        ],
        "graceRemainingSeconds": round(v.grace_remaining, 3),
        "summary": v.summary,
    }


def audit_json(a: audit.Audit) -> dict[str, Any]:
    return {
        "namespace": a.namespace,
        "name": a.name,
        "exists": a.exists,
        "headless": a.headless,
        "valid": a.valid,
        "dns": _verdict_json(a.verdict) if a.verdict else None,
        "findings": audit.findings_json(a),
        "ignoredFindings": audit.findings_json(a, ignored=True),
        "podNameProblems": audit.pod_problems_json(a),
        "auditedAt": a.audited_at.isoformat(),
    }


def to_json(audits: Sequence[audit.Audit], context: audit.Context) -> str:
    document = {
        "zone": context.zone,
        "servers": [_server(s) for s in context.servers],
        "graceSeconds": context.grace_seconds,
        "exitCode": exit_code(audits),
        "services": [audit_json(a) for a in audits],
    }
    return json.dumps(document, indent=2) + "\n"
