"""conditions: the three conditions an audit implies, merged like cert-manager's set_condition.

Pure functions: ``desired`` from an audit, ``merge`` keeping ``lastTransitionTime`` while the
status is unchanged, ``transitions`` for the Events a person cares about.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Sequence
from typing import Any

import builders
import hypothesis
import pytest
from builders import T0
from hypothesis import strategies as st

from headless_auditor.core import audit, podnames, records, rules, text, verdict
from headless_auditor.sinks import conditions

State = verdict.State
DNS = conditions.DNS_CONSISTENT
PODS = conditions.POD_NAMES_RESOLVABLE
CONFIG = conditions.CONFIGURATION_VALID
R1 = records.DNSServer("172.18.0.2", 53)
R2 = records.DNSServer("172.18.0.3", 53)
LATER = T0 + datetime.timedelta(minutes=5)
T0_STAMP = "2026-05-01T12:00:00Z"
LATER_STAMP = "2026-05-01T12:05:00Z"
REASON = re.compile(r"^[A-Za-z]([A-Za-z0-9_,:]*[A-Za-z0-9_])?$")
"""metav1.Condition's validation of ``reason``."""


def make_verdict(
    state: State, *, summary: str = "the summary", failures: Sequence[verdict.ProbeFailure] = ()
) -> verdict.Verdict:
    return verdict.Verdict(
        state=state,
        servers=(R1, R2),
        expected_records=3,
        missing=(),
        unexpected=(),
        outcome_mismatches=(),
        failures=tuple(failures),
        disagreements=(),
        grace_remaining=4.0 if state is State.CONVERGING else 0.0,
        summary=summary,
    )


def make_audit(
    v: verdict.Verdict | None,
    *,
    exists: bool = True,
    findings: Sequence[rules.Finding] = (),
    problems: Sequence[podnames.PodNameProblem] = (),
) -> audit.Audit:
    return audit.Audit(
        namespace="default",
        name="nginx",
        exists=exists,
        headless=exists and v is not None,
        verdict=v,
        findings=tuple(findings),
        pod_problems=tuple(problems),
        audited_at=T0,
    )


def finding(code: str, message: str | None = None) -> rules.Finding:
    return rules.Finding(
        code, rules.SEVERITIES[code], message or f"fix {code}", f"Service/nginx-{code}"
    )


def not_ready(pod: str = "web-2", message: str = "the pod is not ready") -> podnames.PodNameProblem:
    return podnames.PodNameProblem("web", int(pod.rpartition("-")[2]), pod, "NotReady", message)


def by_type(found: Sequence[conditions.Condition]) -> dict[str, conditions.Condition]:
    return {c["type"]: c for c in found}


def cond(type_: str, status: str, reason: str = "R", stamp: str = T0_STAMP, **extra: Any) -> dict:
    return {
        "type": type_,
        "status": status,
        "reason": reason,
        "message": "m",
        "lastTransitionTime": stamp,
        **extra,
    }


# -- desired -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("result", "status", "reason", "message"),
    [
        pytest.param(
            make_audit(make_verdict(State.CONSISTENT, summary="3 records ok")),
            "True",
            "RecordsMatch",
            "3 records ok",
            id="consistent",
        ),
        pytest.param(
            make_audit(make_verdict(State.INCONSISTENT, summary="missing A web-2")),
            "False",
            "RecordsMismatch",
            "missing A web-2",
            id="inconsistent",
        ),
        pytest.param(
            make_audit(
                make_verdict(
                    State.UNKNOWN,
                    failures=[
                        verdict.ProbeFailure(R2, builders.q("web-0"), records.Outcome.TIMEOUT),
                        verdict.ProbeFailure(R1, builders.q("web-0"), records.Outcome.SERVFAIL),
                        verdict.ProbeFailure(R1, builders.q("web-1"), None),
                    ],
                )
            ),
            "Unknown",
            "DNSUnreachable",
            "DNS could not be asked: 172.18.0.2:53 (NOT_ASKED/SERVFAIL), 172.18.0.3:53 (TIMEOUT)",
            id="unknown-names-servers-and-reasons",
        ),
        pytest.param(
            make_audit(None, exists=True),
            "Unknown",
            "NotHeadless",
            "DNS is audited for headless Services only",
            id="not-headless",
        ),
        pytest.param(
            make_audit(None, exists=False),
            "Unknown",
            "ServiceNotFound",
            "DNS is audited for headless Services only",
            id="missing",
        ),
    ],
)
def test_desired_dns_consistent(
    result: audit.Audit, status: str, reason: str, message: str
) -> None:
    found = conditions.desired(result)
    assert [c["type"] for c in found] == [DNS, PODS, CONFIG]
    assert found[0] == {"type": DNS, "status": status, "reason": reason, "message": message}


