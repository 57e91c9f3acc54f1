"""The three conditions on a Service, from an audit, following Kubernetes conventions.

``lastTransitionTime`` moves only when a condition's status changes; reason and message may be
updated without a transition. While a difference is still inside the grace window (the verdict
says Converging) DNSConsistent keeps whatever it said before: a rollout must not flap it.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from headless_auditor import sinks
from headless_auditor.core import audit, podnames, rules, text, verdict
from headless_auditor.kube import writers

GROUP = "headless-auditor.io"
DNS_CONSISTENT = f"{GROUP}/DNSConsistent"
POD_NAMES_RESOLVABLE = f"{GROUP}/PodNamesResolvable"
CONFIGURATION_VALID = f"{GROUP}/ConfigurationValid"
TYPES = (DNS_CONSISTENT, POD_NAMES_RESOLVABLE, CONFIGURATION_VALID)

Condition = sinks.Condition


def _condition(type_: str, status: str, reason: str, message: str) -> Condition:
    return {"type": type_, "status": status, "reason": reason, "message": text.capped(message)}


def _failed_servers(v: verdict.Verdict) -> str:
    reasons: dict[str, set[str]] = {}
    for failure in v.failures:
        reasons.setdefault(failure.server.address, set()).add(failure.reason)
    return ", ".join(f"{server} ({'/'.join(sorted(r))})" for server, r in sorted(reasons.items()))


def dns_consistent(result: audit.Audit) -> Condition | None:
    """None while converging: the previous DNSConsistent stands until the grace window ends."""
    v = result.verdict
    if v is None:
        reason = "NotHeadless" if result.exists else "ServiceNotFound"
        return _condition(
            DNS_CONSISTENT, "Unknown", reason, "DNS is audited for headless Services only"
        )
    if v.state is verdict.State.CONSISTENT:
        return _condition(DNS_CONSISTENT, "True", "RecordsMatch", v.summary)
    if v.state is verdict.State.INCONSISTENT:
        return _condition(DNS_CONSISTENT, "False", "RecordsMismatch", v.summary)
    if v.state is verdict.State.UNKNOWN:
        message = f"DNS could not be asked: {_failed_servers(v)}"
        return _condition(DNS_CONSISTENT, "Unknown", "DNSUnreachable", message)
    return None


def _pod_problem_text(problems: Sequence[podnames.PodNameProblem]) -> str:
    return "; ".join(f"{p.pod}: {p.code}: {p.message}" for p in problems)


def pod_names_resolvable(result: audit.Audit) -> Condition:
    if result.pod_problems:
        return _condition(
            POD_NAMES_RESOLVABLE,
            "False",
            "PodNamesUnresolvable",
            _pod_problem_text(result.pod_problems),
        )
    return _condition(
        POD_NAMES_RESOLVABLE,
        "True",
        "AllPodNamesResolvable",
        "every pod of every StatefulSet governed by this Service resolves by its stable name",
    )


def configuration_valid(result: audit.Audit) -> Condition:
    serious = [f for f in result.findings if f.severity is not rules.Severity.INFO]
    if serious:
        # The reason names the first finding; the others are named in the message.
        text = "; ".join([serious[0].message, *(f"{f.code}: {f.message}" for f in serious[1:])])
        return _condition(CONFIGURATION_VALID, "False", serious[0].code, text)
    notes = "; ".join(f"{f.code}: {f.message}" for f in result.findings)
    return _condition(CONFIGURATION_VALID, "True", "Valid", notes or "no misconfiguration found")


def desired(result: audit.Audit) -> list[Condition]:
    """The conditions this audit implies; DNSConsistent is left out while converging."""
    found = [dns_consistent(result), pod_names_resolvable(result), configuration_valid(result)]
    return [c for c in found if c is not None]


def merge(
    previous: Iterable[Mapping[str, Any]],
    wanted: Iterable[Condition],
    now: datetime.datetime,
    generation: int | None = None,
) -> list[Condition]:
    """Our conditions after this audit: lastTransitionTime kept while the status is unchanged.

    ``previous`` may hold other controllers' conditions; only our types are returned. A type
    missing from ``wanted`` (DNSConsistent while converging) keeps its previous value, or is
    reported Unknown/Converging when there is none yet.
    """
    before = {c.get("type"): dict(c) for c in previous if c.get("type") in TYPES}
    wanted_by_type = {c["type"]: c for c in wanted}
    stamp = text.timestamp(now)
    merged = []
    for type_ in TYPES:
        new = wanted_by_type.get(type_)
        old = before.get(type_)
        if new is None:
            if old is not None:
                merged.append(old)
                continue
            new = _condition(type_, "Unknown", "Converging", "a change is still propagating to DNS")
        keep_time = old is not None and old.get("status") == new["status"]
        new = {
            **new,
            "lastTransitionTime": old["lastTransitionTime"] if keep_time and old else stamp,
        }
        if generation is not None:
            new["observedGeneration"] = generation
        merged.append(new)
    return merged


def ours(conditions: Iterable[Mapping[str, Any]]) -> list[Condition]:
    """Our conditions from a Service's status, in our order."""
    by_type = {c.get("type"): dict(c) for c in conditions}
    return [by_type[t] for t in TYPES if t in by_type]


def transitions(
    previous: Iterable[Mapping[str, Any]], current: Iterable[Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any] | None, Mapping[str, Any]]]:
    """(old, new) pairs of our conditions whose status changed, or that are new and not True."""
    before = {c.get("type"): c for c in previous}
    changed = []
    for new in current:
        old = before.get(new["type"])
        if (old is None and new["status"] == "False") or (
            old is not None and old.get("status") != new["status"]
        ):
            changed.append((old, new))
    return changed


class ConditionsSink:
    """Writes our conditions to the Service's status when they changed (server-side apply)."""

    reads_previous = True

    def __init__(self, writer: writers.Writer) -> None:
        self.writer = writer

    async def publish(self, change: sinks.Change) -> None:
        if change.service is not None and change.current != change.previous:
            await self.writer.apply_conditions(*change.key, change.current)

    async def sweep_starting(self) -> None:
        return None

    def forget(self, key: sinks.Key) -> None:
        del key

    async def retire(self, retired: sinks.Retirement) -> None:
        """Our conditions go by server-side apply of an empty set (others' stay untouched)."""
        if retired.carried:
            await self.writer.apply_conditions(*retired.key, [])
