"""A fix for kopf's start-up cost at scale, applied when the operator starts.

kopf holds every handler back until all indexes are filled. It does so with one "toggle" per
watched object in a set whose condition variable is shared by every worker waiting for the set to
turn on; adding or dropping a toggle calls ``notify_all``. Every worker already waiting wakes,
re-checks and sleeps again, once per object listed after it: wake-ups grow with the square of the
watched objects. At 1,000 Services x 10 pods (~4,000 watched objects) this cost 18 s of the
operator's 23 s start-up and half its CPU up to the end of the first sweep (docs/benchmarks.md).

Adding or dropping a toggle changes no single toggle's state, so the only waiters whose wait can
end are those waiting for the set as a whole - and only if the set's state changed. The fix
notifies exactly then. It is applied only to the kopf release it was checked against (the one
the lock file pins); any other release runs unchanged and says so in the log.
"""

from __future__ import annotations

import importlib.metadata
import logging
from typing import Any

from kopf._cogs.aiokits import aiotoggles

logger = logging.getLogger(__name__)

CHECKED = ("1.45.2",)
"""kopf releases whose ``ToggleSet`` this fix was read against."""


async def _make_toggle(
    self: Any, __val: bool = False, *, name: str | None = None
) -> aiotoggles.Toggle:
    toggle = aiotoggles.Toggle(__val, name=name, condition=self._condition)
    async with self._condition:
        before = self.is_on()
        self._toggles.add(toggle)
        if self.is_on() != before:
            self._condition.notify_all()
    return toggle


async def _drop_toggle(self: Any, toggle: aiotoggles.Toggle) -> None:
    async with self._condition:
        before = self.is_on()
        self._toggles.discard(toggle)
        if self.is_on() != before:
            self._condition.notify_all()


async def _drop_toggles(self: Any, toggles: Any) -> None:
    async with self._condition:
        before = self.is_on()
        self._toggles.difference_update(toggles)
        if self.is_on() != before:
            self._condition.notify_all()


def apply(version: str | None = None) -> bool:
    """Install the fix on kopf's ``ToggleSet``; whether it was installed (idempotent)."""
    version = version or importlib.metadata.version("kopf")
    if version not in CHECKED:
        logger.info(
            "kopf %s is not a release this fix was checked against (%s): start-up with many "
            "objects may be slow",
            version,
            ", ".join(CHECKED),
        )
        return False
    toggle_set: Any = aiotoggles.ToggleSet
    toggle_set.make_toggle = _make_toggle
    toggle_set.drop_toggle = _drop_toggle
    toggle_set.drop_toggles = _drop_toggles
    return True