def test_desired_leaves_dns_consistent_out_while_converging() -> None:
    found = conditions.desired(make_audit(make_verdict(State.CONVERGING)))
    assert [c["type"] for c in found] == [PODS, CONFIG]


def test_unknown_is_never_false() -> None:
    """A probe failure is a fact about the server, not the records."""
    failures = [verdict.ProbeFailure(R1, builders.q(""), records.Outcome.TIMEOUT)]
    found = conditions.desired(make_audit(make_verdict(State.UNKNOWN, failures=failures)))
    assert by_type(found)[DNS]["status"] == "Unknown"


def test_pod_names_resolvable() -> None:
    ok = by_type(conditions.desired(make_audit(make_verdict(State.CONSISTENT))))[PODS]
    assert (ok["status"], ok["reason"]) == ("True", "AllPodNamesResolvable")
    problems = [not_ready("web-1", "unready"), not_ready("web-2", "also unready")]
    bad = by_type(
        conditions.desired(make_audit(make_verdict(State.CONSISTENT), problems=problems))
    )[PODS]
    assert (bad["status"], bad["reason"]) == ("False", "PodNamesUnresolvable")
    assert bad["message"] == "web-1: NotReady: unready; web-2: NotReady: also unready"


def test_configuration_valid_without_findings() -> None:
    found = by_type(conditions.desired(make_audit(make_verdict(State.CONSISTENT))))[CONFIG]
    assert found == {
        "type": CONFIG,
        "status": "True",
        "reason": "Valid",
        "message": "no misconfiguration found",
    }


def test_configuration_valid_with_info_findings_only_is_true() -> None:
    findings = [finding("NoNamedPorts"), finding("PublishNotReadyServesUnready")]
    found = by_type(conditions.desired(make_audit(None, findings=findings)))[CONFIG]
    assert (found["status"], found["reason"]) == ("True", "Valid")
    assert "NoNamedPorts: fix NoNamedPorts" in found["message"]
    assert "PublishNotReadyServesUnready" in found["message"]


def test_configuration_valid_reason_is_the_first_serious_finding() -> None:
    findings = [
        finding("NoNamedPorts", "an info"),
        finding("NoPorts", "add a port"),
        finding("ServiceNotFound", "create the Service"),
    ]
    found = by_type(conditions.desired(make_audit(None, findings=findings)))[CONFIG]
    assert (found["status"], found["reason"]) == ("False", "NoPorts")
    assert found["message"] == "add a port; ServiceNotFound: create the Service"


@pytest.mark.parametrize("code", sorted(rules.SEVERITIES))
def test_every_finding_code_decides_configuration_valid(code: str) -> None:
    found = by_type(conditions.desired(make_audit(None, findings=[finding(code)])))[CONFIG]
    if rules.SEVERITIES[code] is rules.Severity.INFO:
        assert (found["status"], found["reason"]) == ("True", "Valid")
    else:
        assert (found["status"], found["reason"]) == ("False", code)
    assert REASON.fullmatch(found["reason"])


