"""handlers and indexes: kopf indexes read through IndexSources, what register() puts on a
registry, the read-only kopf settings, and the trimmed copies the indexes hold (indexes.trim_*)."""

from __future__ import annotations

import copy
import json
import logging
from collections.abc import Callable, Mapping
from typing import Any, cast

import builders
import kopf
import prometheus_client as prom
import pytest
from kopf._core.engines import indexing  # the indexing engine kopf runs on each watch event

from headless_auditor import config, probe
from headless_auditor.controller import handlers, indexes, publisher, runner, scheduler
from headless_auditor.core import corefile, discovery, objects
from headless_auditor.kube import writers
from headless_auditor.sinks import metrics

KEY = ("default", "nginx")
INDEX_IDS = ("services_idx", "slices_idx", "statefulsets_idx")


def svc(name: str, namespace: str = "default", cluster_ip: str = "None") -> dict[str, Any]:
    body = builders.service_api()
    body["metadata"].update(name=name, namespace=namespace)
    body["spec"]["clusterIP"] = cluster_ip
    return indexes.trim_service(body)


def sts(name: str, service_name: str, namespace: str = "default") -> dict[str, Any]:
    body = builders.statefulset_api()
    body["metadata"].update(name=name, namespace=namespace)
    body["spec"]["serviceName"] = service_name
    return indexes.trim_statefulset(body)


def index_dicts(
    services: Mapping[Any, list[Any]] | None = None,
    slices: Mapping[Any, list[Any]] | None = None,
    statefulsets: Mapping[Any, list[Any]] | None = None,
) -> dict[str, Any]:
    """Plain dicts shaped like kopf indexes: Mapping[key, Collection[value]]."""
    return {
        "services_idx": dict(services or {}),
        "slices_idx": dict(slices or {}),
        "statefulsets_idx": dict(statefulsets or {}),
    }


# -- IndexSources --------------------------------------------------------------------------


def test_index_sources_reads_each_index() -> None:
    service = svc("nginx")
    slice_a, slice_b = indexes.trim_slice(builders.slice_api()), {"metadata": {"name": "b"}}
    web = sts("web", "nginx")
    sources = indexes.IndexSources(
        index_dicts(
            services={KEY: [service]},
            slices={KEY: [slice_a, slice_b]},
            statefulsets={KEY: [web]},
        )
    )
    assert sources.service(KEY) is service
    assert sources.slices(KEY) == [slice_a, slice_b]
    assert sources.statefulsets(KEY) == [web]
    other = ("default", "other")
    assert sources.service(other) is None
    assert (sources.slices(other), sources.statefulsets(other)) == ([], [])


def test_index_sources_returns_copies_of_the_lists() -> None:
    stored = [indexes.trim_slice(builders.slice_api())]
    sources = indexes.IndexSources(index_dicts(slices={KEY: stored}))
    sources.slices(KEY).clear()
    assert len(stored) == 1


def test_keys_are_headless_services_and_statefulset_targets() -> None:
    sources = indexes.IndexSources(
        index_dicts(
            services={
                KEY: [svc("nginx")],
                ("default", "web-vip"): [svc("web-vip", cluster_ip="10.96.0.5")],
                ("default", "named"): [svc("named", cluster_ip="10.96.0.6")],
                ("team", "db"): [svc("db", "team")],
            },
            statefulsets={
                ("default", "named"): [sts("web", "named")],
                ("default", "missing"): [sts("cache", "missing")],
                KEY: [sts("web", "nginx")],
            },
        )
    )
    assert set(sources.keys()) == {
        KEY,
        ("team", "db"),
        ("default", "named"),  # not headless, but a StatefulSet names it
        ("default", "missing"),  # does not exist, but a StatefulSet names it
    }


def test_satisfies_the_sources_protocol() -> None:
    sources: indexes.Sources = indexes.IndexSources(index_dicts())
    assert list(sources.keys()) == []


# -- settings --------------------------------------------------------------------------------


def test_settings_are_read_only_and_standalone() -> None:
    s = handlers.kopf_settings()
    assert s.posting.enabled is False
    assert s.peering.standalone is True
    assert s.scanning.disabled is True
    client_timeout, server_timeout = s.watching.client_timeout, s.watching.server_timeout
    assert client_timeout is not None
    assert server_timeout is not None
    assert client_timeout > server_timeout


# -- register ------------------------------------------------------------------------------


