"""verdict: differences per server, failures kept apart, states, grace window, summary."""

from __future__ import annotations

import datetime
import random
from typing import TypeVar

import builders
import hypothesis
import pytest
from builders import T0, answer, q
from hypothesis import strategies as st

from headless_auditor.core import records, verdict

K = TypeVar("K")
V = TypeVar("V")

R1 = records.DNSServer("127.0.10.3", 1053)
R2 = records.DNSServer("127.0.10.4", 1053)
VIP = records.DNSServer("10.96.0.10", 53, role="service")
NX, NODATA = records.NXDOMAIN, records.NODATA
Outcome = records.Outcome

EXPECTED = {
    q(""): answer("10.0.0.4", "10.0.0.5"),
    q("", "AAAA"): NODATA,
    q("web-0"): answer("10.0.0.4"),
    q("web-1"): answer("10.0.0.5"),
    q("web-2"): NX,
}


def judge(
    observed: dict[records.DNSServer, dict[records.Question, records.Answer]],
    *,
    expected: dict[records.Question, records.Answer] | None = None,
    age: float = 60.0,
    grace: float = 35.0,
    last_change: datetime.datetime | None = None,
) -> verdict.Verdict:
    return verdict.verdict(
        EXPECTED if expected is None else expected,
        observed,
        now=T0,
        last_change=last_change or T0 - datetime.timedelta(seconds=age),
        grace_seconds=grace,
    )


def changed(**answers: records.Answer) -> dict[records.Question, records.Answer]:
    """EXPECTED with some answers replaced; keys are labels (``svc`` for the Service name)."""
    out = dict(EXPECTED)
    for label, ans in answers.items():
        out[q("" if label == "svc" else label.replace("_", "-"))] = ans
    return out


def failed(outcome: records.Outcome) -> dict[records.Question, records.Answer]:
    return {k: records.Answer(outcome) for k in EXPECTED}


def test_all_servers_agree_with_expectation() -> None:
    v = judge({R1: dict(EXPECTED), R2: dict(EXPECTED), VIP: dict(EXPECTED)})
    assert v.state is verdict.State.CONSISTENT
    assert not v.has_differences
    assert (v.missing, v.unexpected, v.outcome_mismatches, v.failures, v.disagreements) == (
        (),
        (),
        (),
        (),
        (),
    )
    assert v.expected_records == 4
    assert v.servers == (VIP, R1, R2)
    assert v.grace_remaining == 0.0
    assert v.summary == (
        "4 expected records answered as expected by 10.96.0.10:53, 127.0.10.3:1053, 127.0.10.4:1053"
    )


@pytest.mark.parametrize(
    ("observed", "missing", "unexpected", "mismatches"),
    [
        pytest.param(
            changed(web_0=NX),
            [(q("web-0"), "10.0.0.4")],
            [],
            [],
            id="answer-expected-got-nxdomain",
        ),
        pytest.param(
            changed(svc=answer("10.0.0.4")),
            [(q(""), "10.0.0.5")],
            [],
            [],
            id="one-record-missing",
        ),
        pytest.param(
            changed(web_2=answer("10.0.0.6")),
            [],
            [(q("web-2"), "10.0.0.6")],
            [],
            id="nxdomain-expected-got-answer",
        ),
        pytest.param(
            changed(svc=answer("10.0.0.4", "10.0.0.6")),
            [(q(""), "10.0.0.5")],
            [(q(""), "10.0.0.6")],
            [],
            id="record-replaced",
        ),
        pytest.param(
            changed(web_2=NODATA),
            [],
            [],
            [(q("web-2"), Outcome.NXDOMAIN, Outcome.NODATA)],
            id="nodata-instead-of-nxdomain",
        ),
        pytest.param(
            {**EXPECTED, q("", "AAAA"): NX},
            [],
            [],
            [(q("", "AAAA"), Outcome.NODATA, Outcome.NXDOMAIN)],
            id="nxdomain-instead-of-nodata",
        ),
    ],
)
def test_differences(
    observed: dict[records.Question, records.Answer],
    missing: list[tuple[records.Question, str]],
    unexpected: list[tuple[records.Question, str]],
    mismatches: list[tuple[records.Question, records.Outcome, records.Outcome]],
) -> None:
    v = judge({R1: observed, R2: dict(EXPECTED)})
    assert v.state is verdict.State.INCONSISTENT
    assert v.missing == tuple(verdict.RecordDiff(R1, qq, r) for qq, r in missing)
    assert v.unexpected == tuple(verdict.RecordDiff(R1, qq, r) for qq, r in unexpected)
    assert v.outcome_mismatches == tuple(
        verdict.OutcomeMismatch(R1, qq, e, o) for qq, e, o in mismatches
    )
    assert v.failures == ()
    differing = {item[0] for item in [*missing, *unexpected, *mismatches]}
    assert [d.question for d in v.disagreements] == sorted(differing)

    assert v.summary.startswith("127.0.10.3:1053: ")
    assert "127.0.10.4" not in v.summary


