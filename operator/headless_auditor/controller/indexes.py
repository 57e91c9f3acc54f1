"""What the operator keeps of the watched objects (kopf indexes), and how an audit reads it.

Only ``kopf.index`` feeds these indexes (see :mod:`headless_auditor.controller.handlers`); the
scheduler reads them through :class:`Sources`, and :func:`inputs` gathers, in one read, all an
audit of one Service needs: its snapshot, the Service as the publisher needs it, and the
StatefulSets that name it.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from headless_auditor import sinks
from headless_auditor.core import corefile, objects, optout, snapshots

Key = snapshots.Key
Obj = Mapping[str, Any]


class Sources(Protocol):
    """Read access to what the watches have seen (trimmed API objects)."""

    def service(self, key: Key) -> Mapping[str, Any] | None: ...
    def slices(self, key: Key) -> list[Mapping[str, Any]]: ...
    def statefulsets(self, key: Key) -> list[Mapping[str, Any]]: ...
    def keys(self) -> Iterable[Key]:
        """Every key that may need an audit: Services and StatefulSet serviceName targets."""
        ...


class IndexSources:
    """:class:`Sources` over kopf's live indexes."""

    def __init__(self, indexes: Mapping[str, Any]) -> None:
        self._services = indexes["services_idx"]
        self._slices = indexes["slices_idx"]
        self._statefulsets = indexes["statefulsets_idx"]

    @staticmethod
    def _one(index: Any, key: Key) -> Mapping[str, Any] | None:
        store = index.get(key)
        return next(iter(store), None) if store is not None else None

    def service(self, key: Key) -> Mapping[str, Any] | None:
        return self._one(self._services, key)

    def slices(self, key: Key) -> list[Mapping[str, Any]]:
        return list(self._slices.get(key, ()))

    def statefulsets(self, key: Key) -> list[Mapping[str, Any]]:
        return list(self._statefulsets.get(key, ()))

    def keys(self) -> Iterable[Key]:
        headless = (k for k, store in self._services.items() if _any_headless(store))
        return [*headless, *self._statefulsets.keys()]


def _any_headless(store: Iterable[Mapping[str, Any]]) -> bool:
    return any(snapshots.is_headless(s) for s in store)


@dataclasses.dataclass(frozen=True)
class Inputs:
    """Everything one audit of one Service reads, from one look at the indexes."""

    snapshot: objects.Snapshot
    service: Mapping[str, Any] | None
    """The trimmed Service (None: it does not exist), for the publisher."""
    owners: tuple[sinks.Owner, ...]
    """The StatefulSets naming the Service (not those that opted out)."""
    ignored: bool = False
    """The Service opted out (``headless-auditor.io/ignore``): retire it, do not audit it."""


def inputs(sources: Sources, key: Key, options: corefile.CorefileOptions) -> Inputs | None:
    """The inputs of the audit of ``key``; None when it is no longer audited."""
    service = sources.service(key)
    statefulsets = [s for s in sources.statefulsets(key) if not optout.is_ignored(s)]
    if not statefulsets and (service is None or not snapshots.is_headless(service)):
        return None
    snapshot = snapshots.snapshot(key, service, sources.slices(key), statefulsets, options)
    owners = tuple(_owner(s) for s in statefulsets)
    ignored = service is not None and optout.is_ignored(service)
    return Inputs(snapshot, service, owners, ignored)


def _owner(statefulset: Obj) -> sinks.Owner:
    meta = statefulset.get("metadata", {})
    return sinks.Owner(str(meta.get("name")), str(meta.get("uid", "")))


# -- what the operator keeps of each watched object ------------------------------------------
# The indexes hold these trimmed copies, not whole bodies: a slice's managedFields alone can be
# several times the size of everything the audit reads. The trimmed copies keep the API's shape,
# so the same converters read them.


def _trimmed_meta(obj: Obj, *, annotations: tuple[str, ...] = ()) -> dict[str, Any]:
    meta = obj.get("metadata", {})
    kept_annotations = {
        k: v for k, v in (meta.get("annotations") or {}).items() if k in annotations
    }
    return {
        "name": meta.get("name"),
        "namespace": meta.get("namespace"),
        "uid": meta.get("uid"),
        "generation": meta.get("generation"),
        "labels": dict(meta.get("labels") or {}),
        "annotations": kept_annotations,
        "creationTimestamp": meta.get("creationTimestamp"),
        "managedFields": [
            {"time": m.get("time")}
            for m in meta.get("managedFields") or []
            if m.get("subresource") != "status"
        ],
    }


def trim_service(obj: Obj) -> dict[str, Any]:
    spec = obj.get("spec", {})
    keys = (
        "clusterIP",
        "clusterIPs",
        "type",
        "selector",
        "ports",
        "publishNotReadyAddresses",
        "ipFamilies",
    )
    return {
        "metadata": _trimmed_meta(obj, annotations=_SERVICE_ANNOTATIONS),
        "spec": {k: spec[k] for k in keys if k in spec},
        "status": {"conditions": list((obj.get("status") or {}).get("conditions") or [])},
    }


def trim_slice(obj: Obj) -> dict[str, Any]:
    return {
        "metadata": _trimmed_meta(obj),
        "addressType": obj.get("addressType"),
        "endpoints": list(obj.get("endpoints") or []),
        "ports": list(obj.get("ports") or []),
    }


def trim_statefulset(obj: Obj) -> dict[str, Any]:
    spec = obj.get("spec", {})
    template_meta = (spec.get("template") or {}).get("metadata") or {}
    kept = {k: spec[k] for k in ("serviceName", "replicas", "selector", "ordinals") if k in spec}
    kept["template"] = {"metadata": {"labels": dict(template_meta.get("labels") or {})}}
    return {
        "metadata": _trimmed_meta(obj, annotations=(objects.IGNORE_ANNOTATION,)),
        "spec": kept,
    }


_SERVICE_ANNOTATIONS = (
    objects.TOLERATE_UNREADY_ANNOTATION,
    objects.IGNORE_ANNOTATION,
    objects.IGNORE_FINDINGS_ANNOTATION,
)
