"""report: the exit code, the table for people and the JSON document for programs."""

from __future__ import annotations

import datetime
import json
import random
from collections.abc import Sequence

import builders
import hypothesis
import pytest
from builders import T0, answer, q
from hypothesis import strategies as st

from headless_auditor.check import render
from headless_auditor.core import audit, podnames, records, rules, verdict

R1 = records.DNSServer("10.244.0.2", 53)
R2 = records.DNSServer("fd00::3", 5353)
CONTEXT = audit.Context(zone="cluster.local", servers=(R1, R2), grace_seconds=35.0)
State = verdict.State


def bare_verdict(state: State) -> verdict.Verdict:
    return verdict.Verdict(
        state=state,
        servers=(R1,),
        expected_records=0,
        missing=(),
        unexpected=(),
        outcome_mismatches=(),
        failures=(),
        disagreements=(),
        grace_remaining=0.0,
        summary=f"summary of {state}",
    )


def finding(code: str, subject: str = "Service/nginx") -> rules.Finding:
    return rules.Finding(code, rules.SEVERITIES[code], f"what to do about {code}", subject)


def problem(ordinal: int, code: str) -> podnames.PodNameProblem:
    pod = f"web-{ordinal}"
    return podnames.PodNameProblem("web", ordinal, pod, code, f"{pod} has {code}")


def make_audit(
    state: State | verdict.Verdict | None = State.CONSISTENT,
    *findings: rules.Finding,
    problems: Sequence[podnames.PodNameProblem] = (),
    name: str = "nginx",
    namespace: str = "default",
    exists: bool = True,
) -> audit.Audit:
    v = bare_verdict(state) if isinstance(state, State) else state
    return audit.Audit(
        namespace=namespace,
        name=name,
        exists=exists,
        headless=v is not None,
        verdict=v,
        findings=findings,
        pod_problems=tuple(problems),
        audited_at=T0,
    )


HEADER = ["NAMESPACE", "NAME", "DNS", "EXPECTED", "MISSING", "UNEXPECTED", "FAILED", "FINDINGS"]
INFO = finding("NoNamedPorts")
WARNING = finding("DuplicateHostname")
ERROR = finding("ServiceNotFound", "StatefulSet/web")


def test_severities_used_here() -> None:
    assert (INFO.severity, WARNING.severity, ERROR.severity) == (
        rules.Severity.INFO,
        rules.Severity.WARNING,
        rules.Severity.ERROR,
    )


# -- exit code ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("audits", "code"),
    [
        pytest.param([], 0, id="nothing-to-audit"),
        pytest.param([make_audit()], 0, id="consistent-valid"),
        pytest.param([make_audit(State.CONSISTENT, INFO)], 0, id="info-only"),
        pytest.param([make_audit(State.CONSISTENT, INFO, WARNING)], 1, id="warning"),
        pytest.param([make_audit(None, ERROR, exists=False)], 1, id="missing-service-error"),
        pytest.param([make_audit(State.INCONSISTENT)], 1, id="inconsistent"),
        pytest.param([make_audit(State.CONVERGING)], 1, id="converging"),
        pytest.param([make_audit(State.UNKNOWN)], 2, id="unknown-only"),
        pytest.param([make_audit(State.UNKNOWN), make_audit()], 2, id="unknown-and-consistent"),
        pytest.param([make_audit(State.UNKNOWN, INFO)], 2, id="unknown-with-info"),
        pytest.param(
            [make_audit(State.UNKNOWN), make_audit(State.INCONSISTENT)],
            1,
            id="unknown-and-inconsistent",
        ),
        pytest.param([make_audit(State.UNKNOWN, WARNING)], 1, id="unknown-and-invalid"),
        pytest.param(
            [make_audit(), make_audit(State.CONSISTENT, problems=[problem(2, "NotReady")])],
            0,
            id="pod-problems-alone-do-not-fail",
        ),
    ],
)
def test_exit_code(audits: list[audit.Audit], code: int) -> None:
    assert render.exit_code(audits) == code


POOL = [
    make_audit(),
    make_audit(State.CONSISTENT, INFO),
    make_audit(State.CONSISTENT, WARNING),
    make_audit(None, ERROR, exists=False),
    make_audit(State.INCONSISTENT),
    make_audit(State.CONVERGING),
    make_audit(State.UNKNOWN),
]


