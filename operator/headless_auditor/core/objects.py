"""A snapshot of one Service's DNS inputs, and pure converters from Kubernetes API JSON.

The audit never reads the API objects directly: the shell converts each watched body (a kopf
body or an API response, camelCase keys) with the ``*_from_api`` functions and gathers the pieces
for one Service into a :class:`Snapshot`. Only the fields that decide DNS answers or explain
findings are kept, so snapshots are small, hashable and easy to build in tests.

Optional API fields stay optional where "unset" means something (an endpoint condition that is
unset is *ready* for CoreDNS); elsewhere the converters apply the API server's defaults.

Labels and selectors are frozen sets of ``(key, value)`` pairs: a ``matchLabels`` selector matches
when it is a subset of the labels.
"""

from __future__ import annotations

import dataclasses
import datetime
from collections.abc import Iterable, Mapping
from typing import Any

from headless_auditor.core import corefile

Labels = frozenset[tuple[str, str]]
"""Labels or a ``matchLabels`` selector, as hashable ``(key, value)`` pairs."""

SERVICE_NAME_LABEL = "kubernetes.io/service-name"
MANAGED_BY_LABEL = "endpointslice.kubernetes.io/managed-by"
ENDPOINTSLICE_CONTROLLER = "endpointslice-controller.k8s.io"
"""``managed-by`` value of the slices the EndpointSlice controller writes for selector Services."""
TOLERATE_UNREADY_ANNOTATION = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
IGNORE_ANNOTATION = "headless-auditor.io/ignore"
"""``"true"`` on a Service or a StatefulSet: the auditor leaves it alone (:mod:`optout`)."""
IGNORE_FINDINGS_ANNOTATION = "headless-auditor.io/ignore-findings"
"""Finding codes, comma-separated, that do not count against one Service (:mod:`optout`)."""
POD_NAME_LABEL = "statefulset.kubernetes.io/pod-name"
POD_INDEX_LABEL = "apps.kubernetes.io/pod-index"
REVISION_LABEL = "controller-revision-hash"
"""Set on each StatefulSet pod by the controller; its value is not knowable from the spec."""


def namespace_of(meta: Mapping[str, Any]) -> str:
    """An object's namespace from its metadata; ``default`` when unset, as the API server does."""
    return str(meta.get("namespace") or "default")


def labels_of(mapping: Mapping[str, str] | None) -> Labels:
    """Labels from a ``{key: value}`` mapping (None and missing count as empty)."""
    return frozenset((str(k), str(v)) for k, v in (mapping or {}).items())


def format_labels(labels: Labels) -> str:
    """``a=1,b=2``, sorted, for messages."""
    return ",".join(f"{k}={v}" for k, v in sorted(labels)) or "(none)"


@dataclasses.dataclass(frozen=True)
class ServicePort:
    """One entry of ``spec.ports``."""

    name: str
    """Empty for an unnamed port (allowed only when it is the Service's single port)."""
    port: int
    target_port: int | str
    protocol: str = "TCP"


@dataclasses.dataclass(frozen=True)
class Service:
    """The fields of a Service that shape its DNS names."""

    namespace: str
    name: str
    cluster_ip: str | None = "None"
    """``spec.clusterIP``; the string ``"None"`` makes the Service headless."""
    type: str = "ClusterIP"
    selector: Labels | None = None
    """None for a selector-less Service (its slices come from someone else)."""
    ports: tuple[ServicePort, ...] = ()
    publish_not_ready_addresses: bool = False
    tolerate_unready_annotation: bool = False
    """The deprecated annotation is ``"true"``; it has had no effect since Kubernetes 1.24."""
    ip_families: tuple[str, ...] = ()
    uid: str = ""
    ignored_findings: tuple[str, ...] = ()
    """The codes its ``headless-auditor.io/ignore-findings`` annotation names, sorted."""

    @property
    def headless(self) -> bool:
        """``spec.clusterIP`` is ``None``: names resolve to the endpoints, not a virtual IP."""
        return self.cluster_ip == "None"


@dataclasses.dataclass(frozen=True)
class TargetRef:
    """What an endpoint points at; the EndpointSlice controller writes ``Pod`` references."""

    kind: str
    name: str
    namespace: str | None = None


@dataclasses.dataclass(frozen=True)
class Endpoint:
    """One endpoint of a slice. Conditions are None when unset."""

    addresses: tuple[str, ...]
    hostname: str | None = None
    ready: bool | None = True
    serving: bool | None = None
    terminating: bool | None = None
    target_ref: TargetRef | None = None
    node_name: str | None = None

    @property
    def is_ready(self) -> bool:
        """Whether CoreDNS serves it: ``ready`` is true *or unset* (``serving`` is ignored)."""
        return self.ready is not False

    @property
    def pod_name(self) -> str | None:
        """The name of the pod it points at, when its ``targetRef`` is a Pod."""
        ref = self.target_ref
        return ref.name if ref is not None and ref.kind == "Pod" else None


