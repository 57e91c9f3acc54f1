"""pod-name problems: why each pod of a governing StatefulSet does not resolve by its name."""

from __future__ import annotations

from typing import Any, cast

import builders
import pytest
from builders import endpoint, eps, pod_endpoint, service, snapshot, statefulset

from headless_auditor.core import corefile, objects, podnames


def test_healthy_statefulset_has_no_problems() -> None:
    assert podnames.pod_name_problems(builders.web_snapshot()) == ()


def test_problem_codes_are_identifiers() -> None:
    assert all(code.isidentifier() and code[0].isupper() for code in podnames.POD_NAME_PROBLEMS)


def test_an_undeclared_problem_code_cannot_be_emitted() -> None:
    assert podnames._declared("NotReady") == "NotReady"
    with pytest.raises(KeyError, match="NoSuchCode"):
        podnames._declared("NoSuchCode")


def problems(snap: objects.Snapshot) -> list[tuple[str, str]]:
    return [(p.pod, p.code) for p in podnames.pod_name_problems(snap)]


PROBLEM_CASES = [
    pytest.param(
        snapshot(statefulsets=[statefulset(replicas=2)], missing_service=True),
        [("web-0", "ServiceNotFound"), ("web-1", "ServiceNotFound")],
        id="service-missing",
    ),
    pytest.param(
        builders.web_snapshot((True,), options=corefile.CorefileOptions(noendpoints=True)),
        [("web-0", "NotServed")],
        id="not-served",
    ),
    pytest.param(
        snapshot(service(), [eps(pod_endpoint(0, "10.0.0.1"))], [statefulset(replicas=3)]),
        [("web-1", "NoEndpoint"), ("web-2", "NoEndpoint")],
        id="pods-missing",
    ),
    pytest.param(
        snapshot(service(selector={}), [], [statefulset(replicas=1)]),
        [("web-0", "NoEndpoint")],
        id="selectorless-no-slice",
    ),
    pytest.param(
        snapshot(service(selector={"app": "x"}), [], [statefulset(replicas=1)]),
        [("web-0", "SelectorMissesPod")],
        id="selector-misses",
    ),
    pytest.param(
        snapshot(
            service(selector={objects.POD_NAME_LABEL: "web-0"}),
            [eps(pod_endpoint(0, "10.0.0.1"))],
            [statefulset(replicas=2)],
        ),
        [("web-1", "SelectorMissesPod")],
        id="per-pod-selector",
    ),
    pytest.param(
        snapshot(
            service(),
            [eps(endpoint("10.0.0.1", pod="web-0", hostname=""))],
            [statefulset(replicas=1)],
        ),
        [("web-0", "NoHostname")],
        id="no-hostname",
    ),
    pytest.param(builders.web_snapshot((True, False)), [("web-1", "NotReady")], id="not-ready"),
    pytest.param(
        snapshot(
            service(),
            [eps(pod_endpoint(0, "10.0.0.1", ready=False, serving=True, terminating=True))],
            [statefulset(replicas=1)],
        ),
        [("web-0", "Terminating")],
        id="terminating",
    ),
    pytest.param(
        snapshot(
            service(publish=True),
            [eps(pod_endpoint(0, "10.0.0.1", ready=True, serving=False, terminating=True))],
            [statefulset(replicas=1)],
        ),
        [],
        id="publish-not-ready-keeps-it",
    ),
    pytest.param(
        snapshot(
            service(),
            [eps(endpoint("10.0.0.1", pod="web-0", hostname=""))],
            [statefulset(replicas=1)],
            options=corefile.CorefileOptions(endpoint_pod_names=True),
        ),
        [],
        id="endpoint-pod-names-resolve-without-hostname",
    ),
    pytest.param(
        snapshot(
            service(cluster_ip="10.96.0.5"),
            [eps(pod_endpoint(0, "10.0.0.1"))],
            [statefulset(replicas=1)],
        ),
        [],
        id="clusterip-service-still-resolves-in-coredns",
    ),
    pytest.param(
        snapshot(
            service(),
            [eps(pod_endpoint(3, "10.0.0.1"), pod_endpoint(4, "10.0.0.2", ready=False))],
            [statefulset(replicas=2, start=3)],
        ),
        [("web-4", "NotReady")],
        id="ordinals-start",
    ),
]


def test_every_declared_problem_code_has_a_case() -> None:
    triggered = {code for case in PROBLEM_CASES for _, code in cast(Any, case.values[1])}
    assert triggered == set(podnames.POD_NAME_PROBLEMS)


@pytest.mark.parametrize(("snap", "want"), PROBLEM_CASES)
def test_pod_name_problems(snap: objects.Snapshot, want: list[tuple[str, str]]) -> None:
    found = podnames.pod_name_problems(snap)
    assert [(p.pod, p.code) for p in found] == want
    for p in found:
        assert p.code in podnames.POD_NAME_PROBLEMS
        assert p.message.startswith(f"{p.pod}.nginx.default.svc.cluster.local does not resolve: ")


def test_not_ready_message_points_at_publish_not_ready_and_the_annotation() -> None:
    snap = builders.web_snapshot((False,))
    snap = snapshot(service(annotation=True), snap.slices, snap.statefulsets)
    (problem,) = podnames.pod_name_problems(snap)
    assert "spec.publishNotReadyAddresses: true" in problem.message
    assert "no effect since Kubernetes 1.24" in problem.message


def test_pod_name_problems_sorted_by_set_and_ordinal() -> None:
    snap = snapshot(service(), [], [statefulset("web", replicas=11), statefulset("db", replicas=2)])
    found = podnames.pod_name_problems(snap)
    assert [p.pod for p in found] == ["db-0", "db-1"] + [f"web-{i}" for i in range(11)]
