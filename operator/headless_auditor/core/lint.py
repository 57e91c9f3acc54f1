"""Misconfigurations of a headless Service and its StatefulSets, read from the API objects alone.

:func:`lint` backs the ``ConfigurationValid`` condition: each :class:`Finding` has a stable code
(:data:`rules.RULES`), a severity fixed per code, a subject (``Service/nginx``, ``StatefulSet/web``,
``EndpointSlice/nginx-abcde``) and a message that says what to change. Errors break the names
users almost certainly rely on; warnings are probably unintended; infos are worth knowing but
by design (a reasonable policy: errors and warnings make the condition False, infos do not).
Why a pod's own name does not resolve (``PodNamesResolvable``) is :mod:`podnames`.

Limits: ``SubdomainMismatch`` is certain for pods of a governing StatefulSet; for other pods it
is a guess from the name (``<set>-<ordinal>``, no hostname), since StatefulSets governed by other
Services are not in the snapshot. A non-headless Service named by a StatefulSet is a finding but
not a pod-name problem: CoreDNS (unlike the DNS specification) answers per-pod names of
ClusterIP Services too.
"""

from __future__ import annotations

import collections
import re
from collections.abc import Callable, Iterable, Iterator, Sequence

from headless_auditor.core import objects, rules
from headless_auditor.core.facts import Facts, describe, distinct
from headless_auditor.core.rules import Finding, finding

_STATEFUL_POD = re.compile(r"^(?P<set>[a-z0-9]([-a-z0-9]*[a-z0-9])?)-(0|[1-9][0-9]*)$")


# -- checks ------------------------------------------------------------------------------------


def lint(snapshot: objects.Snapshot) -> tuple[Finding, ...]:
    """Every misconfiguration in the snapshot, most severe first, in a stable order."""
    facts = Facts.of(snapshot)
    return rules.ordered(f for check in _CHECKS for f in check(facts))


def _governing(facts: Facts) -> Iterator[tuple[objects.Service, objects.StatefulSet]]:
    if facts.service is not None:
        for sts in facts.snapshot.statefulsets:
            yield facts.service, sts


def _service_not_found(facts: Facts) -> Iterator[Finding]:
    if facts.service is not None:
        return
    name, ns = facts.snapshot.name, facts.snapshot.namespace
    for sts in facts.snapshot.statefulsets:
        yield finding(
            "ServiceNotFound",
            f"StatefulSet/{sts.name}",
            f'StatefulSet/{sts.name} has spec.serviceName "{name}", but Service {ns}/{name} does '
            f"not exist: its pods have no DNS names ({facts.fqdn(sts.pod_name(sts.ordinal_start))}"
            f" answers NXDOMAIN). Create a headless Service named {name} (clusterIP: None) whose "
            "selector matches the pod template labels (spec.serviceName cannot be changed).",
        )


def _service_not_headless(facts: Facts) -> Iterator[Finding]:
    for service, sts in _governing(facts):
        if not service.headless:
            yield finding(
                "ServiceNotHeadless",
                f"Service/{service.name}",
                f"Service/{service.name} governs StatefulSet/{sts.name} but is not headless "
                f"(clusterIP {service.cluster_ip}): {facts.fqdn()} resolves to that virtual IP, "
                "not the pods, and the DNS specification gives per-pod names such as "
                f"{facts.fqdn(sts.pod_name(sts.ordinal_start))} to headless Services only "
                "(CoreDNS answers them anyway; other DNS servers need not). clusterIP cannot be "
                f"changed in place: delete and recreate {service.name} with clusterIP: None.",
            )


def _selectorless_governing(facts: Facts) -> Iterator[Finding]:
    for service, sts in _governing(facts):
        if service.selector is None:
            yield finding(
                "SelectorlessGoverningService",
                f"Service/{service.name}",
                f"Service/{service.name} has no selector, so no controller writes its "
                f"EndpointSlices: the pods of StatefulSet/{sts.name} get names only if whoever "
                "writes the slices sets each endpoint's hostname. Add a selector matching the "
                f"pod template labels ({objects.format_labels(sts.template_labels)}).",
            )


