"""Issue acceptance: ``headless-auditor check`` agrees with real CoreDNS, rule by rule.

Each test builds one situation from dns-rules.md in its own namespace, waits until the API
objects have settled (the slices say what the rule is about), then runs the one-shot command as a
user would (``check -n NS -o json``, a subprocess) until it no longer reports ``Converging``, and
asserts the JSON: the DNS state, the record counts, the finding and pod-name problem codes and
the exit code. "Consistent" with zero missing and unexpected records on both CoreDNS replicas is
the proof that the engine's expectation is what real CoreDNS serves; where a rule is about one
name, the test also asks CoreDNS directly.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator

import dns.flags
import dns.message
import dns.query
import pytest

from tests import poll
from tests.e2e import checkcli, dnsquery, workloads
from tests.e2e import cluster as cl

TOLERATE = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
HOLD = "e2e.headless-auditor.test/hold"
DNS_TIMEOUT = 30.0
NXDOMAIN = dnsquery.Reply("NXDOMAIN", frozenset())
NODATA = dnsquery.Reply("NOERROR", frozenset())

# -- helpers -----------------------------------------------------------------------------------


def fqdn(cluster: cl.Cluster, *labels: str) -> str:
    return ".".join((*labels, "svc", cluster.domain)) + "."


def answer(*records: str) -> dnsquery.Reply:
    return dnsquery.Reply("NOERROR", frozenset(records))


def _answers(server: str, name: str, rdtype: str, expected: dnsquery.Reply) -> bool:
    return dnsquery.ask(server, name, rdtype) == expected


def wait_answer(
    cluster: cl.Cluster, name: str, expected: dnsquery.Reply, rdtype: str = "A"
) -> None:
    """Every shared CoreDNS replica gives ``expected`` for name/rdtype before the deadline."""
    for server in cluster.dns_servers:
        poll.until(
            functools.partial(_answers, server, name, rdtype, expected),
            timeout=DNS_TIMEOUT,
            what=f"{server} {rdtype} {name} == {expected}",
        )


def dashed(ip: str) -> str:
    return ip.replace(".", "-")


def start_web(cluster: cl.Cluster, namespace: str, *, replicas: int = 2, **kwargs) -> list[str]:
    """nginx + web (the tutorial example); returns the pod IPs in ordinal order."""
    cluster.apply(workloads.nginx_web(replicas=replicas, **kwargs), namespace)
    cl.wait_ready_endpoints(cluster, namespace, "nginx", replicas, timeout=30 + replicas * 2)
    pods = [f"web-{i}" for i in range(replicas)]
    ips = cl.pod_ips(cluster, namespace, pods)
    return [ips[p] for p in pods]


def endpoint_of(cluster: cl.Cluster, namespace: str, service: str, pod: str) -> dict | None:
    for endpoint in cl.slice_endpoints(cluster, namespace, service):
        if (endpoint.get("targetRef") or {}).get("name") == pod:
            return endpoint
    return None


def wait_conditions(cluster: cl.Cluster, namespace: str, pod: str, **conditions: bool) -> None:
    """Wait until the pod's endpoint in nginx's slices has exactly these condition values."""

    def check() -> bool:
        endpoint = endpoint_of(cluster, namespace, "nginx", pod)
        got = (endpoint or {}).get("conditions", {})
        return endpoint is not None and all(got.get(k) is v for k, v in conditions.items())

    poll.until(check, timeout=30, what=f"{pod} endpoint conditions {conditions}")


def wait_pods_ready(cluster: cl.Cluster, namespace: str, pods: list[str]) -> None:
    poll.until(
        lambda: all(cl.pod_ready(cluster, namespace, p) for p in pods),
        timeout=30,
        what=f"pods {pods} ready",
    )


def assert_exit(result: checkcli.CheckResult, code: int) -> None:
    assert result.exit_code == code, str(result)
    assert result.document is not None
    assert result.document["exitCode"] == code


def check(cluster: cl.Cluster, namespace: str, **kwargs) -> checkcli.CheckResult:
    return checkcli.settled(cluster, namespace, **kwargs)


consistent = checkcli.assert_consistent
codes = checkcli.codes
problems = checkcli.pod_problems


# -- 1. ready pods -----------------------------------------------------------------------------


def test_ready_pods_are_consistent(cluster: cl.Cluster, namespace: str) -> None:
    start_web(cluster, namespace)

    result = check(cluster, namespace)

    row = result.service("nginx")
    assert (row["exists"], row["headless"], row["valid"]) == (True, True, True)
    # nginx A (2) + web-0/web-1 A (2) + _web._tcp SRV (2) + bare SRV (2)
    consistent(row, 8, cluster.dns_servers)
    assert codes(row) == []
    assert problems(row) == {}
    assert [r["name"] for r in result.services] == ["nginx"]
    assert_exit(result, 0)


# -- 2. unready pods ---------------------------------------------------------------------------


def test_unready_pod_without_publish_not_ready(cluster: cl.Cluster, namespace: str) -> None:
    ips = start_web(cluster, namespace)
    cl.set_pod_ready(cluster, namespace, "web-1", ready=False)
    wait_conditions(cluster, namespace, "web-1", ready=False, serving=False)

    result = check(cluster, namespace)

    row = result.service("nginx")
    # DNS rightly dropped web-1: nginx A (1) + web-0 A (1) + web-1 NXDOMAIN + SRVs (1 + 1)
    consistent(row, 4, cluster.dns_servers)
    assert codes(row) == []
    assert problems(row) == {"web-1": "NotReady"}
    assert_exit(result, 0)
    wait_answer(cluster, fqdn(cluster, "web-1", "nginx", namespace), NXDOMAIN)
    wait_answer(cluster, fqdn(cluster, "nginx", namespace), answer(ips[0]))


def test_unready_pod_with_publish_not_ready(cluster: cl.Cluster, namespace: str) -> None:
    ips = start_web(cluster, namespace, publish_not_ready=True)
    cl.set_pod_ready(cluster, namespace, "web-1", ready=False)
    wait_conditions(cluster, namespace, "web-1", ready=True, serving=False)

    result = check(cluster, namespace)

    row = result.service("nginx")
    consistent(row, 8, cluster.dns_servers)
    assert codes(row) == ["PublishNotReadyServesUnready"]
    assert row["findings"][0]["severity"] == "info"
    assert problems(row) == {}
    assert_exit(result, 0)
    wait_answer(cluster, fqdn(cluster, "web-1", "nginx", namespace), answer(ips[1]))


# -- 3. terminating pods -----------------------------------------------------------------------


@pytest.fixture
def hold_pods(cluster: cl.Cluster, namespace: str) -> Iterator[list[str]]:
    """Pods to keep terminating with a finalizer; the finalizer is removed at the end."""
    held: list[str] = []
    yield held
    patch = json.dumps({"metadata": {"finalizers": None}})
    for pod in held:
        cluster.kubectl(
            "patch", "pod", pod, "-n", namespace, "--type=merge", "-p", patch, check=False
        )


@pytest.mark.parametrize("publish", [False, True], ids=["plain", "publish-not-ready"])
def test_terminating_pod(
    cluster: cl.Cluster, namespace: str, hold_pods: list[str], publish: bool
) -> None:
    ips = start_web(cluster, namespace, publish_not_ready=publish)
    patch = json.dumps({"metadata": {"finalizers": [HOLD]}})
    cluster.kubectl("patch", "pod", "web-1", "-n", namespace, "--type=merge", "-p", patch)
    hold_pods.append("web-1")
    cluster.kubectl("delete", "pod", "web-1", "-n", namespace, "--wait=false")
    # Terminating but still Ready: serving stays true, ready = publishNotReadyAddresses.
    wait_conditions(cluster, namespace, "web-1", terminating=True, serving=True, ready=publish)
    assert cluster.get("pod", "web-1", namespace)["metadata"].get("deletionTimestamp")

    result = check(cluster, namespace)

    row = result.service("nginx")
    web_1 = fqdn(cluster, "web-1", "nginx", namespace)
    if publish:
        consistent(row, 8, cluster.dns_servers)
        assert codes(row) == ["PublishNotReadyServesUnready"]
        assert problems(row) == {}
        wait_answer(cluster, web_1, answer(ips[1]))
    else:
        consistent(row, 4, cluster.dns_servers)
        assert codes(row) == []
        assert problems(row) == {"web-1": "Terminating"}
        wait_answer(cluster, web_1, NXDOMAIN)
    assert_exit(result, 0)


# -- 4. the deprecated annotation --------------------------------------------------------------


def test_tolerate_unready_annotation_alone(cluster: cl.Cluster, namespace: str) -> None:
    ips = start_web(cluster, namespace, annotations={TOLERATE: "true"})
    cl.set_pod_ready(cluster, namespace, "web-1", ready=False)
    wait_conditions(cluster, namespace, "web-1", ready=False)

    result = check(cluster, namespace)

    row = result.service("nginx")
    consistent(row, 4, cluster.dns_servers)
    assert codes(row) == ["TolerateUnreadyAnnotationIneffective"]
    assert row["findings"][0]["severity"] == "warning"
    assert "web-1" in row["findings"][0]["message"]
    assert problems(row) == {"web-1": "NotReady"}
    assert row["valid"] is False
    assert_exit(result, 1)
    # The proof: the annotation did not keep the unready pod in DNS.
    wait_answer(cluster, fqdn(cluster, "web-1", "nginx", namespace), NXDOMAIN)
    wait_answer(cluster, fqdn(cluster, "nginx", namespace), answer(ips[0]))


# -- 5. StatefulSet per-pod names --------------------------------------------------------------


def test_statefulset_pod_names(cluster: cl.Cluster, namespace: str) -> None:
    ips = start_web(cluster, namespace, replicas=3)
    service = fqdn(cluster, "nginx", namespace)

    result = check(cluster, namespace)

    row = result.service("nginx")
    consistent(row, 12, cluster.dns_servers)
    assert (codes(row), problems(row)) == ([], {})
    assert_exit(result, 0)
    want = checkcli.expected_records(cluster, namespace, "nginx")
    srv = {f"0 33 80 web-{i}.{service}" for i in range(3)}
    assert want[(f"_web._tcp.{service}", "SRV")] == srv
    for i, ip in enumerate(ips):
        name = fqdn(cluster, f"web-{i}", "nginx", namespace)
        assert want[(name, "A")] == {ip}
        for server in cluster.dns_servers:
            assert dnsquery.ask(server, name) == answer(ip)
    for server in cluster.dns_servers:
        assert dnsquery.ask(server, f"_web._tcp.{service}", "SRV") == answer(*srv)


# -- 6. serviceName naming a Service that is not headless, or none -----------------------------


def test_service_name_names_clusterip_service(cluster: cl.Cluster, namespace: str) -> None:
    cluster.apply(
        workloads.manifest(
            workloads.headless_service(selector={"app": "nginx"}, cluster_ip=""),
            workloads.statefulset(),
        ),
        namespace,
    )
    cl.wait_ready_endpoints(cluster, namespace, "nginx", 2)
    ips = cl.pod_ips(cluster, namespace, ["web-0"])

    result = checkcli.run(cluster, namespace)

    row = result.service("nginx")
    assert (row["exists"], row["headless"], row["dns"]) == (True, False, None)
    assert codes(row) == ["ServiceNotHeadless"]
    assert problems(row) == {}
    assert_exit(result, 1)
    # As the lint says: CoreDNS answers per-pod names of a ClusterIP Service too.
    wait_answer(cluster, fqdn(cluster, "web-0", "nginx", namespace), answer(ips["web-0"]))


def test_service_name_names_missing_service(cluster: cl.Cluster, namespace: str) -> None:
    cluster.apply(workloads.manifest(workloads.statefulset()), namespace)
    wait_pods_ready(cluster, namespace, ["web-0", "web-1"])

    result = checkcli.run(cluster, namespace)

    row = result.service("nginx")
    assert (row["exists"], row["headless"], row["dns"]) == (False, False, None)
    assert codes(row) == ["ServiceNotFound"]
    assert row["findings"][0]["subject"] == "StatefulSet/web"
    assert problems(row) == {"web-0": "ServiceNotFound", "web-1": "ServiceNotFound"}
    assert_exit(result, 1)
    wait_answer(cluster, fqdn(cluster, "web-0", "nginx", namespace), NXDOMAIN)


# -- 7. subdomain mismatch ---------------------------------------------------------------------


def test_subdomain_mismatch(cluster: cl.Cluster, namespace: str) -> None:
    """StatefulSet web names Service ``other``; its pods are selected by headless ``nginx``."""
    cluster.apply(
        workloads.manifest(
            workloads.headless_service(selector={"app": "nginx"}),
            workloads.statefulset(service_name="other"),
        ),
        namespace,
    )
    endpoints = cl.wait_ready_endpoints(cluster, namespace, "nginx", 2)
    assert [e.get("hostname") for e in endpoints] == [None, None]
    ips = list(cl.pod_ips(cluster, namespace, ["web-0", "web-1"]).values())

    result = check(cluster, namespace)

    row = result.service("nginx")
    # nginx A (2) + the dashed-IP names (2) + SRVs (2 + 2): no per-pod names are expected
    consistent(row, 8, cluster.dns_servers)
    assert codes(row) == ["SubdomainMismatch"]
    assert row["findings"][0]["subject"] == "Service/nginx"
    assert problems(row) == {}
    other = result.service("other")
    assert (other["exists"], other["dns"]) == (False, None)
    assert codes(other) == ["ServiceNotFound"]
    assert problems(other) == {"web-0": "ServiceNotFound", "web-1": "ServiceNotFound"}
    assert_exit(result, 1)
    service = fqdn(cluster, "nginx", namespace)
    want = checkcli.expected_records(cluster, namespace, "nginx")
    for ip in ips:
        assert want[(f"{dashed(ip)}.{service}", "A")] == {ip}
        wait_answer(cluster, f"{dashed(ip)}.{service}", answer(ip))
    wait_answer(cluster, fqdn(cluster, "web-0", "nginx", namespace), NXDOMAIN)


# -- 8. ports ----------------------------------------------------------------------------------


def test_unnamed_port_and_no_ports(cluster: cl.Cluster, namespace: str) -> None:
    """nginx has one unnamed port (web's pods); ``bare`` has no ports at all (db's pods)."""
    cluster.apply(
        workloads.manifest(
            workloads.headless_service(
                selector={"app": "nginx"}, ports=[{"port": 80, "protocol": "TCP"}]
            ),
            workloads.statefulset(),
            workloads.headless_service("bare", selector={"app": "db"}, ports=[]),
            workloads.statefulset("db", service_name="bare", labels={"app": "db"}),
        ),
        namespace,
    )
    cl.wait_ready_endpoints(cluster, namespace, "nginx", 2)
    cl.wait_ready_endpoints(cluster, namespace, "bare", 2)

    result = check(cluster, namespace)

    nginx = result.service("nginx")
    # nginx A (2) + web-0/web-1 A (2) + bare SRV (2): no _port._proto name exists
    consistent(nginx, 6, cluster.dns_servers)
    assert codes(nginx) == ["NoNamedPorts"]
    assert nginx["findings"][0]["severity"] == "info"
    bare = result.service("bare")
    # bare A (2) + db-0/db-1 A (2); the SRV answers NODATA (endpoints without ports)
    consistent(bare, 4, cluster.dns_servers)
    assert codes(bare) == ["NoPorts"]
    assert bare["findings"][0]["severity"] == "warning"
    assert (problems(nginx), problems(bare)) == ({}, {})
    assert_exit(result, 1)
    web = fqdn(cluster, "nginx", namespace)
    wait_answer(cluster, web, answer(*(f"0 50 80 web-{i}.{web}" for i in range(2))), "SRV")
    wait_answer(cluster, fqdn(cluster, "bare", namespace), NODATA, "SRV")


# -- 9. selector-less Service with a hand-made slice -------------------------------------------


def test_selectorless_service_with_handmade_slice(cluster: cl.Cluster, namespace: str) -> None:
    cluster.apply(
        workloads.manifest(
            workloads.headless_service("ext", ports=[{"name": "db", "port": 5432}]),
            workloads.endpoint_slice(
                "ext-1",
                service="ext",
                endpoints=[
                    workloads.endpoint("10.200.0.5", hostname="primary"),
                    workloads.endpoint("10.200.0.6"),
                    workloads.endpoint("10.200.0.7", ready=False),
                    workloads.endpoint("10.200.0.8", ready=None),  # unset counts as ready
                ],
                ports=[{"name": "db", "port": 5432, "protocol": "TCP"}],
            ),
        ),
        namespace,
    )

    result = check(cluster, namespace)

    row = result.service("ext")
    # ext A (3) + primary, 10-200-0-6, 10-200-0-8 A (3; 10-200-0-7 NXDOMAIN) + SRVs (3 + 3)
    consistent(row, 12, cluster.dns_servers)
    assert (codes(row), problems(row)) == ([], {})
    assert_exit(result, 0)
    ext = fqdn(cluster, "ext", namespace)
    wait_answer(cluster, ext, answer("10.200.0.5", "10.200.0.6", "10.200.0.8"))
    wait_answer(cluster, f"primary.{ext}", answer("10.200.0.5"))
    wait_answer(cluster, f"10-200-0-6.{ext}", answer("10.200.0.6"))
    wait_answer(cluster, f"10-200-0-7.{ext}", NXDOMAIN)
    srv = answer(*(f"0 33 5432 {label}.{ext}" for label in ("primary", "10-200-0-6", "10-200-0-8")))
    wait_answer(cluster, f"_db._tcp.{ext}", srv, "SRV")


# -- 10. a foreign slice on a selector Service -------------------------------------------------


def test_foreign_slice_on_selector_service(cluster: cl.Cluster, namespace: str) -> None:
    ips = start_web(cluster, namespace)
    cluster.apply(
        workloads.manifest(
            workloads.endpoint_slice(
                "nginx-extra",
                service="nginx",
                endpoints=[workloads.endpoint("10.200.0.9")],
                ports=[{"name": "web", "port": 8080, "protocol": "TCP"}],
            )
        ),
        namespace,
    )
    cl.wait_ready_endpoints(cluster, namespace, "nginx", 3)

    result = check(cluster, namespace)

    row = result.service("nginx")
    # nginx A (3) + web-0, web-1, 10-200-0-9 A (3) + SRVs (3 + 3)
    consistent(row, 12, cluster.dns_servers)
    assert codes(row) == ["ForeignEndpointSlice"]
    assert row["findings"][0]["subject"] == "EndpointSlice/nginx-extra"
    assert problems(row) == {}
    assert_exit(result, 1)
    service = fqdn(cluster, "nginx", namespace)
    wait_answer(cluster, service, answer(*ips, "10.200.0.9"))
    srv = answer(
        *(f"0 33 80 web-{i}.{service}" for i in range(2)), f"0 33 8080 10-200-0-9.{service}"
    )
    wait_answer(cluster, f"_web._tcp.{service}", srv, "SRV")


# -- 11. duplicate hostnames -------------------------------------------------------------------


def test_duplicate_hostname(cluster: cl.Cluster, namespace: str) -> None:
    cluster.apply(
        workloads.manifest(
            workloads.headless_service("shared", ports=[{"name": "db", "port": 5432}]),
            workloads.endpoint_slice(
                "shared-1",
                service="shared",
                endpoints=[
                    workloads.endpoint("10.200.0.11", hostname="db"),
                    workloads.endpoint("10.200.0.12", hostname="db"),
                ],
                ports=[{"name": "db", "port": 5432, "protocol": "TCP"}],
            ),
        ),
        namespace,
    )

    result = check(cluster, namespace)

    row = result.service("shared")
    # shared A (2) + db A (2) + SRVs: both pairs give the same record, one each (1 + 1)
    consistent(row, 6, cluster.dns_servers)
    assert codes(row) == ["DuplicateHostname"]
    assert_exit(result, 1)
    shared = fqdn(cluster, "shared", namespace)
    wait_answer(cluster, f"db.{shared}", answer("10.200.0.11", "10.200.0.12"))
    wait_answer(cluster, f"_db._tcp.{shared}", answer(f"0 50 5432 db.{shared}"), "SRV")


# -- 12. an answer larger than 512 bytes -------------------------------------------------------


def test_forty_pods(cluster: cl.Cluster, namespace: str) -> None:
    ips = start_web(cluster, namespace, replicas=40)
    service = fqdn(cluster, "nginx", namespace)

    result = check(cluster, namespace, timeout=60)

    row = result.service("nginx")
    # 40 each: nginx A, per-pod A, _web._tcp SRV, bare SRV
    consistent(row, 160, cluster.dns_servers)
    assert (codes(row), problems(row)) == ([], {})
    assert_exit(result, 0)
    assert checkcli.expected_records(cluster, namespace, "nginx")[(service, "A")] == set(ips)
    for server in cluster.dns_servers:
        assert dnsquery.ask(server, service) == answer(*ips)
    # The answer really does not fit plain DNS over UDP: CoreDNS truncates it without EDNS.
    host, _, port = cluster.dns_servers[0].rpartition(":")
    response = dns.query.udp(dns.message.make_query(service, "A"), host, port=int(port), timeout=2)
    assert response.flags & dns.flags.TC
