"""A fix for kopf's start-up cost at scale, applied when the operator starts.

kopf holds every handler back until all indexes are filled. It does so with one "toggle" per
watched object in a set whose condition variable is shared by every worker waiting for the set to
turn on; adding or dropping a toggle calls ``notify_all``. Every worker already waiting wakes,
re-checks and sleeps again, once per object listed after it: wake-ups grow with the square of the
watched objects. At 1,000 Services x 10 pods (~4,000 watched objects) this cost 18 s of the
operator's 23 s start-up and half its CPU up to the end of the first sweep (docs/benchmarks.md).

Adding or dropping a toggle changes no single toggle's state, so the only waiters whose wait can
end are those waiting for the set as a whole - and only if the set's state changed. The fix
notifies exactly then.

The fix replaces three methods of a class in kopf's private modules, so it is guarded: the private
module is imported only here, only when :func:`apply` runs, and only for a kopf release the fix
was read against (:data:`CHECKED`, the one the lock files pin; a unit test fails when the pin
moves without this list). Any other release, or a checked one whose internals moved, runs
unchanged and says so with a WARNING: the operator starts, only more slowly with many objects.

Upstream: kopf's ``ToggleSet`` (``kopf/_cogs/aiokits/aiotoggles.py``) still calls ``notify_all``
on every ``make_toggle``/``drop_toggle``/``drop_toggles``, in 1.45.2 and in the newest source
read for this fix; no upstream issue or change about it was found. Reporting it upstream with
the measurement of docs/benchmarks.md is the way to retire this module.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import logging
from collections.abc import Iterable
from typing import Any

logger = logging.getLogger(__name__)

CHECKED = ("1.45.2",)
"""kopf releases whose ``ToggleSet`` this fix was read against."""
PRIVATE_MODULE = "kopf._cogs.aiokits.aiotoggles"
METHODS = ("make_toggle", "drop_toggle", "drop_toggles")
SLOW = "start-up with many watched objects may be slow (kopf wakes every waiter per object)"


def apply(version: str | None = None) -> bool:
    """Install the fix on kopf's ``ToggleSet``; whether it was installed (idempotent)."""
    version = version or importlib.metadata.version("kopf")
    if version not in CHECKED:
        logger.warning(
            "kopf %s is not a release the start-up fix was checked against (%s): %s",
            version,
            ", ".join(CHECKED),
            SLOW,
        )
        return False
    try:
        toggles = importlib.import_module(PRIVATE_MODULE)
        toggle_set, toggle = toggles.ToggleSet, toggles.Toggle
        if not all(callable(getattr(toggle_set, name, None)) for name in METHODS):
            raise AttributeError(f"ToggleSet lacks one of {', '.join(METHODS)}")
    except (ImportError, AttributeError) as error:
        logger.warning("kopf %s: the start-up fix does not apply (%s): %s", version, error, SLOW)
        return False
    _install(toggle_set, toggle)
    return True


def _install(toggle_set: Any, toggle_class: Any) -> None:
    """Replace the three methods: each notifies only when the set's own state changed."""

    async def make_toggle(self: Any, __val: bool = False, *, name: str | None = None) -> Any:
        toggle = toggle_class(__val, name=name, condition=self._condition)
        await _changing(self, lambda: self._toggles.add(toggle))
        return toggle

    async def drop_toggle(self: Any, toggle: Any) -> None:
        await _changing(self, lambda: self._toggles.discard(toggle))

    async def drop_toggles(self: Any, toggles: Iterable[Any]) -> None:
        await _changing(self, lambda: self._toggles.difference_update(toggles))

    toggle_set.make_toggle = make_toggle
    toggle_set.drop_toggle = drop_toggle
    toggle_set.drop_toggles = drop_toggles


async def _changing(toggle_set: Any, change: Any) -> None:
    """Apply ``change`` to the set's toggles; wake the waiters only if the set turned on/off."""
    async with toggle_set._condition:
        before = toggle_set.is_on()
        change()
        if toggle_set.is_on() != before:
            toggle_set._condition.notify_all()