@pytest.mark.parametrize(
    "result",
    [make_audit(make_verdict(s)) for s in (State.CONSISTENT, State.INCONSISTENT, State.UNKNOWN)]
    + [make_audit(None), make_audit(None, exists=False)],
    ids=["consistent", "inconsistent", "unknown", "not-headless", "missing"],
)
def test_every_reason_is_a_valid_condition_reason(result: audit.Audit) -> None:
    result = make_audit(
        result.verdict,
        exists=result.exists,
        findings=[finding("NoPorts")],
        problems=[not_ready()],
    )
    merged = conditions.merge([], conditions.desired(result), T0)
    merged += conditions.merge(
        [], conditions.desired(make_audit(make_verdict(State.CONVERGING))), T0
    )
    for c in merged:
        assert REASON.fullmatch(c["reason"]), c


# -- message limit ---------------------------------------------------------------------------


def _long_text_audits(long: str) -> list[tuple[str, audit.Audit, str]]:
    """(condition type, audit, the whole message) for a message carrying ``text``."""
    return [
        (DNS, make_audit(make_verdict(State.INCONSISTENT, summary=long)), long),
        (
            PODS,
            make_audit(make_verdict(State.CONSISTENT), problems=[not_ready(message=long)]),
            f"web-2: NotReady: {long}",
        ),
        (
            CONFIG,
            make_audit(make_verdict(State.CONSISTENT), findings=[finding("NoPorts", long)]),
            long,
        ),
    ]


def test_long_messages_are_truncated_at_the_limit() -> None:
    long = "0123456789" * 500
    for type_, result, whole in _long_text_audits(long):
        message = by_type(conditions.desired(result))[type_]["message"]
        assert len(message) == text.MESSAGE_LIMIT, type_
        assert message == whole[: text.MESSAGE_LIMIT - 3] + "..."


def test_one_character_over_the_limit_is_truncated() -> None:
    over = "z" * (text.MESSAGE_LIMIT + 1)
    result = make_audit(make_verdict(State.INCONSISTENT, summary=over))
    message = by_type(conditions.desired(result))[DNS]["message"]
    assert message == "z" * (text.MESSAGE_LIMIT - 3) + "..."


def test_messages_at_the_limit_are_kept_whole() -> None:
    whole = "y" * text.MESSAGE_LIMIT
    result = make_audit(make_verdict(State.INCONSISTENT, summary=whole))
    assert by_type(conditions.desired(result))[DNS]["message"] == whole


# -- merge ---------------------------------------------------------------------------------------

CONSISTENT = conditions.desired(make_audit(make_verdict(State.CONSISTENT)))
INCONSISTENT = conditions.desired(make_audit(make_verdict(State.INCONSISTENT)))
CONVERGING = conditions.desired(make_audit(make_verdict(State.CONVERGING)))


def test_first_merge_stamps_every_condition_now() -> None:
    merged = conditions.merge([], CONSISTENT, T0, generation=7)
    assert [c["type"] for c in merged] == [DNS, PODS, CONFIG]
    for got, want in zip(merged, CONSISTENT, strict=True):
        assert got == {**want, "lastTransitionTime": T0_STAMP, "observedGeneration": 7}


def test_merge_without_generation_sets_no_observed_generation() -> None:
    merged = conditions.merge([], CONSISTENT, T0)
    assert all("observedGeneration" not in c for c in merged)


def test_merge_stamps_in_utc() -> None:
    plus_two = datetime.timezone(datetime.timedelta(hours=2))
    merged = conditions.merge([], CONSISTENT, T0.astimezone(plus_two))
    assert {c["lastTransitionTime"] for c in merged} == {T0_STAMP}


def test_unchanged_status_keeps_last_transition_time_and_updates_the_rest() -> None:
    before = conditions.merge([], CONSISTENT, T0, generation=1)
    wanted = conditions.desired(make_audit(make_verdict(State.CONSISTENT, summary="new words")))
    after = by_type(conditions.merge(before, wanted, LATER, generation=2))
    assert after[DNS]["lastTransitionTime"] == T0_STAMP
    assert after[DNS]["message"] == "new words"
    assert after[DNS]["observedGeneration"] == 2


def test_changed_status_moves_last_transition_time() -> None:
    before = conditions.merge([], CONSISTENT, T0)
    after = by_type(conditions.merge(before, INCONSISTENT, LATER))
    assert (after[DNS]["status"], after[DNS]["lastTransitionTime"]) == ("False", LATER_STAMP)
    assert after[PODS]["lastTransitionTime"] == T0_STAMP
    assert after[CONFIG]["lastTransitionTime"] == T0_STAMP