def make_scheduler() -> scheduler.Scheduler:
    meters = metrics.Metrics(prom.CollectorRegistry())
    return scheduler.Scheduler(
        config.Settings(),
        prober=probe.InMemoryProber(),
        outputs=publisher.standard(writers.RecordingWriter(), meters, reports_reader=dict),
        meters=meters,
        corefile_reader=corefile.CorefileOptions,
    )


@pytest.fixture
def registry() -> kopf.OperatorRegistry:
    return kopf.OperatorRegistry()


@pytest.fixture
def loop(registry: kopf.OperatorRegistry) -> scheduler.Scheduler:
    loop = make_scheduler()
    handlers.register(registry, loop)
    return loop


def handler(registry: kopf.OperatorRegistry, kind: str, id_: str) -> Any:
    [found] = [h for h in getattr(registry, kind).get_all_handlers() if h.id == id_]
    return found


@pytest.mark.usefixtures("loop")
def test_register_adds_only_indexes_and_event_handlers(registry: kopf.OperatorRegistry) -> None:
    """No create/update/resume handler (annotations), no timer/daemon (finalizers), and no watch
    of our own report objects (listed once at start instead)."""
    assert [h.id for h in registry._indexing.get_all_handlers()] == list(INDEX_IDS)
    assert [h.id for h in registry._watching.get_all_handlers()] == [
        "service-changed",
        "slice-changed",
        "statefulset-changed",
    ]
    assert list(registry._changing.get_all_handlers()) == []
    assert list(registry._spawning.get_all_handlers()) == []
    assert list(registry._webhooks.get_all_handlers()) == []
    # one startup activity, which hands the (still empty) indexes to the scheduler
    assert [h.id for h in registry._activities.get_all_handlers()] == ["attach-indexes"]


@pytest.mark.usefixtures("loop")
@pytest.mark.parametrize(
    ("id_", "resource"),
    [
        ("services_idx", kopf.Resource("", "v1", "services", kind="Service")),
        (
            "slices_idx",
            kopf.Resource("discovery.k8s.io", "v1", "endpointslices", kind="EndpointSlice"),
        ),
        ("statefulsets_idx", kopf.Resource("apps", "v1", "statefulsets", kind="StatefulSet")),
    ],
)
def test_each_index_watches_its_resource(
    registry: kopf.OperatorRegistry, id_: str, resource: kopf.Resource
) -> None:
    index = handler(registry, "_indexing", id_)
    assert index.selector.check(resource)
    assert registry._watching.has_handlers(resource)
    assert not registry._changing.has_handlers(resource)
    assert not registry._spawning.has_handlers(resource)


@pytest.mark.usefixtures("loop")
def test_index_functions_store_trimmed_copies(registry: kopf.OperatorRegistry) -> None:
    def index(id_: str, body: dict[str, Any]) -> Any:
        return handler(registry, "_indexing", id_).fn(body=kopf.Body(cast(Any, body)))

    service, endpoint_slice, statefulset = (
        builders.service_api(),
        builders.slice_api(),
        builders.statefulset_api(),
    )
    assert index("services_idx", service) == {KEY: indexes.trim_service(service)}
    assert index("slices_idx", endpoint_slice) == {KEY: indexes.trim_slice(endpoint_slice)}
    assert index("statefulsets_idx", statefulset) == {KEY: indexes.trim_statefulset(statefulset)}


async def test_startup_attaches_the_indexes_and_events_request_an_audit(
    registry: kopf.OperatorRegistry, loop: scheduler.Scheduler
) -> None:
    live = index_dicts(services={KEY: [svc("nginx")]})
    extra = {"logger": logging.getLogger("test"), "memo": kopf.Memo()}
    await handler(registry, "_activities", "attach-indexes").fn(**live, **extra)
    assert isinstance(loop.sources, indexes.IndexSources)
    assert loop.sources.service(KEY) == svc("nginx")
    assert not loop.ready.is_set()  # the indexes are not filled before the first event
    changed = handler(registry, "_watching", "statefulset-changed")
    await changed.fn(
        body=kopf.Body(cast(Any, builders.statefulset_api())), type="MODIFIED", **extra
    )
    assert loop.ready.is_set()
    assert set(loop._due) == {KEY}


@pytest.mark.parametrize(
    ("id_", "body"),
    [
        ("service-changed", builders.service_api()),
        ("slice-changed", builders.slice_api()),
        ("statefulset-changed", builders.statefulset_api()),
    ],
)
async def test_every_change_requests_its_service(
    registry: kopf.OperatorRegistry, loop: scheduler.Scheduler, id_: str, body: dict[str, Any]
) -> None:
    await handler(registry, "_watching", id_).fn(body=kopf.Body(cast(Any, body)), **index_dicts())
    assert set(loop._due) == {KEY}


