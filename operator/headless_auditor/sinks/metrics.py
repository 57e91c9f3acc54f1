"""Every Prometheus metric of the operator, defined against an injected registry.

Labels are bounded: per-Service series carry only ``namespace`` and ``service`` (one series per
audited Service, removed when the Service goes), DNS series only ``server`` (a handful of CoreDNS
replicas) and a fixed outcome set, findings only their code and severity. Never an IP or a pod.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime
import time
from collections.abc import Iterable

import prometheus_client as prom

from headless_auditor import __version__, sinks
from headless_auditor.core import audit, records, rules, verdict

PREFIX = "headless_auditor"
_STATES = ("Consistent", "Converging", "Inconsistent", "Unknown", "NotAudited")
_CONDITION_STATUSES = ("True", "False", "Unknown")
_CONDITIONS = ("DNSConsistent", "PodNamesResolvable", "ConfigurationValid")
_FAILURES = frozenset(o for o in records.Outcome if not o.is_answer)
_LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)
_CONVERGENCE_BUCKETS = (0.5, 1, 2, 5, 10, 20, 30, 45, 60, 120, 300, 600)


@dataclasses.dataclass
class Metrics:
    """The operator's metrics; build one per process (tests: one per test) with its registry."""

    registry: prom.CollectorRegistry

    def __post_init__(self) -> None:
        self._service_metrics(self.registry, ["namespace", "service"])
        self._audit_metrics(self.registry)
        self._dns_metrics(self.registry)
        self.build_info = prom.Gauge(
            f"{PREFIX}_build_info",
            "Always 1; the version as a label.",
            ["version"],
            registry=self.registry,
        )
        self.build_info.labels(__version__).set(1)
        for state in _STATES:
            self.audits.labels(state)

    def _service_metrics(self, r: prom.CollectorRegistry, service: list[str]) -> None:
        """The series of each audited Service."""
        self.dns_state = prom.Gauge(
            f"{PREFIX}_service_dns_state",
            "1 for the Service's current DNS audit state.",
            [*service, "state"],
            registry=r,
        )
        self.condition = prom.Gauge(
            f"{PREFIX}_service_condition",
            "1 for the current status of each of our conditions.",
            [*service, "condition", "status"],
            registry=r,
        )
        self.records = prom.Gauge(
            f"{PREFIX}_service_records",
            "Records expected, missing and unexpected, per Service.",
            [*service, "kind"],
            registry=r,
        )
        self.disagreements = prom.Gauge(
            f"{PREFIX}_service_server_disagreements",
            "Questions the DNS servers answered differently from each other, per Service.",
            service,
            registry=r,
        )
        self.service_findings = prom.Gauge(
            f"{PREFIX}_service_findings",
            "Configuration findings per Service and severity.",
            [*service, "severity"],
            registry=r,
        )
        self.last_audit = prom.Gauge(
            f"{PREFIX}_service_last_audit_timestamp_seconds",
            "When the Service was last audited (Unix time).",
            service,
            registry=r,
        )

    def _audit_metrics(self, r: prom.CollectorRegistry) -> None:
        """The audits, the sweeps and the writes."""
        self.findings = prom.Gauge(
            f"{PREFIX}_findings",
            "Configuration findings over all audited Services, by code.",
            ["code", "severity"],
            registry=r,
        )
        self.audit_duration = prom.Histogram(
            f"{PREFIX}_audit_duration_seconds",
            "Time to audit one Service (DNS included).",
            registry=r,
            buckets=(0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
        )
        self.audits = prom.Counter(
            f"{PREFIX}_audits", "Audits run, by resulting DNS state.", ["state"], registry=r
        )
        self.sweep_duration = prom.Gauge(
            f"{PREFIX}_sweep_duration_seconds", "Duration of the last full sweep.", registry=r
        )
        self.last_sweep = prom.Gauge(
            f"{PREFIX}_last_sweep_timestamp_seconds",
            "When the last full sweep ended (Unix time).",
            registry=r,
        )
        self.writes = prom.Counter(
            f"{PREFIX}_writes", "Objects written to the API, by kind.", ["kind"], registry=r
        )

    def _dns_metrics(self, r: prom.CollectorRegistry) -> None:
        """The questions asked and how long DNS took to follow the API."""
        self.dns_query_duration = prom.Histogram(
            f"{PREFIX}_dns_query_duration_seconds",
            "DNS question round trips, by server.",
            ["server"],
            registry=r,
            buckets=_LATENCY_BUCKETS,
        )
        self._query_histograms: dict[str, prom.Histogram] = {}
        self.dns_query_errors = prom.Counter(
            f"{PREFIX}_dns_query_errors",
            "DNS questions that got no answer, by server and reason.",
            ["server", "reason"],
            registry=r,
        )
        self.convergence = prom.Histogram(
            f"{PREFIX}_dns_convergence_seconds",
            "From a change of a Service's inputs to DNS answering it consistently.",
            registry=r,
            buckets=_CONVERGENCE_BUCKETS,
        )

    def observe_query(
        self,
        server: records.DNSServer,
        question: records.Question,
        outcome: records.Outcome,
        seconds: float,
    ) -> None:
        """The prober's per-question callback."""
        del question
        histogram = self._query_histograms.get(server.address)
        if histogram is None:  # labels() per question was a few per cent of a sweep's CPU
            histogram = self._query_histograms[server.address] = self.dns_query_duration.labels(
                server.address
            )
        histogram.observe(seconds)
        if outcome in _FAILURES:
            self.dns_query_errors.labels(server.address, outcome.value).inc()

    def observe_audit(
        self, result: audit.Audit, seconds: float, conds: Iterable[dict[str, str]]
    ) -> None:
        key = (result.namespace, result.name)
        self.audit_duration.observe(seconds)
        self.audits.labels(result.dns_state).inc()
        self.last_audit.labels(*key).set(result.audited_at.timestamp())
        for state in _STATES:
            self.dns_state.labels(*key, state).set(1 if state == result.dns_state else 0)
        current = {c["type"].rpartition("/")[2]: c["status"] for c in conds}
        for condition in _CONDITIONS:
            for status in _CONDITION_STATUSES:
                if condition in current:
                    value = 1 if current[condition] == status else 0
                    self.condition.labels(*key, condition, status).set(value)
                else:  # no Service to carry it (missing): no series either
                    _remove(self.condition, *key, condition, status)
        v = result.verdict
        for kind, count in result.record_counts.items():
            self.records.labels(*key, kind).set(count)
        self.disagreements.labels(*key).set(len(v.disagreements) if v else 0)
        for severity in rules.Severity:
            n = sum(1 for f in result.findings if f.severity is severity)
            self.service_findings.labels(*key, severity.value).set(n)

    def set_findings(self, audits: Iterable[audit.Audit]) -> None:
        """Recount findings by code over every current audit."""
        counts: dict[tuple[str, str], int] = {
            (code, sev.value): 0 for code, sev in rules.SEVERITIES.items()
        }
        for a in audits:
            for f in a.findings:
                counts[(f.code, f.severity.value)] = counts.get((f.code, f.severity.value), 0) + 1
        for (code, severity), n in counts.items():
            self.findings.labels(code, severity).set(n)

    def forget(self, namespace: str, service: str) -> None:
        """Drop every series of a Service that is no longer audited."""
        key = (namespace, service)
        for state in _STATES:
            _remove(self.dns_state, *key, state)
        for condition in _CONDITIONS:
            for status in _CONDITION_STATUSES:
                _remove(self.condition, *key, condition, status)
        for kind in ("expected", "missing", "unexpected"):
            _remove(self.records, *key, kind)
        for severity in rules.Severity:
            _remove(self.service_findings, *key, severity.value)
        _remove(self.disagreements, *key)
        _remove(self.last_audit, *key)


def _remove(metric: prom.Gauge, *labels: str) -> None:
    with contextlib.suppress(KeyError):
        metric.remove(*labels)


@dataclasses.dataclass
class _Convergence:
    """One Service's last input change, and whether DNS has been seen to match it since."""

    last_change: datetime.datetime | None = None
    awaiting_since: datetime.datetime | None = None


class MetricsSink:
    """Sets each audited Service's series, and observes how long DNS took to follow the API."""

    reads_previous = False

    def __init__(self, meters: Metrics) -> None:
        self.meters = meters
        self._convergence: dict[sinks.Key, _Convergence] = {}

    async def publish(self, change: sinks.Change) -> None:
        self._track_convergence(change)
        seconds = time.monotonic() - change.started
        self.meters.observe_audit(change.audit, seconds, change.current)

    def _track_convergence(self, change: sinks.Change) -> None:
        """Observe how long DNS took to match the API after each change of the inputs."""
        seen = self._convergence.setdefault(change.key, _Convergence())
        when, v = change.last_change, change.audit.verdict
        if when is None or v is None:
            return
        if seen.last_change is not None and when != seen.last_change:
            seen.awaiting_since = when
        seen.last_change = when
        if seen.awaiting_since is not None and v.state is verdict.State.CONSISTENT:
            seconds = (change.audit.audited_at - seen.awaiting_since).total_seconds()
            self.meters.convergence.observe(max(0.0, seconds))
            seen.awaiting_since = None

    async def sweep_starting(self) -> None:
        return None

    def forget(self, key: sinks.Key) -> None:
        self._convergence.pop(key, None)
        self.meters.forget(*key)

    async def retire(self, retired: sinks.Retirement) -> None:
        self.forget(retired.key)