@dataclasses.dataclass(frozen=True)
class EndpointPort:
    """One entry of a slice's ``ports``: the resolved target port of the pods in the slice."""

    name: str = ""
    port: int | None = None
    """None when unset (CoreDNS then serves no SRV record for it)."""
    protocol: str = "TCP"


@dataclasses.dataclass(frozen=True)
class EndpointSlice:
    """A ``discovery.k8s.io/v1`` EndpointSlice."""

    namespace: str
    name: str
    service_name: str | None
    """The ``kubernetes.io/service-name`` label: the only link CoreDNS uses."""
    managed_by: str | None = ENDPOINTSLICE_CONTROLLER
    address_type: str = "IPv4"
    endpoints: tuple[Endpoint, ...] = ()
    ports: tuple[EndpointPort, ...] = ()


@dataclasses.dataclass(frozen=True)
class StatefulSet:
    """The fields of a StatefulSet that decide its pods' stable names."""

    namespace: str
    name: str
    service_name: str | None
    """``spec.serviceName``: the governing Service; None when unset (optional since 1.33)."""
    replicas: int = 1
    template_labels: Labels = frozenset()
    selector: Labels = frozenset()
    """``spec.selector.matchLabels`` (``matchExpressions`` are not kept)."""
    ordinal_start: int = 0
    """``spec.ordinals.start``: pods are ``<name>-<start>`` .. ``<name>-<start+replicas-1>``."""

    @property
    def ordinals(self) -> range:
        """The ordinals of the pods the StatefulSet should have."""
        return range(self.ordinal_start, self.ordinal_start + max(self.replicas, 0))

    def pod_name(self, ordinal: int) -> str:
        """``<name>-<ordinal>``: the pod's name, hostname and DNS label."""
        return f"{self.name}-{ordinal}"

    def pod_labels(self, ordinal: int) -> Labels:
        """The labels a pod of this StatefulSet gets, except ``controller-revision-hash``."""
        extra = {(POD_NAME_LABEL, self.pod_name(ordinal)), (POD_INDEX_LABEL, str(ordinal))}
        return self.template_labels | extra


def selector_matches_pod(selector: Labels, statefulset: StatefulSet, ordinal: int) -> bool:
    """Whether a Service selector selects one StatefulSet pod, judged from the spec alone.

    A selector on ``controller-revision-hash`` is given the benefit of the doubt: its value
    changes with every revision and cannot be known here.
    """
    labels = statefulset.pod_labels(ordinal)
    return all(pair in labels or pair[0] == REVISION_LABEL for pair in selector)


@dataclasses.dataclass(frozen=True)
class Snapshot:
    """Everything that decides the DNS answers for one Service name, at one moment.

    ``service`` is None when the name is only known from a StatefulSet's ``serviceName`` (the
    Service does not exist). ``slices`` are exactly the slices in ``namespace`` labelled
    ``kubernetes.io/service-name: <name>``; ``statefulsets`` exactly those whose ``serviceName``
    is ``name``. Both are checked on construction, since a wrong slice would silently change
    every expectation.
    """

    namespace: str
    name: str
    service: Service | None
    slices: tuple[EndpointSlice, ...] = ()
    statefulsets: tuple[StatefulSet, ...] = ()
    corefile_options: corefile.CorefileOptions = dataclasses.field(
        default_factory=corefile.CorefileOptions
    )
    last_change: datetime.datetime | None = None
    """Newest change of the Service or its slices (for the grace window); None if unknown."""

    def __post_init__(self) -> None:
        key = (self.namespace, self.name)
        if self.service is not None and (self.service.namespace, self.service.name) != key:
            raise ValueError(f"snapshot of {key} holds Service {self.service.name}")
        for s in self.slices:
            if (s.namespace, s.service_name) != key:
                raise ValueError(f"EndpointSlice {s.name} is not labelled for {key}")
        for sts in self.statefulsets:
            if (sts.namespace, sts.service_name) != key:
                raise ValueError(f"StatefulSet {sts.name} is not governed by {key}")


# -- converters from API JSON ------------------------------------------------------------------


def service_from_api(obj: Mapping[str, Any]) -> Service:
    """A :class:`Service` from a Service body."""
    meta, spec = _meta(obj), _section(obj, "spec")
    selector = labels_of(spec.get("selector"))
    annotations = _section(meta, "annotations")
    return Service(
        namespace=namespace_of(meta),
        name=str(meta.get("name", "")),
        cluster_ip=spec.get("clusterIP"),
        type=str(spec.get("type") or "ClusterIP"),
        selector=selector or None,
        ports=tuple(_service_port(p) for p in _items(spec, "ports")),
        publish_not_ready_addresses=bool(spec.get("publishNotReadyAddresses")),
        tolerate_unready_annotation=annotations.get(TOLERATE_UNREADY_ANNOTATION) == "true",
        ip_families=tuple(str(f) for f in spec.get("ipFamilies") or ()),
        uid=str(meta.get("uid", "")),
        ignored_findings=codes_of(annotations.get(IGNORE_FINDINGS_ANNOTATION)),
    )