async def test_unlabelled_objects_request_nothing(
    registry: kopf.OperatorRegistry, loop: scheduler.Scheduler
) -> None:
    unlabelled = builders.slice_api()
    del unlabelled["metadata"]["labels"][objects.SERVICE_NAME_LABEL]
    unnamed = builders.statefulset_api()
    del unnamed["spec"]["serviceName"]
    await handler(registry, "_watching", "slice-changed").fn(
        body=kopf.Body(cast(Any, unlabelled)), **index_dicts()
    )
    await handler(registry, "_watching", "statefulset-changed").fn(
        body=kopf.Body(cast(Any, unnamed)), **index_dicts()
    )
    assert loop._due == {}
    assert loop.ready.is_set()


# -- through kopf's own indexing engine -------------------------------------------------------


class Indexing:
    """Feeds watch events to kopf's indexing engine with our registry, like the operator does."""

    def __init__(self, registry: kopf.OperatorRegistry) -> None:
        self.registry = registry
        self.indexers = indexing.OperatorIndexers()
        self.indexers.ensure(registry._indexing.get_all_handlers())
        self.memories: dict[str, indexing.IndexingMemory] = {}

    async def event(self, resource: kopf.Resource, type_: str, body: dict[str, Any]) -> None:
        uid = body["metadata"]["uid"]
        await indexing.index_resource(
            indexers=self.indexers,
            registry=self.registry,
            settings=handlers.kopf_settings(),
            resource=resource,
            raw_event=cast(Any, {"type": type_, "object": body}),
            memory=self.memories.setdefault(uid, indexing.IndexingMemory()),
            logger=logging.getLogger("test"),
            memo=cast(Any, kopf.Memo()),
            body=kopf.Body(cast(Any, body)),
        )

    def sources(self) -> indexes.IndexSources:
        return indexes.IndexSources(self.indexers.indices)


SLICES = kopf.Resource("discovery.k8s.io", "v1", "endpointslices", kind="EndpointSlice")
SERVICES = kopf.Resource("", "v1", "services", kind="Service")


@pytest.mark.usefixtures("loop")
async def test_kopf_indexes_feed_index_sources(registry: kopf.OperatorRegistry) -> None:
    engine = Indexing(registry)
    service, endpoint_slice = builders.service_api(), builders.slice_api()
    endpoint_slice["metadata"]["uid"] = "uid-slice"
    await engine.event(SERVICES, "ADDED", service)
    await engine.event(SLICES, "ADDED", endpoint_slice)
    sources = engine.sources()
    assert list(sources.keys()) == [KEY]
    assert sources.service(KEY) == indexes.trim_service(service)
    assert sources.slices(KEY) == [indexes.trim_slice(endpoint_slice)]
    await engine.event(SLICES, "DELETED", endpoint_slice)
    await engine.event(SERVICES, "DELETED", service)
    assert (list(engine.sources().keys()), engine.sources().slices(KEY)) == ([], [])


@pytest.mark.usefixtures("loop")
async def test_a_slice_that_loses_its_service_label_leaves_the_index(
    registry: kopf.OperatorRegistry,
) -> None:
    """BUG (handlers.slices_idx returns None for an unlabelled slice).

    kopf's indexing engine stores a result only when it is not None and otherwise leaves the
    object's previous entries untouched (kopf/_core/engines/indexing.py, OperatorIndexers.replace:
    ``elif outcome.result is not None``). So when a slice's ``kubernetes.io/service-name`` label
    is removed (a hand-written slice relabelled, or unlabelled to take it out of a Service),
    ``slices_idx`` returns None and the stale copy stays indexed under the old Service until
    the slice is deleted: the audit keeps expecting its records (and lint keeps reporting it).
    Expected: the slice leaves the index. Fix: return ``{}`` instead of None (an empty mapping
    makes kopf discard the old keys). ``statefulsets_idx`` has the same shape, harmless there
    only because ``spec.serviceName`` is immutable.
    """
    engine = Indexing(registry)
    endpoint_slice = builders.slice_api()
    endpoint_slice["metadata"]["uid"] = "uid-slice"
    await engine.event(SLICES, "ADDED", endpoint_slice)
    assert len(engine.sources().slices(KEY)) == 1
    relabelled = copy.deepcopy(endpoint_slice)
    del relabelled["metadata"]["labels"][objects.SERVICE_NAME_LABEL]
    await engine.event(SLICES, "MODIFIED", relabelled)
    assert engine.sources().slices(KEY) == []


