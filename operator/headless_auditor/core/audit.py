"""One audit of one Service, as a record: what was found, what DNS said, when (pure).

The audit itself (lint, expectation, the questions to every server, the verdict) is run by
:func:`headless_auditor.probe.auditing.audit_service`, the same for ``check`` and ``run``; this
module holds only its result and the context every audit of one sweep shares, so that whatever
renders or publishes a result does not import the prober.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable

from headless_auditor.core import corefile, podnames, records, rules, verdict

Clock = Callable[[], datetime.datetime]


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.UTC)


@dataclasses.dataclass(frozen=True)
class Context:
    """What every audit of one sweep shares: the zone, the servers, the grace window."""

    zone: str
    servers: tuple[records.DNSServer, ...]
    grace_seconds: float

    @classmethod
    def of(
        cls,
        options: corefile.CorefileOptions,
        servers: tuple[records.DNSServer, ...],
        *,
        zone: str = "",
        grace_seconds: float | None = None,
    ) -> Context:
        """Zone and grace from the live Corefile unless overridden by configuration."""
        return cls(
            zone=zone or options.cluster_zone,
            servers=servers,
            grace_seconds=corefile.grace_seconds(options)
            if grace_seconds is None
            else grace_seconds,
        )


@dataclasses.dataclass(frozen=True)
class Audit:
    """The result of auditing one Service name."""

    namespace: str
    name: str
    exists: bool
    headless: bool
    verdict: verdict.Verdict | None
    """None when DNS was not asked: the Service is missing or not headless (see findings)."""
    findings: tuple[rules.Finding, ...]
    pod_problems: tuple[podnames.PodNameProblem, ...]
    audited_at: datetime.datetime
    ignored_findings: tuple[rules.Finding, ...] = ()
    """Findings the Service's ignore-findings annotation takes out of ``findings``."""

    @property
    def valid(self) -> bool:
        """No finding worse than info."""
        return all(f.severity is rules.Severity.INFO for f in self.findings)

    @property
    def record_counts(self) -> dict[str, int]:
        """Expected, missing (wrong negative answers included) and unexpected records."""
        v = self.verdict
        if v is None:
            return {"expected": 0, "missing": 0, "unexpected": 0}
        return {
            "expected": v.expected_records,
            "missing": len(v.missing) + len(v.outcome_mismatches),
            "unexpected": len(v.unexpected),
        }

    @property
    def dns_state(self) -> str:
        """The verdict's state, or ``NotAudited`` when DNS was not asked."""
        return self.verdict.state.value if self.verdict else "NotAudited"


def findings_json(result: Audit, *, ignored: bool = False) -> list[dict[str, str]]:
    """Findings (or the ignored ones) as the report object and ``check -o json`` show them."""
    return [
        {"code": f.code, "severity": str(f.severity), "subject": f.subject, "message": f.message}
        for f in (result.ignored_findings if ignored else result.findings)
    ]


def pod_problems_json(result: Audit) -> list[dict[str, str]]:
    """Why pod names do not resolve, as the report object and ``check -o json`` show it."""
    return [
        {"pod": p.pod, "statefulSet": p.statefulset, "code": p.code, "message": p.message}
        for p in result.pod_problems
    ]
