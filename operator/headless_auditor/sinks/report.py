"""The HeadlessServiceAudit report object of each Service: its content (pure) and its sink.

Also whether report objects can be written at all: the operator runs without its CRD (the
Deployment applied without ``crds/``, ``helm install --skip-crds``), auditing and writing the
Service conditions, Events and metrics as usual. The one LIST of the report objects made at start
tells: 404 means the CRD is not installed (:func:`after_listing` decides what that changes and
what to say, once); the operator then skips report writes and repeats that LIST at each sweep
until it answers. A CRD deleted while the operator runs is not looked for.
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
import datetime
import enum
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from headless_auditor import sinks
from headless_auditor.core import audit, text, verdict
from headless_auditor.kube import errors, resources, writers
from headless_auditor.sinks import conditions

logger = logging.getLogger(__name__)
ReportsReader = Callable[[], Mapping[sinks.Key, Mapping[str, Any]]]
"""Lists the status of every report object, by its Service's key (blocking: run in a thread)."""

KIND = resources.REPORT_KIND
CRD = resources.REPORT_CRD
INSTALL_CRD = "kubectl apply --server-side -f charts/headless-auditor/crds/"
CRD_MISSING = (
    f"the {KIND} CRD ({CRD}) is not installed: reports are not written until it is (Service "
    f'conditions, Events and metrics are); install it with "{INSTALL_CRD}" (helm install does this)'
)
CRD_INSTALLED = f"the {KIND} CRD ({CRD}) is installed now: reports are written from now on"
REFRESH_SECONDS = 600.0
"""An unchanged report's lastAuditTime is refreshed at most this often (one write per Service
per ten minutes), so that the report shows the audit is alive without a write per sweep."""


def _servers(v: verdict.Verdict) -> list[dict[str, Any]]:
    counts: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
    for d in v.missing:
        counts[d.server.address]["missing"] += 1
    for m in v.outcome_mismatches:
        counts[m.server.address]["missing"] += 1
    for d in v.unexpected:
        counts[d.server.address]["unexpected"] += 1
    for f in v.failures:
        counts[f.server.address]["failures"] += 1
    rows = []
    for server in v.servers:
        c = counts[server.address]
        state = (
            "Unreachable"
            if c["failures"]
            else "Mismatch"
            if c["missing"] + c["unexpected"]
            else "OK"
        )
        rows.append(
            {
                "address": server.address,
                "role": server.role,
                "state": state,
                "missing": c["missing"],
                "unexpected": c["unexpected"],
                "failures": c["failures"],
            }
        )
    return rows


def status(
    result: audit.Audit, current: Sequence[conditions.Condition], now: datetime.datetime
) -> dict[str, Any]:
    """The report's status; ``current`` are the Service's conditions after this audit."""
    v, counts = result.verdict, result.record_counts
    return {
        "conditions": list(current),
        "dnsState": result.dns_state,
        "expectedRecords": counts["expected"],
        "missingRecords": counts["missing"],
        "unexpectedRecords": counts["unexpected"],
        "findingCount": len(result.findings),
        "summary": v.summary if v else "",
        "findings": audit.findings_json(result),
        "ignoredFindings": audit.findings_json(result, ignored=True),
        "podNameProblems": audit.pod_problems_json(result),
        "servers": _servers(v) if v else [],
        "lastAuditTime": text.timestamp(now),
    }


def same_content(old: dict[str, Any] | None, new: dict[str, Any]) -> bool:
    """Whether two report statuses differ only in lastAuditTime."""
    if old is None:
        return False
    return _without_time(old) == _without_time(new)


def _without_time(report_status: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in report_status.items() if k != "lastAuditTime"}


class Availability(enum.Enum):
    """Whether report objects can be written, as the last LIST of them told."""

    NOT_LISTED = "not listed"
    """Not listed yet (the first audit lists them)."""
    INSTALLED = "installed"
    """The LIST answered: the CRD is there."""
    MISSING = "missing"
    """The LIST answered 404: the CRD is not installed. Reports are not written, and the LIST is
    repeated at each sweep until it answers."""
    UNLISTED = "unlisted"
    """The LIST failed otherwise (RBAC, the API server): each report is written once more."""