@pytest.mark.usefixtures("loop")
async def test_a_slice_moved_to_another_service_moves_in_the_index(
    registry: kopf.OperatorRegistry,
) -> None:
    engine = Indexing(registry)
    endpoint_slice = builders.slice_api()
    endpoint_slice["metadata"]["uid"] = "uid-slice"
    await engine.event(SLICES, "ADDED", endpoint_slice)
    moved = copy.deepcopy(endpoint_slice)
    moved["metadata"]["labels"][objects.SERVICE_NAME_LABEL] = "other"
    await engine.event(SLICES, "MODIFIED", moved)
    assert engine.sources().slices(KEY) == []
    assert engine.sources().slices(("default", "other")) == [indexes.trim_slice(moved)]


# -- indexes.trim_*: what the indexes keep -------------------------------------------------

TOLERATE = objects.TOLERATE_UNREADY_ANNOTATION


def _service_variants() -> list[dict[str, Any]]:
    plain = builders.service_api()
    annotated = builders.service_api()
    annotated["metadata"]["annotations"] = {
        TOLERATE: "true",
        "kubectl.kubernetes.io/last-applied-configuration": '{"big": "json"}',
        "example.com/note": "x",
    }
    annotated["spec"]["publishNotReadyAddresses"] = True
    annotated["spec"]["ports"] = [
        {"name": "web", "port": 80, "protocol": "TCP", "targetPort": "http"},
        {"port": 53, "protocol": "UDP", "targetPort": 5353},
    ]
    annotated["status"] = {
        "conditions": [{"type": "example.com/Ready", "status": "True"}],
        "loadBalancer": {},
    }
    clusterip = builders.service_api()
    clusterip["spec"].update(clusterIP="10.96.0.5", clusterIPs=["10.96.0.5"])
    del clusterip["spec"]["selector"]
    dual = builders.service_api()
    dual["spec"]["ipFamilies"] = ["IPv6", "IPv4"]
    return [plain, annotated, clusterip, dual]


def _slice_variants() -> list[dict[str, Any]]:
    plain = builders.slice_api()
    v6 = builders.slice_api()
    v6["addressType"] = "IPv6"
    v6["endpoints"] = [{"addresses": ["fd00::5"], "conditions": {}}]
    v6["ports"] = [{"name": "", "protocol": "UDP"}]
    foreign = builders.slice_api()
    foreign["metadata"]["labels"][objects.MANAGED_BY_LABEL] = "someone-else"
    foreign["metadata"]["annotations"] = {TOLERATE: "true"}
    return [plain, v6, foreign]


def _statefulset_variants() -> list[dict[str, Any]]:
    plain = builders.statefulset_api()
    ordinals = builders.statefulset_api()
    ordinals["spec"]["ordinals"] = {"start": 5}
    del ordinals["spec"]["replicas"]
    ordinals["spec"]["template"]["metadata"]["labels"]["tier"] = "db"
    ordinals["spec"]["selector"]["matchExpressions"] = [{"key": "a", "operator": "Exists"}]
    return [plain, ordinals]


TRIMS: list[tuple[Callable[[Any], dict[str, Any]], Callable[[Any], Any], dict[str, Any]]] = [
    *((indexes.trim_service, objects.service_from_api, b) for b in _service_variants()),
    *((indexes.trim_slice, objects.endpoint_slice_from_api, b) for b in _slice_variants()),
    *((indexes.trim_statefulset, objects.statefulset_from_api, b) for b in _statefulset_variants()),
]
TRIM_IDS = [f"{trim.__name__}-{i}" for i, (trim, _, _) in enumerate(TRIMS)]


@pytest.mark.parametrize(("trim", "convert", "body"), TRIMS, ids=TRIM_IDS)
def test_a_trimmed_body_converts_to_the_same_model(
    trim: Callable[[Any], dict[str, Any]], convert: Callable[[Any], Any], body: dict[str, Any]
) -> None:
    trimmed = trim(copy.deepcopy(body))
    assert convert(trimmed) == convert(body)
    assert objects.last_change_of([trimmed]) == objects.last_change_of([body])
    assert trim(trimmed) == trimmed  # trimming twice changes nothing
    assert json.loads(json.dumps(trimmed)) == trimmed