@pytest.mark.parametrize(
    "outcome",
    [Outcome.TIMEOUT, Outcome.UNREACHABLE, Outcome.SERVFAIL, Outcome.REFUSED, Outcome.ERROR],
)
def test_probe_failures_are_never_differences(outcome: records.Outcome) -> None:
    v = judge({R1: failed(outcome), R2: dict(EXPECTED)})
    assert not v.has_differences
    assert v.state is verdict.State.UNKNOWN
    assert len(v.failures) == len(EXPECTED)
    assert {f.outcome for f in v.failures} == {outcome}
    assert v.disagreements == ()
    assert f"unanswered: 127.0.10.3:1053 {outcome} (5 questions)" in v.summary


def test_no_server_answering_is_unknown() -> None:
    v = judge({R1: failed(Outcome.TIMEOUT), R2: failed(Outcome.UNREACHABLE)})
    assert v.state is verdict.State.UNKNOWN
    assert v.summary == (
        "unanswered: 127.0.10.3:1053 TIMEOUT (5 questions),"
        " 127.0.10.4:1053 UNREACHABLE (5 questions)"
    )


def test_no_server_at_all_is_unknown() -> None:
    v = judge({})
    assert v.state is verdict.State.UNKNOWN
    assert v.summary == "no DNS server to ask"


def test_failures_do_not_hide_differences_of_the_servers_that_answered() -> None:
    v = judge({R1: failed(Outcome.TIMEOUT), R2: changed(web_1=NX)})
    assert v.state is verdict.State.INCONSISTENT
    assert v.missing == (verdict.RecordDiff(R2, q("web-1"), "10.0.0.5"),)
    assert len(v.failures) == 5
    assert "unanswered: 127.0.10.3:1053 TIMEOUT" in v.summary


def test_question_not_asked_is_a_failure() -> None:
    partial = dict(EXPECTED)
    del partial[q("web-1")]
    v = judge({R1: partial})
    assert v.state is verdict.State.UNKNOWN
    assert v.failures == (verdict.ProbeFailure(R1, q("web-1"), None),)
    assert "NOT_ASKED" in v.summary


def test_extra_observed_questions_are_ignored() -> None:
    v = judge({R1: {**EXPECTED, q("web-9"): answer("10.9.9.9")}})
    assert v.state is verdict.State.CONSISTENT


@pytest.mark.parametrize(
    ("age", "grace", "state", "remaining"),
    [
        pytest.param(10.0, 35.0, verdict.State.CONVERGING, 25.0, id="inside-grace"),
        pytest.param(34.5, 35.0, verdict.State.CONVERGING, 0.5, id="just-inside"),
        pytest.param(35.0, 35.0, verdict.State.INCONSISTENT, 0.0, id="at-the-boundary"),
        pytest.param(300.0, 35.0, verdict.State.INCONSISTENT, 0.0, id="long-after"),
        pytest.param(
            -20.0, 35.0, verdict.State.CONVERGING, 35.0, id="change-in-the-future-clock-skew"
        ),
        pytest.param(0.0, 0.0, verdict.State.INCONSISTENT, 0.0, id="no-grace"),
    ],
)
def test_grace_window(age: float, grace: float, state: verdict.State, remaining: float) -> None:
    v = judge({R1: changed(web_0=NX)}, age=age, grace=grace)
    assert v.state is state
    assert v.grace_remaining == pytest.approx(remaining)
    assert ("converging" in v.summary) is (state is verdict.State.CONVERGING)


def test_unknown_last_change_means_no_grace() -> None:
    v = verdict.verdict(
        EXPECTED, {R1: changed(web_0=NX)}, now=T0, last_change=None, grace_seconds=1e9
    )
    assert v.state is verdict.State.INCONSISTENT


