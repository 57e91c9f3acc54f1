"""The difference between what DNS must answer and what each server said, and what it means.

Like external-dns's plan, this is a pure function from (desired, observed) to a result: no I/O,
and the clock is an argument. Answers are compared as sets, per server and per question:

- a *missing* record is expected but absent (including every record of a name that should
  answer but got NXDOMAIN or NODATA); an *unexpected* record is answered but not expected
  (including records of a name that should not exist);
- an *outcome mismatch* is a wrong negative answer: NXDOMAIN where NODATA is due, or the reverse;
- a *probe failure* (SERVFAIL, REFUSED, TIMEOUT, UNREACHABLE, ERROR, or a question the server was
  not asked) says nothing about the records, so it is never a difference;
- a *disagreement* is a question the answering servers answered differently (one replica stale).

The state: UNKNOWN when no server answered anything; otherwise differences make it CONVERGING
while the last change is younger than the grace window, INCONSISTENT after; without differences
it is CONSISTENT only if every server answered every question -- a replica that could not be
asked might be the wrong one, so partial failures without differences are UNKNOWN too. All lists
are sorted, so the verdict is the same whatever order records, questions or servers came in.
"""

from __future__ import annotations

import collections
import dataclasses
import datetime
import enum
from collections.abc import Iterable, Iterator, Mapping, Sequence

from headless_auditor.core import records

_MAX_SUMMARY_ITEMS = 8
"""Differences spelled out in the summary before it says how many more there are."""


class State(enum.StrEnum):
    """What the comparison says about the Service's DNS."""

    CONSISTENT = "Consistent"
    CONVERGING = "Converging"
    INCONSISTENT = "Inconsistent"
    UNKNOWN = "Unknown"


@dataclasses.dataclass(frozen=True, order=True)
class RecordDiff:
    """One record a server should have answered but did not, or answered but should not have."""

    server: records.DNSServer
    question: records.Question
    record: str


@dataclasses.dataclass(frozen=True, order=True)
class OutcomeMismatch:
    """A server gave the wrong kind of negative answer (NXDOMAIN vs NODATA)."""

    server: records.DNSServer
    question: records.Question
    expected: records.Outcome
    observed: records.Outcome


@dataclasses.dataclass(frozen=True)
class ProbeFailure:
    """A question a server did not answer; ``outcome`` is None when it was not asked at all."""

    server: records.DNSServer
    question: records.Question
    outcome: records.Outcome | None

    @property
    def reason(self) -> str:
        return str(self.outcome) if self.outcome is not None else "NOT_ASKED"


@dataclasses.dataclass(frozen=True)
class Disagreement:
    """A question the answering servers did not answer alike; ``answers`` sorted by server."""

    question: records.Question
    answers: tuple[tuple[records.DNSServer, records.Answer], ...]


@dataclasses.dataclass(frozen=True)
class Verdict:
    """The outcome of one audit of one Service's DNS."""

    state: State
    servers: tuple[records.DNSServer, ...]
    """Every server asked, sorted."""
    expected_records: int
    """Records the expectation holds (over all questions, counted once, not per server)."""
    missing: tuple[RecordDiff, ...]
    unexpected: tuple[RecordDiff, ...]
    outcome_mismatches: tuple[OutcomeMismatch, ...]
    failures: tuple[ProbeFailure, ...]
    disagreements: tuple[Disagreement, ...]
    grace_remaining: float
    """Seconds until differences count as real; 0 unless CONVERGING."""
    summary: str
    """One human line naming servers and records, shortened for large differences."""

    @property
    def has_differences(self) -> bool:
        return bool(self.missing or self.unexpected or self.outcome_mismatches)


def verdict(
    expected: Mapping[records.Question, records.Answer],
    observed: Mapping[records.DNSServer, Mapping[records.Question, records.Answer]],
    *,
    now: datetime.datetime,
    last_change: datetime.datetime | None,
    grace_seconds: float,
) -> Verdict:
    """Compare every server's answers with the expectation and decide.

    ``now`` and ``last_change`` must both be timezone-aware. Questions a server answered beyond
    ``expected`` are ignored.
    """
    diff = _Diff.of(expected, observed)
    state, remaining = _state(diff, now, last_change, grace_seconds)
    return Verdict(
        state=state,
        servers=diff.servers,
        expected_records=diff.expected_records,
        missing=diff.missing,
        unexpected=diff.unexpected,
        outcome_mismatches=diff.mismatches,
        failures=diff.failures,
        disagreements=_disagreements(expected, observed),
        grace_remaining=remaining,
        summary=_summary(diff, state, remaining),
    )


