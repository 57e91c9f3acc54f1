"""metrics: every series against a fresh registry per test; bounded labels, never a pod IP."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import builders
import hypothesis
import prometheus_client as prom
import pytest
from builders import T0
from hypothesis import strategies as st
from prometheus_client.samples import Sample

from headless_auditor import __version__
from headless_auditor.core import audit, expected, lint, podnames, records, rules, verdict
from headless_auditor.sinks import conditions, metrics

P = metrics.PREFIX
VIP = records.DNSServer("10.96.0.10", 53, role="service")
R1 = records.DNSServer("172.18.0.2", 53)
R6 = records.DNSServer("fd00::a", 53)
STATES = ("Consistent", "Converging", "Inconsistent", "Unknown", "NotAudited")
SHORT = {t: t.rpartition("/")[2] for t in conditions.TYPES}


@pytest.fixture
def registry() -> prom.CollectorRegistry:
    return prom.CollectorRegistry()


@pytest.fixture
def meters(registry: prom.CollectorRegistry) -> metrics.Metrics:
    return metrics.Metrics(registry)


def samples(registry: prom.CollectorRegistry) -> Iterator[Sample]:
    for metric in registry.collect():
        yield from metric.samples


def service_series(registry: prom.CollectorRegistry, name: str) -> list[tuple[str, dict]]:
    return [(s.name, s.labels) for s in samples(registry) if s.labels.get("service") == name]


def stale_verdict() -> verdict.Verdict:
    """web-2 stale on R1 (missing + unexpected) and NODATA for a gone name (mismatch)."""
    want = {
        builders.q("web-2"): builders.answer("10.244.0.7"),
        builders.q("web-9"): records.NXDOMAIN,
    }
    got = {
        VIP: dict(want),
        R1: {
            builders.q("web-2"): builders.answer("10.244.9.9"),
            builders.q("web-9"): records.NODATA,
        },
    }
    return verdict.verdict(want, got, now=T0, last_change=None, grace_seconds=5.0)


def make_audit(
    v: verdict.Verdict | None, *, name: str = "nginx", findings: Sequence[rules.Finding] = ()
) -> audit.Audit:
    return audit.Audit(
        namespace="default",
        name=name,
        exists=True,
        headless=v is not None,
        verdict=v,
        findings=tuple(findings),
        pod_problems=(),
        audited_at=T0,
    )


def finding(code: str) -> rules.Finding:
    return rules.Finding(code, rules.SEVERITIES[code], "m", "Service/nginx")


def conds_of(result: audit.Audit) -> list[conditions.Condition]:
    return conditions.merge([], conditions.desired(result), T0)


# -- observe_audit ---------------------------------------------------------------------------


def test_observe_audit_sets_exactly_one_state(
    registry: prom.CollectorRegistry, meters: metrics.Metrics
) -> None:
    first = make_audit(stale_verdict())
    meters.observe_audit(first, 0.25, conds_of(first))
    key = {"namespace": "default", "service": "nginx"}
    values = {
        s: registry.get_sample_value(f"{P}_service_dns_state", {**key, "state": s}) for s in STATES
    }
    assert values == {s: (1.0 if s == "Inconsistent" else 0.0) for s in STATES}
    second = make_audit(None)
    meters.observe_audit(second, 0.5, conds_of(second))
    values = {
        s: registry.get_sample_value(f"{P}_service_dns_state", {**key, "state": s}) for s in STATES
    }
    assert values == {s: (1.0 if s == "NotAudited" else 0.0) for s in STATES}


def test_observe_audit_condition_series(
    registry: prom.CollectorRegistry, meters: metrics.Metrics
) -> None:
    result = make_audit(stale_verdict(), findings=[finding("NoNamedPorts")])
    conds = conds_of(result)
    meters.observe_audit(result, 0.1, conds)
    statuses = {SHORT[c["type"]]: c["status"] for c in conds}
    assert statuses == {
        "DNSConsistent": "False",
        "PodNamesResolvable": "True",
        "ConfigurationValid": "True",
    }
    for condition, status in statuses.items():
        for candidate in ("True", "False", "Unknown"):
            labels = {
                "namespace": "default",
                "service": "nginx",
                "condition": condition,
                "status": candidate,
            }
            value = registry.get_sample_value(f"{P}_service_condition", labels)
            assert value == (1.0 if candidate == status else 0.0), labels


def test_observe_audit_records_findings_and_times(
    registry: prom.CollectorRegistry, meters: metrics.Metrics
) -> None:
    result = make_audit(
        stale_verdict(),
        findings=[finding("NoPorts"), finding("SubdomainMismatch"), finding("NoNamedPorts")],
    )
    meters.observe_audit(result, 0.25, conds_of(result))
    key = {"namespace": "default", "service": "nginx"}

    def value(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(f"{P}_{name}", {**key, **labels})

    assert value("service_records", kind="expected") == 1
    assert value("service_records", kind="missing") == 2  # one record + one outcome mismatch
    assert value("service_records", kind="unexpected") == 1
    assert value("service_server_disagreements") == 2
    assert value("service_findings", severity="error") == 0
    assert value("service_findings", severity="warning") == 2
    assert value("service_findings", severity="info") == 1
    assert value("service_last_audit_timestamp_seconds") == T0.timestamp()
    assert registry.get_sample_value(f"{P}_audit_duration_seconds_count") == 1
    assert registry.get_sample_value(f"{P}_audit_duration_seconds_sum") == 0.25
    audits = {s: registry.get_sample_value(f"{P}_audits_total", {"state": s}) for s in STATES}
    assert audits == {s: (1.0 if s == "Inconsistent" else 0.0) for s in STATES}


def test_observe_audit_without_verdict_zeroes_records(
    registry: prom.CollectorRegistry, meters: metrics.Metrics
) -> None:
    meters.observe_audit(make_audit(stale_verdict()), 0.1, [])
    meters.observe_audit(make_audit(None), 0.1, [])
    key = {"namespace": "default", "service": "nginx"}
    for kind in ("expected", "missing", "unexpected"):
        assert registry.get_sample_value(f"{P}_service_records", {**key, "kind": kind}) == 0
    assert registry.get_sample_value(f"{P}_service_server_disagreements", key) == 0


# -- observe_query -------------------------------------------------------------------------


@pytest.mark.parametrize("outcome", list(records.Outcome))
@pytest.mark.parametrize("server", [R1, R6], ids=["ipv4", "ipv6"])
def test_observe_query_counts_errors_only_for_failures(
    registry: prom.CollectorRegistry,
    meters: metrics.Metrics,
    outcome: records.Outcome,
    server: records.DNSServer,
) -> None:
    meters.observe_query(server, builders.q("web-0"), outcome, 0.002)
    labels = {"server": server.address}
    assert registry.get_sample_value(f"{P}_dns_query_duration_seconds_count", labels) == 1
    assert registry.get_sample_value(f"{P}_dns_query_duration_seconds_sum", labels) == 0.002
    errors = [s for s in samples(registry) if s.name == f"{P}_dns_query_errors_total"]
    if outcome.is_answer:
        assert errors == []
    else:
        assert [(s.labels, s.value) for s in errors] == [
            ({"server": server.address, "reason": outcome.value}, 1.0)
        ]


# -- forget / set_findings / build_info ----------------------------------------------------


def test_forget_removes_every_series_of_the_service(
    registry: prom.CollectorRegistry, meters: metrics.Metrics
) -> None:
    for name in ("nginx", "other"):
        result = make_audit(stale_verdict(), name=name, findings=[finding("NoPorts")])
        meters.observe_audit(result, 0.1, conds_of(result))
    before = service_series(registry, "other")
    assert len(service_series(registry, "nginx")) == len(before) > 0
    meters.forget("default", "nginx")
    assert service_series(registry, "nginx") == []
    assert service_series(registry, "other") == before
    meters.forget("default", "nginx")  # forgetting twice is harmless
    meters.forget("default", "never-seen")


def test_forget_covers_every_per_service_metric(
    registry: prom.CollectorRegistry, meters: metrics.Metrics
) -> None:
    """A metric added with a ``service`` label but forgotten in ``forget`` fails here."""
    result = make_audit(stale_verdict(), findings=[finding("NoPorts")])
    meters.observe_audit(result, 0.1, conds_of(result))
    with_service = {s.name for s in samples(registry) if "service" in s.labels}
    assert with_service == {
        f"{P}_service_dns_state",
        f"{P}_service_condition",
        f"{P}_service_records",
        f"{P}_service_server_disagreements",
        f"{P}_service_findings",
        f"{P}_service_last_audit_timestamp_seconds",
    }
    meters.forget("default", "nginx")
    assert {s.name for s in samples(registry) if "service" in s.labels} == set()


def test_set_findings_counts_codes_and_zeroes_vanished_ones(
    registry: prom.CollectorRegistry, meters: metrics.Metrics
) -> None:
    def count(code: str) -> float | None:
        labels = {"code": code, "severity": rules.SEVERITIES[code].value}
        return registry.get_sample_value(f"{P}_findings", labels)

    meters.set_findings(
        [
            make_audit(None, name="a", findings=[finding("ServiceNotFound"), finding("NoPorts")]),
            make_audit(None, name="b", findings=[finding("ServiceNotFound")]),
        ]
    )
    assert (count("ServiceNotFound"), count("NoPorts")) == (2, 1)
    meters.set_findings([make_audit(None, name="b", findings=[finding("NoPorts")])])
    assert (count("ServiceNotFound"), count("NoPorts")) == (0, 1)
    meters.set_findings([])
    assert {code: count(code) for code in rules.SEVERITIES} == dict.fromkeys(rules.SEVERITIES, 0)


def test_build_info(registry: prom.CollectorRegistry, meters: metrics.Metrics) -> None:
    del meters
    assert registry.get_sample_value(f"{P}_build_info", {"version": __version__}) == 1


def test_metrics_live_only_in_the_injected_registry() -> None:
    """Nothing is registered globally: two operators (or tests) never collide."""
    first, second = prom.CollectorRegistry(), prom.CollectorRegistry()
    metrics.Metrics(first)
    metrics.Metrics(second)
    assert prom.REGISTRY.get_sample_value(f"{P}_build_info", {"version": __version__}) is None
    assert second.get_sample_value(f"{P}_build_info", {"version": __version__}) == 1


def test_every_metric_has_the_prefix(
    registry: prom.CollectorRegistry, meters: metrics.Metrics
) -> None:
    result = make_audit(stale_verdict())
    meters.observe_audit(result, 0.1, conds_of(result))
    meters.observe_query(R1, builders.q(""), records.Outcome.TIMEOUT, 1.0)
    assert all(s.name.startswith(f"{P}_") for s in samples(registry))


# -- no pod IP in any label ------------------------------------------------------------------

POD_IPS = st.ip_addresses(v=4, network="10.244.0.0/16").map(str)
OUTCOMES = st.sampled_from(list(records.Outcome))


@st.composite
def audits(draw: st.DrawFn) -> tuple[audit.Audit, list[str]]:
    """A Service of up to 5 pods at random IPs, each server answering right, wrong or failing."""
    ips = draw(st.lists(POD_IPS, min_size=1, max_size=5, unique=True))
    ready = draw(st.lists(st.booleans(), min_size=len(ips), max_size=len(ips)))
    named = draw(st.booleans())
    endpoints = [
        builders.endpoint(ip, pod=f"web-{i}" if named else None, ready=r)
        for i, (ip, r) in enumerate(zip(ips, ready, strict=True))
    ]
    snapshot = builders.snapshot(
        builders.service(), [builders.eps(*endpoints)], [builders.statefulset(replicas=len(ips))]
    )
    want = expected.expected_answers(snapshot, builders.ZONE)
    observed: dict[records.DNSServer, dict[records.Question, records.Answer]] = {}
    for server in (VIP, R1, R6):
        table = dict(want)
        for question in draw(st.lists(st.sampled_from(sorted(want)), max_size=3)):
            outcome = draw(OUTCOMES)
            extra = draw(POD_IPS)
            table[question] = (
                builders.answer(extra)
                if outcome is records.Outcome.ANSWER
                else records.Answer(outcome)
            )
        observed[server] = table
    v = verdict.verdict(want, observed, now=T0, last_change=None, grace_seconds=5.0)
    result = audit.Audit(
        namespace="default",
        name="nginx",
        exists=True,
        headless=True,
        verdict=v,
        findings=lint.lint(snapshot),
        pod_problems=podnames.pod_name_problems(snapshot),
        audited_at=T0,
    )
    addresses = ips + [r for a in observed.values() for ans in a.values() for r in ans.records]
    return result, addresses


@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(case=audits())
def test_no_label_value_contains_a_pod_ip(case: tuple[audit.Audit, list[str]]) -> None:
    result, pod_ips = case
    registry = prom.CollectorRegistry()
    meters = metrics.Metrics(registry)
    meters.observe_audit(result, 0.1, conds_of(result))
    meters.set_findings([result])
    assert result.verdict is not None
    for failure in result.verdict.failures:
        assert failure.outcome is not None
        meters.observe_query(failure.server, failure.question, failure.outcome, 0.001)
    for server in result.verdict.servers:
        meters.observe_query(server, builders.q(""), records.Outcome.ANSWER, 0.001)
    values = {v for s in samples(registry) for k, v in s.labels.items() if k != "le"}
    assert not any(ip in value for ip in pod_ips for value in values)
    bounded = (
        set(STATES)
        | set(SHORT.values())
        | {"True", "False", "Unknown", "expected", "missing", "unexpected"}
        | {s.value for s in rules.Severity}
        | set(rules.SEVERITIES)
        | {o.value for o in records.Outcome}
        | {VIP.address, R1.address, R6.address}
        | {"default", "nginx", __version__}
    )
    assert values <= bounded, values - bounded
