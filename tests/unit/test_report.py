"""reports: the HeadlessServiceAudit status from an audit, when two statuses are the same, and
what a LIST of the reports tells about their CRD."""

from __future__ import annotations

import dataclasses
import datetime
import json
import logging
import pathlib
from typing import Any

import pytest
from builders import T0, answer, q

from headless_auditor.core import audit, podnames, records, rules, verdict
from headless_auditor.kube import errors, resources
from headless_auditor.sinks import conditions, report

VIP = records.DNSServer("10.96.0.10", 53, role="service")
R1 = records.DNSServer("172.18.0.2", 53)
R2 = records.DNSServer("172.18.0.3", 53)
R3 = records.DNSServer("172.18.0.4", 53)
R4 = records.DNSServer("172.18.0.5", 53)
WEB0 = q("web-0")
GONE = q("web-9")
EXPECTED = {WEB0: answer("10.244.0.5"), GONE: records.NXDOMAIN}
TIMEOUT = records.Answer(records.Outcome.TIMEOUT)
SERVFAIL = records.Answer(records.Outcome.SERVFAIL)
REFUSED = records.Answer(records.Outcome.REFUSED)
OBSERVED = {
    VIP: dict(EXPECTED),  # right
    R1: {WEB0: answer("10.244.0.5", "10.244.0.99"), GONE: records.NODATA},  # extra + mismatch
    R2: {WEB0: records.NODATA, GONE: records.NXDOMAIN},  # one record missing
    R3: {WEB0: TIMEOUT, GONE: SERVFAIL},  # could not be asked
    R4: {WEB0: records.NODATA, GONE: REFUSED},  # a difference and a failure
}


def mixed_verdict() -> verdict.Verdict:
    return verdict.verdict(EXPECTED, OBSERVED, now=T0, last_change=None, grace_seconds=5.0)


def finding(code: str) -> rules.Finding:
    return rules.Finding(code, rules.SEVERITIES[code], f"fix {code}", "StatefulSet/web")


def make_audit(v: verdict.Verdict | None, **changes: Any) -> audit.Audit:
    result = audit.Audit(
        namespace="default",
        name="nginx",
        exists=True,
        headless=v is not None,
        verdict=v,
        findings=(finding("NoPorts"), finding("NoNamedPorts")),
        pod_problems=(podnames.PodNameProblem("web", 2, "web-2", "NotReady", "not ready"),),
        audited_at=T0,
    )
    return dataclasses.replace(result, **changes)


def current(result: audit.Audit) -> list[conditions.Condition]:
    return conditions.merge([], conditions.desired(result), T0)


def test_counts_include_outcome_mismatches_in_missing() -> None:
    v = mixed_verdict()
    assert (len(v.missing), len(v.outcome_mismatches), len(v.unexpected)) == (2, 1, 1)
    result = make_audit(v)
    status = report.status(result, current(result), T0)
    assert status["expectedRecords"] == 1
    assert status["missingRecords"] == 3
    assert status["unexpectedRecords"] == 1
    assert status["dnsState"] == "Inconsistent"
    assert status["summary"] == v.summary


def test_per_server_rows() -> None:
    result = make_audit(mixed_verdict())
    rows = report.status(result, current(result), T0)["servers"]
    assert [r["address"] for r in rows] == [
        "10.96.0.10:53",
        "172.18.0.2:53",
        "172.18.0.3:53",
        "172.18.0.4:53",
        "172.18.0.5:53",
    ]
    by_address = {r.pop("address"): r for r in rows}
    assert by_address == {
        "10.96.0.10:53": {
            "role": "service",
            "state": "OK",
            "missing": 0,
            "unexpected": 0,
            "failures": 0,
        },
        "172.18.0.2:53": {
            "role": "replica",
            "state": "Mismatch",
            "missing": 1,  # the NODATA instead of NXDOMAIN
            "unexpected": 1,
            "failures": 0,
        },
        "172.18.0.3:53": {
            "role": "replica",
            "state": "Mismatch",
            "missing": 1,
            "unexpected": 0,
            "failures": 0,
        },
        "172.18.0.4:53": {
            "role": "replica",
            "state": "Unreachable",
            "missing": 0,
            "unexpected": 0,
            "failures": 2,
        },
        "172.18.0.5:53": {
            "role": "replica",
            "state": "Unreachable",
            "missing": 1,
            "unexpected": 0,
            "failures": 1,
        },
    }


def test_findings_problems_and_conditions_are_carried() -> None:
    result = make_audit(mixed_verdict())
    conds = current(result)
    status = report.status(result, conds, T0)
    assert status["conditions"] == conds
    assert status["findingCount"] == 2
    assert status["findings"] == [
        {
            "code": "NoPorts",
            "severity": "warning",
            "subject": "StatefulSet/web",
            "message": "fix NoPorts",
        },
        {
            "code": "NoNamedPorts",
            "severity": "info",
            "subject": "StatefulSet/web",
            "message": "fix NoNamedPorts",
        },
    ]
    assert status["podNameProblems"] == [
        {"pod": "web-2", "statefulSet": "web", "code": "NotReady", "message": "not ready"}
    ]


