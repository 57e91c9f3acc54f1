"""audit: one Service audited end to end with the in-memory prober and a fixed clock."""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any

import builders
import pytest
from builders import T0

from headless_auditor import probe
from headless_auditor.core import audit, corefile, expected, lint, objects, records, verdict
from headless_auditor.probe import auditing

R1 = records.DNSServer("10.244.0.2", 53)
R2 = records.DNSServer("10.244.0.3", 53)
VIP = records.DNSServer("10.96.0.10", 53, role="service")
SERVERS = (VIP, R1, R2)
ZONE = "cluster.local"
CONTEXT = audit.Context(zone=ZONE, servers=SERVERS, grace_seconds=5.0)


def fixed_clock(moment: datetime.datetime = T0) -> audit.Clock:
    return lambda: moment


def changed_at(snapshot: objects.Snapshot, seconds_ago: float) -> objects.Snapshot:
    return dataclasses.replace(snapshot, last_change=T0 - datetime.timedelta(seconds=seconds_ago))


def healthy_prober(snapshot: objects.Snapshot, zone: str = ZONE) -> probe.InMemoryProber:
    """Every server answers exactly what the snapshot implies."""
    want = expected.expected_answers(snapshot, zone)
    return probe.InMemoryProber({server: want for server in SERVERS})


def stale_on(server: records.DNSServer, snapshot: objects.Snapshot) -> probe.InMemoryProber:
    """Healthy, except that ``server`` still answers web-2 with an address it no longer has."""
    prober = healthy_prober(snapshot)
    prober.answers[server][builders.q("web-2")] = builders.answer("10.244.9.9")
    return prober


async def test_healthy_service_is_consistent_and_valid() -> None:
    snapshot = changed_at(builders.web_snapshot(), 600)
    prober = healthy_prober(snapshot)
    result = await auditing.audit_service(snapshot, CONTEXT, prober, clock=fixed_clock())
    assert result.verdict is not None
    assert result.verdict.state is verdict.State.CONSISTENT
    assert result.dns_state == "Consistent"
    assert result.valid
    assert (result.exists, result.headless) == (True, True)
    assert (result.namespace, result.name) == ("default", "nginx")
    assert result.findings == ()
    assert result.pod_problems == ()
    assert result.verdict.servers == tuple(sorted(SERVERS))


async def test_every_server_is_asked_every_expected_question() -> None:
    snapshot = builders.web_snapshot()
    prober = healthy_prober(snapshot)
    await auditing.audit_service(snapshot, CONTEXT, prober, clock=fixed_clock())
    want = set(expected.expected_answers(snapshot, ZONE))
    assert sorted(server for server, _ in prober.asked) == sorted(SERVERS)
    for _server, questions in prober.asked:
        assert set(questions) == want


async def test_questions_use_the_context_zone() -> None:
    snapshot = builders.web_snapshot()
    prober = probe.InMemoryProber()
    context = audit.Context(zone="example.org", servers=(R1,), grace_seconds=5.0)
    await auditing.audit_service(snapshot, context, prober, clock=fixed_clock())
    [(_server, questions)] = prober.asked
    assert questions
    assert all(q.name.endswith(".svc.example.org.") for q in questions)


async def test_missing_service_is_not_probed() -> None:
    snapshot = builders.snapshot(missing_service=True, statefulsets=[builders.statefulset()])
    prober = probe.InMemoryProber()
    result = await auditing.audit_service(snapshot, CONTEXT, prober, clock=fixed_clock())
    assert result.verdict is None
    assert result.dns_state == "NotAudited"
    assert (result.exists, result.headless) == (False, False)
    assert [f.code for f in result.findings] == ["ServiceNotFound"]
    assert not result.valid
    assert {p.code for p in result.pod_problems} == {"ServiceNotFound"}
    assert prober.asked == []


async def test_non_headless_service_is_not_probed() -> None:
    snapshot = builders.snapshot(
        builders.service(cluster_ip="10.96.0.5"),
        [builders.eps(builders.pod_endpoint(0, "10.244.0.5"))],
        [builders.statefulset(replicas=1)],
    )
    prober = probe.InMemoryProber()
    result = await auditing.audit_service(snapshot, CONTEXT, prober, clock=fixed_clock())
    assert result.verdict is None
    assert (result.exists, result.headless) == (True, False)
    assert "ServiceNotHeadless" in {f.code for f in result.findings}
    assert prober.asked == []


