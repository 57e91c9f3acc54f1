"""The kopf side: indexes of the watched objects and event handlers that request audits.

Only ``kopf.index``, ``kopf.on.event`` and one ``kopf.on.startup`` are used, on purpose:
change-detecting handlers (create/update/resume) write ``kopf.zalando.org/*`` annotations into the
objects they handle, and timers or daemons add a finalizer to every matched object. The operator
must leave users' objects alone, so it watches, indexes, and does its periodic work in its own
loops (:mod:`headless_auditor.controller.scheduler`).

The indexes reach the scheduler at start-up (kopf hands them, still empty, to startup handlers);
the first event says they are filled: kopf holds every event handler back until all indexes have
listed their objects, and the sweeps wait for that.

Our own report objects are not watched: the report sink is their only writer, so it lists them
once at start and remembers what it wrote. Watching them cost kopf's per-event machinery three
events per Service in a first sweep (listing, creation, status), and a watch of a CRD that is not
installed would fail; without the CRD the sink repeats that one LIST at each sweep instead, until
it answers (:func:`headless_auditor.sinks.report.after_listing`).

Everything registers on a registry handed in by the caller: nothing happens at import.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import kopf

from headless_auditor.controller import indexes, scheduler
from headless_auditor.core import snapshots

Key = snapshots.Key


def register(registry: kopf.OperatorRegistry, loop: scheduler.Scheduler) -> None:
    """Register the indexes and handlers of one operator on ``registry``."""
    _register_indexes(registry)

    @kopf.on.startup(id="attach-indexes", registry=registry)
    async def attach(**kwargs: Any) -> None:
        loop.attach(indexes.IndexSources(kwargs))

    # Event handlers are coroutines so that they run on the operator's event loop, where the
    # scheduler lives (plain functions would run in kopf's thread pool).

    def changed(keys: Iterable[Key | None]) -> None:
        loop.ready.set()
        loop.request(k for k in keys if k is not None)

    @kopf.on.event("services", id="service-changed", registry=registry)
    async def service_changed(body: kopf.Body, **_: Any) -> None:
        changed([snapshots.key_of(body)])

    @kopf.on.event(
        "discovery.k8s.io", "v1", "endpointslices", id="slice-changed", registry=registry
    )
    async def slice_changed(body: kopf.Body, **_: Any) -> None:
        changed([snapshots.slice_key(body)])

    @kopf.on.event("apps", "v1", "statefulsets", id="statefulset-changed", registry=registry)
    async def statefulset_changed(body: kopf.Body, **_: Any) -> None:
        changed([snapshots.governing_key(body)])

    del attach, service_changed, slice_changed, statefulset_changed


def _register_indexes(registry: kopf.OperatorRegistry) -> None:
    """The three indexes, each holding trimmed copies (:mod:`indexes`) by audited key."""

    @kopf.index("services", id="services_idx", registry=registry)
    def services_idx(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
        return {snapshots.key_of(body): indexes.trim_service(body)}

    @kopf.index("discovery.k8s.io", "v1", "endpointslices", id="slices_idx", registry=registry)
    def slices_idx(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
        # {} (not None) for an unlabelled slice: kopf keeps an object's previous entries when
        # an index function returns None, so a slice losing its label would stay indexed.
        key = snapshots.slice_key(body)
        return {key: indexes.trim_slice(body)} if key else {}

    @kopf.index("apps", "v1", "statefulsets", id="statefulsets_idx", registry=registry)
    def statefulsets_idx(body: kopf.Body, **_: Any) -> dict[Key, dict[str, Any]]:
        key = snapshots.governing_key(body)
        return {key: indexes.trim_statefulset(body)} if key else {}

    del services_idx, slices_idx, statefulsets_idx


def kopf_settings() -> kopf.OperatorSettings:
    """kopf settings for a read-only auditor."""
    s = kopf.OperatorSettings()
    s.posting.enabled = False  # handler logs must not become Events on users' objects
    s.peering.standalone = True  # one replica; no KopfPeering objects needed
    s.scanning.disabled = True  # no cluster-wide CRD/namespace scanning (least privilege)
    s.watching.server_timeout = 300
    s.watching.client_timeout = 330
    return s