def test_status_without_verdict() -> None:
    result = make_audit(None, findings=(finding("ServiceNotFound"),), exists=False)
    status = report.status(result, [], T0)
    assert status["dnsState"] == "NotAudited"
    assert (status["expectedRecords"], status["missingRecords"]) == (0, 0)
    assert (status["unexpectedRecords"], status["findingCount"]) == (0, 1)
    assert (status["summary"], status["servers"]) == ("", [])


def test_last_audit_time_is_utc() -> None:
    eastern = datetime.timezone(datetime.timedelta(hours=-5))
    status = report.status(make_audit(None), [], T0.astimezone(eastern))
    assert status["lastAuditTime"] == "2026-05-01T12:00:00Z"


def test_status_is_plain_json() -> None:
    """It goes to the API as JSON and comes back through the index as JSON."""
    result = make_audit(mixed_verdict())
    status = report.status(result, current(result), T0)
    assert json.loads(json.dumps(status)) == status


# -- same_content ------------------------------------------------------------------------------


def base_status() -> dict[str, Any]:
    result = make_audit(mixed_verdict())
    return report.status(result, current(result), T0)


def test_same_content_ignores_last_audit_time() -> None:
    later = base_status()
    later["lastAuditTime"] = "2026-05-01T13:00:00Z"
    assert report.same_content(base_status(), later)


def test_nothing_before_is_never_the_same() -> None:
    assert not report.same_content(None, base_status())


@pytest.mark.parametrize("key", sorted(set(base_status()) - {"lastAuditTime"}))
def test_any_other_difference_counts(key: str) -> None:
    changed = base_status()
    changed[key] = "something else"
    assert not report.same_content(base_status(), changed)
    del changed[key]
    assert not report.same_content(base_status(), changed)


def test_an_added_key_counts() -> None:
    assert not report.same_content(base_status(), {**base_status(), "extra": 1})


# -- the object ----------------------------------------------------------------------------


def test_paths() -> None:
    assert resources.report_path("ns", "nginx") == (
        "/apis/headless-auditor.io/v1alpha1/namespaces/ns/headlessserviceaudits/nginx"
    )
    assert resources.report_path("ns", "nginx", status=True).endswith(
        "/headlessserviceaudits/nginx/status"
    )


def test_skeleton_is_owned_by_its_service() -> None:
    body = resources.report_skeleton("ns", "nginx", "uid-1")
    assert (body["apiVersion"], body["kind"]) == (
        resources.REPORT_API_VERSION,
        resources.REPORT_KIND,
    )
    assert (body["metadata"]["name"], body["metadata"]["namespace"]) == ("nginx", "ns")
    assert body["metadata"]["ownerReferences"] == [
        {"apiVersion": "v1", "kind": "Service", "name": "nginx", "uid": "uid-1"}
    ]
    assert "status" not in body


# -- whether reports can be written (the CRD) -------------------------------------------------

A = report.Availability
NO_CRD = errors.ApiError(404, "Not Found", "404 page not found")
FORBIDDEN = errors.ApiError(403, "Forbidden", "cannot list headlessserviceaudits")
DOWN = errors.ClusterUnreachableError("connection refused")
CANNOT_LIST = "cannot list the report objects, so each is written once more: "


@pytest.mark.parametrize(
    ("before", "error", "after", "message", "level"),
    [
        pytest.param(A.NOT_LISTED, None, A.INSTALLED, None, logging.INFO, id="start-installed"),
        pytest.param(
            A.NOT_LISTED, NO_CRD, A.MISSING, report.CRD_MISSING, logging.WARNING, id="start-404"
        ),
        pytest.param(
            A.NOT_LISTED,
            FORBIDDEN,
            A.UNLISTED,
            CANNOT_LIST + str(FORBIDDEN),
            logging.WARNING,
            id="start-403",
        ),
        pytest.param(
            A.NOT_LISTED,
            DOWN,
            A.UNLISTED,
            CANNOT_LIST + str(DOWN),
            logging.WARNING,
            id="start-down",
        ),
        pytest.param(A.MISSING, NO_CRD, A.MISSING, None, logging.WARNING, id="still-404-silent"),
        pytest.param(
            A.MISSING, None, A.INSTALLED, report.CRD_INSTALLED, logging.INFO, id="appeared"
        ),
        pytest.param(
            A.MISSING,
            DOWN,
            A.MISSING,
            "cannot tell whether the HeadlessServiceAudit CRD is installed now (asked again): "
            + str(DOWN),
            logging.WARNING,
            id="recheck-down",
        ),
    ],
)
def test_after_listing(
    before: report.Availability,
    error: Exception | None,
    after: report.Availability,
    message: str | None,
    level: int,
) -> None:
    assert report.after_listing(before, error) == report.AfterListing(after, message, level)


def test_the_crd_messages_say_what_to_install() -> None:
    assert report.CRD == "headlessserviceaudits.headless-auditor.io"
    assert report.CRD_MISSING == (
        "the HeadlessServiceAudit CRD (headlessserviceaudits.headless-auditor.io) is not "
        "installed: reports are not written until it is (Service conditions, Events and metrics "
        'are); install it with "kubectl apply --server-side -f charts/headless-auditor/crds/" '
        "(helm install does this)"
    )


def test_the_install_command_names_the_charts_crd_directory() -> None:
    root = pathlib.Path(__file__).resolve().parents[2]
    directory = report.INSTALL_CRD.rpartition(" -f ")[2]
    assert (root / directory / f"{report.CRD}.yaml").is_file()
