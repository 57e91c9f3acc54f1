"""The scheduler: which Service to audit when, and the audit of one Service.

Level-based: any change of a Service's inputs requests an audit of that Service (throttled by
``debounce``, so a rollout's burst of slice updates costs one audit), a verdict still inside the
grace window requests another when the window ends, and a periodic sweep audits everything to
catch drift inside DNS that no API event shows. An audit whose inputs (snapshot, DNS servers)
equal those of the last one is skipped when it was requested by a watch event: kopf replays its
listing at start and echoes our own status writes. What an audit means for the outputs is the
publisher's business (:mod:`headless_auditor.controller.publisher`).

The watched objects come from kopf indexes (see :mod:`headless_auditor.controller.indexes`).
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable, Iterable, Mapping

from headless_auditor import config, probe
from headless_auditor.controller import indexes, publisher
from headless_auditor.core import audit, corefile, discovery, objects, records, snapshots, verdict
from headless_auditor.kube import errors
from headless_auditor.probe import auditing
from headless_auditor.sinks import metrics

logger = logging.getLogger(__name__)
Key = snapshots.Key


@dataclasses.dataclass(frozen=True)
class _Audited:
    """What one Service's last audit read, and when it started (monotonic seconds)."""

    inputs: tuple[objects.Snapshot, tuple[records.DNSServer, ...]]
    started: float


