"""optout: the ignore annotations on a Service and a StatefulSet, and ignored finding codes."""

from __future__ import annotations

import dataclasses
from typing import Any

import builders
import pytest

from headless_auditor import probe
from headless_auditor.core import audit, corefile, lint, objects, optout, rules, snapshots
from headless_auditor.probe import auditing
from headless_auditor.sinks import conditions, report

IGNORE = objects.IGNORE_ANNOTATION
IGNORE_FINDINGS = objects.IGNORE_FINDINGS_ANNOTATION


def annotated(body: dict[str, Any], **annotations: str) -> dict[str, Any]:
    body["metadata"].setdefault("annotations", {}).update(annotations)
    return body


@pytest.mark.parametrize(
    ("value", "ignored"), [("true", True), ("True", True), (" true ", True), ("false", False)]
)
def test_the_ignore_annotation(value: str, ignored: bool) -> None:
    assert optout.is_ignored(annotated(builders.service_api(), **{IGNORE: value})) is ignored
    assert optout.is_ignored(builders.service_api()) is False
    assert optout.is_ignored({}) is False


def test_an_ignored_service_is_not_audited_and_its_statefulsets_do_not_bring_it_back() -> None:
    service = annotated(builders.service_api(), **{IGNORE: "true"})
    statefulset = builders.statefulset_api()
    assert snapshots.audit_keys([service], [statefulset]) == []
    assert snapshots.snapshots([service], [], [statefulset], corefile.CorefileOptions()) == []


def test_an_ignored_statefulset_is_left_out_of_its_services_audit() -> None:
    ignored = annotated(builders.statefulset_api(), **{IGNORE: "true"})
    options = corefile.CorefileOptions()
    [snapshot] = snapshots.snapshots([builders.service_api()], [], [ignored], options)
    assert snapshot.statefulsets == ()
    # a missing Service named only by an ignored StatefulSet is not audited at all
    assert snapshots.audit_keys([], [ignored]) == []


def test_the_codes_of_the_annotation_are_read_sorted_and_once() -> None:
    body = annotated(
        builders.service_api(), **{IGNORE_FINDINGS: " NoPorts,DuplicateHostname,NoPorts "}
    )
    assert objects.service_from_api(body).ignored_findings == ("DuplicateHostname", "NoPorts")
    assert objects.service_from_api(builders.service_api()).ignored_findings == ()


def no_ports(**changes: Any) -> objects.Snapshot:
    service = dataclasses.replace(builders.service(ports=()), **changes)
    return builders.snapshot(service)


def test_ignored_codes_leave_the_findings_and_are_kept_apart() -> None:
    snapshot = no_ports(ignored_findings=("NoPorts",))
    every = lint.lint(snapshot)
    assert "NoPorts" in {f.code for f in every}
    kept, ignored = optout.split(every, snapshot.service)
    assert "NoPorts" not in {f.code for f in kept}
    assert [f.code for f in ignored] == ["NoPorts"]


def test_an_unknown_code_is_a_finding_of_its_own() -> None:
    snapshot = no_ports(ignored_findings=("NoPorts", "NoSuchThing"))
    kept, ignored = optout.split(lint.lint(snapshot), snapshot.service)
    [unknown] = [f for f in kept if f.code == "IgnoredCodeUnknown"]
    assert unknown.severity is rules.Severity.WARNING
    assert "NoSuchThing" in unknown.message
    assert "NoPorts" not in unknown.message.split("known codes")[0]
    assert [f.code for f in ignored] == ["NoPorts"]
    assert kept == rules.ordered(kept)


async def test_configuration_valid_is_computed_without_the_ignored_findings() -> None:
    context = audit.Context.of(corefile.CorefileOptions(), (), zone="cluster.local")
    plain = await auditing.audit_service(no_ports(), context, probe.InMemoryProber())
    accepted = ("NoPorts", "SelectorMatchesNoEndpoints")  # the two warnings of this snapshot
    quiet = await auditing.audit_service(
        no_ports(ignored_findings=accepted), context, probe.InMemoryProber()
    )
    assert conditions.configuration_valid(plain)["status"] == "False"
    assert conditions.configuration_valid(quiet)["status"] == "True"
    status = report.status(quiet, [], builders.T0)
    assert sorted(f["code"] for f in status["ignoredFindings"]) == list(accepted)
    assert not {f["code"] for f in status["findings"]} & set(accepted)
