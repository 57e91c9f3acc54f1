"""The publisher: our conditions after each audit, handed to every output (sink) in turn.

It remembers, per Service, the conditions it last wrote (at start: those found on the Service),
merges each audit's conditions into them, and hands the resulting :class:`sinks.Change` to the
sinks in registration order. The sinks that write to the API run first, in order (conditions,
Events, the report object); when one fails, those after it are skipped and the audit is retried
later. The conditions count as written once every sink that compares them with the previous ones
(``reads_previous``: conditions, Events) has succeeded; until then the next audit compares with
the same previous conditions again, so no Event is lost or sent twice. The observers (metrics)
see every audit, with the conditions the Service carries after it.

To add an output: write its sink (one module in :mod:`headless_auditor.sinks`) and register it
in :func:`standard`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import Any

from headless_auditor import sinks
from headless_auditor.core import audit
from headless_auditor.kube import writers
from headless_auditor.sinks import conditions, events, metrics, report


@dataclasses.dataclass
class _Remembered:
    uid: str
    conditions: list[sinks.Condition]
    """Our conditions as last written, or as found on the Service."""
    written: bool = False
    """Whether ``conditions`` were published by this process (not only found)."""


class Publisher:
    """Hands each audit's change to the sinks, then to the observers."""

    def __init__(
        self,
        writing: Sequence[sinks.Sink],
        observing: Sequence[sinks.Sink] = (),
        clock: audit.Clock = audit.utc_now,
    ) -> None:
        self.writing = tuple(writing)
        self.observing = tuple(observing)
        self.clock = clock
        self._remembered: dict[sinks.Key, _Remembered] = {}

    def change(
        self,
        key: sinks.Key,
        result: audit.Audit,
        service: Mapping[str, Any] | None,
        **context: Any,
    ) -> sinks.Change:
        """The change one audit makes; ``service`` is the (trimmed) Service the audit read."""
        if service is None:
            self._remembered.pop(key, None)
            return sinks.Change(key, result, None, previous=[], current=[], **context)
        subject = _subject(service)
        known = self._remembered.get(key)
        if known is None or known.uid != subject.uid:  # new, or a new Service of that name
            known = self._remembered[key] = _Remembered(subject.uid, _carried(service))
        wanted = conditions.desired(result)
        current = conditions.merge(known.conditions, wanted, self.clock(), subject.generation)
        return sinks.Change(
            key, result, subject, previous=known.conditions, current=current, **context
        )

    async def publish(self, change: sinks.Change) -> None:
        """Every sink's writes; raises what the first failing sink raised."""
        pending = sum(1 for sink in self.writing if sink.reads_previous)
        if not pending:
            self._written(change)
        try:
            for sink in self.writing:
                await sink.publish(change)
                if sink.reads_previous:
                    pending -= 1
                    if not pending:
                        self._written(change)
        finally:
            known = self._remembered.get(change.key)
            carried = known.conditions if known is not None and known.written else []
            seen = dataclasses.replace(change, current=carried)
            for observer in self.observing:
                await observer.publish(seen)

    def _written(self, change: sinks.Change) -> None:
        known = self._remembered.get(change.key)
        if known is not None and change.service is not None:
            known.conditions, known.written = change.current, True

    async def sweep_starting(self) -> None:
        for sink in (*self.writing, *self.observing):
            await sink.sweep_starting()

    def forget(self, key: sinks.Key) -> None:
        self._remembered.pop(key, None)
        for sink in (*self.writing, *self.observing):
            sink.forget(key)

    async def retire(self, key: sinks.Key, service: Mapping[str, Any]) -> None:
        """The Service opted out: every sink undoes its writes there; raises the first failure
        (the scheduler retries; a retired sink has nothing left to undo)."""
        self._remembered.pop(key, None)
        retired = sinks.Retirement(key, _subject(service), _carried(service))
        for sink in (*self.writing, *self.observing):
            await sink.retire(retired)


def _subject(service: Mapping[str, Any]) -> sinks.Subject:
    meta = service.get("metadata", {})
    return sinks.Subject(str(meta.get("uid", "")), meta.get("generation"))


def _carried(service: Mapping[str, Any]) -> list[sinks.Condition]:
    """Our conditions as the (trimmed) Service carries them."""
    return conditions.ours((service.get("status") or {}).get("conditions") or [])


class CountingWriter:
    """A writer that counts each successful write in ``headless_auditor_writes_total``."""

    def __init__(self, writer: writers.Writer, meters: metrics.Metrics) -> None:
        self._writer = writer
        self._writes = meters.writes

    async def apply_conditions(
        self, namespace: str, name: str, conditions: Sequence[Mapping[str, Any]]
    ) -> None:
        await self._writer.apply_conditions(namespace, name, conditions)
        self._writes.labels("service_status").inc()

    async def apply_report(
        self, namespace: str, name: str, service_uid: str, status: Mapping[str, Any]
    ) -> None:
        await self._writer.apply_report(namespace, name, service_uid, status)
        self._writes.labels("report").inc()

    async def event(self, ref: writers.ObjectRef, type_: str, reason: str, message: str) -> None:
        await self._writer.event(ref, type_, reason, message)
        self._writes.labels("event").inc()

    async def apply(self, path: str, body: Mapping[str, Any]) -> None:
        await self._writer.apply(path, body)
        self._writes.labels(str(body.get("kind", "object")).lower()).inc()

    async def delete_report(self, namespace: str, name: str) -> None:
        await self._writer.delete_report(namespace, name)
        self._writes.labels("report_deletion").inc()


def standard(
    writer: writers.Writer,
    meters: metrics.Metrics,
    reports_reader: report.ReportsReader,
    clock: audit.Clock = audit.utc_now,
) -> Publisher:
    """The operator's outputs: the registration of every sink."""
    counted = CountingWriter(writer, meters)
    return Publisher(
        writing=[
            conditions.ConditionsSink(counted),
            events.EventsSink(counted),
            report.ReportSink(counted, reports_reader, clock),
        ],
        observing=[metrics.MetricsSink(meters)],
        clock=clock,
    )


def read_only(meters: metrics.Metrics, clock: audit.Clock = audit.utc_now) -> Publisher:
    """The outputs of the read-only mode: metrics, and the Events as log lines; no API write."""
    return Publisher(
        writing=[events.EventsSink(writers.LogWriter())],
        observing=[metrics.MetricsSink(meters)],
        clock=clock,
    )