def combined(a: int, b: int) -> int:
    """Problems win over 'cannot audit', which wins over OK."""
    return max((a, b), key=[render.EXIT_OK, render.EXIT_CANNOT_AUDIT, render.EXIT_PROBLEMS].index)


@hypothesis.settings(max_examples=50, deadline=None)
@hypothesis.given(
    st.lists(st.sampled_from(POOL), max_size=6),
    st.lists(st.sampled_from(POOL), max_size=6),
    st.randoms(use_true_random=False),
)
def test_exit_code_composes_and_ignores_order(
    left: list[audit.Audit], right: list[audit.Audit], rng: random.Random
) -> None:
    both = left + right
    assert render.exit_code(both) == combined(render.exit_code(left), render.exit_code(right))
    shuffled = list(both)
    rng.shuffle(shuffled)
    assert render.exit_code(shuffled) == render.exit_code(both)


# -- a realistic verdict ------------------------------------------------------------------------

EXPECTED = {
    q(""): answer("10.244.0.5", "10.244.0.6"),
    q("web-0"): answer("10.244.0.5"),
    q("web-1"): answer("10.244.0.6"),
    q("web-2"): records.NXDOMAIN,
}
OBSERVED = {
    R1: dict(EXPECTED),
    R2: {
        q(""): answer("10.244.0.5", "10.244.0.9"),  # one missing, one unexpected
        q("web-0"): records.Answer(records.Outcome.SERVFAIL),  # a failure
        q("web-1"): answer("10.244.0.6"),
        q("web-2"): records.NODATA,  # an outcome mismatch
    },
}


def stale_verdict() -> verdict.Verdict:
    return verdict.verdict(
        EXPECTED,
        OBSERVED,
        now=T0,
        last_change=T0 - datetime.timedelta(minutes=10),
        grace_seconds=35.0,
    )


def sample_audits() -> list[audit.Audit]:
    return [
        make_audit(),
        make_audit(
            stale_verdict(),
            WARNING,
            INFO,
            problems=[problem(2, "NotReady")],
            name="web",
            namespace="team-a",
        ),
        make_audit(
            None, ERROR, problems=[problem(0, "ServiceNotFound")], name="ghost", exists=False
        ),
    ]


def test_stale_verdict_shape() -> None:
    v = stale_verdict()
    assert v.state is State.INCONSISTENT
    assert (len(v.missing), len(v.unexpected), len(v.outcome_mismatches), len(v.failures)) == (
        1,
        1,
        1,
        1,
    )


# -- table -------------------------------------------------------------------------------------


def test_table_has_one_row_per_audit_with_counts() -> None:
    lines = render.table(sample_audits()).splitlines()
    assert lines[0].split() == HEADER
    rows = [line.split() for line in lines[1:4]]
    assert rows == [
        ["default", "nginx", "Consistent", "0", "0", "0", "0", "0"],
        # missing: one record plus one outcome mismatch
        ["team-a", "web", "Inconsistent", "4", "2", "1", "1", "2"],
        ["default", "ghost", "NotAudited", "-", "-", "-", "-", "1"],
    ]
    assert lines[4] == ""


def test_table_columns_are_aligned() -> None:
    lines = render.table(sample_audits()).splitlines()[:4]
    dns_column = lines[0].index("DNS")
    assert [line[dns_column:].split()[0] for line in lines[1:]] == [
        "Consistent",
        "Inconsistent",
        "NotAudited",
    ]


def test_table_details_name_codes_and_pod_problems() -> None:
    text = render.table(sample_audits())
    details = text.split("\n\n", 1)[1]
    assert "default/nginx:" not in details  # consistent and without findings: nothing to say
    web = details.split("team-a/web:\n", 1)[1].split("default/ghost:\n")[0]
    assert f"  Inconsistent: {stale_verdict().summary}" in web
    assert "  warning DuplicateHostname (Service/nginx): what to do about DuplicateHostname" in web
    assert "  info NoNamedPorts (Service/nginx)" in web
    assert "  pod web-2 NotReady: web-2 has NotReady" in web
    ghost = details.split("default/ghost:\n", 1)[1]
    assert "  error ServiceNotFound (StatefulSet/web)" in ghost
    assert "  pod web-0 ServiceNotFound" in ghost
    assert "NotAudited" not in ghost  # no verdict, no verdict line


def test_table_without_audits_says_so() -> None:
    lines = render.table([]).splitlines()
    assert lines[0].split() == HEADER
    assert lines[1:] == ["(no headless Services and no StatefulSets with a serviceName)"]


