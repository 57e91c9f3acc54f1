"""The operator's audit loop: what to audit when, and what to write afterwards.

Level-based: any change of a Service's inputs requests an audit of that Service (throttled by
``debounce``, so a rollout's burst of slice updates costs one audit), a verdict still inside the
grace window requests another when the window ends, and a periodic sweep audits everything to
catch drift inside DNS that no API event shows. An audit is idempotent: it writes our conditions,
the report object and Events only when they differ from what is already there.

Without the HeadlessServiceAudit CRD (the start-up LIST of the reports answers 404) the audits go
on and write conditions, Events and metrics; report writes are skipped, not attempted and failed,
and each sweep repeats that one LIST until the CRD is there (see :func:`report.after_listing`).

The watched objects come from kopf indexes (see :mod:`handlers`), read through :class:`Sources`.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import datetime
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Protocol

from headless_auditor import config, probe
from headless_auditor.core import audit, corefile, discovery, objects, records, snapshots, verdict
from headless_auditor.kube import client, writers
from headless_auditor.sinks import conditions, metrics, report

logger = logging.getLogger(__name__)
Key = snapshots.Key

REPORT_REFRESH_SECONDS = 600.0
"""An unchanged report's lastAuditTime is refreshed at most this often (one write per Service
per ten minutes), so that the report shows the audit is alive without a write per sweep."""


class Sources(Protocol):
    """Read access to what the watches have seen (trimmed API objects)."""

    def service(self, key: Key) -> Mapping[str, Any] | None: ...
    def slices(self, key: Key) -> list[Mapping[str, Any]]: ...
    def statefulsets(self, key: Key) -> list[Mapping[str, Any]]: ...
    def keys(self) -> Iterable[Key]:
        """Every key that may need an audit: Services and StatefulSet serviceName targets."""
        ...


@dataclasses.dataclass(frozen=True)
class _Audited:
    """What one Service's last audit read, and when it started (monotonic seconds)."""

    inputs: tuple[objects.Snapshot, tuple[records.DNSServer, ...]]
    started: float


@dataclasses.dataclass
class _Memory:
    """What the loop remembers of one Service between audits."""

    conditions: list[conditions.Condition] | None = None
    report: dict[str, Any] | None = None
    report_written_at: float = 0.0
    last_change: datetime.datetime | None = None
    awaiting_since: datetime.datetime | None = None
    """A change of the inputs that DNS has not yet been seen to match."""
    warned_statefulsets: set[str] = dataclasses.field(default_factory=set)
    uid: str | None = None
    """The uid of the Service our remembered conditions and report belong to."""