@pytest.mark.parametrize(("trim", "convert", "body"), TRIMS, ids=TRIM_IDS)
def test_managed_fields_keep_only_their_times(
    trim: Callable[[Any], dict[str, Any]], convert: Callable[[Any], Any], body: dict[str, Any]
) -> None:
    del convert
    body["metadata"]["managedFields"] = [
        {"manager": "a", "time": "2026-05-01T11:00:00Z", "fieldsV1": {"f:spec": {}}},
        {"manager": "b", "time": "2026-05-01T11:30:00Z", "fieldsV1": {"f:status": {}}},
    ]
    trimmed = trim(body)
    assert trimmed["metadata"]["managedFields"] == [
        {"time": "2026-05-01T11:00:00Z"},
        {"time": "2026-05-01T11:30:00Z"},
    ]
    assert "fieldsV1" not in json.dumps(trimmed)


def test_only_the_tolerate_annotation_is_kept() -> None:
    annotated = _service_variants()[1]
    assert indexes.trim_service(annotated)["metadata"]["annotations"] == {TOLERATE: "true"}
    assert indexes.trim_slice(_slice_variants()[2])["metadata"]["annotations"] == {}
    assert "last-applied" not in json.dumps(indexes.trim_service(annotated))


def test_service_status_keeps_only_the_conditions() -> None:
    """The conditions are what a restarted operator compares its new ones with."""
    annotated = _service_variants()[1]
    assert indexes.trim_service(annotated)["status"] == {
        "conditions": [{"type": "example.com/Ready", "status": "True"}]
    }
    assert indexes.trim_service(builders.service_api())["status"] == {"conditions": []}


def test_statefulset_drops_the_pod_template_but_its_labels() -> None:
    trimmed = indexes.trim_statefulset(builders.statefulset_api())
    assert trimmed["spec"]["template"] == {"metadata": {"labels": {"app": "nginx"}}}
    assert "status" not in trimmed
    assert "containers" not in json.dumps(trimmed)


def test_trimmed_metadata_keeps_identity() -> None:
    body = builders.service_api()
    body["metadata"]["generation"] = 4
    meta = indexes.trim_service(body)["metadata"]
    assert {k: meta[k] for k in ("name", "namespace", "uid", "generation")} == {
        "name": "nginx",
        "namespace": "default",
        "uid": body["metadata"]["uid"],
        "generation": 4,
    }
    assert "resourceVersion" not in meta


def test_discovery_reads_trimmed_kube_dns_objects() -> None:
    service = {
        "metadata": {"name": "kube-dns", "namespace": "kube-system"},
        "spec": {
            "clusterIP": "10.96.0.10",
            "clusterIPs": ["10.96.0.10"],
            "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}],
        },
    }
    endpoint_slice = {
        "metadata": {"name": "kube-dns-x", "namespace": "kube-system"},
        "addressType": "IPv4",
        "ports": [{"name": "dns", "port": 5353, "protocol": "UDP"}],
        "endpoints": [
            {"addresses": ["172.18.0.2"], "conditions": {"ready": True}},
            {"addresses": ["172.18.0.3"], "conditions": {"ready": False}},
        ],
    }
    full = discovery.dns_servers(service, [endpoint_slice])
    trimmed = discovery.dns_servers(
        indexes.trim_service(service), [indexes.trim_slice(endpoint_slice)]
    )
    assert trimmed == full
    assert [s.address for s in full] == ["10.96.0.10:53", "172.18.0.2:5353"]


def test_in_cluster_connection_follows_the_service_environment(tmp_path) -> None:
    """Like client-go: KUBERNETES_SERVICE_HOST/PORT, not a DNS name that needs cluster DNS."""
    (tmp_path / "token").write_text("secret-token\n")
    (tmp_path / "ca.crt").write_text("CA")
    (tmp_path / "namespace").write_text("ops")
    env = {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBERNETES_SERVICE_PORT": "6443"}
    info = runner.in_cluster_connection(env, tmp_path)
    assert info.server == "https://10.96.0.1:6443"
    assert info.token == "secret-token"
    assert info.scheme == "Bearer"
    assert info.default_namespace == "ops"
    assert str(info.ca_path) == str(tmp_path / "ca.crt")
    v6 = runner.in_cluster_connection({"KUBERNETES_SERVICE_HOST": "fd00::1"}, tmp_path)
    assert v6.server == "https://[fd00::1]:443"
