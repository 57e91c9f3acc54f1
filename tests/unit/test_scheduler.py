"""The scheduler and the publisher with the standard sinks, over dict-backed sources, the
in-memory prober and the recording writer.

The key property (house style, practice 4): an unchanged verdict writes nothing — not on the
next audit, not on a sweep, not after a restart.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import dataclasses
import datetime
import json
import logging
import time
from collections.abc import Iterable, Mapping
from typing import Any

import builders
import prometheus_client as prom
import pytest
from builders import T0

from headless_auditor import config, probe
from headless_auditor.controller import indexes, publisher, scheduler
from headless_auditor.core import corefile, expected, records, snapshots
from headless_auditor.kube import errors, writers
from headless_auditor.sinks import conditions, metrics, report

Key = snapshots.Key
KEY = ("default", "nginx")
DNS = conditions.DNS_CONSISTENT
PODS = conditions.POD_NAMES_RESOLVABLE
CONFIG = conditions.CONFIGURATION_VALID
VIP = records.DNSServer("10.96.0.10", 53, role="service")
R1 = records.DNSServer("172.18.0.2", 53)
R2 = records.DNSServer("172.18.0.3", 53)
SERVERS = (VIP, R1, R2)
ZONE = "cluster.local"
GRACE = 5.0
SETTINGS = config.Settings(
    dns_servers=SERVERS, cluster_domain=ZONE, grace_seconds=GRACE, debounce=1.0
)
WEB_2 = builders.q("web-2")
P = metrics.PREFIX


def stamp(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class Clock:
    """A clock the test moves by hand."""

    def __init__(self, now: datetime.datetime = T0) -> None:
        self.now = now

    def __call__(self) -> datetime.datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += datetime.timedelta(seconds=seconds)


@dataclasses.dataclass
class DictSources:
    """:class:`indexes.Sources` over plain dicts of trimmed bodies, like the kopf indexes."""

    services: dict[Key, dict[str, Any]] = dataclasses.field(default_factory=dict)
    slices_of: dict[Key, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    statefulsets_of: dict[Key, list[dict[str, Any]]] = dataclasses.field(default_factory=dict)
    reports: dict[Key, dict[str, Any]] = dataclasses.field(default_factory=dict)

    def service(self, key: Key) -> Mapping[str, Any] | None:
        return self.services.get(key)

    def slices(self, key: Key) -> list[Mapping[str, Any]]:
        return list(self.slices_of.get(key, []))

    def statefulsets(self, key: Key) -> list[Mapping[str, Any]]:
        return list(self.statefulsets_of.get(key, []))

    def keys(self) -> Iterable[Key]:
        sets = [s for group in self.statefulsets_of.values() for s in group]
        return snapshots.audit_keys(self.services.values(), sets)


def service_body(
    name: str = "nginx", namespace: str = "default", *, generation: int = 3, uid: str = "uid-svc"
) -> dict[str, Any]:
    body = builders.service_api()
    body["metadata"].update(name=name, namespace=namespace, generation=generation, uid=uid)
    return indexes.trim_service(body)


def slice_body(
    *, changed_at: datetime.datetime | None = None, web_2_ready: bool = True
) -> dict[str, Any]:
    body = builders.slice_api()
    body["endpoints"][2]["conditions"] = {
        "ready": web_2_ready,
        "serving": web_2_ready,
        "terminating": False,
    }
    if changed_at is not None:
        body["metadata"]["managedFields"][0]["time"] = stamp(changed_at)
    return indexes.trim_slice(body)


def statefulset_body(name: str = "web", uid: str = "uid-web") -> dict[str, Any]:
    body = builders.statefulset_api()
    body["metadata"].update(name=name, uid=uid)
    return indexes.trim_statefulset(body)


def nginx_sources(**slice_options: Any) -> DictSources:
    """Service nginx, its slice (last change 11:59:30, 30 s before T0) and StatefulSet web."""
    return DictSources(
        services={KEY: service_body()},
        slices_of={KEY: [slice_body(**slice_options)]},
        statefulsets_of={KEY: [statefulset_body()]},
    )


def healthy_prober(sources: DictSources, key: Key = KEY) -> probe.InMemoryProber:
    """Every server answers exactly what the sources imply."""
    snapshot = snapshots.snapshot(
        key,
        sources.service(key),
        sources.slices(key),
        sources.statefulsets(key),
        corefile.CorefileOptions(),
    )
    want = expected.expected_answers(snapshot, ZONE)
    assert WEB_2 in want
    return probe.InMemoryProber({server: dict(want) for server in SERVERS})


@dataclasses.dataclass
class Harness:
    loop: scheduler.Scheduler
    sources: DictSources
    prober: probe.InMemoryProber
    writer: writers.RecordingWriter
    registry: prom.CollectorRegistry
    clock: Clock

    @property
    def reports(self) -> report.ReportSink:
        """The report sink (it lists the reports already there)."""
        sink = self.loop.outputs.writing[2]
        assert isinstance(sink, report.ReportSink)
        return sink

    def due_in(self, key: Key = KEY) -> float | None:
        """Seconds until the requested audit of ``key``; None when none is requested."""
        at = self.loop._due.get(key)
        return None if at is None else at - time.monotonic()

    def value(self, name: str, **labels: str) -> float | None:
        return self.registry.get_sample_value(f"{P}_{name}", labels)

    def conditions_written(self) -> list[list[dict[str, Any]]]:
        return [conds for _, _, conds in self.writer.conditions]


def make(
    sources: DictSources,
    *,
    settings: config.Settings = SETTINGS,
    prober: probe.InMemoryProber | None = None,
    writer: writers.RecordingWriter | None = None,
    clock: Clock | None = None,
) -> Harness:
    """An auditor attached to ``sources``; by default DNS answers what they imply."""
    prober = prober or healthy_prober(sources)
    writer = writer or writers.RecordingWriter()
    clock = clock or Clock()
    registry = prom.CollectorRegistry()
    meters = metrics.Metrics(registry)
    outputs = publisher.standard(
        writer, meters, reports_reader=lambda: copy.deepcopy(sources.reports), clock=clock
    )
    loop = scheduler.Scheduler(
        settings,
        prober=prober,
        outputs=outputs,
        meters=meters,
        corefile_reader=corefile.CorefileOptions,
        clock=clock,
    )
    loop.attach(sources)
    return Harness(loop, sources, prober, writer, registry, clock)


def statuses(conds: list[dict[str, Any]]) -> dict[str, tuple[str, str]]:
    return {c["type"]: (c["status"], c["reason"]) for c in conds}


def by_type(conds: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {c["type"]: c for c in conds}


def go_stale(h: Harness, server: records.DNSServer = R1) -> None:
    """``server`` keeps answering web-2 with an address it no longer has."""
    h.prober.answers[server][WEB_2] = builders.answer("10.244.9.9")


def heal(h: Harness, server: records.DNSServer = R1) -> None:
    h.prober.answers[server][WEB_2] = builders.answer("10.244.0.7")


# -- a healthy Service, audited again and again ----------------------------------------------


async def test_healthy_service_writes_conditions_and_report_once() -> None:
    h = make(nginx_sources())
    result = await h.loop.audit_key(KEY)
    assert result is not None
    assert result.dns_state == "Consistent"
    [(namespace, name, conds)] = h.writer.conditions
    assert (namespace, name) == KEY
    assert statuses(conds) == {
        DNS: ("True", "RecordsMatch"),
        PODS: ("True", "AllPodNamesResolvable"),
        CONFIG: ("True", "Valid"),
    }
    assert {(c["lastTransitionTime"], c["observedGeneration"]) for c in conds} == {(stamp(T0), 3)}
    [(namespace, name, report)] = h.writer.reports
    assert (namespace, name) == KEY
    assert report["dnsState"] == "Consistent"
    assert report["conditions"] == conds
    assert report["lastAuditTime"] == stamp(T0)
    assert h.writer.events == []  # True from nothing is no transition a person cares about
    assert h.value("writes_total", kind="service_status") == 1
    assert h.value("writes_total", kind="report") == 1


async def test_an_unchanged_verdict_writes_nothing() -> None:
    h = make(nginx_sources())
    await h.loop.audit_key(KEY)
    for _ in range(3):
        h.clock.advance(60)
        result = await h.loop.audit_key(KEY)
        assert result is not None
        assert result.dns_state == "Consistent"
    h.clock.advance(60)
    await h.loop.sweep()
    assert len(h.writer.conditions) == 1
    assert len(h.writer.reports) == 1
    assert h.writer.events == []
    assert h.value("writes_total", kind="service_status") == 1
    assert h.value("audits_total", state="Consistent") == 5
    assert len(h.prober.asked) == 5 * len(SERVERS)  # DNS was asked every time


async def test_an_unchanged_report_is_refreshed_after_a_while(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    h = make(nginx_sources())
    await h.loop.audit_key(KEY)
    monkeypatch.setattr(report, "REFRESH_SECONDS", 0.0)
    h.clock.advance(60)
    await h.loop.audit_key(KEY)
    assert len(h.writer.conditions) == 1
    assert [r["lastAuditTime"] for _, _, r in h.writer.reports] == [
        stamp(T0),
        stamp(T0 + datetime.timedelta(seconds=60)),
    ]


async def test_metrics_follow_the_audit() -> None:
    h = make(nginx_sources())
    await h.loop.audit_key(KEY)
    key = {"namespace": "default", "service": "nginx"}
    assert h.value("service_dns_state", **key, state="Consistent") == 1
    assert h.value("service_condition", **key, condition="DNSConsistent", status="True") == 1
    assert h.value("service_condition", **key, condition="DNSConsistent", status="False") == 0


async def test_read_only_writes_nothing_and_the_metrics_and_log_carry_the_verdict(
    caplog: pytest.LogCaptureFixture,
) -> None:
    sources = nginx_sources(web_2_ready=False)
    registry = prom.CollectorRegistry()
    meters = metrics.Metrics(registry)
    loop = scheduler.Scheduler(
        SETTINGS,
        prober=healthy_prober(sources),
        outputs=publisher.read_only(meters, clock=Clock()),
        meters=meters,
        corefile_reader=corefile.CorefileOptions,
    )
    loop.attach(sources)
    with caplog.at_level(logging.INFO):
        await loop.sweep()
        await loop.sweep()
    key = {"namespace": "default", "service": "nginx"}
    value = registry.get_sample_value
    assert (
        value(
            f"{P}_service_condition", {**key, "condition": "PodNamesResolvable", "status": "False"}
        )
        == 1
    )
    assert (
        value(f"{P}_service_condition", {**key, "condition": "DNSConsistent", "status": "True"})
        == 1
    )
    assert next(m for m in registry.collect() if m.name == f"{P}_writes").samples == []
    told = [
        r.getMessage() for r in caplog.records if "read-only: no Event written" in r.getMessage()
    ]
    assert len(told) == 1  # the one transition, once
    assert "PodNamesResolvable" in told[0]
    assert "web-2" in told[0]


# -- changes ------------------------------------------------------------------------------------


async def test_a_status_change_writes_once_and_sends_one_event() -> None:
    h = make(nginx_sources())
    await h.loop.audit_key(KEY)
    h.clock.advance(60)
    go_stale(h)
    await h.loop.audit_key(KEY)
    h.clock.advance(60)
    await h.loop.audit_key(KEY)  # still stale: nothing new
    assert len(h.writer.conditions) == 2
    after = by_type(h.conditions_written()[1])
    assert (after[DNS]["status"], after[DNS]["reason"]) == ("False", "RecordsMismatch")
    assert after[DNS]["lastTransitionTime"] == stamp(T0 + datetime.timedelta(seconds=60))
    assert after[PODS]["lastTransitionTime"] == stamp(T0)
    assert "172.18.0.2:53" in after[DNS]["message"]
    [(ref, type_, reason, message)] = h.writer.events
    assert ref == writers.ObjectRef("v1", "Service", "default", "nginx", "uid-svc")
    assert (type_, reason) == ("Warning", "DNSConsistentFalse")
    assert message.startswith("DNSConsistent True -> False (RecordsMismatch): ")
    assert h.value("writes_total", kind="event") == 1


async def test_recovery_sends_a_normal_event() -> None:
    h = make(nginx_sources())
    go_stale(h)
    await h.loop.audit_key(KEY)
    heal(h)
    h.clock.advance(60)
    await h.loop.audit_key(KEY)
    assert [(t, r) for _, t, r, _ in h.writer.events] == [
        ("Warning", "DNSConsistentFalse"),
        ("Normal", "DNSConsistentTrue"),
    ]
    assert by_type(h.conditions_written()[-1])[DNS]["lastTransitionTime"] == stamp(h.clock.now)


async def test_dns_that_cannot_be_asked_is_unknown_never_false() -> None:
    h = make(nginx_sources())
    await h.loop.audit_key(KEY)
    h.prober.failures = dict.fromkeys(SERVERS, records.Outcome.TIMEOUT)
    h.clock.advance(60)
    await h.loop.audit_key(KEY)
    after = by_type(h.conditions_written()[-1])[DNS]
    assert (after["status"], after["reason"]) == ("Unknown", "DNSUnreachable")
    assert [r for _, _, r, _ in h.writer.events] == ["DNSConsistentUnknown"]


async def test_unready_pod_turns_pod_names_false_with_an_event() -> None:
    h = make(nginx_sources())
    await h.loop.audit_key(KEY)
    h.sources.slices_of[KEY] = [slice_body(web_2_ready=False)]
    h.prober = h.loop.prober = healthy_prober(h.sources)  # DNS follows at once
    h.clock.advance(60)
    await h.loop.audit_key(KEY)
    after = statuses(h.conditions_written()[-1])
    assert after[PODS] == ("False", "PodNamesUnresolvable")
    assert after[DNS] == ("True", "RecordsMatch")
    [(_, type_, reason, message)] = h.writer.events
    assert (type_, reason) == ("Warning", "PodNamesResolvableFalse")
    assert "web-2" in message


async def test_generation_change_is_written() -> None:
    h = make(nginx_sources())
    await h.loop.audit_key(KEY)
    h.sources.services[KEY] = service_body(generation=4)
    await h.loop.audit_key(KEY)
    assert [c["observedGeneration"] for c in h.conditions_written()[-1]] == [4, 4, 4]
    assert h.writer.events == []


# -- the grace window ---------------------------------------------------------------------------


async def test_converging_keeps_dns_consistent_and_requests_a_reaudit() -> None:
    h = make(nginx_sources())
    await h.loop.audit_key(KEY)
    # a new change 2 s ago (grace 5 s); R1 has not caught up yet
    h.clock.advance(60)
    h.sources.slices_of[KEY] = [slice_body(changed_at=h.clock.now - datetime.timedelta(seconds=2))]
    go_stale(h)
    result = await h.loop.audit_key(KEY)
    assert result is not None
    assert result.dns_state == "Converging"
    assert len(h.writer.conditions) == 1  # DNSConsistent stands; nothing else changed
    assert h.writer.events == []
    due = h.due_in()
    assert due is not None
    assert due == pytest.approx(3.0 + 0.2, abs=0.5)
    # the window ends with R1 still stale: now it is a real difference
    h.clock.advance(4)
    await h.loop.audit_key(KEY)
    after = by_type(h.conditions_written()[-1])[DNS]
    assert (after["status"], after["lastTransitionTime"]) == ("False", stamp(h.clock.now))


async def test_converging_from_nothing_is_unknown_converging() -> None:
    h = make(nginx_sources(changed_at=T0 - datetime.timedelta(seconds=1)))
    go_stale(h)
    await h.loop.audit_key(KEY)
    [conds] = h.conditions_written()
    assert statuses(conds)[DNS] == ("Unknown", "Converging")
    assert h.writer.events == []
    assert h.due_in() == pytest.approx(4.0 + 0.2, abs=0.5)


async def test_convergence_is_observed_once_after_a_change() -> None:
    h = make(nginx_sources())
    await h.loop.audit_key(KEY)
    assert h.value("dns_convergence_seconds_count") == 0  # no change seen yet
    change = T0 + datetime.timedelta(seconds=58)
    h.sources.slices_of[KEY] = [slice_body(changed_at=change)]
    go_stale(h)
    h.clock.advance(60)
    await h.loop.audit_key(KEY)  # converging
    assert h.value("dns_convergence_seconds_count") == 0
    heal(h)
    h.clock.advance(2)
    await h.loop.audit_key(KEY)  # consistent, 4 s after the change
    for _ in range(2):
        h.clock.advance(30)
        await h.loop.audit_key(KEY)
    assert h.value("dns_convergence_seconds_count") == 1
    assert h.value("dns_convergence_seconds_sum") == pytest.approx(4.0)


# -- restart ----------------------------------------------------------------------------------


def _json(value: Any) -> Any:
    """What the API server sends back: JSON, whatever the writer held."""
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("trouble", ["healthy", "stale-replica", "unready-pod"])
async def test_a_restarted_operator_writes_nothing_new(trouble: str) -> None:
    sources = nginx_sources(web_2_ready=trouble != "unready-pod")
    first = make(sources)
    if trouble == "stale-replica":
        go_stale(first)
    await first.loop.audit_key(KEY)
    [conds] = first.conditions_written()
    [(_, _, report)] = first.writer.reports
    # What the new process finds: our conditions beside another controller's (watched), and the
    # report status (listed once), as the API server returns them.
    restarted = copy.deepcopy(sources)
    foreign = {
        "type": "example.com/Ready",
        "status": "True",
        "reason": "Fine",
        "message": "",
        "lastTransitionTime": "2026-04-01T00:00:00Z",
    }
    restarted.services[KEY]["status"]["conditions"] = _json([foreign, *conds])
    restarted.reports[KEY] = _json(report)
    second = make(restarted, prober=first.prober, clock=Clock(T0 + datetime.timedelta(minutes=3)))
    for _ in range(2):  # the found report is remembered, not only compared once
        result = await second.loop.audit_key(KEY)
        assert result is not None
        second.clock.advance(30)
    assert second.writer.conditions == []
    assert second.writer.reports == []
    assert second.writer.events == []


async def test_restart_after_a_change_writes_it() -> None:
    """The restart must not hide a change: the live status is what counts."""
    sources = nginx_sources()
    first = make(sources)
    await first.loop.audit_key(KEY)
    restarted = copy.deepcopy(sources)
    restarted.services[KEY]["status"]["conditions"] = _json(first.conditions_written()[0])
    restarted.reports[KEY] = _json(first.writer.reports[0][2])
    second = make(restarted, clock=Clock(T0 + datetime.timedelta(minutes=3)))
    go_stale(second)
    await second.loop.audit_key(KEY)
    assert statuses(second.conditions_written()[0])[DNS] == ("False", "RecordsMismatch")
    assert [r for _, _, r, _ in second.writer.events] == ["DNSConsistentFalse"]
    assert len(second.writer.reports) == 1


@pytest.mark.parametrize("audited_while_gone", [True, False], ids=["gap", "no-gap"])
async def test_a_recreated_service_gets_its_conditions_and_report_again(
    audited_while_gone: bool,
) -> None:
    """BUG (what was written was remembered by namespace/name, outliving the Service it described).

    The Service is deleted and created again with the same spec (``kubectl delete -f svc.yaml
    && kubectl apply -f svc.yaml``, ``kubectl replace --force``). The memory of the *old*
    Service's conditions and report survives: while it is gone a StatefulSet keeps the key
    audited (gap), or the next audit already sees the new Service (no gap, within the
    debounce). The new Service has no conditions and its report was garbage-collected with
    the old owner, yet ``publish`` compares against the remembered copies, finds them equal
    (same generation, same statuses) and writes nothing: the new Service never gets our
    conditions (``kubectl wait --for=condition=...`` hangs) until some status changes, and the
    report comes back only after report.REFRESH_SECONDS. Expected: a Service whose uid differs
    from the remembered one is new (drop the memory when the uid changes or the Service is
    gone).
    """
    sources = nginx_sources()
    h = make(sources)
    await h.loop.audit_key(KEY)
    del sources.services[KEY]  # deleted; the report goes with it (ownerReference)
    if audited_while_gone:
        await h.loop.audit_key(KEY)
    sources.services[KEY] = service_body(uid="uid-new")  # the same Service, created again
    h.clock.advance(60)
    await h.loop.audit_key(KEY)
    assert len(h.writer.conditions) == 2, "the new Service got no conditions"
    assert len(h.writer.reports) == 2, "the new Service's report was not recreated"


async def test_a_deleted_service_has_no_condition_series_left() -> None:
    """BUG (same root: the memory of a Service outlives the Service).

    After the Service is deleted while a StatefulSet still names it, ``audit_key`` hands the
    remembered conditions of the deleted Service to ``observe_audit``, so
    ``headless_auditor_service_condition{condition="DNSConsistent",status="True"}`` stays 1
    for a Service that does not exist (its dns_state says NotAudited at the same time).
    Clearing the memory is not enough: ``observe_audit`` only sets the series of the
    conditions it is given, so with none it leaves the old ones. Expected: no condition series
    (or all 0) once the Service is gone.
    """
    sources = nginx_sources()
    h = make(sources)
    await h.loop.audit_key(KEY)
    del sources.services[KEY]
    await h.loop.audit_key(KEY)
    key = {"namespace": "default", "service": "nginx"}
    assert h.value("service_dns_state", **key, state="NotAudited") == 1
    assert not h.value("service_condition", **key, condition="DNSConsistent", status="True")


# -- a StatefulSet naming a missing Service ---------------------------------------------------


async def test_missing_service_warns_each_statefulset_once() -> None:
    sources = DictSources(
        statefulsets_of={
            KEY: [statefulset_body("web", "uid-web"), statefulset_body("db", "uid-db")]
        }
    )
    h = make(sources, prober=probe.InMemoryProber())
    for _ in range(3):
        result = await h.loop.audit_key(KEY)
        assert result is not None
        assert result.dns_state == "NotAudited"
        h.clock.advance(60)
    await h.loop.sweep()
    assert h.writer.conditions == []
    assert h.writer.reports == []
    assert h.prober.asked == []
    refs = sorted((ref.kind, ref.api_version, ref.name, ref.uid) for ref, *_ in h.writer.events)
    assert refs == [
        ("StatefulSet", "apps/v1", "db", "uid-db"),
        ("StatefulSet", "apps/v1", "web", "uid-web"),
    ]
    assert {(t, r) for _, t, r, _ in h.writer.events} == {("Warning", "ServiceNotFound")}
    assert all('spec.serviceName "nginx"' in m for *_, m in h.writer.events)


def opt_out(body: dict[str, Any], annotation: str = "headless-auditor.io/ignore") -> None:
    body["metadata"]["annotations"][annotation] = "true"


async def test_a_service_that_opts_out_loses_what_we_wrote_once_and_is_left_alone() -> None:
    h = make(nginx_sources(web_2_ready=False))
    await h.loop.audit_key(KEY)
    events_before = len(h.writer.events)
    written = h.conditions_written()[-1]
    service = h.sources.services[KEY]
    service["status"]["conditions"] = [*written, {"type": "other.io/Ready", "status": "True"}]
    opt_out(service)
    key = {"namespace": "default", "service": "nginx"}
    assert h.value("service_dns_state", **key, state="Consistent") == 1
    assert await h.loop.audit_key(KEY) is None
    # our conditions go by an apply of the empty set: the API server keeps other managers' ones
    assert h.writer.conditions[-1] == ("default", "nginx", [])
    assert h.writer.deleted_reports == [("default", "nginx")]
    assert h.value("service_dns_state", **key, state="Consistent") is None
    assert KEY not in h.loop.latest
    service["status"]["conditions"] = [{"type": "other.io/Ready", "status": "True"}]  # the echo
    writes = (len(h.writer.conditions), len(h.writer.reports), len(h.writer.deleted_reports))
    await h.loop.sweep()
    await h.loop.audit_key(KEY, requested=True)
    after = (len(h.writer.conditions), len(h.writer.reports), len(h.writer.deleted_reports))
    assert after == writes  # once
    assert len(h.writer.events) == events_before
    asked = len(h.prober.asked)
    await h.loop.sweep()
    assert len(h.prober.asked) == asked


async def test_a_report_found_at_start_is_deleted_for_a_service_that_opted_out() -> None:
    sources = nginx_sources()
    sources.reports[KEY] = {"dnsState": "Consistent"}
    opt_out(sources.services[KEY])
    h = make(sources)
    await h.loop.audit_key(KEY, requested=True)  # kopf's listing at start requests every Service
    assert h.writer.deleted_reports == [("default", "nginx")]
    assert h.writer.conditions == []  # it carried none of ours
    assert h.prober.asked == []


async def test_a_statefulset_that_opts_out_is_not_warned_about_nor_audited() -> None:
    web, db = statefulset_body("web", "uid-web"), statefulset_body("db", "uid-db")
    opt_out(web)
    h = make(DictSources(statefulsets_of={KEY: [web, db]}), prober=probe.InMemoryProber())
    await h.loop.audit_key(KEY)
    assert [ref.name for ref, *_ in h.writer.events] == ["db"]
    opt_out(db)
    assert await h.loop.audit_key(KEY) is None
    assert KEY not in h.loop.latest


async def test_a_new_statefulset_naming_the_missing_service_is_warned_too() -> None:
    sources = DictSources(statefulsets_of={KEY: [statefulset_body("web", "uid-web")]})
    h = make(sources, prober=probe.InMemoryProber())
    await h.loop.audit_key(KEY)
    sources.statefulsets_of[KEY].append(statefulset_body("db", "uid-db"))
    await h.loop.audit_key(KEY)
    await h.loop.audit_key(KEY)
    assert [ref.name for ref, *_ in h.writer.events] == ["web", "db"]


# -- forgetting -----------------------------------------------------------------------------


def _series_of(registry: prom.CollectorRegistry, name: str) -> list[str]:
    return [
        s.name
        for metric in registry.collect()
        for s in metric.samples
        if s.labels.get("service") == name
    ]


async def test_a_key_dropped_from_the_sources_is_forgotten() -> None:
    sources = nginx_sources()
    h = make(sources)
    await h.loop.audit_key(KEY)
    assert _series_of(h.registry, "nginx")
    sources.services.clear()
    sources.slices_of.clear()
    sources.statefulsets_of.clear()
    assert await h.loop.audit_key(KEY) is None
    assert _series_of(h.registry, "nginx") == []
    assert KEY not in h.loop.latest
    assert len(h.writer.conditions) == 1  # nothing written for a Service that is gone


async def test_a_sweep_forgets_keys_no_longer_listed() -> None:
    sources = nginx_sources()
    h = make(sources)
    await h.loop.sweep()
    assert KEY in h.loop.latest
    assert h.loop.sweeps == 1
    sources.services.clear()
    sources.statefulsets_of.clear()
    await h.loop.sweep()
    assert _series_of(h.registry, "nginx") == []
    assert dict(h.loop.latest) == {}


async def test_sweep_sets_finding_totals() -> None:
    sources = DictSources(statefulsets_of={KEY: [statefulset_body()]})
    h = make(sources, prober=probe.InMemoryProber())
    await h.loop.sweep()
    assert h.value("findings", code="ServiceNotFound", severity="error") == 1
    assert h.value("last_sweep_timestamp_seconds") is not None


async def test_a_corefile_that_cannot_be_read_keeps_the_previous_options() -> None:
    options = corefile.parse_corefile(builders.KUBEADM_COREFILE)
    reads: list[str] = []

    def reader() -> corefile.CorefileOptions:
        if reads:
            raise errors.ApiError(500, "InternalError", "etcd is sad")
        reads.append("ok")
        return options

    h = make(nginx_sources())
    h.loop.read_corefile = reader
    await h.loop.sweep()
    await h.loop.sweep()
    assert h.loop.options == options
    assert h.loop.sweeps == 2


# -- scheduling ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("namespaces", "excluded", "audited"),
    [
        ((), (), {"team-a", "team-b", "kube-system"}),
        (("team-*",), (), {"team-a", "team-b"}),
        ((), ("kube-*",), {"team-a", "team-b"}),
        (("team-*", "kube-system"), ("team-b",), {"team-a", "kube-system"}),
        (("team-?",), ("*",), set()),
    ],
)
async def test_namespace_globs_and_exclusions_decide_the_scope(
    namespaces: tuple[str, ...], excluded: tuple[str, ...], audited: set[str]
) -> None:
    settings = dataclasses.replace(SETTINGS, namespaces=namespaces, exclude_namespaces=excluded)
    keys = [("team-a", "nginx"), ("team-b", "db"), ("kube-system", "dns")]
    sources = DictSources(services={k: service_body(k[1], k[0]) for k in keys})
    h = make(sources, settings=settings, prober=probe.InMemoryProber())
    h.loop.request(keys, delay=0)
    assert {ns for ns, _ in h.loop._due} == audited
    await h.loop.sweep()
    assert {ns for ns, _ in h.loop.latest} == audited


async def test_namespaces_setting_filters_requests_and_sweeps() -> None:
    settings = dataclasses.replace(SETTINGS, namespaces=("team-a",))
    other = ("team-b", "db")
    sources = DictSources(
        services={
            ("team-a", "nginx"): service_body(namespace="team-a"),
            other: service_body("db", "team-b"),
        }
    )
    h = make(sources, settings=settings, prober=probe.InMemoryProber())
    h.loop.request([("team-a", "nginx"), other], delay=0)
    assert set(h.loop._due) == {("team-a", "nginx")}
    await h.loop.sweep()
    assert {(ns, name) for ns, name, _ in h.writer.conditions} == {("team-a", "nginx")}
    assert set(h.loop.latest) == {("team-a", "nginx")}


async def test_request_keeps_the_earliest_due_time() -> None:
    h = make(nginx_sources())
    h.loop.request([KEY], delay=10)
    assert h.due_in() == pytest.approx(10, abs=0.5)
    h.loop.request([KEY], delay=2)
    assert h.due_in() == pytest.approx(2, abs=0.5)
    h.loop.request([KEY], delay=20)
    assert h.due_in() == pytest.approx(2, abs=0.5)
    h.loop.request([KEY])  # default: the debounce (1 s)
    assert h.due_in() == pytest.approx(SETTINGS.debounce, abs=0.5)


async def test_run_requests_audits_what_is_due() -> None:
    h = make(nginx_sources(), settings=dataclasses.replace(SETTINGS, debounce=0.0))
    runner = asyncio.create_task(h.loop.run_requests())
    try:
        h.loop.request([KEY])
        deadline = time.monotonic() + 5
        while KEY not in h.loop.latest:
            assert time.monotonic() < deadline, "the requested audit did not run"
            await asyncio.sleep(0.01)
        assert len(h.writer.conditions) == 1
        assert h.due_in() is None
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


async def test_servers_are_discovered_from_kube_dns_without_configuration() -> None:
    sources = nginx_sources()
    dns_key = ("kube-system", "kube-dns")
    sources.services[dns_key] = {
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "spec": {
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
        },
    }
    sources.slices_of[dns_key] = [
        {
            "metadata": {"name": "kube-dns-x", "namespace": "kube-system"},
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
            "endpoints": [
                {"addresses": ["172.18.0.2"], "conditions": {"ready": True}},
                {"addresses": ["172.18.0.3"], "conditions": {"ready": True}},
            ],
        }
    ]
    h = make(sources, settings=dataclasses.replace(SETTINGS, dns_servers=()))
    assert h.loop.servers() == SERVERS
    await h.loop.audit_key(KEY)
    assert {server for server, _ in h.prober.asked} == set(SERVERS)


# -- failed writes ------------------------------------------------------------------------------


@dataclasses.dataclass
class FailingWriter(writers.RecordingWriter):
    """Raises ``error`` from the chosen call, ``times`` times."""

    error: Exception | None = None
    fail: str = "apply_conditions"
    times: int = 1

    def _maybe_fail(self, call: str) -> None:
        if self.error is not None and call == self.fail and self.times > 0:
            self.times -= 1
            raise self.error

    async def apply_conditions(self, namespace: str, name: str, conditions: Any) -> None:
        self._maybe_fail("apply_conditions")
        await super().apply_conditions(namespace, name, conditions)

    async def apply_report(
        self, namespace: str, name: str, service_uid: str, status: Mapping[str, Any]
    ) -> None:
        self._maybe_fail("apply_report")
        await super().apply_report(namespace, name, service_uid, status)


TERMINATING = errors.ApiError(
    403,
    "Forbidden",
    'services "nginx" is forbidden: unable to create new content in namespace default '
    "because it is being terminated",
)


@pytest.mark.parametrize("call", ["apply_conditions", "apply_report"])
@pytest.mark.parametrize(
    ("error", "retried"),
    [
        pytest.param(TERMINATING, False, id="403-namespace-terminating"),
        pytest.param(errors.ApiError(404, "NotFound", "gone"), False, id="404"),
        pytest.param(errors.ApiError(403, "Forbidden", "RBAC says no"), True, id="403-rbac"),
        pytest.param(errors.ApiError(500, "InternalError", "etcd"), True, id="500"),
        pytest.param(errors.ClusterUnreachableError("down"), True, id="unreachable"),
        pytest.param(RuntimeError("surprise"), True, id="any-exception"),
    ],
)
async def test_failed_writes_are_retried_unless_the_service_is_gone(
    call: str, error: Exception, retried: bool
) -> None:
    writer = FailingWriter(error=error, fail=call)
    h = make(nginx_sources(), writer=writer)
    result = await h.loop.audit_key(KEY)
    assert result is not None  # the audit itself stands
    assert KEY in h.loop.latest
    if retried:
        due = h.due_in()
        assert due is not None
        assert due == pytest.approx(SETTINGS.debounce + 5, abs=0.5)
    else:
        assert h.due_in() is None


@pytest.mark.parametrize("call", ["apply_conditions", "apply_report"])
async def test_a_failed_write_is_not_remembered_as_written(call: str) -> None:
    writer = FailingWriter(error=RuntimeError("flaky"), fail=call)
    h = make(nginx_sources(), writer=writer)
    await h.loop.audit_key(KEY)
    await h.loop.audit_key(KEY)
    assert len(h.writer.conditions) == 1
    assert len(h.writer.reports) == 1
    await h.loop.audit_key(KEY)
    assert (len(h.writer.conditions), len(h.writer.reports)) == (1, 1)


# -- audits that would change nothing -----------------------------------------------------------


async def run_due(h: Harness) -> None:
    """Run the requested audits that are due now, then stop the request loop."""
    runner = asyncio.create_task(h.loop.run_requests())
    try:
        deadline = time.monotonic() + 5
        while h.loop._due or any(lock.locked() for lock in h.loop._locks.values()):
            assert time.monotonic() < deadline, "the requested audits did not run"
            await asyncio.sleep(0.01)
        await asyncio.sleep(0)  # let the last audit task finish
    finally:
        runner.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await runner


async def test_a_requested_audit_of_unchanged_inputs_asks_nothing() -> None:
    # kopf replays its listing at start and echoes our own status writes: neither may cost a
    # round of DNS questions.
    h = make(nginx_sources(), settings=dataclasses.replace(SETTINGS, debounce=0.0))
    await h.loop.audit_key(KEY)
    asked = len(h.prober.asked)
    h.loop.request([KEY])
    await run_due(h)
    assert len(h.prober.asked) == asked
    # a real change of an input is audited
    h.sources.slices_of[KEY] = [slice_body(web_2_ready=False)]
    h.loop.request([KEY])
    await run_due(h)
    assert len(h.prober.asked) == asked + len(SERVERS)
    assert statuses(h.conditions_written()[-1])[PODS][0] == "False"


async def test_a_change_of_the_dns_servers_is_a_change_of_the_inputs() -> None:
    h = make(nginx_sources(), settings=dataclasses.replace(SETTINGS, debounce=0.0))
    await h.loop.audit_key(KEY)
    h.loop.settings = dataclasses.replace(SETTINGS, dns_servers=(VIP, R1))
    h.loop.request([KEY])
    await run_due(h)
    assert len(h.prober.asked) == len(SERVERS) + 2
    assert {server for server, _ in h.prober.asked[-2:]} == {VIP, R1}


async def test_forced_requests_audit_even_when_nothing_changed() -> None:
    h = make(nginx_sources(), settings=dataclasses.replace(SETTINGS, debounce=0.0))
    await h.loop.audit_key(KEY)
    h.loop.request([KEY], force=True)
    await run_due(h)
    assert len(h.prober.asked) == 2 * len(SERVERS)


async def test_sweeps_always_ask_dns_but_once_per_sweep() -> None:
    # Drift inside DNS shows in no API object: a sweep asks again whatever the inputs, but a
    # Service audited (on request) after the sweep began is not asked twice by it.
    h = make(nginx_sources())
    await h.loop.audit_key(KEY, requested=True)
    await h.loop.sweep()
    assert len(h.prober.asked) == 2 * len(SERVERS)
    began = time.monotonic()
    await h.loop.audit_key(KEY)
    await h.loop.audit_key(KEY, since=began)
    assert len(h.prober.asked) == 3 * len(SERVERS)


class BlockingWriter(writers.RecordingWriter):
    """Holds every condition write until ``release`` is set."""

    def __init__(self) -> None:
        super().__init__()
        self.writing = asyncio.Event()
        self.release = asyncio.Event()

    async def apply_conditions(self, namespace: str, name: str, conditions: Any) -> None:
        self.writing.set()
        await self.release.wait()
        await super().apply_conditions(namespace, name, conditions)


async def test_a_slow_write_does_not_hold_up_other_audits() -> None:
    # The API server, not DNS, is the slow part of a first sweep: with one audit slot, the next
    # Service's DNS questions go out while the previous Service's conditions are being written.
    other = ("default", "other")
    sources = nginx_sources()
    sources.services[other] = service_body("other", uid="uid-other")
    writer = BlockingWriter()
    h = make(sources, settings=dataclasses.replace(SETTINGS, audit_concurrency=1), writer=writer)
    first = asyncio.create_task(h.loop.audit_key(KEY))
    await asyncio.wait_for(writer.writing.wait(), 5)
    second = asyncio.create_task(h.loop.audit_key(other))
    deadline = time.monotonic() + 5
    while len(h.prober.asked) < 2 * len(SERVERS):
        assert time.monotonic() < deadline, "the second audit waited for the first one's write"
        await asyncio.sleep(0.01)
    assert not first.done()  # its write is still held
    assert writer.conditions == []
    writer.release.set()
    await asyncio.wait_for(asyncio.gather(first, second), 5)
    assert {(ns, name) for ns, name, _ in writer.conditions} == {KEY, other}


async def test_the_reports_already_there_are_listed_once() -> None:
    sources = nginx_sources()
    other = ("default", "other")
    sources.services[other] = service_body("other", uid="uid-other")
    reads: list[int] = []

    def read() -> dict[Key, dict[str, Any]]:
        reads.append(1)
        return {}

    h = make(sources)
    h.reports.read_reports = read
    await asyncio.gather(h.loop.sweep(), h.loop.audit_key(KEY), h.loop.audit_key(other))
    await h.loop.sweep()
    assert len(reads) == 1
    assert len(h.writer.reports) == 2


async def test_reports_that_cannot_be_listed_are_written_once_more(
    caplog: pytest.LogCaptureFixture,
) -> None:
    first = make(nginx_sources())
    await first.loop.audit_key(KEY)

    def fail() -> dict[Key, dict[str, Any]]:
        raise errors.ApiError(403, "Forbidden", "cannot list headlessserviceaudits")

    restarted = make(nginx_sources(), prober=first.prober)
    restarted.reports.read_reports = fail
    restarted.sources.services[KEY]["status"] = {"conditions": first.conditions_written()[-1]}
    await restarted.loop.audit_key(KEY)
    await restarted.loop.audit_key(KEY)
    assert len(restarted.writer.reports) == 1  # once more, then remembered
    assert restarted.writer.conditions == []
    assert "cannot list the report objects" in caplog.text


# -- without the HeadlessServiceAudit CRD -------------------------------------------------------

NO_CRD = errors.ApiError(404, "Not Found", "404 page not found")


class CrdCluster(writers.RecordingWriter):
    """A writer and a reports reader over a cluster where the CRD is installed or not: without
    it, the LIST and every report write answer 404 (as the API server does); both are counted."""

    def __init__(self, *, installed: bool = False) -> None:
        super().__init__()
        self.installed = installed
        self.lists = 0
        self.report_attempts = 0

    def read_reports(self) -> dict[Key, dict[str, Any]]:
        self.lists += 1
        if not self.installed:
            raise NO_CRD
        return {}

    async def apply_report(
        self, namespace: str, name: str, service_uid: str, status: Mapping[str, Any]
    ) -> None:
        self.report_attempts += 1
        if not self.installed:
            raise NO_CRD
        await super().apply_report(namespace, name, service_uid, status)


def without_crd(sources: DictSources) -> tuple[Harness, CrdCluster]:
    cluster = CrdCluster(installed=False)
    h = make(sources, writer=cluster)
    h.reports.read_reports = cluster.read_reports
    return h, cluster


def crd_records(caplog: pytest.LogCaptureFixture) -> list[tuple[int, str]]:
    return [(r.levelno, r.getMessage()) for r in caplog.records if "CRD" in r.getMessage()]


async def test_without_the_crd_audits_go_on_and_no_report_is_attempted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="headless_auditor")
    h, cluster = without_crd(nginx_sources())
    await h.loop.audit_key(KEY)
    h.sources.slices_of[KEY] = [slice_body(web_2_ready=False)]
    await h.loop.sweep()
    await h.loop.audit_key(KEY, requested=True)
    await h.loop.sweep()
    # conditions, Events and metrics as usual
    assert len(h.conditions_written()) == 2
    assert statuses(h.conditions_written()[-1])[PODS][0] == "False"
    assert "PodNamesResolvableFalse" in [reason for _, _, reason, _ in h.writer.events]
    assert h.value("writes_total", kind="service_status") == 2
    assert h.value("writes_total", kind="event") == len(h.writer.events)
    assert h.value("audits_total", state="Consistent") == 1
    # no report written, none attempted, no retry scheduled, one warning and nothing else
    assert (cluster.report_attempts, h.writer.reports) == (0, [])
    assert h.value("writes_total", kind="report") is None
    assert h.due_in() is None
    assert crd_records(caplog) == [(logging.WARNING, report.CRD_MISSING)]
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == [
        r for r in caplog.records if "CRD" in r.getMessage()
    ]
    assert h.reports.availability is report.Availability.MISSING
    assert cluster.lists == 3  # the start-up LIST, then once per sweep


async def test_a_crd_installed_later_is_noticed_by_the_next_sweep(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.INFO, logger="headless_auditor")
    other = ("default", "other")
    sources = nginx_sources()
    sources.services[other] = service_body("other", uid="uid-other")
    h, cluster = without_crd(sources)
    await h.loop.sweep()
    await h.loop.sweep()
    assert (cluster.report_attempts, len(h.writer.conditions)) == (0, 2)
    cluster.installed = True
    await h.loop.audit_key(KEY, requested=True)  # between sweeps: unchanged, nothing to do
    assert cluster.report_attempts == 0
    await h.loop.sweep()
    assert {(ns, name) for ns, name, _ in h.writer.reports} == {KEY, other}
    assert h.value("writes_total", kind="report") == 2
    assert crd_records(caplog) == [
        (logging.WARNING, report.CRD_MISSING),
        (logging.INFO, report.CRD_INSTALLED),
    ]
    lists = cluster.lists
    await h.loop.sweep()  # installed: no more LISTs, no more writes, nothing more said
    assert (cluster.lists, cluster.report_attempts) == (lists, 2)
    assert len(crd_records(caplog)) == 2
    assert len(h.writer.conditions) == 2


async def test_a_recheck_that_fails_otherwise_keeps_the_crd_missing(
    caplog: pytest.LogCaptureFixture,
) -> None:
    h, cluster = without_crd(nginx_sources())
    await h.loop.sweep()

    def unreachable() -> dict[Key, dict[str, Any]]:
        raise errors.ClusterUnreachableError("GET /apis/...: connection refused")

    h.reports.read_reports = unreachable
    await h.loop.sweep()
    assert h.reports.availability is report.Availability.MISSING
    assert cluster.report_attempts == 0
    h.reports.read_reports = cluster.read_reports
    cluster.installed = True
    await h.loop.sweep()
    assert len(h.writer.reports) == 1


async def test_a_list_that_fails_otherwise_is_not_repeated() -> None:
    h = make(nginx_sources())
    reads: list[int] = []

    def forbidden() -> dict[Key, dict[str, Any]]:
        reads.append(1)
        raise errors.ApiError(403, "Forbidden", "cannot list headlessserviceaudits")

    h.reports.read_reports = forbidden
    await h.loop.sweep()
    await h.loop.sweep()
    assert len(reads) == 1
    assert h.reports.availability is report.Availability.UNLISTED
    assert len(h.writer.reports) == 1
