"""Converters from API JSON to the model, and the snapshot's invariants."""

from __future__ import annotations

import datetime
from typing import Any

import builders
import pytest

from headless_auditor.controller import indexes
from headless_auditor.core import objects


def test_service_from_api() -> None:
    svc = objects.service_from_api(builders.service_api())
    assert svc == objects.Service(
        namespace="default",
        name="nginx",
        cluster_ip="None",
        type="ClusterIP",
        selector=frozenset({("app", "nginx")}),
        ports=(objects.ServicePort("web", 80, 80, "TCP"),),
        publish_not_ready_addresses=False,
        tolerate_unready_annotation=False,
        ip_families=("IPv4",),
        uid="5b1f6d1c-0d5e-4a57-9d0c-3f1f4c5e8a01",
    )
    assert svc.headless


@pytest.mark.parametrize(
    ("change", "field", "value"),
    [
        pytest.param(
            {"spec": {"clusterIP": "10.96.0.20"}}, "headless", False, id="cluster-ip-not-headless"
        ),
        pytest.param({"spec": {"selector": None}}, "selector", None, id="selector-less"),
        pytest.param({"spec": {"selector": {}}}, "selector", None, id="empty-selector"),
        pytest.param(
            {"spec": {"publishNotReadyAddresses": True}},
            "publish_not_ready_addresses",
            True,
            id="publish",
        ),
        pytest.param(
            {"metadata": {"annotations": {objects.TOLERATE_UNREADY_ANNOTATION: "true"}}},
            "tolerate_unready_annotation",
            True,
            id="annotation-true",
        ),
        pytest.param(
            {"metadata": {"annotations": {objects.TOLERATE_UNREADY_ANNOTATION: "false"}}},
            "tolerate_unready_annotation",
            False,
            id="annotation-false",
        ),
        pytest.param(
            {"spec": {"ports": [{"port": 5432, "targetPort": "pg", "protocol": "TCP"}]}},
            "ports",
            (objects.ServicePort("", 5432, "pg", "TCP"),),
            id="unnamed-port-named-target",
        ),
        pytest.param(
            {"spec": {"ports": [{"port": 53}]}},
            "ports",
            (objects.ServicePort("", 53, 53),),
            id="defaults",
        ),
        pytest.param({"spec": {"ports": None}}, "ports", (), id="no-ports"),
    ],
)
def test_service_fields(change: dict[str, Any], field: str, value: object) -> None:
    obj = builders.service_api()
    for section, updates in change.items():
        obj[section].update(updates)
    assert getattr(objects.service_from_api(obj), field) == value


def test_service_from_minimal_body() -> None:
    svc = objects.service_from_api({"metadata": {"name": "x"}})
    assert (svc.namespace, svc.name, svc.selector, svc.ports, svc.headless) == (
        "default",
        "x",
        None,
        (),
        False,
    )


def test_endpoint_slice_from_api() -> None:
    eps = objects.endpoint_slice_from_api(builders.slice_api())
    assert (eps.namespace, eps.name, eps.service_name) == ("default", "nginx-7xkqz", "nginx")
    assert eps.managed_by == objects.ENDPOINTSLICE_CONTROLLER
    assert eps.address_type == "IPv4"
    assert eps.ports == (objects.EndpointPort("web", 80, "TCP"),)
    assert eps.endpoints[0] == objects.Endpoint(
        addresses=("10.244.0.5",),
        hostname="web-0",
        ready=True,
        serving=True,
        terminating=False,
        target_ref=objects.TargetRef("Pod", "web-0", "default"),
        node_name="kwok-node-0",
    )
    assert [e.is_ready for e in eps.endpoints] == [True, True, False]
    assert [e.pod_name for e in eps.endpoints] == ["web-0", "web-1", "web-2"]


def test_endpoint_conditions_unset_mean_ready() -> None:
    obj = builders.slice_api()
    obj["endpoints"] = [{"addresses": ["10.0.0.1"]}, {"addresses": ["10.0.0.2"], "conditions": {}}]
    obj["ports"] = [{"port": None, "name": ""}]
    obj["metadata"]["labels"] = {}
    eps = objects.endpoint_slice_from_api(obj)
    assert [(e.ready, e.serving, e.terminating, e.is_ready) for e in eps.endpoints] == [
        (None, None, None, True),
        (None, None, None, True),
    ]
    assert [(e.hostname, e.target_ref, e.pod_name) for e in eps.endpoints] == [
        (None, None, None)
    ] * 2
    assert eps.ports == (objects.EndpointPort("", None, "TCP"),)
    assert (eps.service_name, eps.managed_by) == (None, None)


def test_endpoint_target_ref_of_another_kind_is_no_pod() -> None:
    obj = builders.slice_api()
    obj["endpoints"][0]["targetRef"] = {"kind": "Node", "name": "node-a"}
    endpoint = objects.endpoint_slice_from_api(obj).endpoints[0]
    assert endpoint.target_ref == objects.TargetRef("Node", "node-a")
    assert endpoint.pod_name is None