def test_grace_does_not_apply_without_differences() -> None:
    v = judge({R1: dict(EXPECTED)}, age=1.0)
    assert (v.state, v.grace_remaining) == (verdict.State.CONSISTENT, 0.0)


def test_disagreement_between_replicas() -> None:
    stale = changed(web_1=NX)
    v = judge({R1: dict(EXPECTED), R2: stale, VIP: failed(Outcome.TIMEOUT)})
    (d,) = v.disagreements
    assert d.question == q("web-1")
    assert d.answers == ((R1, answer("10.0.0.5")), (R2, NX))


def test_summary_groups_servers_with_the_same_differences() -> None:
    stale = changed(web_0=NX, web_2=answer("10.0.0.6"))
    v = judge({R1: stale, R2: dict(stale), VIP: changed(web_2=NODATA)})
    assert v.summary == (
        f"10.96.0.10:53: A web-2.{builders.DOMAIN} NODATA instead of NXDOMAIN"
        f" | 127.0.10.3:1053, 127.0.10.4:1053: missing A web-0.{builders.DOMAIN} 10.0.0.4;"
        f" unexpected A web-2.{builders.DOMAIN} 10.0.0.6"
    )


def test_summary_is_shortened_for_large_differences() -> None:
    many = {q(f"p-{i}"): answer(f"10.1.0.{i}") for i in range(40)}
    v = judge({R1: {k: NX for k in many}, R2: {k: NX for k in many}}, expected=many)
    assert len(v.missing) == 80
    assert v.summary.endswith("... and 32 more")
    assert v.summary.count("missing") == 8
    assert len(v.summary) < 1000


# -- properties --------------------------------------------------------------------------------

_questions = st.sampled_from(
    [q(""), q("", "AAAA"), q("", "SRV"), q("web-0"), q("web-1"), q("web-2")]
)
_answers = st.one_of(
    st.sampled_from([NX, NODATA] + [records.Answer(o) for o in Outcome if not o.is_answer]),
    st.frozensets(st.sampled_from(["10.0.0.1", "10.0.0.2", "10.0.0.3"]), min_size=1).map(
        records.Answer.of
    ),
)
_servers = st.sampled_from([R1, R2, VIP, records.DNSServer("::1", 5353)])
_expected = st.dictionaries(_questions, _answers.filter(lambda a: a.outcome.is_answer), min_size=1)
_observed = st.dictionaries(_servers, st.dictionaries(_questions, _answers), max_size=4)
_times = st.floats(min_value=-100, max_value=100, allow_nan=False)


@hypothesis.given(_expected, st.lists(_servers, unique=True), _times)
def test_observed_equal_to_expected_is_consistent(
    expected: dict[records.Question, records.Answer], servers: list[records.DNSServer], age: float
) -> None:
    hypothesis.assume(servers)
    v = judge({s: dict(expected) for s in servers}, expected=expected, age=age)
    assert v.state is verdict.State.CONSISTENT
    assert not v.has_differences
    assert v.failures == ()
    assert v.disagreements == ()


def _reordered(d: dict[K, V], rnd: random.Random) -> dict[K, V]:
    items = list(d.items())
    rnd.shuffle(items)
    return dict(items)


@hypothesis.given(_expected, _observed, _times, st.randoms(use_true_random=False))
def test_verdict_is_independent_of_order(
    expected: dict[records.Question, records.Answer],
    observed: dict[records.DNSServer, dict[records.Question, records.Answer]],
    age: float,
    rnd: random.Random,
) -> None:
    first = judge(observed, expected=expected, age=age)
    shuffled = _reordered({s: _reordered(a, rnd) for s, a in observed.items()}, rnd)
    again = judge(shuffled, expected=_reordered(expected, rnd), age=age)
    assert again == first
    assert first == judge(observed, expected=expected, age=age)
    assert list(first.missing) == sorted(first.missing)
    assert list(first.unexpected) == sorted(first.unexpected)


@hypothesis.given(_expected, _observed)
def test_failures_never_make_a_difference(
    expected: dict[records.Question, records.Answer],
    observed: dict[records.DNSServer, dict[records.Question, records.Answer]],
) -> None:
    only_failures = {
        s: {k: a for k, a in answers.items() if not a.outcome.is_answer}
        for s, answers in observed.items()
    }
    v = judge(only_failures, expected=expected)
    assert not v.has_differences
    assert v.state is verdict.State.UNKNOWN
