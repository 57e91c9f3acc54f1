"""Polling against a deadline: the only way tests wait (never a fixed sleep)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")


class PollTimeoutError(AssertionError):
    """The condition did not hold before the deadline; carries the last value seen."""


def until(
    check: Callable[[], T | None],
    *,
    timeout: float,
    interval: float = 0.2,
    what: str = "condition",
) -> T:
    """Call ``check`` until it returns a truthy value, and return that value.

    Exceptions raised by ``check`` count as "not yet" until the deadline, then propagate.
    """
    deadline = time.monotonic() + timeout
    last: object = None
    while True:
        try:
            value = check()
        except Exception:
            if time.monotonic() >= deadline:
                raise
        else:
            if value:
                return value
            last = value
        if time.monotonic() >= deadline:
            raise PollTimeoutError(f"{what} not reached within {timeout:.0f}s (last: {last!r})")
        time.sleep(interval)
