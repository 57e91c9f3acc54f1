"""snapshots: which Services are audited, and how raw objects are grouped into snapshots."""

from __future__ import annotations

import copy
import datetime
from typing import Any

import builders
import hypothesis
import pytest
from hypothesis import strategies as st

from headless_auditor.core import corefile, objects, snapshots

OPTIONS = corefile.CorefileOptions()


def svc(name: str, namespace: str = "default", *, cluster_ip: str = "None") -> dict[str, Any]:
    obj = builders.service_api()
    obj["metadata"].update(name=name, namespace=namespace)
    obj["spec"].update(clusterIP=cluster_ip, clusterIPs=[cluster_ip])
    return obj


def eps(name: str, service_name: str | None, namespace: str = "default") -> dict[str, Any]:
    obj = builders.slice_api()
    obj["metadata"].update(name=name, namespace=namespace)
    labels = obj["metadata"]["labels"]
    if service_name is None:
        del labels[objects.SERVICE_NAME_LABEL]
    else:
        labels[objects.SERVICE_NAME_LABEL] = service_name
    return obj


def sts(name: str, service_name: str | None, namespace: str = "default") -> dict[str, Any]:
    obj = builders.statefulset_api()
    obj["metadata"].update(name=name, namespace=namespace)
    if service_name is None:
        del obj["spec"]["serviceName"]
    else:
        obj["spec"]["serviceName"] = service_name
    return obj


def stamped(obj: dict[str, Any], *times: str, created: str | None = None) -> dict[str, Any]:
    """``obj`` with managedFields entries at ``times`` and the given creationTimestamp."""
    obj = copy.deepcopy(obj)
    meta = obj["metadata"]
    meta["managedFields"] = [{"manager": f"m{i}", "time": t} for i, t in enumerate(times)]
    meta.pop("creationTimestamp", None)
    if created is not None:
        meta["creationTimestamp"] = created
    return obj


def at(hh_mm_ss: str) -> datetime.datetime:
    return datetime.datetime.fromisoformat(f"2026-05-01T{hh_mm_ss}+00:00")


# -- audit_keys --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("services", "statefulsets", "keys"),
    [
        pytest.param([svc("nginx")], [], [("default", "nginx")], id="headless-service"),
        pytest.param([svc("api", cluster_ip="10.96.0.7")], [], [], id="clusterip-not-named"),
        pytest.param(
            [svc("api", cluster_ip="10.96.0.7")],
            [sts("web", "api")],
            [("default", "api")],
            id="clusterip-named-by-statefulset",
        ),
        pytest.param([], [sts("web", "ghost")], [("default", "ghost")], id="missing-service"),
        pytest.param([], [sts("web", None)], [], id="statefulset-without-servicename"),
        pytest.param(
            [svc("nginx")],
            [sts("web", "nginx"), sts("db", "nginx")],
            [("default", "nginx")],
            id="headless-and-named-once",
        ),
        pytest.param(
            [svc("nginx", "a")],
            [sts("web", "nginx", "b")],
            [("a", "nginx"), ("b", "nginx")],
            id="statefulset-names-service-in-its-own-namespace",
        ),
        pytest.param(
            [svc("zeta"), svc("alpha", "b"), svc("alpha")],
            [sts("web", "mid")],
            [("b", "alpha"), ("default", "alpha"), ("default", "mid"), ("default", "zeta")],
            id="sorted",
        ),
        pytest.param(
            [svc("api", cluster_ip="10.96.0.7"), svc("nginx")],
            [sts("web", "ghost"), sts("db", None)],
            [("default", "ghost"), ("default", "nginx")],
            id="mixed",
        ),
    ],
)
def test_audit_keys(
    services: list[dict[str, Any]],
    statefulsets: list[dict[str, Any]],
    keys: list[tuple[str, str]],
) -> None:
    assert snapshots.audit_keys(services, statefulsets) == keys


def test_snapshots_follow_audit_keys() -> None:
    services = [
        svc("nginx"),
        svc("api", cluster_ip="10.96.0.7"),
        svc("lonely-ip", cluster_ip="1.2.3.4"),
    ]
    statefulsets = [sts("web", "api"), sts("db", "ghost")]
    snaps = {
        (s.namespace, s.name): s for s in snapshots.snapshots(services, [], statefulsets, OPTIONS)
    }
    assert sorted(snaps) == [("default", "api"), ("default", "ghost"), ("default", "nginx")]
    api, ghost, nginx = (
        snaps["default", "api"],
        snaps["default", "ghost"],
        snaps["default", "nginx"],
    )
    assert api.service is not None
    assert not api.service.headless
    assert ghost.service is None
    assert [s.name for s in ghost.statefulsets] == ["db"]
    assert nginx.service is not None
    assert nginx.service.headless
    assert nginx.statefulsets == ()


# -- grouping ----------------------------------------------------------------------------------


def test_slices_grouped_by_label_and_namespace() -> None:
    slices = [
        eps("nginx-b", "nginx"),
        eps("nginx-a", "nginx"),
        eps("other-ns", "nginx", namespace="elsewhere"),
        eps("unlabelled", None),
        eps("for-api", "api"),
    ]
    [snap] = snapshots.snapshots([svc("nginx")], slices, [], OPTIONS)
    assert [s.name for s in snap.slices] == ["nginx-a", "nginx-b"]
    assert {s.service_name for s in snap.slices} == {"nginx"}


