"""expected_answers: one test (or table row) per rule of dns-rules.md, Layer 2."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence

import builders
import hypothesis
import pytest
from builders import DOMAIN, WEB_PORT, answer, endpoint, eps, pod_endpoint, q
from hypothesis import strategies as st

from headless_auditor.core import corefile, expected, objects, records

NX = records.NXDOMAIN
NODATA = records.NODATA


def answers_of(snapshot: objects.Snapshot) -> dict[records.Question, records.Answer]:
    return expected.expected_answers(snapshot, builders.ZONE)


def test_statefulset_example_from_api_json() -> None:
    """The whole answer set for nginx/web, built from realistic API JSON (web-2 not ready)."""
    snapshot = objects.Snapshot(
        namespace="default",
        name="nginx",
        service=objects.service_from_api(builders.service_api()),
        slices=(objects.endpoint_slice_from_api(builders.slice_api()),),
        statefulsets=(objects.statefulset_from_api(builders.statefulset_api()),),
    )
    srv = {f"0 50 80 web-{i}.{DOMAIN}" for i in (0, 1)}
    assert answers_of(snapshot) == {
        q(""): answer("10.244.0.5", "10.244.0.6"),
        q("", "AAAA"): NODATA,
        q("", "SRV"): answer(*srv),
        q("_web._tcp", "SRV"): answer(*srv),
        q("web-0"): answer("10.244.0.5"),
        q("web-1"): answer("10.244.0.6"),
        q("web-2"): NX,
    }


# -- the Service name --------------------------------------------------------------------------

V6 = "fd00::5"


@pytest.mark.parametrize(
    ("endpoints", "a", "aaaa"),
    [
        pytest.param([], NX, NX, id="no-endpoints-nxdomain"),
        pytest.param([endpoint("10.0.0.1", ready=False)], NX, NX, id="none-ready-nxdomain"),
        pytest.param(
            [endpoint("10.0.0.1", ready=None)], answer("10.0.0.1"), NODATA, id="unset-is-ready"
        ),
        pytest.param(
            [endpoint("10.0.0.1"), endpoint("10.0.0.2", ready=False)],
            answer("10.0.0.1"),
            NODATA,
            id="unready-excluded",
        ),
        pytest.param(
            [endpoint("10.0.0.1", ready=True, serving=False, terminating=True)],
            answer("10.0.0.1"),
            NODATA,
            id="serving-terminating-ignored",
        ),
        pytest.param(
            [endpoint("10.0.0.1", pod="a"), endpoint("10.0.0.1", pod="b")],
            answer("10.0.0.1"),
            NODATA,
            id="distinct-ips",
        ),
        pytest.param([endpoint(V6)], NODATA, answer(V6), id="only-ipv6-nodata-for-a"),
        pytest.param(
            [endpoint("10.0.0.1", "fd00:0:0::7")],
            answer("10.0.0.1"),
            answer("fd00::7"),
            id="both-families-canonical",
        ),
    ],
)
def test_service_name(
    endpoints: Sequence[objects.Endpoint], a: records.Answer, aaaa: records.Answer
) -> None:
    answers = answers_of(builders.snapshot(slices=[eps(*endpoints)]))
    assert (answers[q("")], answers[q("", "AAAA")]) == (a, aaaa)


def test_every_slice_with_the_label_counts_whoever_made_it() -> None:
    slices = [
        eps(endpoint("10.0.0.1"), name="a"),
        eps(endpoint("10.0.0.2"), name="b", managed_by="someone-else"),
        eps(endpoint("10.0.0.3"), name="c", managed_by=None),
        eps(endpoint(V6), name="d", address_type="IPv6"),
    ]
    answers = answers_of(builders.snapshot(slices=slices))
    assert answers[q("")] == answer("10.0.0.1", "10.0.0.2", "10.0.0.3")
    assert answers[q("", "AAAA")] == answer(V6)


def test_no_slices_at_all_is_nxdomain() -> None:
    answers = answers_of(builders.snapshot())
    assert answers == {q(""): NX, q("", "AAAA"): NX, q("", "SRV"): NX, q("_web._tcp", "SRV"): NX}


# -- per-endpoint names ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("endpoints", "want"),
    [
        pytest.param(
            [pod_endpoint(0, "10.0.0.1")], {q("web-0"): answer("10.0.0.1")}, id="ready-hostname"
        ),
        pytest.param(
            [pod_endpoint(0, "10.0.0.1", ready=False)], {q("web-0"): NX}, id="unready-nxdomain"
        ),
        pytest.param(
            [endpoint("10.0.0.1", pod="p", hostname="")],
            {q("10-0-0-1"): answer("10.0.0.1")},
            id="dashed-name",
        ),
        pytest.param(
            [endpoint("10.0.0.1", pod="p", hostname="", ready=False)],
            {q("10-0-0-1"): NX},
            id="unready-dashed-name",
        ),
        pytest.param(
            [
                endpoint("10.0.0.1", pod="a", hostname="db"),
                endpoint("10.0.0.2", pod="b", hostname="db"),
            ],
            {q("db"): answer("10.0.0.1", "10.0.0.2")},
            id="shared-hostname-two-records",
        ),
        pytest.param(
            [
                endpoint("10.0.0.1", pod="a", hostname="db"),
                endpoint("10.0.0.2", pod="b", hostname="DB"),
            ],
            {q("db"): answer("10.0.0.1", "10.0.0.2")},
            id="case-insensitive-match",
        ),
        pytest.param(
            [
                endpoint("10.0.0.1", pod="a", hostname="db"),
                endpoint("10.0.0.2", pod="b", hostname="db", ready=False),
            ],
            {q("db"): answer("10.0.0.1")},
            id="shared-hostname-one-unready",
        ),
        pytest.param(
            [endpoint(V6, pod="a", hostname="v6")],
            {q("v6"): NODATA, q("v6", "AAAA"): answer(V6)},
            id="ipv6-only-name-asks-both",
        ),
        pytest.param(
            [endpoint(V6, pod="a", hostname="", ready=False)],
            {q("fd00--5"): NX, q("fd00--5", "AAAA"): NX},
            id="unready-ipv6-dashed",
        ),
        pytest.param(
            [endpoint("10.0.0.1", "fd00::1", pod="a", hostname="ds")],
            {q("ds"): answer("10.0.0.1"), q("ds", "AAAA"): answer("fd00::1")},
            id="dual-stack-endpoint",
        ),
        pytest.param(
            [endpoint("10.0.0.1", "10.0.0.2", pod="a", hostname="")],
            {q("10-0-0-1"): answer("10.0.0.1"), q("10-0-0-2"): answer("10.0.0.2")},
            id="each-address-its-dashed-name",
        ),
        pytest.param([endpoint("db.example.com", pod="a")], {}, id="fqdn-addresses-not-predicted"),
    ],
)
def test_endpoint_names(
    endpoints: Sequence[objects.Endpoint], want: dict[records.Question, records.Answer]
) -> None:
    answers = answers_of(builders.snapshot(slices=[eps(*endpoints)]))
    service_level = {q(""), q("", "AAAA"), q("", "SRV"), q("_web._tcp", "SRV")}
    assert {k: v for k, v in answers.items() if k not in service_level} == want


def test_dual_stack_pod_in_two_slices_has_one_name_with_both_families() -> None:
    slices = [
        eps(pod_endpoint(0, "10.0.0.1"), name="v4"),
        eps(pod_endpoint(0, "fd00::1"), name="v6", address_type="IPv6"),
    ]
    answers = answers_of(
        builders.snapshot(slices=slices, statefulsets=[builders.statefulset(replicas=1)])
    )
    assert answers[q("web-0")] == answer("10.0.0.1")
    assert answers[q("web-0", "AAAA")] == answer("fd00::1")
    assert answers[q("", "SRV")] == answer(f"0 50 80 web-0.{DOMAIN}")


def test_endpoint_pod_names_option_names_endpoints_after_pods() -> None:
    options = corefile.CorefileOptions(endpoint_pod_names=True)
    slices = [eps(endpoint("10.0.0.1", pod="api-7d9c-x2x7k", hostname=""))]
    answers = answers_of(builders.snapshot(slices=slices, options=options))
    assert answers[q("api-7d9c-x2x7k")] == answer("10.0.0.1")
    assert q("10-0-0-1") not in answers


# -- StatefulSet pod names ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("ready", "replicas", "want"),
    [
        pytest.param(
            (True, True), 2, {"web-0": ["10.244.0.5"], "web-1": ["10.244.0.6"]}, id="all-ready"
        ),
        pytest.param(
            (True, False), 2, {"web-0": ["10.244.0.5"], "web-1": None}, id="unready-nxdomain"
        ),
        pytest.param(
            (True,), 3, {"web-0": ["10.244.0.5"], "web-1": None, "web-2": None}, id="pods-missing"
        ),
    ],
)
def test_statefulset_pod_names(
    ready: tuple[bool, ...], replicas: int, want: dict[str, list[str] | None]
) -> None:
    snapshot = builders.web_snapshot(ready)
    snapshot = objects.Snapshot(
        "default",
        "nginx",
        snapshot.service,
        snapshot.slices,
        (builders.statefulset(replicas=replicas),),
    )
    answers = answers_of(snapshot)
    for pod, ips in want.items():
        assert answers[q(pod)] == (answer(*ips) if ips else NX), pod


def test_statefulset_ordinals_start() -> None:
    snapshot = builders.snapshot(statefulsets=[builders.statefulset(replicas=2, start=3)])
    assert {k.name for k in answers_of(snapshot) if k.name.startswith("web")} == {
        f"web-3.{DOMAIN}",
        f"web-4.{DOMAIN}",
    }


def test_missing_service_answers_nxdomain_everywhere() -> None:
    snapshot = builders.snapshot(
        slices=[eps(pod_endpoint(0, "10.0.0.1"))],
        statefulsets=[builders.statefulset(replicas=2)],
        missing_service=True,
    )
    answers = answers_of(snapshot)
    assert set(answers) >= {q(""), q("", "AAAA"), q("", "SRV"), q("web-0"), q("web-1")}
    assert set(answers.values()) == {NX}


@pytest.mark.parametrize(
    "options",
    [
        pytest.param(corefile.CorefileOptions(noendpoints=True), id="noendpoints"),
        pytest.param(
            corefile.CorefileOptions(namespaces=frozenset({"prod"})), id="namespace-hidden"
        ),
    ],
)
def test_corefile_hiding_endpoints_answers_nxdomain(options: corefile.CorefileOptions) -> None:
    snapshot = builders.web_snapshot(options=options)
    answers = answers_of(snapshot)
    assert q("web-0") in answers
    assert set(answers.values()) == {NX}


def test_non_headless_service_is_refused() -> None:
    snapshot = builders.snapshot(builders.service(cluster_ip="10.96.0.9"))
    with pytest.raises(ValueError, match="not headless"):
        answers_of(snapshot)


@pytest.mark.parametrize("zone", ["cluster.local", "cluster.local.", "Cluster.Local"])
def test_zone_spelling(zone: str) -> None:
    answers = expected.expected_answers(builders.web_snapshot(), zone)
    assert records.Question(DOMAIN, records.RecordType.A) in answers


# -- SRV ---------------------------------------------------------------------------------------

HTTP = objects.EndpointPort("http", 8080, "TCP")
METRICS = objects.EndpointPort("metrics", 9090, "TCP")
DNS_UDP = objects.EndpointPort("dns", 5353, "UDP")
UNNAMED = objects.EndpointPort("", 7000, "TCP")
NO_NUMBER = objects.EndpointPort("http", None, "TCP")


def srv(weight: int, port: int, *labels: str) -> set[str]:
    return {f"0 {weight} {port} {label}.{DOMAIN}" for label in labels}


@pytest.mark.parametrize(
    ("ports", "endpoints", "question", "want"),
    [
        pytest.param(
            [HTTP],
            [pod_endpoint(0, "10.0.0.1")],
            q("_http._tcp", "SRV"),
            srv(100, 8080, "web-0"),
            id="slice-port-is-target-port",
        ),
        pytest.param(
            [HTTP],
            [pod_endpoint(i, f"10.0.0.{i}") for i in range(3)],
            q("_http._tcp", "SRV"),
            srv(33, 8080, "web-0", "web-1", "web-2"),
            id="weight-floor-100-over-n",
        ),
        pytest.param(
            [HTTP],
            [pod_endpoint(0, "10.0.0.1"), pod_endpoint(1, "10.0.0.2", ready=False)],
            q("_http._tcp", "SRV"),
            srv(100, 8080, "web-0"),
            id="unready-not-counted",
        ),
        pytest.param(
            [HTTP, METRICS],
            [pod_endpoint(0, "10.0.0.1"), pod_endpoint(1, "10.0.0.2")],
            q("_metrics._tcp", "SRV"),
            srv(50, 9090, "web-0", "web-1"),
            id="only-that-port",
        ),
        pytest.param(
            [DNS_UDP],
            [pod_endpoint(0, "10.0.0.1")],
            q("_dns._udp", "SRV"),
            srv(100, 5353, "web-0"),
            id="udp",
        ),
        pytest.param(
            [HTTP, METRICS, UNNAMED],
            [pod_endpoint(0, "10.0.0.1"), pod_endpoint(1, "10.0.0.2")],
            q("", "SRV"),
            srv(16, 8080, "web-0", "web-1")
            | srv(16, 9090, "web-0", "web-1")
            | srv(16, 7000, "web-0", "web-1"),
            id="bare-every-pair-unnamed-included",
        ),
        pytest.param(
            [HTTP],
            [endpoint("10.0.0.1", pod="p", hostname="")],
            q("", "SRV"),
            srv(100, 8080, "10-0-0-1"),
            id="bare-dashed-target",
        ),
        pytest.param(
            [HTTP],
            [
                endpoint("10.0.0.1", pod="a", hostname="db"),
                endpoint("10.0.0.2", pod="b", hostname="db"),
            ],
            q("_http._tcp", "SRV"),
            srv(50, 8080, "db"),
            id="shared-target-collapses-weight-counts-both",
        ),
        pytest.param(
            [HTTP, NO_NUMBER],
            [pod_endpoint(0, "10.0.0.1")],
            q("_http._tcp", "SRV"),
            srv(50, 8080, "web-0"),
            id="unset-port-counted-not-answered",
        ),
    ],
)
def test_srv(
    ports: Sequence[objects.EndpointPort],
    endpoints: Sequence[objects.Endpoint],
    question: records.Question,
    want: set[str],
) -> None:
    answers = answers_of(builders.snapshot(slices=[eps(*endpoints, ports=ports)]))
    assert answers[question] == answer(*want)


@pytest.mark.parametrize(
    ("ports", "endpoints", "question", "want"),
    [
        pytest.param(
            [], [pod_endpoint(0, "10.0.0.1")], q("", "SRV"), NODATA, id="bare-no-ports-nodata"
        ),
        pytest.param(
            [objects.EndpointPort("", None, "TCP")],
            [pod_endpoint(0, "10.0.0.1")],
            q("", "SRV"),
            NODATA,
            id="bare-port-unset-nodata",
        ),
        pytest.param(
            [HTTP], [pod_endpoint(0, "10.0.0.1", ready=False)], q("", "SRV"), NX, id="bare-no-ready"
        ),
        pytest.param(
            [], [pod_endpoint(0, "10.0.0.1")], q("_web._tcp", "SRV"), NX, id="named-no-slice-port"
        ),
        pytest.param(
            [NO_NUMBER],
            [pod_endpoint(0, "10.0.0.1")],
            q("_http._tcp", "SRV"),
            NODATA,
            id="named-port-unset",
        ),
        pytest.param(
            [HTTP],
            [pod_endpoint(0, "10.0.0.1", ready=False)],
            q("_http._tcp", "SRV"),
            NX,
            id="named-no-ready",
        ),
    ],
)
def test_srv_negative(
    ports: Sequence[objects.EndpointPort],
    endpoints: Sequence[objects.Endpoint],
    question: records.Question,
    want: records.Answer,
) -> None:
    answers = answers_of(builders.snapshot(slices=[eps(*endpoints, ports=ports)]))
    assert answers[question] == want


def test_srv_questions_cover_service_and_slice_named_ports_only() -> None:
    svc = builders.service(
        ports=[objects.ServicePort("web", 80, 8080), objects.ServicePort("DNS", 53, 5353, "UDP")]
    )
    foreign = eps(pod_endpoint(0, "10.0.0.1"), ports=[HTTP, UNNAMED], managed_by="me")
    answers = answers_of(builders.snapshot(svc, [foreign]))
    srv_names = {k.name for k in answers if k.rdtype is records.RecordType.SRV}
    assert srv_names == {
        DOMAIN,
        f"_web._tcp.{DOMAIN}",
        f"_dns._udp.{DOMAIN}",
        f"_http._tcp.{DOMAIN}",
    }
    assert answers[q("_web._tcp", "SRV")] == NX
    assert answers[q("_http._tcp", "SRV")] == answer(*srv(100, 8080, "web-0"))


def test_srv_protocol_must_match_too() -> None:
    svc = builders.service(ports=[objects.ServicePort("dns", 53, 5353, "TCP")])
    udp_only = eps(pod_endpoint(0, "10.0.0.1"), ports=[DNS_UDP], managed_by="me")
    answers = answers_of(builders.snapshot(svc, [udp_only]))
    assert answers[q("_dns._tcp", "SRV")] == NX
    assert answers[q("_dns._udp", "SRV")] == answer(*srv(100, 5353, "web-0"))


def test_srv_weight_matches_coredns_float_arithmetic() -> None:
    for n in range(1, 3000):
        coredns = max(1, math.floor(100.0 / float(100 * n) * 100))
        assert expected.srv_weight(n) == coredns, n


def test_question_count_is_small() -> None:
    """Service A/AAAA/SRV, one SRV per named port, one A per pod: a sweep stays cheap."""
    snapshot = builders.web_snapshot((True,) * 10)
    assert len(expected.questions_for(snapshot, builders.ZONE)) == 3 + 1 + 10
    assert list(expected.questions_for(snapshot, builders.ZONE)) == sorted(answers_of(snapshot))


def test_names_are_lower_case_fully_qualified() -> None:
    ep = endpoint("10.0.0.1", "FD00::A", pod="x", hostname="Mixed")
    for question, ans in answers_of(builders.snapshot(slices=[eps(ep)])).items():
        assert question.name == question.name.lower()
        assert question.name.endswith(".")
        assert all(r == r.lower() for r in ans.records)


# -- properties --------------------------------------------------------------------------------

_ADDRESSES = ["10.0.0.1", "10.0.0.2", "10.0.0.3", "fd00::1", "fd00::2"]
_endpoints = st.builds(
    lambda addrs, host, ready, pod: endpoint(*addrs, pod=pod, hostname=host, ready=ready),
    st.lists(st.sampled_from(_ADDRESSES), min_size=1, max_size=2, unique=True),
    st.sampled_from(["", "a", "b", "web-0", "web-1"]),
    st.sampled_from([True, False, None]),
    st.sampled_from([None, "web-0", "web-1", "p"]),
)
_ports = st.lists(
    st.sampled_from([HTTP, METRICS, DNS_UDP, UNNAMED, NO_NUMBER, WEB_PORT]), max_size=3, unique=True
)
_slices = st.lists(st.tuples(st.lists(_endpoints, max_size=4), _ports), max_size=3)


def _snapshot(
    slices: Sequence[tuple[Sequence[objects.Endpoint], Sequence[objects.EndpointPort]]],
) -> objects.Snapshot:
    built = [eps(*e, ports=p, name=f"s{i}") for i, (e, p) in enumerate(slices)]
    return builders.snapshot(slices=built, statefulsets=[builders.statefulset(replicas=2)])


@hypothesis.given(_slices, st.randoms(use_true_random=False))
def test_expected_answers_ignore_slice_and_endpoint_order(
    slices: list[tuple[list[objects.Endpoint], list[objects.EndpointPort]]], rnd: random.Random
) -> None:
    shuffled = [(rnd.sample(e, len(e)), p) for e, p in slices]
    rnd.shuffle(shuffled)
    assert answers_of(_snapshot(slices)) == answers_of(_snapshot(shuffled))


@hypothesis.given(_slices)
def test_expected_answers_are_well_formed(
    slices: list[tuple[list[objects.Endpoint], list[objects.EndpointPort]]],
) -> None:
    snapshot = _snapshot(slices)
    ready = {a for s in snapshot.slices for e in s.endpoints if e.is_ready for a in e.addresses}
    for question, ans in answers_of(snapshot).items():
        assert ans.outcome in (
            records.Outcome.ANSWER,
            records.Outcome.NODATA,
            records.Outcome.NXDOMAIN,
        )
        if question.rdtype is records.RecordType.A:
            assert ans.records <= {a for a in ready if "." in a}
        if question.rdtype is records.RecordType.AAAA:
            assert ans.records <= {a for a in ready if ":" in a}
        if question.rdtype is records.RecordType.SRV:
            assert all(r.startswith("0 ") and r.endswith("." + DOMAIN) for r in ans.records)
    service_a = answers_of(snapshot)[q("")]
    assert (service_a == NX) == (not ready)
