"""lint findings: each code triggered, and its look-alikes left alone."""

from __future__ import annotations

from typing import Any, cast

import builders
import pytest
from builders import endpoint, eps, pod_endpoint, service, snapshot, statefulset

from headless_auditor.core import corefile, lint, objects, rules


def codes(findings: tuple[rules.Finding, ...]) -> list[tuple[str, str]]:
    return [(f.code, f.subject) for f in findings]


def test_healthy_statefulset_has_no_findings() -> None:
    assert lint.lint(builders.web_snapshot()) == ()


def test_code_tables_are_complete_and_consistent() -> None:
    assert set(rules.CODES) == set(rules.SEVERITIES) == set(rules.RULES)
    assert all(code == rule.code for code, rule in rules.RULES.items())
    assert dict(rules.CODES) == {code: rule.meaning for code, rule in rules.RULES.items()}
    assert dict(rules.SEVERITIES) == {code: rule.severity for code, rule in rules.RULES.items()}
    assert all(code.isidentifier() and code[0].isupper() for code in rules.CODES)


def test_a_code_is_declared_once() -> None:
    rule = rules.RULES["NoPorts"]
    with pytest.raises(ValueError, match="declared more than once"):
        rules._declare(rule, rules.Rule("NoPorts", rules.Severity.INFO, "other"))


def test_an_undeclared_code_cannot_be_emitted() -> None:
    with pytest.raises(KeyError, match="NoSuchCode"):
        rules.finding("NoSuchCode", "Service/nginx", "message")


WEB = statefulset()
UNREADY = eps(pod_endpoint(0, "10.0.0.1"), pod_endpoint(1, "10.0.0.2", ready=False))


FINDING_CASES = [
    pytest.param(
        snapshot(service(annotation=True), [UNREADY]),
        [("TolerateUnreadyAnnotationIneffective", "Service/nginx")],
        id="annotation-ineffective",
    ),
    pytest.param(
        snapshot(service(annotation=True, publish=True), [eps(pod_endpoint(0, "10.0.0.1"))]),
        [("TolerateUnreadyAnnotationRedundant", "Service/nginx")],
        id="annotation-redundant",
    ),
    pytest.param(
        snapshot(statefulsets=[WEB], missing_service=True),
        [("ServiceNotFound", "StatefulSet/web")],
        id="service-not-found",
    ),
    pytest.param(
        snapshot(service(cluster_ip="10.96.0.5"), [eps(pod_endpoint(0, "10.0.0.1"))], [WEB]),
        [("ServiceNotHeadless", "Service/nginx")],
        id="service-not-headless",
    ),
    pytest.param(
        snapshot(service(selector={}), [eps(pod_endpoint(0, "10.0.0.1"), managed_by="me")], [WEB]),
        [("SelectorlessGoverningService", "Service/nginx")],
        id="selectorless-governing",
    ),
    pytest.param(
        snapshot(service(), [eps()]),
        [("SelectorMatchesNoEndpoints", "Service/nginx")],
        id="selector-matches-nothing",
    ),
    pytest.param(
        snapshot(service(selector={"app": "nginx"}), [], [statefulset(labels={"app": "web"})]),
        [
            ("SelectorMissesStatefulSet", "StatefulSet/web"),
            ("SelectorMatchesNoEndpoints", "Service/nginx"),
        ],
        id="selector-misses-statefulset",
    ),
    pytest.param(
        snapshot(
            service(),
            [eps(pod_endpoint(0, "10.0.0.1"), endpoint("10.0.0.2", pod="web-1", hostname=""))],
            [statefulset(replicas=2)],
        ),
        [("SubdomainMismatch", "StatefulSet/web")],
        id="subdomain-mismatch-governed",
    ),
    pytest.param(
        snapshot(
            service(),
            [
                eps(
                    pod_endpoint(0, "10.0.0.1"),
                    endpoint("10.0.0.2", pod="db-0", hostname=""),
                    endpoint("10.0.0.3", pod="db-1", hostname=""),
                )
            ],
            [statefulset(replicas=1)],
        ),
        [("SubdomainMismatch", "Service/nginx")],
        id="subdomain-mismatch-other-set",
    ),
    pytest.param(
        snapshot(service(ports=[]), [eps(pod_endpoint(0, "10.0.0.1"), ports=[])]),
        [("NoPorts", "Service/nginx")],
        id="no-ports",
    ),
    pytest.param(
        snapshot(
            service(ports=[objects.ServicePort("", 80, 80)]),
            [eps(pod_endpoint(0, "10.0.0.1"), ports=[objects.EndpointPort("", 80)])],
        ),
        [("NoNamedPorts", "Service/nginx")],
        id="no-named-ports",
    ),
    pytest.param(
        snapshot(
            service(),
            [
                eps(pod_endpoint(0, "10.0.0.1")),
                eps(endpoint("192.0.2.7"), name="manual", managed_by="staff"),
                eps(endpoint("192.0.2.8"), name="unlabelled", managed_by=None),
            ],
        ),
        [
            ("ForeignEndpointSlice", "EndpointSlice/manual"),
            ("ForeignEndpointSlice", "EndpointSlice/unlabelled"),
        ],
        id="foreign-slices",
    ),
    pytest.param(
        snapshot(
            service(),
            [
                eps(
                    endpoint("10.0.0.1", pod="a", hostname="db"),
                    endpoint("10.0.0.2", pod="b", hostname="db"),
                )
            ],
        ),
        [("DuplicateHostname", "Service/nginx")],
        id="duplicate-hostname",
    ),
    pytest.param(
        snapshot(
            service(publish=True),
            [
                eps(
                    pod_endpoint(0, "10.0.0.1"),
                    pod_endpoint(1, "10.0.0.2", ready=True, serving=False),
                )
            ],
        ),
        [("PublishNotReadyServesUnready", "Service/nginx")],
        id="publish-not-ready-serves-unready",
    ),
]


