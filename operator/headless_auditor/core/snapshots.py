"""Which Services to audit, and the snapshot of each, from raw API objects (pure).

The audit covers every headless Service and every Service a StatefulSet names in
``spec.serviceName`` — also when that Service is not headless or does not exist, since that is
exactly the misconfiguration to report. Both the one-shot ``check`` (which lists objects) and the
operator (which keeps them in kopf indexes) hand their objects to these functions.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from headless_auditor.core import corefile, objects, optout

Key = tuple[str, str]
"""``(namespace, name)`` of an audited Service."""
Obj = Mapping[str, Any]


def key_of(obj: Obj) -> Key:
    meta = obj.get("metadata", {})
    return (objects.namespace_of(meta), str(meta.get("name", "")))


def is_headless(service: Obj) -> bool:
    return bool(service.get("spec", {}).get("clusterIP") == "None")


def governing_key(statefulset: Obj) -> Key | None:
    """The Service a StatefulSet names in ``serviceName`` (None when it names none)."""
    name = statefulset.get("spec", {}).get("serviceName")
    return (key_of(statefulset)[0], str(name)) if name else None


def slice_key(endpoint_slice: Obj) -> Key | None:
    """The Service an EndpointSlice is labelled for (None for an unlabelled slice)."""
    name = endpoint_slice.get("metadata", {}).get("labels", {}).get(objects.SERVICE_NAME_LABEL)
    return (key_of(endpoint_slice)[0], str(name)) if name else None


def audit_keys(services: Iterable[Obj], statefulsets: Iterable[Obj]) -> list[Key]:
    """Headless Services and the Services StatefulSets name, sorted, without duplicates; none
    that opted out (:mod:`optout`), and no key only ignored StatefulSets name."""
    services = list(services)
    keys = {key_of(s) for s in services if is_headless(s)}
    keys.update(k for k in map(governing_key, _kept(statefulsets)) if k is not None)
    return sorted(keys - {key_of(s) for s in services if optout.is_ignored(s)})


def _kept(statefulsets: Iterable[Obj]) -> list[Obj]:
    return [s for s in statefulsets if not optout.is_ignored(s)]


def snapshot(
    key: Key,
    service: Obj | None,
    slices: Iterable[Obj],
    statefulsets: Iterable[Obj],
    options: corefile.CorefileOptions,
) -> objects.Snapshot:
    """The snapshot of one Service from its (already grouped and opt-out filtered) raw objects."""
    slices = sorted(slices, key=key_of)
    statefulsets = sorted(statefulsets, key=key_of)
    return objects.Snapshot(
        namespace=key[0],
        name=key[1],
        service=objects.service_from_api(service) if service is not None else None,
        slices=tuple(objects.endpoint_slice_from_api(s) for s in slices),
        statefulsets=tuple(objects.statefulset_from_api(s) for s in statefulsets),
        corefile_options=options,
        last_change=objects.last_change_of([*([service] if service else []), *slices]),
    )


def snapshots(
    services: Sequence[Obj],
    slices: Iterable[Obj],
    statefulsets: Sequence[Obj],
    options: corefile.CorefileOptions,
) -> list[objects.Snapshot]:
    """Every audited Service's snapshot, from full lists of the three kinds (the objects that
    opted out are left out)."""
    statefulsets = _kept(statefulsets)
    by_key = {key_of(s): s for s in services}
    slices_of: dict[Key, list[Obj]] = collections.defaultdict(list)
    for s in slices:
        if (k := slice_key(s)) is not None:
            slices_of[k].append(s)
    sets_of: dict[Key, list[Obj]] = collections.defaultdict(list)
    for sts in statefulsets:
        if (k := governing_key(sts)) is not None:
            sets_of[k].append(sts)
    return [
        snapshot(k, by_key.get(k), slices_of.get(k, []), sets_of.get(k, []), options)
        for k in audit_keys(services, statefulsets)
    ]
