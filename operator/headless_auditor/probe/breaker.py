"""The circuit breaker: giving up on a server for a while after consecutive timeouts.

After ``give_up_after`` consecutive TIMEOUT/UNREACHABLE outcomes from one server (of any ``ask``),
its questions get that outcome unsent for ``give_up_for`` seconds (then are sent again, and the
next failure gives up again): a dead replica costs a round of timeouts now and then, not one per
question, and does not hold the slots the live servers need. Any other outcome ends the streak.
"""

from __future__ import annotations

import dataclasses

from headless_auditor.core import records
from headless_auditor.probe.settings import ProbeSettings

_DOWN = frozenset({records.Outcome.TIMEOUT, records.Outcome.UNREACHABLE})


@dataclasses.dataclass
class ServerHealth:
    """A circuit breaker: consecutive down-looking outcomes of one server address."""

    streak: int = 0
    down: records.Outcome | None = None
    """The outcome given without asking, until ``retry_at`` (monotonic seconds)."""
    retry_at: float = 0.0

    def given_up(self, now: float) -> records.Outcome | None:
        """The outcome to give without asking, or None to ask."""
        return self.down if self.down is not None and now < self.retry_at else None

    def record(self, outcome: records.Outcome, now: float, settings: ProbeSettings) -> None:
        if outcome not in _DOWN:
            self.streak, self.down = 0, None
            return
        self.streak += 1
        if settings.give_up_after is not None and self.streak >= settings.give_up_after:
            self.down, self.retry_at = outcome, now + settings.give_up_for
