"""Audit one Service: lint, expectation, every server asked, verdict — for ``check`` and ``run``.

Everything but the questions is pure (:mod:`headless_auditor.core`); the clock and the prober are
handed in, so the operator, the one-shot command and the tests share this code path unchanged.
"""

from __future__ import annotations

from headless_auditor import config, probe
from headless_auditor.core import audit, expected, lint, objects, optout, podnames, verdict


def probe_settings(settings: config.Settings) -> probe.ProbeSettings:
    """How to ask DNS, from the operator's (or ``check``'s) settings."""
    return probe.ProbeSettings(
        timeout=settings.dns_timeout,
        retries=settings.dns_retries,
        max_in_flight=settings.dns_concurrency,
    )


async def audit_service(
    snapshot: objects.Snapshot,
    context: audit.Context,
    prober: probe.Prober,
    clock: audit.Clock = audit.utc_now,
) -> audit.Audit:
    """Audit one Service: ask every server every question the snapshot implies."""
    service = snapshot.service
    findings, ignored = optout.split(lint.lint(snapshot), service)
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
    return audit.Audit(
        namespace=snapshot.namespace,
        name=snapshot.name,
        exists=service is not None,
        headless=service is not None and service.headless,
        verdict=result,
        findings=findings,
        pod_problems=podnames.pod_name_problems(snapshot),
        audited_at=clock(),
        ignored_findings=ignored,
    )