class Scheduler:
    """Owns the audit loop of one operator process."""

    def __init__(
        self,
        settings: config.Settings,
        *,
        prober: probe.Prober,
        outputs: publisher.Publisher,
        meters: metrics.Metrics,
        corefile_reader: Callable[[], corefile.CorefileOptions],
        clock: audit.Clock = audit.utc_now,
    ) -> None:
        self.settings = settings
        self.prober = prober
        self.outputs = outputs
        self.metrics = meters
        self.read_corefile = corefile_reader
        self.clock = clock
        self.sources: indexes.Sources | None = None
        self.ready = asyncio.Event()
        """Set when the watches have listed everything (kopf's first event): sweeps wait."""
        self.options = corefile.CorefileOptions()
        self._corefile_read = False
        self._due: dict[Key, float] = {}
        self._forced: set[Key] = set()
        self._audited: dict[Key, _Audited] = {}
        self._wake = asyncio.Event()
        self._locks: dict[Key, asyncio.Lock] = collections.defaultdict(asyncio.Lock)
        self._limit = asyncio.Semaphore(settings.audit_concurrency)
        self._latest: dict[Key, audit.Audit] = {}
        self.sweeps = 0

    # -- scope and scheduling ------------------------------------------------------------------

    def attach(self, sources: indexes.Sources) -> None:
        """Read the watched objects from ``sources`` from now on."""
        if self.sources is None:
            self.sources = sources

    def in_scope(self, key: Key) -> bool:
        return self.settings.audits_namespace(key[0])

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
        await self.outputs.sweep_starting()  # before ``started``: this sweep's audits see it
        started = time.monotonic()
        await self.refresh_corefile()
        keys = [k for k in self._all_keys() if self.in_scope(k)]
        await asyncio.gather(*(self.audit_key(k, since=started) for k in keys))
        for gone in set(self._latest) - set(keys):
            self._forget(gone)
        self._sweep_metrics(time.monotonic() - started)
        self.sweeps += 1
        logger.info(
            "sweep %d: %d Services in %.2fs", self.sweeps, len(keys), time.monotonic() - started
        )

    def _sweep_metrics(self, seconds: float) -> None:
        self.metrics.set_findings(self._latest.values())
        self.metrics.sweep_duration.set(seconds)
        self.metrics.last_sweep.set(time.time())

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
        return self.settings.servers_or(self._discovered)

    def _discovered(self) -> tuple[records.DNSServer, ...]:
        if self.sources is None:
            return ()
        key = (discovery.NAMESPACE, discovery.SERVICE)
        return discovery.dns_servers(self.sources.service(key), self.sources.slices(key))

    def _inputs(self, key: Key) -> indexes.Inputs | None:
        """What the audit of ``key`` reads, or None when it is no longer audited."""
        assert self.sources is not None
        return indexes.inputs(self.sources, key, self.options)

    def _unchanged(
        self, key: Key, audited: _Audited, requested: bool, since: float | None
    ) -> audit.Audit | None:
        """The last result when this audit would repeat it; None when it must run."""
        last, latest = self._audited.get(key), self._latest.get(key)
        if last is None or latest is None:
            return None
        if requested and last.inputs == audited.inputs:
            return latest  # nothing the audit reads has changed since
        if since is not None and last.started >= since:
            return latest  # already audited during this sweep
        return None

    async def audit_key(
        self, key: Key, *, requested: bool = False, since: float | None = None
    ) -> audit.Audit | None:
        """Audit one Service and publish the result; the result (None: no longer audited).

        ``requested``: asked for by a watch event (skipped when the inputs are unchanged);
        ``since``: part of a sweep that began then (skipped when audited after that). One of the
        ``audit_concurrency`` slots is held while DNS is asked, not while the result is written.
        """
        if not self._corefile_read:  # an event came before the first sweep read the Corefile
            await self.refresh_corefile()
        async with self._locks[key]:
            async with self._limit:  # bounds the DNS work; the writes wait outside the slot
                inputs = self._inputs(key)
                if inputs is None or inputs.ignored:
                    done = None
                else:
                    done = await self._audit_unless_unchanged(key, inputs, requested, since)
            if inputs is None:
                self._forget(key)
                return None
            if inputs.ignored:
                await self._retire(key, inputs)
                return None
            assert done is not None
            result, started = done
            if started is not None:  # a fresh result, not the last one again
                await self._publish(key, inputs, result, started)
            return result

    async def _audit_unless_unchanged(
        self, key: Key, inputs: indexes.Inputs, requested: bool, since: float | None
    ) -> tuple[audit.Audit, float | None]:
        """The audit's result and when it started; the last result (and None) when skipped."""
        audited = _Audited((inputs.snapshot, self.servers()), time.monotonic())
        if (skipped := self._unchanged(key, audited, requested, since)) is not None:
            return skipped, None
        self._audited[key] = audited
        return await self._audit(inputs.snapshot, audited.inputs[1]), audited.started

    async def _retire(self, key: Key, inputs: indexes.Inputs) -> None:
        """The Service opted out: what we wrote there goes (once), and it is not audited."""
        assert inputs.service is not None
        try:
            await self.outputs.retire(key, inputs.service)
        except Exception as error:
            self._failed(key, error)
            return
        self._audited.pop(key, None)
        self._latest.pop(key, None)

    async def _audit(
        self, snapshot: objects.Snapshot, servers: tuple[records.DNSServer, ...]
    ) -> audit.Audit:
        context = audit.Context.of(
            self.options,
            servers,
            zone=self.settings.cluster_domain,
            grace_seconds=self.settings.grace_seconds,
        )
        return await auditing.audit_service(snapshot, context, self.prober, self.clock)

    async def _publish(
        self, key: Key, inputs: indexes.Inputs, result: audit.Audit, started: float
    ) -> None:
        """Hand the result to the outputs; retry later when a write failed."""
        try:
            change = self.outputs.change(
                key,
                result,
                inputs.service,
                statefulsets=inputs.owners,
                last_change=inputs.snapshot.last_change,
                started=started,
            )
            await self.outputs.publish(change)
        except Exception as error:
            self._failed(key, error)
        self._latest[key] = result
        v = result.verdict
        if v is not None and v.state is verdict.State.CONVERGING:
            self.request([key], delay=v.grace_remaining + 0.2, force=True)

    def _failed(self, key: Key, error: Exception) -> None:
        """A write failed: retried later, unless the Service is being deleted."""
        if isinstance(error, errors.ApiError) and _gone(error):
            logger.info("%s/%s went away while writing its audit: %s", *key, error)
        else:
            logger.exception("writing the audit of %s/%s failed; retrying later", *key)
            self.request([key], delay=self.settings.debounce + 5, force=True)

    def _forget(self, key: Key) -> None:
        self._audited.pop(key, None)
        self._locks.pop(key, None)
        if self._latest.pop(key, None) is not None:
            self.outputs.forget(key)

    @property
    def latest(self) -> Mapping[Key, audit.Audit]:
        return self._latest


def _gone(error: errors.ApiError) -> bool:
    """The Service or its namespace is being deleted: nothing to retry."""
    return error.status == 404 or (error.status == 403 and "being terminated" in str(error))
