"""publisher: one change per audit, handed to every sink in order; a new output is one class.

The whole path (scheduler, publisher, the standard sinks) is in test_scheduler.py; these tests pin
what a new sink can rely on.
"""

from __future__ import annotations

import time
from typing import Any

import prometheus_client as prom
import pytest
from builders import T0

from headless_auditor import sinks
from headless_auditor.controller import publisher
from headless_auditor.core import audit, records, verdict
from headless_auditor.kube import writers
from headless_auditor.sinks import conditions, metrics

KEY = ("default", "nginx")
SERVICE = {"metadata": {"uid": "uid-1", "generation": 2}, "status": {"conditions": []}}


def consistent() -> audit.Audit:
    v = verdict.Verdict(
        state=verdict.State.CONSISTENT,
        servers=(records.DNSServer("10.96.0.10", 53, "service"),),
        expected_records=1,
        missing=(),
        unexpected=(),
        outcome_mismatches=(),
        failures=(),
        disagreements=(),
        grace_remaining=0.0,
        summary="every record matches",
    )
    return audit.Audit("default", "nginx", True, True, v, (), (), T0)


class PolicyReportSink:
    """A new output, as a newcomer would write it: one object of its own per Service."""

    def __init__(
        self, writer: writers.Writer, fail: bool = False, reads_previous: bool = False
    ) -> None:
        self.writer, self.fail, self.seen = writer, fail, list[sinks.Change]()
        self.reads_previous = reads_previous

    async def publish(self, change: sinks.Change) -> None:
        self.seen.append(change)
        if self.fail:
            raise RuntimeError("the API said no")
        body = {"apiVersion": "example.io/v1", "kind": "PolicyReport", "results": change.current}
        await self.writer.apply(f"/apis/example.io/v1/namespaces/default/x/{KEY[1]}", body)

    async def sweep_starting(self) -> None:
        return None

    def forget(self, key: sinks.Key) -> None:
        del key

    async def retire(self, retired: sinks.Retirement) -> None:
        del retired


def change_of(outputs: publisher.Publisher) -> sinks.Change:
    return outputs.change(
        KEY, consistent(), SERVICE, statefulsets=(), last_change=None, started=time.monotonic()
    )


async def test_a_new_sink_gets_each_change_and_its_writes_are_counted_by_kind() -> None:
    recorder, registry = writers.RecordingWriter(), prom.CollectorRegistry()
    meters = metrics.Metrics(registry)
    counted = publisher.CountingWriter(recorder, meters)
    policy = PolicyReportSink(counted)
    outputs = publisher.Publisher([conditions.ConditionsSink(counted), policy], clock=lambda: T0)
    await outputs.publish(change_of(outputs))
    [change] = policy.seen
    assert change.service == sinks.Subject("uid-1", 2)
    assert [c["status"] for c in change.current] == ["True", "True", "True"]
    [(path, body)] = recorder.applied
    assert path.endswith("/x/nginx")
    assert body["results"] == change.current
    sample = registry.get_sample_value
    assert sample(f"{metrics.PREFIX}_writes_total", {"kind": "policyreport"}) == 1
    assert sample(f"{metrics.PREFIX}_writes_total", {"kind": "service_status"}) == 1


async def test_a_failing_sink_stops_the_later_ones_and_observers_see_what_was_written() -> None:
    recorder = writers.RecordingWriter()
    failing, after, observer = (
        PolicyReportSink(recorder, fail=True, reads_previous=True),  # like the Events
        PolicyReportSink(recorder),
        PolicyReportSink(recorder),
    )
    outputs = publisher.Publisher(
        [conditions.ConditionsSink(recorder), failing, after], [observer], clock=lambda: T0
    )
    first = change_of(outputs)
    with pytest.raises(RuntimeError):
        await outputs.publish(first)
    assert (len(recorder.conditions), after.seen) == (1, [])
    [seen] = observer.seen
    assert seen.current == []  # nothing counts as written yet: the change is published again
    assert change_of(outputs).previous == first.previous


async def test_conditions_count_as_written_once_every_sink_reading_them_succeeded() -> None:
    recorder = writers.RecordingWriter()
    report_like = PolicyReportSink(recorder, fail=True)  # reads_previous = False
    outputs = publisher.Publisher(
        [conditions.ConditionsSink(recorder), report_like], clock=lambda: T0
    )
    first = change_of(outputs)
    with pytest.raises(RuntimeError):
        await outputs.publish(first)
    again = change_of(outputs)
    assert again.previous == first.current  # written: the next audit compares with them


def test_a_missing_service_has_no_conditions() -> None:
    outputs = publisher.Publisher([])
    change: Any = outputs.change(
        KEY, consistent(), None, statefulsets=(), last_change=None, started=0.0
    )
    assert (change.service, change.previous, change.current) == (None, [], [])
