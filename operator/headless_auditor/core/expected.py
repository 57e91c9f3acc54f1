"""Exactly what CoreDNS (v1.11-v1.14, kubernetes plugin) must answer for one headless Service.

This is dns-rules.md, Layer 2, as a pure function of a :class:`~objects.Snapshot`. The questions
are the ones worth asking -- each rule is exercised once, and the number stays proportional to
the endpoints, so a sweep of thousands of Services stays cheap:

- ``S.ns.svc.Z`` A and AAAA: the distinct addresses of READY(S) of that family; NXDOMAIN when
  READY(S) is empty, NODATA when it holds only the other family. READY(S) is every address of
  every endpoint of every slice labelled with the Service's name whose ``ready`` is true or
  unset, whoever wrote the slice.
- ``<label>.S.ns.svc.Z`` A (and AAAA when the label has IPv6 addresses), for the name of every
  endpoint, ready or not, and of every pod of every StatefulSet the Service governs: the ready
  addresses with that name; NXDOMAIN when there are none.
- ``_<port>._<proto>.S.ns.svc.Z`` SRV for every named port of the Service and of its slices, and
  the bare ``S.ns.svc.Z`` SRV, every (ready address, port) pair: ``0 <weight> <slice port>
  <name(e)>.S.ns.svc.Z.`` with weight ``max(1, floor(100/pairs))``.

An endpoint's name is its hostname, else its ``targetRef`` name with ``endpoint_pod_names``, else
its dashed IP (:func:`names.endpoint_label`, which says how CoreDNS builds it). Read from CoreDNS's
``plugin/backend_lookup.go``, where it is more precise than dns-rules.md: SRV weights count every
(address, port) pair before duplicates are dropped, including the port-less placeholder of a
slice without ports; records repeating a (target, port) collapse, so a dual-stack pod with one
port gives one record of weight 50.

When the Service does not exist, or the Corefile hides its namespace (``namespaces``) or all
endpoints (``noendpoints``), the same questions are expected to answer NXDOMAIN.

Not predicted here: PTR records (reverse zones are out of scope for now), addresses that are not
IPs (``addressType: FQDN`` slices, which CoreDNS would answer with CNAMEs), the ``labels`` and
``namespace_labels`` plugin filters, and Services that are not headless.
"""

from __future__ import annotations

import collections
import dataclasses
import ipaddress
from collections.abc import Iterable, Sequence

from headless_auditor.core import names, objects, records

_NO_PORT = objects.EndpointPort(name="", port=None, protocol="")
"""CoreDNS's placeholder for a slice without ports: counted in SRV weights, never answered."""

IP = ipaddress.IPv4Address | ipaddress.IPv6Address
_AnswerMap = dict[records.Question, records.Answer]


@dataclasses.dataclass(frozen=True)
class _Address:
    """One address of one endpoint, as CoreDNS indexes it."""

    ip: IP
    label: str
    """``name(e)`` for this address, lower-case."""
    ready: bool
    ports: tuple[objects.EndpointPort, ...]
    """The ports of the address's slice (the placeholder when it has none)."""