NOT_FROM_LINT = {"IgnoredCodeUnknown"}
"""Codes another module emits (optout; its tests trigger it)."""


def test_every_declared_code_has_a_case() -> None:
    triggered = {code for case in FINDING_CASES for code, _ in cast(Any, case.values[1])}
    assert triggered == set(rules.RULES) - NOT_FROM_LINT


@pytest.mark.parametrize(("snap", "want"), FINDING_CASES)
def test_findings(snap: objects.Snapshot, want: list[tuple[str, str]]) -> None:
    findings = lint.lint(snap)
    assert codes(findings) == want
    for f in findings:
        assert f.severity is rules.SEVERITIES[f.code]
        assert f.message


@pytest.mark.parametrize(
    "snap",
    [
        pytest.param(
            snapshot(statefulsets=[], missing_service=True), id="missing-service-no-statefulset"
        ),
        pytest.param(
            snapshot(service(cluster_ip="10.96.0.5"), [eps(pod_endpoint(0, "10.0.0.1"))]),
            id="clusterip-not-governing",
        ),
        pytest.param(
            snapshot(service(selector={}), [eps(pod_endpoint(0, "10.0.0.1"), managed_by="me")]),
            id="selectorless-own-slices",
        ),
        pytest.param(
            snapshot(service(), [eps()], [statefulset(replicas=0)]),
            id="scaled-to-zero-no-endpoints",
        ),
        pytest.param(
            snapshot(
                service(selector={objects.POD_NAME_LABEL: "web-0"}),
                [eps(pod_endpoint(0, "10.0.0.1"))],
                [statefulset(replicas=2)],
            ),
            id="per-pod-selector-matches-one-pod",
        ),
        pytest.param(
            snapshot(
                service(),
                [eps(endpoint("10.0.0.2", pod="db-0", hostname=""))],
                options=corefile.CorefileOptions(endpoint_pod_names=True),
            ),
            id="endpoint-pod-names-hides-subdomain-mismatch",
        ),
        pytest.param(
            snapshot(service(), [eps(endpoint("10.0.0.2", pod="api-7d9c8-x2x7k", hostname=""))]),
            id="deployment-pod-names",
        ),
        pytest.param(
            snapshot(
                service(),
                [
                    eps(pod_endpoint(0, "10.0.0.1"), name="v4"),
                    eps(pod_endpoint(0, "fd00::1"), name="v6", address_type="IPv6"),
                ],
            ),
            id="dual-stack-pod-is-no-duplicate",
        ),
        pytest.param(
            snapshot(service(publish=True), [eps(pod_endpoint(0, "10.0.0.1"))]),
            id="publish-all-ready",
        ),
        pytest.param(snapshot(service(), [UNREADY]), id="unready-without-annotation"),
    ],
)
def test_no_findings(snap: objects.Snapshot) -> None:
    assert lint.lint(snap) == ()


def test_ineffective_annotation_message_says_what_to_do() -> None:
    (finding,) = lint.lint(snapshot(service(annotation=True), [UNREADY]))
    assert finding.severity is rules.Severity.WARNING
    assert "no effect since Kubernetes 1.24" in finding.message
    assert "spec.publishNotReadyAddresses: true" in finding.message
    assert "1 unready endpoint(s) are absent: web-1" in finding.message


def test_messages_name_objects_and_dns_names() -> None:
    (finding,) = lint.lint(snapshot(statefulsets=[WEB], missing_service=True))
    assert finding.severity is rules.Severity.ERROR
    assert "web-0.nginx.default.svc.cluster.local" in finding.message
    assert "headless Service named nginx" in finding.message


def test_long_lists_are_shortened() -> None:
    unready = [pod_endpoint(i, f"10.0.0.{i}", ready=True, serving=False) for i in range(12)]
    (finding,) = lint.lint(snapshot(service(publish=True), [eps(*unready)]))
    assert "12 endpoint(s)" in finding.message
    assert "(12 in all)" in finding.message
    assert "web-9" not in finding.message


def test_findings_are_sorted_by_severity() -> None:
    snap = snapshot(
        service(annotation=True, publish=True, ports=[]),
        [eps(ports=[])],
        [statefulset(labels={"app": "web"})],
    )
    severities = [f.severity for f in lint.lint(snap)]
    assert severities == sorted(severities, key=list(rules.Severity).index)
    assert len(severities) == 4