def test_statefulset_from_api() -> None:
    sts = objects.statefulset_from_api(builders.statefulset_api())
    assert sts == objects.StatefulSet(
        namespace="default",
        name="web",
        service_name="nginx",
        replicas=3,
        template_labels=frozenset({("app", "nginx")}),
        selector=frozenset({("app", "nginx")}),
        ordinal_start=0,
    )
    assert [sts.pod_name(i) for i in sts.ordinals] == ["web-0", "web-1", "web-2"]


@pytest.mark.parametrize(
    ("spec", "service_name", "ordinals"),
    [
        pytest.param({"serviceName": ""}, None, [0, 1, 2], id="empty-service-name"),
        pytest.param({"serviceName": None, "replicas": None}, None, [0], id="replicas-default-1"),
        pytest.param({"replicas": 0}, "nginx", [], id="scaled-to-zero"),
        pytest.param(
            {"ordinals": {"start": 5}, "replicas": 2}, "nginx", [5, 6], id="ordinals-start"
        ),
    ],
)
def test_statefulset_fields(
    spec: dict[str, Any], service_name: str | None, ordinals: list[int]
) -> None:
    obj = builders.statefulset_api()
    obj["spec"].update(spec)
    sts = objects.statefulset_from_api(obj)
    assert sts.service_name == service_name
    assert list(sts.ordinals) == ordinals


@pytest.mark.parametrize(
    ("selector", "ordinal", "matches"),
    [
        pytest.param({"app": "nginx"}, 0, True, id="template-label"),
        pytest.param({"app": "other"}, 0, False, id="wrong-value"),
        pytest.param({"app": "nginx", "tier": "db"}, 0, False, id="extra-key"),
        pytest.param({objects.POD_NAME_LABEL: "web-1"}, 1, True, id="pod-name-label-own-pod"),
        pytest.param({objects.POD_NAME_LABEL: "web-1"}, 0, False, id="pod-name-label-other-pod"),
        pytest.param({objects.POD_INDEX_LABEL: "2"}, 2, True, id="pod-index-label"),
        pytest.param({objects.REVISION_LABEL: "web-6d4f"}, 0, True, id="revision-unknowable"),
        pytest.param({}, 0, True, id="empty-selects-all"),
    ],
)
def test_selector_matches_pod(selector: dict[str, str], ordinal: int, matches: bool) -> None:
    sts = builders.statefulset()
    assert objects.selector_matches_pod(objects.labels_of(selector), sts, ordinal) is matches


def test_last_change_is_the_newest_managed_fields_time() -> None:
    svc, eps = builders.service_api(), builders.slice_api()
    assert objects.last_change_of([svc, eps]) == datetime.datetime(
        2026, 5, 1, 11, 59, 30, tzinfo=datetime.UTC
    )
    assert objects.last_change_of([svc]) == datetime.datetime(
        2026, 5, 1, 11, 58, tzinfo=datetime.UTC
    )


def test_last_change_falls_back_to_creation_and_ignores_garbage() -> None:
    obj = {
        "metadata": {
            "creationTimestamp": "2026-05-01T10:00:00Z",
            "managedFields": [{"time": "not a time"}, {"manager": "x"}, "junk"],
        }
    }
    assert objects.last_change_of([obj]) == datetime.datetime(2026, 5, 1, 10, tzinfo=datetime.UTC)
    assert objects.last_change_of([{}, {"metadata": None}]) is None
    assert objects.last_change_of([]) is None


def test_snapshot_rejects_objects_of_another_service() -> None:
    with pytest.raises(ValueError, match="not labelled"):
        builders.snapshot(slices=[builders.eps(service_name="other")])
    with pytest.raises(ValueError, match="not governed"):
        builders.snapshot(statefulsets=[builders.statefulset(service_name="other")])
    with pytest.raises(ValueError, match="holds Service"):
        builders.snapshot(builders.service("other"))


def test_snapshot_is_hashable_and_comparable() -> None:
    assert hash(builders.web_snapshot()) == hash(builders.web_snapshot())
    assert builders.web_snapshot() != builders.web_snapshot(ready=(True, False, True))


def test_format_labels() -> None:
    assert objects.format_labels(objects.labels_of({"b": "2", "a": "1"})) == "a=1,b=2"
    assert objects.format_labels(frozenset()) == "(none)"


def test_status_writes_are_no_change_of_the_inputs() -> None:
    # The auditor's own server-side apply on services/status stamps a managedFields entry; it
    # must not count as a change, or each condition it writes would restart the grace window.
    svc = builders.service_api()
    before = objects.last_change_of([svc])
    svc["metadata"]["managedFields"].append(
        {"manager": "headless-auditor", "subresource": "status", "time": "2026-05-01T12:30:00Z"}
    )
    assert objects.last_change_of([svc]) == before
    trimmed = indexes.trim_service(svc)
    assert objects.last_change_of([trimmed]) == before
    assert trimmed == indexes.trim_service(builders.service_api())