@dataclasses.dataclass(frozen=True)
class _Diff:
    servers: tuple[records.DNSServer, ...]
    missing: tuple[RecordDiff, ...]
    unexpected: tuple[RecordDiff, ...]
    mismatches: tuple[OutcomeMismatch, ...]
    failures: tuple[ProbeFailure, ...]
    answered: int
    """(server, question) pairs that got a statement about the name."""
    expected_records: int

    @staticmethod
    def of(
        expected: Mapping[records.Question, records.Answer],
        observed: Mapping[records.DNSServer, Mapping[records.Question, records.Answer]],
    ) -> _Diff:
        missing: list[RecordDiff] = []
        unexpected: list[RecordDiff] = []
        mismatches: list[OutcomeMismatch] = []
        failures: list[ProbeFailure] = []
        for server, answers in observed.items():
            for question, want in expected.items():
                got = answers.get(question)
                if got is None or not got.outcome.is_answer:
                    outcome = None if got is None else got.outcome
                    failures.append(ProbeFailure(server, question, outcome))
                    continue
                missing.extend(RecordDiff(server, question, r) for r in want.records - got.records)
                unexpected.extend(
                    RecordDiff(server, question, r) for r in got.records - want.records
                )
                if _wrong_negative(want.outcome, got.outcome):
                    mismatches.append(OutcomeMismatch(server, question, want.outcome, got.outcome))
        return _Diff(
            servers=tuple(sorted(observed)),
            missing=tuple(sorted(missing)),
            unexpected=tuple(sorted(unexpected)),
            mismatches=tuple(sorted(mismatches)),
            failures=tuple(sorted(failures, key=_failure_key)),
            answered=len(observed) * len(expected) - len(failures),
            expected_records=sum(len(a.records) for a in expected.values()),
        )

    @property
    def differs(self) -> bool:
        return bool(self.missing or self.unexpected or self.mismatches)


def _wrong_negative(want: records.Outcome, got: records.Outcome) -> bool:
    """NXDOMAIN vs NODATA; a missing or extra ANSWER already shows as record differences."""
    return want != got and records.Outcome.ANSWER not in (want, got)


def _failure_key(failure: ProbeFailure) -> tuple[records.DNSServer, records.Question, str]:
    return (failure.server, failure.question, failure.reason)


def _state(
    diff: _Diff, now: datetime.datetime, last_change: datetime.datetime | None, grace: float
) -> tuple[State, float]:
    if not diff.servers or (diff.answered == 0 and diff.failures):
        return State.UNKNOWN, 0.0
    if not diff.differs:
        return (State.UNKNOWN if diff.failures else State.CONSISTENT), 0.0
    if last_change is None:
        return State.INCONSISTENT, 0.0
    elapsed = max((now - last_change).total_seconds(), 0.0)
    if elapsed < grace:
        return State.CONVERGING, grace - elapsed
    return State.INCONSISTENT, 0.0


def _disagreements(
    expected: Mapping[records.Question, records.Answer],
    observed: Mapping[records.DNSServer, Mapping[records.Question, records.Answer]],
) -> tuple[Disagreement, ...]:
    found = []
    for question in sorted(expected):
        answers = tuple(
            (server, observed[server][question])
            for server in sorted(observed)
            if question in observed[server] and observed[server][question].outcome.is_answer
        )
        if len({answer for _, answer in answers}) > 1:
            found.append(Disagreement(question, answers))
    return tuple(found)


# -- summary -----------------------------------------------------------------------------------


def _summary(diff: _Diff, state: State, remaining: float) -> str:
    if not diff.servers:
        return "no DNS server to ask"
    parts = []
    if diff.differs:
        parts.append(_differences_text(diff))
    elif diff.answered:
        names = ", ".join(s.address for s in diff.servers)
        parts.append(f"{diff.expected_records} expected records answered as expected by {names}")
    elif not diff.failures:
        parts.append("no question to ask")
    if diff.failures:
        parts.append("unanswered: " + _failures_text(diff.failures))
    if state is State.CONVERGING:
        parts.append(f"converging, {remaining:.1f} s of grace left")
    return "; ".join(parts)


def _differences_text(diff: _Diff) -> str:
    """Servers with the same differences share one entry: ``a, b: missing ...; unexpected ...``."""
    items: dict[records.DNSServer, list[str]] = collections.defaultdict(list)
    for d in diff.missing:
        items[d.server].append(f"missing {_q(d.question)} {d.record}")
    for d in diff.unexpected:
        items[d.server].append(f"unexpected {_q(d.question)} {d.record}")
    for m in diff.mismatches:
        items[m.server].append(f"{_q(m.question)} {m.observed} instead of {m.expected}")
    groups: dict[tuple[str, ...], list[records.DNSServer]] = collections.defaultdict(list)
    for server in sorted(items):
        groups[tuple(items[server])].append(server)
    return _shortened(_group_lines(groups))


def _group_lines(
    groups: Mapping[tuple[str, ...], Sequence[records.DNSServer]],
) -> Iterator[tuple[str, Sequence[str]]]:
    for texts, servers in groups.items():
        yield ", ".join(s.address for s in servers), texts


def _shortened(groups: Iterable[tuple[str, Sequence[str]]]) -> str:
    shown, left, out = 0, 0, []
    for label, texts in groups:
        room = max(_MAX_SUMMARY_ITEMS - shown, 0)
        if room:
            out.append(f"{label}: " + "; ".join(texts[:room]))
        shown += min(room, len(texts))
        left += max(len(texts) - room, 0)
    more = f" ... and {left} more" if left else ""
    return " | ".join(out) + more


def _failures_text(failures: Sequence[ProbeFailure]) -> str:
    counts = collections.Counter((f.server, f.reason) for f in failures)
    return ", ".join(
        f"{server.address} {reason} ({n} question{'s' if n > 1 else ''})"
        for (server, reason), n in sorted(counts.items())
    )


def _q(question: records.Question) -> str:
    return f"{question.rdtype} {question.name}"
