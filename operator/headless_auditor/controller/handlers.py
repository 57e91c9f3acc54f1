"""The kopf side: indexes of the watched objects and event handlers that request audits.

Only ``kopf.index`` and ``kopf.on.event`` are used, on purpose: change-detecting handlers
(create/update/resume) write ``kopf.zalando.org/*`` annotations into the objects they handle, and
timers or daemons add a finalizer to every matched object. The auditor must leave users' objects
alone, so it watches, indexes, and does its periodic work in its own loop (:mod:`auditor`).

Our own report objects are not watched: the auditor is their only writer, so it lists them once
at start (:func:`gather.existing_reports`) and remembers what it wrote. Watching them cost kopf's
per-event machinery three events per Service in a first sweep (listing, creation, status), and
a watch of a CRD that is not installed would fail; without the CRD the auditor repeats that one
LIST at each sweep instead, until it answers (:func:`reports.after_listing`).

Everything registers on a registry handed in by the caller: nothing happens at import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

import kopf

from headless_auditor.controller import auditor
from headless_auditor.core import snapshots

Key = snapshots.Key


class IndexSources:
    """:class:`auditor.Sources` over kopf's live indexes."""

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


def register(registry: kopf.OperatorRegistry, audits: auditor.Auditor) -> None:
    """Register the indexes and handlers of one operator on ``registry``."""

    @kopf.index("services", id="services_idx", registry=registry)
    def services_idx(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
        return {snapshots.key_of(body): snapshots.trim_service(body)}

    # Event handlers are coroutines so that they run on the operator's event loop, where the
    # auditor's scheduler lives (plain functions would run in kopf's thread pool).

    @kopf.index("discovery.k8s.io", "v1", "endpointslices", id="slices_idx", registry=registry)
    def slices_idx(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
        # {} (not None) for an unlabelled slice: kopf keeps an object's previous entries when
        # an index function returns None, so a slice losing its label would stay indexed.
        key = snapshots.slice_key(body)
        return {key: snapshots.trim_slice(body)} if key else {}

    @kopf.index("apps", "v1", "statefulsets", id="statefulsets_idx", registry=registry)
    def statefulsets_idx(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
        key = snapshots.governing_key(body)
        return {key: snapshots.trim_statefulset(body)} if key else {}

    def changed(keys: Iterable[Key | None], indexes: Mapping[str, Any]) -> None:
        audits.attach(IndexSources(indexes))
        audits.request(k for k in keys if k is not None)

    @kopf.on.event("services", id="service-changed", registry=registry)
    async def service_changed(body: kopf.Body, **kwargs: Any) -> None:
        changed([snapshots.key_of(body)], kwargs)

    @kopf.on.event(
        "discovery.k8s.io", "v1", "endpointslices", id="slice-changed", registry=registry
    )
    async def slice_changed(body: kopf.Body, **kwargs: Any) -> None:
        changed([snapshots.slice_key(body)], kwargs)

    @kopf.on.event("apps", "v1", "statefulsets", id="statefulset-changed", registry=registry)
    async def statefulset_changed(body: kopf.Body, **kwargs: Any) -> None:
        changed([snapshots.governing_key(body)], kwargs)

    del services_idx, slices_idx, statefulsets_idx
    del service_changed, slice_changed, statefulset_changed


def settings() -> kopf.OperatorSettings:
    """kopf settings for a read-only auditor."""
    s = kopf.OperatorSettings()
    s.posting.enabled = False  # handler logs must not become Events on users' objects
    s.peering.standalone = True  # one replica; no KopfPeering objects needed
    s.scanning.disabled = True  # no cluster-wide CRD/namespace scanning (least privilege)
    s.watching.server_timeout = 300
    s.watching.client_timeout = 330
    return s