def srv_weight(pairs: int) -> int:
    """The weight of each SRV record when ``pairs`` (address, port) pairs answer, as CoreDNS does.

    CoreDNS computes ``floor(100.0 / (100 * pairs) * 100)`` in floating point, at least 1; that
    equals the integer ``100 // pairs`` for every count (a unit test checks it).
    """
    return max(1, 100 // pairs)


def expected_answers(
    snapshot: objects.Snapshot, zone: str
) -> dict[records.Question, records.Answer]:
    """Every question worth asking about the Service, with the answer CoreDNS must give.

    ``zone`` is the cluster zone (``cluster.local``). Raises ValueError for a Service that is
    not headless: its name resolves to a virtual IP, which these rules do not describe.
    """
    service = snapshot.service
    if service is not None and not service.headless:
        raise ValueError(f"Service {service.namespace}/{service.name} is not headless")
    domain = names.service_domain(snapshot.namespace, snapshot.name, zone)
    addresses = _addresses(snapshot)
    served = [a for a in addresses if a.ready] if _serves_endpoints(snapshot) else []
    answers = _service_answers(domain, served)
    answers.update(_name_answers(domain, _labels(snapshot, addresses), served))
    answers.update(_srv_answers(domain, _port_keys(snapshot), served))
    return answers


def questions_for(snapshot: objects.Snapshot, zone: str) -> tuple[records.Question, ...]:
    """The questions the prober asks for this Service, sorted."""
    return tuple(sorted(expected_answers(snapshot, zone)))


def _serves_endpoints(snapshot: objects.Snapshot) -> bool:
    """Whether CoreDNS answers from the endpoints at all (the Service exists and is visible)."""
    options = snapshot.corefile_options
    return (
        snapshot.service is not None
        and options.exposes(snapshot.namespace)
        and not options.noendpoints
    )


def _addresses(snapshot: objects.Snapshot) -> list[_Address]:
    pod_names = snapshot.corefile_options.endpoint_pod_names
    found: list[_Address] = []
    for eps in snapshot.slices:
        ports = eps.ports or (_NO_PORT,)
        for endpoint in eps.endpoints:
            for address in endpoint.addresses:
                ip = _parse_ip(address)
                if ip is not None:
                    label = names.endpoint_label(endpoint, address, endpoint_pod_names=pod_names)
                    found.append(_Address(ip, label, endpoint.is_ready, ports))
    return found


def _parse_ip(address: str) -> IP | None:
    try:
        return ipaddress.ip_address(address)
    except ValueError:
        return None


def _host_answer(matches: Sequence[_Address], version: int) -> records.Answer:
    """A or AAAA: the addresses of that family, NXDOMAIN when the name has no ready address."""
    if not matches:
        return records.NXDOMAIN
    return records.Answer.of({str(a.ip) for a in matches if a.ip.version == version})


def _host_questions(name: str, matches: Sequence[_Address], *, ask_aaaa: bool) -> _AnswerMap:
    answers = {records.Question(name, records.RecordType.A): _host_answer(matches, 4)}
    if ask_aaaa:
        answers[records.Question(name, records.RecordType.AAAA)] = _host_answer(matches, 6)
    return answers


def _service_answers(domain: str, served: Sequence[_Address]) -> _AnswerMap:
    answers = _host_questions(domain, served, ask_aaaa=True)
    answers[records.Question(domain, records.RecordType.SRV)] = _srv_answer(domain, served, None)
    return answers


def _labels(snapshot: objects.Snapshot, addresses: Iterable[_Address]) -> dict[str, bool]:
    """Every endpoint and StatefulSet pod label, mapped to whether it has an IPv6 address."""
    labels: dict[str, bool] = {}
    for sts in snapshot.statefulsets:
        for ordinal in sts.ordinals:
            labels[sts.pod_name(ordinal).lower()] = False
    for a in addresses:
        labels[a.label] = labels.get(a.label, False) or a.ip.version == 6
    return labels


def _name_answers(domain: str, labels: dict[str, bool], served: Iterable[_Address]) -> _AnswerMap:
    by_label: dict[str, list[_Address]] = collections.defaultdict(list)
    for a in served:
        by_label[a.label].append(a)
    answers: _AnswerMap = {}
    for label, has_ipv6 in labels.items():
        name = f"{label}.{domain}"
        answers.update(_host_questions(name, by_label.get(label, []), ask_aaaa=has_ipv6))
    return answers


def _port_keys(snapshot: objects.Snapshot) -> set[tuple[str, str]]:
    """``(name, protocol)`` of every named port of the Service and its slices, lower-case."""
    ports: list[objects.ServicePort | objects.EndpointPort] = [
        *(snapshot.service.ports if snapshot.service else ()),
        *(p for eps in snapshot.slices for p in eps.ports),
    ]
    return {(p.name.lower(), p.protocol.lower()) for p in ports if p.name}


def _srv_answers(
    domain: str, keys: Iterable[tuple[str, str]], served: Sequence[_Address]
) -> _AnswerMap:
    return {
        records.Question(f"_{name}._{proto}.{domain}", records.RecordType.SRV): _srv_answer(
            domain, served, (name, proto)
        )
        for name, proto in keys
    }


def _srv_answer(
    domain: str, served: Sequence[_Address], port: tuple[str, str] | None
) -> records.Answer:
    """SRV for one named ``(port, protocol)``, or for every port when ``port`` is None.

    Each (ready address, matching slice port) pair gives ``0 <weight> <slice port> <name(e)>.S.``
    with weight :func:`srv_weight` of the number of pairs. No pair: NXDOMAIN; pairs but no port
    number (slices without ports): NODATA.
    """
    pairs = [(a, p) for a in served for p in a.ports if port is None or _key(p) == port]
    if not pairs:
        return records.NXDOMAIN
    weight = srv_weight(len(pairs))
    return records.Answer.of(
        {f"0 {weight} {p.port} {a.label}.{domain}" for a, p in pairs if p.port is not None}
    )


def _key(port: objects.EndpointPort) -> tuple[str, str]:
    return (port.name.lower(), port.protocol.lower())
