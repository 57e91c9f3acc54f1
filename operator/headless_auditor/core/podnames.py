"""Why the stable name of a StatefulSet's pod does not resolve, read from the API objects alone.

:func:`pod_name_problems` backs ``PodNamesResolvable``: for each pod a governing StatefulSet should
have, why ``<pod>.S.ns.svc.Z`` does not resolve (:data:`POD_NAME_PROBLEMS`). This is about what the
user meant, not CoreDNS correctness: an unready pod is rightly absent from DNS, and still a
problem for whoever expects to find it.

Limits: the snapshot holds no pods, so "no endpoint" cannot tell a missing pod from one without
an IP or one that has finished. A non-headless Service named by a StatefulSet is a
``ConfigurationValid`` finding (:mod:`lint`) but not a pod-name problem: CoreDNS (unlike the DNS
specification) answers per-pod names of ClusterIP Services too.
"""

from __future__ import annotations

import dataclasses
import types
from collections.abc import Mapping, Sequence

from headless_auditor.core import objects
from headless_auditor.core.facts import Facts

POD_NAME_PROBLEMS: Mapping[str, str] = types.MappingProxyType(
    {
        "ServiceNotFound": "the governing Service does not exist",
        "NotServed": "the Corefile does not serve endpoints of this namespace",
        "SelectorMissesPod": "the Service selector does not match the pod's labels",
        "NoEndpoint": "no endpoint for the pod: it is missing, has no IP yet, or has finished",
        "NoHostname": "the pod's endpoint has no hostname: its subdomain is not the Service",
        "NotReady": "the pod is not ready and the Service does not publish unready pods",
        "Terminating": "the pod is terminating and no longer published",
    }
)
"""Every pod-name problem code, the one place it is declared, with its one-line meaning."""


@dataclasses.dataclass(frozen=True, order=True)
class PodNameProblem:
    """Why one pod of a governing StatefulSet does not resolve by its stable name."""

    statefulset: str
    ordinal: int
    pod: str
    code: str
    message: str


def pod_name_problems(snapshot: objects.Snapshot) -> tuple[PodNameProblem, ...]:
    """For every pod the governing StatefulSets should have, why its stable name won't resolve."""
    facts = Facts.of(snapshot)
    problems = (
        _pod_problem(facts, sts, ordinal)
        for sts in snapshot.statefulsets
        for ordinal in sts.ordinals
    )
    return tuple(sorted(p for p in problems if p is not None))


def _pod_problem(facts: Facts, sts: objects.StatefulSet, ordinal: int) -> PodNameProblem | None:
    pod = sts.pod_name(ordinal)
    found = _pod_reason(facts, sts, ordinal)
    if found is None:
        return None
    code, why = found
    return PodNameProblem(
        sts.name, ordinal, pod, _declared(code), f"{facts.fqdn(pod)} does not resolve: {why}"
    )


def _declared(code: str) -> str:
    """``code`` itself when :data:`POD_NAME_PROBLEMS` declares it; KeyError for any other."""
    if code not in POD_NAME_PROBLEMS:
        raise KeyError(code)
    return code


def _pod_reason(facts: Facts, sts: objects.StatefulSet, ordinal: int) -> tuple[str, str] | None:
    pod, service = sts.pod_name(ordinal), facts.service
    if service is None:
        return "ServiceNotFound", f"Service {facts.snapshot.name} does not exist."
    options = facts.snapshot.corefile_options
    if options.noendpoints or not options.exposes(service.namespace):
        return "NotServed", (
            f"the Corefile's kubernetes plugin does not serve endpoints of namespace "
            f"{service.namespace} (noendpoints or namespaces option)."
        )
    named = facts.by_label.get(pod.lower(), ())
    if any(e.is_ready for e in named):
        return None
    if named:
        return _unready_reason(service, pod, named)
    if facts.by_pod.get(pod):
        return "NoHostname", (
            f"{pod} is an endpoint of {service.name} without a hostname: its spec.subdomain is "
            f'not "{service.name}" (fixed at creation), so it resolves only by dashed IP. Delete '
            "the pod so that the StatefulSet recreates it."
        )
    return _missing_reason(service, sts, ordinal)


def _unready_reason(
    service: objects.Service, pod: str, endpoints: Sequence[objects.Endpoint]
) -> tuple[str, str]:
    if any(e.terminating for e in endpoints):
        return "Terminating", f"{pod} is terminating, so it is no longer published."
    hint = (
        " (the tolerate-unready-endpoints annotation has had no effect since Kubernetes 1.24)"
        if service.tolerate_unready_annotation
        else ""
    )
    return "NotReady", (
        f"{pod} is not ready and {service.name} does not publish unready pods. Set "
        f"spec.publishNotReadyAddresses: true if peers must find it before it is ready{hint}."
    )


def _missing_reason(
    service: objects.Service, sts: objects.StatefulSet, ordinal: int
) -> tuple[str, str]:
    pod = sts.pod_name(ordinal)
    if service.selector is None:
        return "NoEndpoint", (
            f"{service.name} has no selector and none of its EndpointSlices lists {pod}."
        )
    if not objects.selector_matches_pod(service.selector, sts, ordinal):
        return "SelectorMissesPod", (
            f"the selector of {service.name} ({objects.format_labels(service.selector)}) does not "
            f"match the labels of {pod}, so it is not an endpoint."
        )
    return "NoEndpoint", (
        f"{pod} is not an endpoint of {service.name}: the pod does not exist yet, has no IP, or "
        "has finished (Succeeded/Failed)."
    )
