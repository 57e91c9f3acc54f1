"""Events: one for each change of one of our conditions, and warnings for a missing Service.

A condition that changes status gets one Event on its Service (Normal when it turns True, Warning
otherwise; a new condition only when it starts False). A Service that does not exist but is named
by StatefulSets gets one Warning Event on each of them, once per StatefulSet until it appears.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from headless_auditor import sinks
from headless_auditor.kube import writers
from headless_auditor.sinks import conditions


def condition_event(old: Mapping[str, Any] | None, new: Mapping[str, Any]) -> tuple[str, str, str]:
    """The type, reason and message of the Event for one condition's change."""
    short = new["type"].rpartition("/")[2]
    was = old["status"] if old else "unset"
    kind = "Normal" if new["status"] == "True" else "Warning"
    message = f"{short} {was} -> {new['status']} ({new['reason']}): {new['message']}"
    return kind, f"{short}{new['status']}", message


class EventsSink:
    """Sends the Events of each audit."""

    reads_previous = True

    def __init__(self, writer: writers.Writer) -> None:
        self.writer = writer
        self._warned: dict[sinks.Key, set[str]] = {}
        """StatefulSets (by uid) already warned that their Service is missing."""

    async def publish(self, change: sinks.Change) -> None:
        if change.service is None:
            await self._warn_statefulsets(change)
            return
        self._warned.pop(change.key, None)
        namespace, name = change.key
        ref = writers.ObjectRef("v1", "Service", namespace, name, change.service.uid)
        for old, new in conditions.transitions(change.previous, change.current):
            await self.writer.event(ref, *condition_event(old, new))

    async def _warn_statefulsets(self, change: sinks.Change) -> None:
        """One Warning Event per StatefulSet whose serviceName names this missing Service."""
        found = change.audit.findings
        message = next((f.message for f in found if f.code == "ServiceNotFound"), None)
        if message is None:
            return
        warned = self._warned.setdefault(change.key, set())
        for owner in change.statefulsets:
            if owner.uid in warned:
                continue
            ref = writers.ObjectRef("apps/v1", "StatefulSet", change.key[0], owner.name, owner.uid)
            await self.writer.event(ref, "Warning", "ServiceNotFound", message)
            warned.add(owner.uid)

    async def sweep_starting(self) -> None:
        return None

    def forget(self, key: sinks.Key) -> None:
        self._warned.pop(key, None)

    async def retire(self, retired: sinks.Retirement) -> None:
        self.forget(retired.key)  # no Event: the Service asked to be left alone