class Auditor:
    """Owns the audit loop of one operator process."""

    def __init__(
        self,
        settings: config.Settings,
        *,
        prober: probe.Prober,
        writer: writers.Writer,
        meters: metrics.Metrics,
        corefile_reader: Callable[[], Any],
        clock: audit.Clock = audit.utc_now,
        reports_reader: Callable[[], Mapping[Key, Mapping[str, Any]]] = dict,
    ) -> None:
        self.settings = settings
        self.prober = prober
        self.writer = writer
        self.metrics = meters
        self.read_corefile = corefile_reader
        self.read_reports = reports_reader
        """The status of the report objects already there, by key: listed once, on first use
        (and at each sweep while their CRD is missing)."""
        self._reports_at_start: asyncio.Future[dict[Key, dict[str, Any]]] | None = None
        self.report_availability = report.Availability.NOT_LISTED
        self.clock = clock
        self.sources: Sources | None = None
        self.attached = asyncio.Event()
        self.options = corefile.CorefileOptions()
        self._corefile_read = False
        self._due: dict[Key, float] = {}
        self._forced: set[Key] = set()
        self._audited: dict[Key, _Audited] = {}
        self._wake = asyncio.Event()
        self._locks: dict[Key, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self._limit = asyncio.Semaphore(settings.audit_concurrency)
        self._memory: dict[Key, _Memory] = collections.defaultdict(_Memory)
        self._latest: dict[Key, audit.Audit] = {}
        self.sweeps = 0

    # -- scope and scheduling ------------------------------------------------------------------

    def attach(self, sources: Sources) -> None:
        if self.sources is None:
            self.sources = sources
            self.attached.set()

    def in_scope(self, key: Key) -> bool:
        namespaces = self.settings.namespaces
        return not namespaces or key[0] in namespaces

    def request(
        self, keys: Iterable[Key], delay: float | None = None, *, force: bool = False
    ) -> None:
        """Audit these Services after ``delay`` (default: the debounce); keeps earlier requests.

        Unless ``force``d, the audit is skipped when the Service's inputs equal those of its last
        audit (an echo of our own status write, the replayed initial listing)."""
        at = time.monotonic() + (self.settings.debounce if delay is None else delay)
        for key in keys:
            if self.in_scope(key):
                self._due[key] = min(self._due.get(key, at), at)
                if force:
                    self._forced.add(key)
        self._wake.set()

    async def run_requests(self) -> None:
        """Forever: audit each requested Service when its time has come."""
        tasks: set[asyncio.Task[audit.Audit | None]] = set()
        while True:
            now = time.monotonic()
            for key in [k for k, at in self._due.items() if at <= now]:
                del self._due[key]
                force = key in self._forced
                self._forced.discard(key)
                task = asyncio.create_task(self.audit_key(key, requested=not force))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
            self._wake.clear()
            timeout = min(self._due.values(), default=now + 3600) - now
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=max(timeout, 0.01))

    async def sweep(self) -> None:
        """Refresh the Corefile, then audit every Service in scope."""
        await self.recheck_reports()  # before ``started``: this sweep's audits see the answer
        started = time.monotonic()
        await self.refresh_corefile()
        keys = [k for k in self._all_keys() if self.in_scope(k)]
        await asyncio.gather(*(self.audit_key(k, since=started) for k in keys))
        for gone in set(self._latest) - set(keys):
            self._forget(gone)
        self.metrics.set_findings(self._latest.values())
        self.metrics.sweep_duration.set(time.monotonic() - started)
        self.metrics.last_sweep.set(time.time())
        self.sweeps += 1
        logger.info(
            "sweep %d: %d Services in %.2fs", self.sweeps, len(keys), time.monotonic() - started
        )

    async def refresh_corefile(self) -> None:
        self._corefile_read = True
        try:
            self.options = await asyncio.to_thread(self.read_corefile)
        except Exception as error:  # keep the last good options, say why
            logger.warning("cannot read the Corefile, keeping the previous options: %s", error)

    def _all_keys(self) -> list[Key]:
        return sorted(set(self.sources.keys())) if self.sources else []

    # -- one audit ------------------------------------------------------------------------------

    def servers(self) -> tuple[records.DNSServer, ...]:
        if self.settings.dns_servers or self.sources is None:
            return self.settings.dns_servers
        key = (discovery.NAMESPACE, discovery.SERVICE)
        return discovery.dns_servers(self.sources.service(key), self.sources.slices(key))

    def snapshot(self, key: Key) -> objects.Snapshot | None:
        """The Service's snapshot, or None when it is no longer audited."""
        assert self.sources is not None
        service = self.sources.service(key)
        statefulsets = self.sources.statefulsets(key)
        if not statefulsets and (service is None or not snapshots.is_headless(service)):
            return None
        return snapshots.snapshot(
            key, service, self.sources.slices(key), statefulsets, self.options
        )

    async def audit_key(
        self, key: Key, *, requested: bool = False, since: float | None = None
    ) -> audit.Audit | None:
        """Audit one Service and publish the result; the result (None: no longer audited).

        ``requested``: an audit asked for by a watch event, skipped when the Service's inputs
        (snapshot, DNS servers) equal those of its last audit - kopf replays its listing at start
        and echoes our own status writes, neither of which changes anything. ``since``: a sweep
        that began then; skipped when the Service was audited after that. One of the
        ``audit_concurrency`` slots is held while DNS is asked, not while the result is written.
        """
        if not self._corefile_read:  # an event came before the first sweep read the Corefile
            await self.refresh_corefile()
        async with self._locks[key]:
            async with self._limit:  # bounds the DNS work; the writes wait outside the slot
                snapshot = self.snapshot(key)
                if snapshot is None:
                    self._forget(key)
                    return None
                servers = self.servers()
                last, latest = self._audited.get(key), self._latest.get(key)
                if last is not None and latest is not None:
                    if requested and last.inputs == (snapshot, servers):
                        return latest  # nothing the audit reads has changed since
                    if since is not None and last.started >= since:
                        return latest  # already audited during this sweep
                self._audited[key] = _Audited((snapshot, servers), time.monotonic())
                context = audit.Context.of(
                    self.options,
                    servers,
                    zone=self.settings.cluster_domain,
                    grace_seconds=self.settings.grace_seconds,
                )
                started = time.monotonic()
                result = await audit.audit(snapshot, context, self.prober, self.clock)
            try:
                await self.publish(key, result)
            except Exception as error:
                if isinstance(error, client.ApiError) and _gone(error):
                    logger.info("%s/%s went away while writing its audit: %s", *key, error)
                else:
                    logger.exception("writing the audit of %s/%s failed; retrying later", *key)
                    self.request([key], delay=self.settings.debounce + 5, force=True)
            self._latest[key] = result
            self._track_convergence(key, snapshot, result)
            v = result.verdict
            if v is not None and v.state is verdict.State.CONVERGING:
                self.request([key], delay=v.grace_remaining + 0.2, force=True)
            self.metrics.observe_audit(
                result, time.monotonic() - started, self._memory[key].conditions or []
            )
            return result

    def _track_convergence(self, key: Key, snapshot: objects.Snapshot, result: audit.Audit) -> None:
        """Observe how long DNS took to match the API after each change of the inputs."""
        memory, change = self._memory[key], snapshot.last_change
        if change is None or result.verdict is None:
            return
        if memory.last_change is not None and change != memory.last_change:
            memory.awaiting_since = change
        memory.last_change = change
        if memory.awaiting_since is not None and result.verdict.state is verdict.State.CONSISTENT:
            seconds = (result.audited_at - memory.awaiting_since).total_seconds()
            self.metrics.convergence.observe(max(0.0, seconds))
            memory.awaiting_since = None

    # -- writing --------------------------------------------------------------------------------

    async def publish(self, key: Key, result: audit.Audit) -> None:
        assert self.sources is not None
        service = self.sources.service(key)
        memory = self._memory[key]
        if service is None:
            memory.conditions, memory.report, memory.uid = None, None, None
            await self._warn_statefulsets(key, result)
            return
        memory.warned_statefulsets.clear()
        meta = service.get("metadata", {})
        if memory.uid != meta.get("uid"):
            # A new Service under the same name: what we wrote belonged to the old one.
            memory.conditions, memory.report = None, None
            memory.uid = meta.get("uid")
        previous = memory.conditions
        if previous is None:
            previous = conditions.ours((service.get("status") or {}).get("conditions") or [])
        now = self.clock()
        current = conditions.merge(
            previous, conditions.desired(result), now, meta.get("generation")
        )
        if current != previous:
            await self.writer.apply_conditions(key[0], key[1], current)
            self.metrics.writes.labels("service_status").inc()
            await self._condition_events(key, meta, previous, current)
        memory.conditions = current
        await self._write_report(key, str(meta.get("uid", "")), result, current)

    async def _write_report(
        self, key: Key, uid: str, result: audit.Audit, current: list[conditions.Condition]
    ) -> None:
        assert self.sources is not None
        memory = self._memory[key]
        status = report.status(result, current, self.clock())
        old = memory.report
        if old is None:  # the first audit since start: the report found then, if any
            found = await self._existing_reports()
            if self.report_availability is report.Availability.MISSING:
                return  # no CRD: nothing to write to (told once; each sweep looks again)
            old = memory.report = found.pop(key, None)
            memory.report_written_at = time.monotonic() if old is not None else 0.0
        fresh = time.monotonic() - memory.report_written_at < REPORT_REFRESH_SECONDS
        if report.same_content(old, status) and fresh:
            return
        await self.writer.apply_report(key[0], key[1], uid, status)
        self.metrics.writes.labels("report").inc()
        memory.report = status
        memory.report_written_at = time.monotonic()

    async def _existing_reports(self) -> dict[Key, dict[str, Any]]:
        """The reports found at start, by key (entries are taken out as Services are audited)."""
        if self._reports_at_start is None:
            self._reports_at_start = asyncio.ensure_future(self._list_reports())
        return await asyncio.shield(self._reports_at_start)

    async def recheck_reports(self) -> None:
        """While the CRD is known missing: the start-up LIST of the reports, once more."""
        if self.report_availability is report.Availability.MISSING:
            self._reports_at_start = asyncio.ensure_future(self._list_reports())
            await asyncio.shield(self._reports_at_start)

    async def _list_reports(self) -> dict[Key, dict[str, Any]]:
        found: Mapping[Key, Mapping[str, Any]] = {}
        error: Exception | None = None
        try:
            found = await asyncio.to_thread(self.read_reports)
        except Exception as failure:
            error = failure
        after = report.after_listing(self.report_availability, error)
        self.report_availability = after.availability
        if after.message is not None:
            logger.log(after.level, "%s", after.message)
        return {key: dict(report) for key, report in found.items()}

    async def _condition_events(
        self,
        key: Key,
        meta: Mapping[str, Any],
        previous: list[conditions.Condition],
        current: list[conditions.Condition],
    ) -> None:
        ref = writers.ObjectRef("v1", "Service", key[0], key[1], str(meta.get("uid", "")))
        for old, new in conditions.transitions(previous, current):
            short = new["type"].rpartition("/")[2]
            was = old["status"] if old else "unset"
            kind = "Normal" if new["status"] == "True" else "Warning"
            message = f"{short} {was} -> {new['status']} ({new['reason']}): {new['message']}"
            await self.writer.event(ref, kind, f"{short}{new['status']}", message)
            self.metrics.writes.labels("event").inc()

    async def _warn_statefulsets(self, key: Key, result: audit.Audit) -> None:
        """One Warning Event per StatefulSet whose serviceName names this missing Service."""
        memory = self._memory[key]
        message = next((f.message for f in result.findings if f.code == "ServiceNotFound"), None)
        if message is None:
            return
        assert self.sources is not None
        for sts in self.sources.statefulsets(key):
            meta = sts.get("metadata", {})
            uid = str(meta.get("uid", ""))
            if uid in memory.warned_statefulsets:
                continue
            ref = writers.ObjectRef("apps/v1", "StatefulSet", key[0], str(meta.get("name")), uid)
            await self.writer.event(ref, "Warning", "ServiceNotFound", message)
            self.metrics.writes.labels("event").inc()
            memory.warned_statefulsets.add(uid)

    def _forget(self, key: Key) -> None:
        self._audited.pop(key, None)
        self._memory.pop(key, None)
        self._locks.pop(key, None)
        if self._latest.pop(key, None) is not None:
            self.metrics.forget(*key)

    @property
    def latest(self) -> Mapping[Key, audit.Audit]:
        return self._latest


def _gone(error: client.ApiError) -> bool:
    """The Service or its namespace is being deleted: nothing to retry."""
    return error.status == 404 or (error.status == 403 and "being terminated" in str(error))