def test_table_ends_with_a_newline() -> None:
    assert render.table([make_audit()]).endswith("\n")
    assert not render.table([make_audit()]).endswith("\n\n")


# -- JSON --------------------------------------------------------------------------------------


def test_json_document() -> None:
    audits = sample_audits()
    document = json.loads(render.to_json(audits, CONTEXT))
    assert set(document) == {"zone", "servers", "graceSeconds", "exitCode", "services"}
    assert document["zone"] == "cluster.local"
    assert document["servers"] == ["10.244.0.2:53", "[fd00::3]:5353"]
    assert document["graceSeconds"] == 35.0
    assert document["exitCode"] == render.exit_code(audits) == 1
    assert [(s["namespace"], s["name"]) for s in document["services"]] == [
        ("default", "nginx"),
        ("team-a", "web"),
        ("default", "ghost"),
    ]


def test_json_service_entry() -> None:
    web = json.loads(render.to_json(sample_audits(), CONTEXT))["services"][1]
    assert web["exists"] is True
    assert web["headless"] is True
    assert web["valid"] is False
    assert web["auditedAt"] == T0.isoformat()
    assert web["findings"] == [
        {
            "code": "DuplicateHostname",
            "severity": "warning",
            "subject": "Service/nginx",
            "message": "what to do about DuplicateHostname",
        },
        {
            "code": "NoNamedPorts",
            "severity": "info",
            "subject": "Service/nginx",
            "message": "what to do about NoNamedPorts",
        },
    ]
    assert web["podNameProblems"] == [
        {"pod": "web-2", "statefulSet": "web", "code": "NotReady", "message": "web-2 has NotReady"}
    ]


def test_json_dns_section() -> None:
    dns = json.loads(render.to_json(sample_audits(), CONTEXT))["services"][1]["dns"]
    svc = builders.DOMAIN
    assert dns["state"] == "Inconsistent"
    assert dns["servers"] == ["10.244.0.2:53", "[fd00::3]:5353"]
    assert dns["expectedRecords"] == 4
    assert dns["missing"] == [
        {"server": "[fd00::3]:5353", "name": svc, "type": "A", "record": "10.244.0.6"}
    ]
    assert dns["unexpected"] == [
        {"server": "[fd00::3]:5353", "name": svc, "type": "A", "record": "10.244.0.9"}
    ]
    assert dns["outcomeMismatches"] == [
        {
            "server": "[fd00::3]:5353",
            "name": f"web-2.{svc}",
            "type": "A",
            "expected": "NXDOMAIN",
            "observed": "NODATA",
        }
    ]
    assert dns["failures"] == [
        {"server": "[fd00::3]:5353", "name": f"web-0.{svc}", "type": "A", "reason": "SERVFAIL"}
    ]
    assert dns["disagreements"] == [
        {
            "name": svc,
            "type": "A",
            "answers": {
                "10.244.0.2:53": {"outcome": "ANSWER", "records": ["10.244.0.5", "10.244.0.6"]},
                "[fd00::3]:5353": {"outcome": "ANSWER", "records": ["10.244.0.5", "10.244.0.9"]},
            },
        },
        {
            "name": f"web-2.{svc}",
            "type": "A",
            "answers": {
                "10.244.0.2:53": {"outcome": "NXDOMAIN", "records": []},
                "[fd00::3]:5353": {"outcome": "NODATA", "records": []},
            },
        },
    ]
    assert dns["graceRemainingSeconds"] == 0
    assert dns["summary"] == stale_verdict().summary


def test_json_without_verdict() -> None:
    ghost = json.loads(render.to_json(sample_audits(), CONTEXT))["services"][2]
    assert ghost["dns"] is None
    assert ghost["exists"] is False
    assert ghost["valid"] is False
    assert [f["code"] for f in ghost["findings"]] == ["ServiceNotFound"]


@pytest.mark.parametrize(
    ("audits", "code"),
    [
        pytest.param([], 0, id="empty"),
        pytest.param([make_audit(State.UNKNOWN)], 2, id="unknown"),
        pytest.param([make_audit(State.CONVERGING)], 1, id="converging"),
    ],
)
def test_json_exit_code_matches(audits: list[audit.Audit], code: int) -> None:
    document = json.loads(render.to_json(audits, CONTEXT))
    assert document["exitCode"] == code
    assert len(document["services"]) == len(audits)