def test_merging_the_same_state_twice_changes_nothing() -> None:
    once = conditions.merge([], INCONSISTENT, T0, generation=3)
    assert conditions.merge(once, INCONSISTENT, LATER, generation=3) == once


@pytest.mark.parametrize("status", ["True", "False", "Unknown"])
def test_converging_keeps_the_previous_dns_consistent(status: str) -> None:
    previous = [cond(DNS, status, "Earlier", observedGeneration=1)]
    after = conditions.merge(previous, CONVERGING, LATER, generation=2)
    assert by_type(after)[DNS] == previous[0]
    assert [c["type"] for c in after] == [DNS, PODS, CONFIG]


def test_converging_without_a_previous_dns_consistent_is_unknown() -> None:
    after = by_type(conditions.merge([], CONVERGING, T0, generation=4))[DNS]
    assert (after["status"], after["reason"]) == ("Unknown", "Converging")
    assert (after["lastTransitionTime"], after["observedGeneration"]) == (T0_STAMP, 4)


def test_other_controllers_conditions_are_not_returned() -> None:
    previous = [
        cond("Ready", "True"),
        cond("example.com/DNSConsistent", "False"),
        cond(DNS, "True"),
    ]
    after = conditions.merge(previous, CONSISTENT, LATER)
    assert [c["type"] for c in after] == [DNS, PODS, CONFIG]
    assert by_type(after)[DNS]["lastTransitionTime"] == T0_STAMP


def test_ours_picks_our_types_in_our_order() -> None:
    found = [cond("Ready", "True"), cond(CONFIG, "True"), cond(DNS, "False")]
    assert [c["type"] for c in conditions.ours(found)] == [DNS, CONFIG]


STATUSES = st.sampled_from(["True", "False", "Unknown"])


@hypothesis.given(before=st.lists(STATUSES, min_size=3, max_size=3), after=st.lists(STATUSES))
def test_last_transition_time_moves_exactly_when_the_status_changes(
    before: list[str], after: list[str]
) -> None:
    previous = [cond(t, s) for t, s in zip(conditions.TYPES, before, strict=True)]
    wanted = [
        {"type": t, "status": s, "reason": "R2", "message": "n"}
        for t, s in zip(conditions.TYPES, after, strict=False)
    ]
    merged = by_type(conditions.merge(previous, wanted, LATER))
    for type_, old in zip(conditions.TYPES, before, strict=True):
        new = merged[type_]
        moved = new["lastTransitionTime"] == LATER_STAMP
        assert moved == (new["status"] != old)


# -- transitions ---------------------------------------------------------------------------


def test_transitions_from_nothing_only_for_false() -> None:
    current = [cond(DNS, "True"), cond(PODS, "False"), cond(CONFIG, "Unknown")]
    assert conditions.transitions([], current) == [(None, current[1])]


def test_transitions_only_on_status_change() -> None:
    previous = [cond(DNS, "True"), cond(PODS, "False"), cond(CONFIG, "Unknown")]
    current = [
        cond(DNS, "True", reason="Other", stamp=LATER_STAMP),
        cond(PODS, "True"),
        cond(CONFIG, "False"),
    ]
    assert conditions.transitions(previous, current) == [
        (previous[1], current[1]),
        (previous[2], current[2]),
    ]


def test_no_transitions_when_nothing_changed() -> None:
    merged = conditions.merge([], INCONSISTENT, T0)
    again = conditions.merge(merged, INCONSISTENT, LATER)
    assert conditions.transitions(merged, again) == []


def test_transition_true_to_false_after_merge() -> None:
    before = conditions.merge([], CONSISTENT, T0)
    after = conditions.merge(before, INCONSISTENT, LATER)
    [(old, new)] = conditions.transitions(before, after)
    assert old is not None
    assert (old["type"], old["status"], new["status"]) == (DNS, "True", "False")