def _selector_misses_statefulset(facts: Facts) -> Iterator[Finding]:
    for service, sts in _governing(facts):
        ordinals = sts.ordinals or range(sts.ordinal_start, sts.ordinal_start + 1)
        selector = service.selector
        if selector is None or any(
            objects.selector_matches_pod(selector, sts, i) for i in ordinals
        ):
            continue
        yield finding(
            "SelectorMissesStatefulSet",
            f"StatefulSet/{sts.name}",
            f"Service/{service.name} selects {objects.format_labels(selector)}, which the pods of "
            f"StatefulSet/{sts.name} (labels {objects.format_labels(sts.template_labels)}) do not "
            f"carry: they are not endpoints of {service.name}, so "
            f"{facts.fqdn(sts.pod_name(sts.ordinal_start))} and its siblings do not resolve. "
            "Make the Service selector a subset of the pod template labels.",
        )


def _selector_matches_no_endpoints(facts: Facts) -> Iterator[Finding]:
    service = facts.service
    if service is None or service.selector is None or facts.endpoints:
        return
    statefulsets = facts.snapshot.statefulsets
    if statefulsets and all(sts.replicas == 0 for sts in statefulsets):
        return  # scaled to zero on purpose
    selector = objects.format_labels(service.selector)
    yield finding(
        "SelectorMatchesNoEndpoints",
        f"Service/{service.name}",
        f"Service/{service.name} selects {selector} but its EndpointSlices hold no endpoints: "
        f"no pod in namespace {service.namespace} with these labels has an IP, so "
        f"{facts.fqdn()} answers NXDOMAIN. Check the selector against the pods' labels "
        f"(kubectl get pods -n {service.namespace} -l {selector}).",
    )


def _tolerate_unready(facts: Facts) -> Iterator[Finding]:
    service = facts.service
    if service is None or not service.tolerate_unready_annotation:
        return
    annotation = f'{objects.TOLERATE_UNREADY_ANNOTATION}: "true"'
    if service.publish_not_ready_addresses:
        yield finding(
            "TolerateUnreadyAnnotationRedundant",
            f"Service/{service.name}",
            f"Service/{service.name} sets spec.publishNotReadyAddresses: true and the annotation "
            f"{annotation}; the annotation has had no effect since Kubernetes 1.24 and can be "
            "removed.",
        )
        return
    hidden = distinct(e for e in facts.endpoints if not e.is_ready)
    now = (
        f" Right now {len(hidden)} unready endpoint(s) are absent: {describe(hidden)}."
        if hidden
        else ""
    )
    yield finding(
        "TolerateUnreadyAnnotationIneffective",
        f"Service/{service.name}",
        f"Service/{service.name} has the annotation {annotation}, which has had no effect since "
        "Kubernetes 1.24 (the EndpointSlice controller and CoreDNS never read it): unready pods "
        f"are not published in DNS.{now} Set spec.publishNotReadyAddresses: true instead, and "
        "remove the annotation.",
    )


def _ports(facts: Facts) -> Iterator[Finding]:
    service = facts.service
    if service is None:
        return
    if not service.ports:
        yield finding(
            "NoPorts",
            f"Service/{service.name}",
            f"Service/{service.name} has no ports, so it has no SRV records ({facts.fqdn()} SRV "
            "answers NODATA) and clients cannot discover ports through DNS; A/AAAA records are "
            "unaffected. Add named spec.ports if clients use SRV.",
        )
    elif not any(p.name for p in service.ports):
        yield finding(
            "NoNamedPorts",
            f"Service/{service.name}",
            f"Service/{service.name} has no named port, so there is no _<port>._<proto>."
            f"{facts.fqdn()} SRV name (only the bare SRV of {facts.fqdn()}). Name the ports "
            "(spec.ports[].name, e.g. http) if clients look them up by name.",
        )


def _foreign_slices(facts: Facts) -> Iterator[Finding]:
    service = facts.service
    if service is None or service.selector is None:
        return  # a selector-less Service's slices are always someone else's
    for eps in facts.snapshot.slices:
        if eps.managed_by == objects.ENDPOINTSLICE_CONTROLLER:
            continue
        owner = f'"{eps.managed_by}"' if eps.managed_by else "no one (no managed-by label)"
        yield finding(
            "ForeignEndpointSlice",
            f"EndpointSlice/{eps.name}",
            f"EndpointSlice/{eps.name} is labelled {objects.SERVICE_NAME_LABEL}={service.name} but "
            f"managed by {owner}, not the EndpointSlice controller: CoreDNS serves its "
            f"{len(eps.endpoints)} endpoint(s) as part of {facts.fqdn()} next to the selected "
            "pods. Delete the slice or remove the label if that is not intended.",
        )


