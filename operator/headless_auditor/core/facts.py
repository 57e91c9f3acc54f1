"""What :mod:`lint` and :mod:`podnames` both read from a snapshot, computed once per snapshot.

:class:`Facts` indexes the endpoints of every slice by the name CoreDNS answers them under and by
the pod their ``targetRef`` points at, and spells DNS names the way messages show them.
:func:`distinct` and :func:`describe` count and list endpoints for those messages: a dual-stack
pod listed in an IPv4 and an IPv6 slice is one pod.
"""

from __future__ import annotations

import collections
import dataclasses
from collections.abc import Iterable, Mapping, Sequence

from headless_auditor.core import names, objects

MAX_LISTED = 5
"""Longest list of pod names spelled out in one message."""


@dataclasses.dataclass(frozen=True)
class Facts:
    """What every check needs, computed once per snapshot."""

    snapshot: objects.Snapshot
    endpoints: tuple[objects.Endpoint, ...]
    by_label: Mapping[str, tuple[objects.Endpoint, ...]]
    """Endpoints by ``name(e)``: the name CoreDNS answers them under."""
    by_pod: Mapping[str, tuple[objects.Endpoint, ...]]
    """Endpoints by the name of the pod their ``targetRef`` points at."""

    @classmethod
    def of(cls, snapshot: objects.Snapshot) -> Facts:
        pod_names = snapshot.corefile_options.endpoint_pod_names
        endpoints = tuple(e for eps in snapshot.slices for e in eps.endpoints)
        by_label: dict[str, list[objects.Endpoint]] = collections.defaultdict(list)
        by_pod: dict[str, list[objects.Endpoint]] = collections.defaultdict(list)
        for endpoint in endpoints:
            labels = {
                names.endpoint_label(endpoint, a, endpoint_pod_names=pod_names)
                for a in endpoint.addresses
            }
            for label in labels:
                by_label[label].append(endpoint)
            if endpoint.pod_name:
                by_pod[endpoint.pod_name].append(endpoint)
        return cls(
            snapshot,
            endpoints,
            {k: tuple(v) for k, v in by_label.items()},
            {k: tuple(v) for k, v in by_pod.items()},
        )

    @property
    def service(self) -> objects.Service | None:
        return self.snapshot.service

    def fqdn(self, label: str = "") -> str:
        """``label.S.ns.svc.Z`` without trailing dot, for messages."""
        snapshot = self.snapshot
        zone = snapshot.corefile_options.cluster_zone
        return names.display_name(snapshot.namespace, snapshot.name, zone, label)


def _identity(endpoint: objects.Endpoint) -> tuple[str, ...]:
    """One pod once, even when a dual-stack pod appears in an IPv4 and an IPv6 slice."""
    ref = endpoint.target_ref
    return (ref.kind, ref.name) if ref is not None else endpoint.addresses


def distinct(endpoints: Iterable[objects.Endpoint]) -> list[objects.Endpoint]:
    """One endpoint per pod (or per address list, without ``targetRef``), in a stable order."""
    unique = {_identity(e): e for e in endpoints}
    return [unique[k] for k in sorted(unique)]


def describe(endpoints: Sequence[objects.Endpoint]) -> str:
    """``web-0, web-1, ... (7 in all)``: pod names, else addresses."""
    listed = sorted(e.target_ref.name if e.target_ref else "/".join(e.addresses) for e in endpoints)
    shown = ", ".join(listed[:MAX_LISTED])
    return shown + (f", ... ({len(listed)} in all)" if len(listed) > MAX_LISTED else "")