@pytest.mark.parametrize("server", [VIP, R1, R2], ids=["vip", "replica-1", "replica-2"])
async def test_stale_record_on_one_server_is_inconsistent(server: records.DNSServer) -> None:
    snapshot = changed_at(builders.web_snapshot(), 600)
    result = await auditing.audit_service(
        snapshot, CONTEXT, stale_on(server, snapshot), fixed_clock()
    )
    v = result.verdict
    assert v is not None
    assert v.state is verdict.State.INCONSISTENT
    name = builders.q("web-2")
    assert [(d.server, d.question, d.record) for d in v.missing] == [(server, name, "10.244.0.7")]
    assert [(d.server, d.record) for d in v.unexpected] == [(server, "10.244.9.9")]
    assert [d.question for d in v.disagreements] == [name]
    assert result.valid  # the configuration is fine; DNS is not


async def test_injected_clock_decides_the_grace_window() -> None:
    """The same stale answer is Converging one second after the change, by the injected clock."""
    snapshot = changed_at(builders.web_snapshot(), 1)
    result = await auditing.audit_service(snapshot, CONTEXT, stale_on(R1, snapshot), fixed_clock())
    assert result.verdict is not None
    assert result.verdict.state is verdict.State.CONVERGING
    assert result.verdict.grace_remaining == pytest.approx(4.0)


async def test_every_server_failing_is_unknown() -> None:
    snapshot = builders.web_snapshot()
    prober = probe.InMemoryProber(
        failures={
            VIP: records.Outcome.TIMEOUT,
            R1: records.Outcome.SERVFAIL,
            R2: records.Outcome.UNREACHABLE,
        }
    )
    result = await auditing.audit_service(snapshot, CONTEXT, prober, clock=fixed_clock())
    assert result.verdict is not None
    assert result.verdict.state is verdict.State.UNKNOWN
    assert result.dns_state == "Unknown"
    assert {f.reason for f in result.verdict.failures} == {"TIMEOUT", "SERVFAIL", "UNREACHABLE"}
    assert result.valid


async def test_audited_at_comes_from_the_injected_clock() -> None:
    moment = datetime.datetime(2030, 1, 2, 3, 4, 5, tzinfo=datetime.UTC)
    for snapshot in (
        builders.web_snapshot(),
        builders.snapshot(missing_service=True, statefulsets=[builders.statefulset()]),
    ):
        result = await auditing.audit_service(
            snapshot, CONTEXT, probe.InMemoryProber(), fixed_clock(moment)
        )
        assert result.audited_at == moment


async def test_findings_and_problems_come_from_lint() -> None:
    snapshot = builders.web_snapshot(ready=(True, True, False))
    result = await auditing.audit_service(
        snapshot, CONTEXT, healthy_prober(snapshot), fixed_clock()
    )
    assert result.findings == lint.lint(snapshot)
    assert [(p.pod, p.code) for p in result.pod_problems] == [("web-2", "NotReady")]


# -- Context.of --------------------------------------------------------------------------------

OTHER_ZONE = corefile.CorefileOptions(zones=("in-addr.arpa.", "example.org."))


@pytest.mark.parametrize(
    ("options", "overrides", "zone", "grace"),
    [
        pytest.param(corefile.CorefileOptions(), {}, "cluster.local", 5.0, id="defaults"),
        pytest.param(
            corefile.parse_corefile(builders.KUBEADM_COREFILE),
            {},
            "cluster.local",
            5.0,
            id="kubeadm-cache-disabled-for-zone",
        ),
        pytest.param(
            corefile.parse_corefile(builders.OLD_KUBEADM_COREFILE),
            {},
            "cluster.local",
            35.0,
            id="old-kubeadm-cache-30",
        ),
        pytest.param(OTHER_ZONE, {}, "example.org", 5.0, id="zone-from-corefile"),
        pytest.param(OTHER_ZONE, {"zone": "corp.internal"}, "corp.internal", 5.0, id="zone-set"),
        pytest.param(
            corefile.parse_corefile(builders.OLD_KUBEADM_COREFILE),
            {"grace_seconds": 12.5},
            "cluster.local",
            12.5,
            id="grace-set",
        ),
        pytest.param(
            corefile.parse_corefile(builders.OLD_KUBEADM_COREFILE),
            {"grace_seconds": 0.0},
            "cluster.local",
            0.0,
            id="grace-zero-is-an-override",
        ),
        pytest.param(OTHER_ZONE, {"zone": ""}, "example.org", 5.0, id="empty-zone-is-unset"),
    ],
)
def test_context_of(
    options: corefile.CorefileOptions,
    overrides: dict[str, Any],
    zone: str,
    grace: float,
) -> None:
    context = audit.Context.of(options, SERVERS, **overrides)
    assert context == audit.Context(zone=zone, servers=SERVERS, grace_seconds=grace)