def _duplicate_hostnames(facts: Facts) -> Iterator[Finding]:
    by_hostname: dict[str, list[objects.Endpoint]] = collections.defaultdict(list)
    for endpoint in facts.endpoints:
        if endpoint.hostname:
            by_hostname[endpoint.hostname.lower()].append(endpoint)
    for hostname, endpoints in sorted(by_hostname.items()):
        sharing = distinct(endpoints)
        if len(sharing) > 1:
            yield finding(
                "DuplicateHostname",
                f"Service/{facts.snapshot.name}",
                f'hostname "{hostname}" is shared by {len(sharing)} endpoints '
                f"({describe(sharing)}): {facts.fqdn(hostname)} answers all their addresses and "
                "their SRV records collapse into one. Give each pod its own spec.hostname.",
            )


def _subdomain_mismatch(facts: Facts) -> Iterator[Finding]:
    if facts.snapshot.corefile_options.endpoint_pod_names:
        return  # pods without hostname still resolve by their pod name
    governed = {sts.name: sts for sts in facts.snapshot.statefulsets}
    groups: dict[str, list[objects.Endpoint]] = collections.defaultdict(list)
    for endpoint in facts.endpoints:
        match = _STATEFUL_POD.match(endpoint.pod_name or "")
        if match and not endpoint.hostname:
            groups[match["set"]].append(endpoint)
    for prefix, endpoints in sorted(groups.items()):
        if prefix in governed:
            yield _governed_mismatch(facts, governed[prefix], distinct(endpoints))
        else:
            yield _foreign_mismatch(facts, prefix, distinct(endpoints))


def _governed_mismatch(
    facts: Facts, sts: objects.StatefulSet, endpoints: Sequence[objects.Endpoint]
) -> Finding:
    name = facts.snapshot.name
    return finding(
        "SubdomainMismatch",
        f"StatefulSet/{sts.name}",
        f"StatefulSet/{sts.name} has pods without a hostname among the endpoints of {name} "
        f'({describe(endpoints)}): their spec.subdomain is not "{name}" (it is fixed when a pod '
        "is created), so they resolve only by dashed IP, not as "
        f"{facts.fqdn(sts.pod_name(sts.ordinal_start))}. Delete those pods so that the "
        "StatefulSet recreates them with the right subdomain.",
    )


def _foreign_mismatch(facts: Facts, prefix: str, endpoints: Sequence[objects.Endpoint]) -> Finding:
    name = facts.snapshot.name
    return finding(
        "SubdomainMismatch",
        f"Service/{name}",
        f"{name} has endpoints without a hostname whose pods look like pods of a StatefulSet "
        f"{prefix} ({describe(endpoints)}): if {prefix} is a StatefulSet, its spec.serviceName "
        f'is not "{name}", so its pods have no names such as {facts.fqdn(prefix + "-0")}. Give it '
        f"serviceName {name} (recreate it) or look its pods up under the Service it names.",
    )


def _publish_not_ready(facts: Facts) -> Iterator[Finding]:
    service = facts.service
    if service is None or not service.publish_not_ready_addresses:
        return
    unready = distinct(e for e in facts.endpoints if e.serving is False or e.terminating)
    if unready:
        yield finding(
            "PublishNotReadyServesUnready",
            f"Service/{service.name}",
            f"Service/{service.name} has publishNotReadyAddresses: true, so {len(unready)} "
            f"endpoint(s) that are not ready or are terminating are in DNS ({describe(unready)}): "
            "clients can reach pods that do not serve. That is by design (peer discovery); set it "
            "to false if clients should only see ready pods.",
        )


_CHECKS: tuple[Callable[[Facts], Iterable[Finding]], ...] = (
    _service_not_found,
    _service_not_headless,
    _selectorless_governing,
    _selector_misses_statefulset,
    _selector_matches_no_endpoints,
    _tolerate_unready,
    _ports,
    _foreign_slices,
    _duplicate_hostnames,
    _subdomain_mismatch,
    _publish_not_ready,
)