def test_statefulsets_grouped_by_service_name_and_namespace() -> None:
    statefulsets = [
        sts("web", "nginx"),
        sts("db", "nginx"),
        sts("cache", "nginx", namespace="elsewhere"),
        sts("job", None),
        sts("api", "api"),
    ]
    snaps = snapshots.snapshots([svc("nginx")], [], statefulsets, OPTIONS)
    by_key = {(s.namespace, s.name): [x.name for x in s.statefulsets] for s in snaps}
    assert by_key == {
        ("default", "api"): ["api"],
        ("default", "nginx"): ["db", "web"],
        ("elsewhere", "nginx"): ["cache"],
    }


def test_snapshot_carries_options_and_converted_objects() -> None:
    options = corefile.parse_corefile(builders.KUBEADM_COREFILE)
    [snap] = snapshots.snapshots(
        [builders.service_api()], [builders.slice_api()], [builders.statefulset_api()], options
    )
    assert snap.corefile_options is options
    assert snap.service == objects.service_from_api(builders.service_api())
    assert snap.slices == (objects.endpoint_slice_from_api(builders.slice_api()),)
    assert snap.statefulsets == (objects.statefulset_from_api(builders.statefulset_api()),)


# -- last_change -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("services", "slices", "statefulsets", "expected"),
    [
        pytest.param(
            [builders.service_api()],
            [builders.slice_api()],
            [],
            at("11:59:30"),
            id="newest-of-service-and-slice",
        ),
        pytest.param([builders.service_api()], [], [], at("11:58:00"), id="service-alone"),
        pytest.param(
            [stamped(svc("nginx"), "2026-05-01T12:10:00Z")],
            [builders.slice_api()],
            [],
            at("12:10:00"),
            id="service-newer-than-slice",
        ),
        pytest.param(
            [builders.service_api()],
            [stamped(eps("s", "nginx"), "2026-05-01T12:00:01Z", "2026-05-01T12:05:00Z")],
            [],
            at("12:05:00"),
            id="newest-managed-fields-entry",
        ),
        pytest.param(
            [builders.service_api()],
            [eps("a", "nginx"), stamped(eps("b", "nginx"), "2026-05-01T12:07:00Z")],
            [],
            at("12:07:00"),
            id="newest-of-several-slices",
        ),
        pytest.param(
            [builders.service_api()],
            [],
            [stamped(sts("web", "nginx"), "2026-05-01T13:00:00Z")],
            at("11:58:00"),
            id="statefulset-changes-do-not-count",
        ),
        pytest.param(
            [stamped(svc("nginx"), created="2026-05-01T11:00:00Z")],
            [],
            [],
            at("11:00:00"),
            id="creation-timestamp-without-managed-fields",
        ),
        pytest.param([stamped(svc("nginx"))], [], [], None, id="no-timestamps"),
        pytest.param(
            [],
            [stamped(eps("s", "ghost"), "2026-05-01T12:03:00Z")],
            [sts("web", "ghost")],
            at("12:03:00"),
            id="missing-service-dated-by-its-slices",
        ),
    ],
)
def test_last_change(
    services: list[dict[str, Any]],
    slices: list[dict[str, Any]],
    statefulsets: list[dict[str, Any]],
    expected: datetime.datetime | None,
) -> None:
    [snap] = snapshots.snapshots(services, slices, statefulsets, OPTIONS)
    assert snap.last_change == expected


# -- order independence ------------------------------------------------------------------------

NAMESPACES = st.sampled_from(["a", "b"])
NAMES = st.sampled_from(["nginx", "api", "db", "web"])


@st.composite
def worlds(
    draw: st.DrawFn,
) -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    """Random Services, slices and StatefulSets, unique per kind by (namespace, name)."""
    service_keys = draw(st.lists(st.tuples(NAMESPACES, NAMES), unique=True, max_size=6))
    services = [
        svc(name, ns, cluster_ip=draw(st.sampled_from(["None", "10.96.0.9"])))
        for ns, name in service_keys
    ]
    slice_keys = draw(st.lists(st.tuples(NAMESPACES, st.integers(0, 9)), unique=True, max_size=8))
    slices = [eps(f"slice-{i}", draw(st.none() | NAMES), ns) for ns, i in slice_keys]
    set_keys = draw(st.lists(st.tuples(NAMESPACES, NAMES), unique=True, max_size=5))
    statefulsets = [sts(name, draw(st.none() | NAMES), ns) for ns, name in set_keys]
    return services, slices, statefulsets


@hypothesis.settings(max_examples=40, deadline=None)
@hypothesis.given(world=worlds(), data=st.data())
def test_snapshots_independent_of_input_order(
    world: tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]],
    data: st.DataObject,
) -> None:
    services, slices, statefulsets = world
    reference = snapshots.snapshots(services, slices, statefulsets, OPTIONS)
    shuffled = snapshots.snapshots(
        data.draw(st.permutations(services)),
        data.draw(st.permutations(slices)),
        data.draw(st.permutations(statefulsets)),
        OPTIONS,
    )
    assert shuffled == reference
    assert [(s.namespace, s.name) for s in reference] == snapshots.audit_keys(
        services, statefulsets
    )
    for snap in reference:
        key = (snap.namespace, snap.name)
        assert {s.name for s in snap.slices} == {
            s["metadata"]["name"] for s in slices if snapshots.slice_key(s) == key
        }
        assert {s.name for s in snap.statefulsets} == {
            s["metadata"]["name"] for s in statefulsets if snapshots.governing_key(s) == key
        }


def test_object_without_namespace_is_audited_in_default() -> None:
    """``snapshots.key_of`` and ``objects.*_from_api`` agree on the default namespace."""
    service = builders.service_api()
    del service["metadata"]["namespace"]
    [snap] = snapshots.snapshots([service], [], [], OPTIONS)
    assert (snap.namespace, snap.name) == ("default", "nginx")
