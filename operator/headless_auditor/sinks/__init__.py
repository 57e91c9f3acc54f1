"""The outputs of an audit: conditions, the report object, Events, metrics.

Each output is one module with one class behind :class:`Sink`: it gets a :class:`Change` (the
audit, and our conditions before and after it) and makes its writes. The operator's publisher
(:mod:`headless_auditor.controller.publisher`) computes the conditions once and hands the same
change to every registered sink, in order; a new output is one new module here plus one line in
the publisher's registration (and RBAC, if it writes a new kind of object).
"""

from __future__ import annotations

import dataclasses
import datetime
from typing import Any, Protocol

from headless_auditor.core import audit

Key = tuple[str, str]
"""``(namespace, name)`` of an audited Service."""
Condition = dict[str, Any]


@dataclasses.dataclass(frozen=True)
class Subject:
    """The Service an audit is about, as the watch last saw it."""

    uid: str
    generation: int | None


@dataclasses.dataclass(frozen=True)
class Owner:
    """A StatefulSet whose ``serviceName`` names the audited Service."""

    name: str
    uid: str


@dataclasses.dataclass(frozen=True)
class Change:
    """What one audit of one Service means for the outputs."""

    key: Key
    audit: audit.Audit
    service: Subject | None
    """None when the Service does not exist (it is known only from StatefulSets)."""
    statefulsets: tuple[Owner, ...]
    previous: list[Condition]
    """Our conditions on the Service before this audit (as written, or as found at start)."""
    current: list[Condition]
    """Our conditions after this audit; equal to ``previous`` when nothing changed."""
    last_change: datetime.datetime | None
    """When the Service's DNS inputs last changed (None: unknown)."""
    started: float
    """``time.monotonic()`` when the audit began."""


@dataclasses.dataclass(frozen=True)
class Retirement:
    """A Service that opted out (``headless-auditor.io/ignore``): what we wrote there goes."""

    key: Key
    service: Subject
    carried: list[Condition]
    """Our conditions the Service carries now (to be removed once)."""


class Sink(Protocol):
    """One output of the audits."""

    reads_previous: bool
    """Whether the sink compares ``previous`` with ``current`` conditions: the publisher then
    counts the conditions as written only once this sink succeeded."""

    async def publish(self, change: Change) -> None:
        """Make this output's writes for one audit; raise when a write failed."""
        ...

    async def sweep_starting(self) -> None:
        """Called before each periodic sweep (most sinks do nothing)."""
        ...

    def forget(self, key: Key) -> None:
        """The Service is no longer audited: drop what is remembered of it."""
        ...

    async def retire(self, retired: Retirement) -> None:
        """The Service opted out: undo this output's writes there (once), then forget it."""
        ...
