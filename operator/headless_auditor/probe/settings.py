"""How the real prober asks: :class:`ProbeSettings`, checked when made."""

from __future__ import annotations

import dataclasses
import typing


@dataclasses.dataclass(frozen=True)
class ProbeSettings:
    """How :class:`DnsPythonProber` asks."""

    timeout: float = 2.0
    """Seconds to wait for one response (per attempt, per transport). CoreDNS answers cluster names
    from memory in well under a millisecond; 2 s only lets a loaded node catch up."""
    retries: int = 2
    """Extra attempts after a timeout (UDP may lose packets); rcodes are never retried."""
    max_in_flight: int = 64
    """Queries outstanding at once, across all servers of this prober: enough to hide the round
    trip inside a cluster, few enough not to flood a CoreDNS replica."""
    transport: typing.Literal["udp", "tcp"] = "udp"
    """``udp`` (TCP only when an answer is truncated) or ``tcp`` for every query."""
    edns_payload: int = 4096
    """The UDP payload size advertised with EDNS0: answers up to this size are not truncated."""
    give_up_after: int | None = 16
    """Consecutive TIMEOUT/UNREACHABLE outcomes from one server (any ``ask``) after which its
    questions get that outcome unsent, for ``give_up_for``. ``None`` always sends."""
    give_up_for: float = 10.0
    """Seconds a server stays given up on; then its questions are sent again (and the next failure
    gives up again). Shorter than a sweep period, so a replica that came back is soon seen."""

    def __post_init__(self) -> None:
        _require(self.timeout > 0, "timeout", self.timeout, "must be > 0")
        _require(self.retries >= 0, "retries", self.retries, "must be >= 0")
        _require(self.max_in_flight >= 1, "max_in_flight", self.max_in_flight, "must be >= 1")
        _require(self.transport in ("udp", "tcp"), "transport", self.transport, "udp or tcp")
        _require(512 <= self.edns_payload <= 65535, "edns_payload", self.edns_payload, "512..65535")
        _require(
            self.give_up_after is None or self.give_up_after >= 1,
            "give_up_after",
            self.give_up_after,
            "must be >= 1 or None",
        )
        _require(self.give_up_for >= 0, "give_up_for", self.give_up_for, "must be >= 0")


def _require(condition: bool, field: str, value: object, rule: str) -> None:
    if not condition:
        raise ValueError(f"ProbeSettings.{field}={value!r}: {rule}")