def codes_of(text: object) -> tuple[str, ...]:
    """``"A, B,A"`` -> ``("A", "B")``: the codes of an ignore-findings annotation."""
    return tuple(sorted({c.strip() for c in str(text or "").split(",") if c.strip()}))


def _service_port(obj: Mapping[str, Any]) -> ServicePort:
    port = int(obj.get("port", 0))
    target = obj.get("targetPort", port)
    return ServicePort(
        name=str(obj.get("name") or ""),
        port=port,
        target_port=target if isinstance(target, str) else int(target),
        protocol=str(obj.get("protocol") or "TCP"),
    )


def endpoint_slice_from_api(obj: Mapping[str, Any]) -> EndpointSlice:
    """An :class:`EndpointSlice` from a ``discovery.k8s.io/v1`` EndpointSlice body."""
    meta = _meta(obj)
    labels = _section(meta, "labels")
    return EndpointSlice(
        namespace=namespace_of(meta),
        name=str(meta.get("name", "")),
        service_name=labels.get(SERVICE_NAME_LABEL),
        managed_by=labels.get(MANAGED_BY_LABEL),
        address_type=str(obj.get("addressType") or "IPv4"),
        endpoints=tuple(_endpoint(e) for e in _items(obj, "endpoints")),
        ports=tuple(_endpoint_port(p) for p in _items(obj, "ports")),
    )


def _endpoint(obj: Mapping[str, Any]) -> Endpoint:
    conditions = _section(obj, "conditions")
    ref = _section(obj, "targetRef")
    return Endpoint(
        addresses=tuple(str(a) for a in obj.get("addresses") or ()),
        hostname=obj.get("hostname") or None,
        ready=_optional_bool(conditions.get("ready")),
        serving=_optional_bool(conditions.get("serving")),
        terminating=_optional_bool(conditions.get("terminating")),
        target_ref=TargetRef(str(ref.get("kind", "")), str(ref["name"]), ref.get("namespace"))
        if ref.get("name")
        else None,
        node_name=obj.get("nodeName"),
    )


def _endpoint_port(obj: Mapping[str, Any]) -> EndpointPort:
    port = obj.get("port")
    return EndpointPort(
        name=str(obj.get("name") or ""),
        port=None if port is None else int(port),
        protocol=str(obj.get("protocol") or "TCP"),
    )


def statefulset_from_api(obj: Mapping[str, Any]) -> StatefulSet:
    """A :class:`StatefulSet` from an ``apps/v1`` StatefulSet body."""
    meta, spec = _meta(obj), _section(obj, "spec")
    template_meta = _meta(_section(spec, "template"))
    replicas = spec.get("replicas")
    return StatefulSet(
        namespace=namespace_of(meta),
        name=str(meta.get("name", "")),
        service_name=spec.get("serviceName") or None,
        replicas=1 if replicas is None else int(replicas),
        template_labels=labels_of(template_meta.get("labels")),
        selector=labels_of(_section(spec, "selector").get("matchLabels")),
        ordinal_start=int(_section(spec, "ordinals").get("start") or 0),
    )


def last_change_of(objs: Iterable[Mapping[str, Any]]) -> datetime.datetime | None:
    """The newest ``managedFields[].time`` (or ``creationTimestamp``) over ``objs``.

    Every write by any field manager stamps its entry, so this dates the last change of the
    Service or of a slice (a pod turning unready shows up as a slice update).
    """
    times = [t for obj in objs for t in _change_times(_meta(obj))]
    return max(times, default=None)


def _change_times(meta: Mapping[str, Any]) -> Iterable[datetime.datetime]:
    stamps = [
        entry.get("time")
        for entry in _items(meta, "managedFields")
        if entry.get("subresource") != "status"  # status writes (ours) change no DNS input
    ]
    stamps.append(meta.get("creationTimestamp"))
    for stamp in stamps:
        parsed = _parse_time(stamp)
        if parsed is not None:
            yield parsed


def _parse_time(value: object) -> datetime.datetime | None:
    if isinstance(value, datetime.datetime):
        parsed = value
    elif isinstance(value, str):
        try:
            parsed = datetime.datetime.fromisoformat(value)
        except ValueError:
            return None
    else:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=datetime.UTC)


def _meta(obj: Mapping[str, Any]) -> Mapping[str, Any]:
    return _section(obj, "metadata")


def _section(obj: Mapping[str, Any], key: str) -> Mapping[str, Any]:
    value = obj.get(key)
    return value if isinstance(value, Mapping) else {}


def _items(obj: Mapping[str, Any], key: str) -> list[Mapping[str, Any]]:
    return [item for item in obj.get(key) or () if isinstance(item, Mapping)]


def _optional_bool(value: object) -> bool | None:
    return None if value is None else bool(value)
