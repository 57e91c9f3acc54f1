"""One audit of one Service: expectation, lint, probe, verdict — the same for ``check`` and ``run``.

Everything here but the probe is pure; the clock and the prober are handed in, so the operator,
the one-shot command and the tests share this code path unchanged.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Callable

from headless_auditor import probe
from headless_auditor.core import corefile, expected, lint, objects, podnames, records, verdict

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
    findings: tuple[lint.Finding, ...]
    pod_problems: tuple[podnames.PodNameProblem, ...]
    audited_at: datetime.datetime

    @property
    def valid(self) -> bool:
        """No finding worse than info."""
        return all(f.severity is lint.Severity.INFO for f in self.findings)

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


async def audit(
    snapshot: objects.Snapshot,
    context: Context,
    prober: probe.Prober,
    clock: Clock = utc_now,
) -> Audit:
    """Audit one Service: ask every server every question the snapshot implies."""
    service = snapshot.service
    findings = lint.lint(snapshot)
    problems = podnames.pod_name_problems(snapshot)
    result: verdict.Verdict | None = None
    if service is not None and service.headless:
        want = expected.expected_answers(snapshot, context.zone)
        got = await probe.ask_all(prober, context.servers, want)
        result = verdict.verdict(
            want,
            got,
            now=clock(),
            last_change=snapshot.last_change,
            grace_seconds=context.grace_seconds,
        )
    return Audit(
        namespace=snapshot.namespace,
        name=snapshot.name,
        exists=service is not None,
        headless=service is not None and service.headless,
        verdict=result,
        findings=findings,
        pod_problems=problems,
        audited_at=clock(),
    )