@dataclasses.dataclass(frozen=True)
class AfterListing:
    """What a LIST of the report objects changes, and what to log about it (once)."""

    availability: Availability
    message: str | None = None
    level: int = logging.WARNING


def after_listing(before: Availability, error: Exception | None) -> AfterListing:
    """The availability after a LIST that succeeded (``error`` None) or failed with ``error``.

    Only a change is told: a CRD still missing at the next sweep says nothing again. Another
    error while the CRD is known missing leaves it missing, to be asked again at the next sweep."""
    missing = before is Availability.MISSING
    if error is None:
        message = CRD_INSTALLED if missing else None
        return AfterListing(Availability.INSTALLED, message, logging.INFO)
    if isinstance(error, errors.ApiError) and error.status == 404:
        return AfterListing(Availability.MISSING, None if missing else CRD_MISSING)
    if missing:
        message = f"cannot tell whether the {KIND} CRD is installed now (asked again): {error}"
        return AfterListing(Availability.MISSING, message)
    message = f"cannot list the report objects, so each is written once more: {error}"
    return AfterListing(Availability.UNLISTED, message)


@dataclasses.dataclass
class _Written:
    """The last report written (or found at start) for one Service."""

    status: dict[str, Any] | None
    uid: str
    at: float = 0.0
    """``time.monotonic()`` of the write; 0 when found at start (refreshed at the first audit)."""


class ReportSink:
    """Writes each Service's report object when its content changed, or to refresh its time.

    The report objects already there are listed once, at the first audit (and at each sweep while
    their CRD is missing), so that a restarted operator writes nothing that is already written.
    """

    reads_previous = False

    def __init__(
        self, writer: writers.Writer, reader: ReportsReader, clock: audit.Clock = audit.utc_now
    ) -> None:
        self.writer = writer
        self.read_reports = reader
        self.clock = clock
        self.availability = Availability.NOT_LISTED
        self._at_start: asyncio.Future[dict[sinks.Key, dict[str, Any]]] | None = None
        self._written: dict[sinks.Key, _Written] = {}

    async def publish(self, change: sinks.Change) -> None:
        if change.service is None:
            self._written.pop(change.key, None)
            return
        written = self._written.get(change.key)
        if written is None or written.uid != change.service.uid:
            found = await self._found_at_start()
            if self.availability is Availability.MISSING:
                return  # no CRD: nothing to write to (told once; each sweep looks again)
            old = found.pop(change.key, None) if written is None else None
            written = _Written(old, change.service.uid, time.monotonic() if old else 0.0)
            self._written[change.key] = written
        new = status(change.audit, change.current, self.clock())
        fresh = time.monotonic() - written.at < REFRESH_SECONDS
        if same_content(written.status, new) and fresh:
            return
        await self.writer.apply_report(*change.key, change.service.uid, new)
        written.status, written.at = new, time.monotonic()

    async def sweep_starting(self) -> None:
        """While the CRD is known missing: the start-up LIST of the reports, once more."""
        if self.availability is Availability.MISSING:
            self._at_start = asyncio.ensure_future(self._list())
            await asyncio.shield(self._at_start)

    def forget(self, key: sinks.Key) -> None:
        self._written.pop(key, None)

    async def retire(self, retired: sinks.Retirement) -> None:
        """The report goes, if there is one (written by us, or found at start)."""
        found = await self._found_at_start()
        written = self._written.pop(retired.key, None)
        there = found.pop(retired.key, None) is not None
        if self.availability is not Availability.MISSING and (
            there or (written is not None and written.status is not None)
        ):
            await self.writer.delete_report(*retired.key)

    async def _found_at_start(self) -> dict[sinks.Key, dict[str, Any]]:
        """The reports found at start, by key (entries are taken out as Services are audited)."""
        if self._at_start is None:
            self._at_start = asyncio.ensure_future(self._list())
        return await asyncio.shield(self._at_start)

    async def _list(self) -> dict[sinks.Key, dict[str, Any]]:
        found: Mapping[sinks.Key, Mapping[str, Any]] = {}
        error: Exception | None = None
        try:
            found = await asyncio.to_thread(self.read_reports)
        except Exception as failure:
            error = failure
        after = after_listing(self.availability, error)
        self.availability = after.availability
        if after.message is not None:
            logger.log(after.level, "%s", after.message)
        return {key: dict(report) for key, report in found.items()}
