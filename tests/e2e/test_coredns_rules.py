"""Issue 2 acceptance: real CoreDNS answers for the nginx/web example, and readiness rules.

These tests check CoreDNS itself (not the auditor): they document what today's Kubernetes and
CoreDNS really serve, which is what the audit engine predicts.
"""

from __future__ import annotations

from tests import poll
from tests.e2e import cluster as cl
from tests.e2e import dnsquery, workloads

TOLERATE = "service.alpha.kubernetes.io/tolerate-unready-endpoints"
DNS_TIMEOUT = 30.0


def fqdn(cluster: cl.Cluster, *labels: str) -> str:
    return ".".join((*labels, "svc", cluster.domain)) + "."


def wait_answer(cluster: cl.Cluster, name: str, rdtype: str, expected: dnsquery.Reply) -> None:
    """Every CoreDNS replica gives ``expected`` for name/rdtype before the deadline."""
    for server in cluster.dns_servers:
        poll.until(
            lambda server=server: dnsquery.ask(server, name, rdtype) == expected,  # type: ignore[misc]
            timeout=DNS_TIMEOUT,
            what=f"{server} {rdtype} {name} == {expected}",
        )


def a(*ips: str) -> dnsquery.Reply:
    return dnsquery.Reply("NOERROR", frozenset(ips))


NXDOMAIN = dnsquery.Reply("NXDOMAIN", frozenset())


def start_web(cluster: cl.Cluster, namespace: str, **kwargs: object) -> dict[str, str]:
    cluster.apply(workloads.nginx_web(**kwargs), namespace)  # type: ignore[arg-type]
    cl.wait_ready_endpoints(cluster, namespace, "nginx", 2)
    return cl.pod_ips(cluster, namespace, ["web-0", "web-1"])


def test_statefulset_pods_resolve_on_every_replica(cluster: cl.Cluster, namespace: str) -> None:
    ips = start_web(cluster, namespace)
    service = fqdn(cluster, "nginx", namespace)
    wait_answer(cluster, service, "A", a(ips["web-0"], ips["web-1"]))
    for pod, ip in ips.items():
        wait_answer(cluster, fqdn(cluster, pod, "nginx", namespace), "A", a(ip))
    srv = dnsquery.Reply(
        "NOERROR",
        frozenset(f"0 50 80 {pod}.{service}" for pod in ("web-0", "web-1")),
    )
    wait_answer(cluster, f"_web._tcp.{service}", "SRV", srv)


def test_unready_pod_leaves_dns(cluster: cl.Cluster, namespace: str) -> None:
    ips = start_web(cluster, namespace)
    service = fqdn(cluster, "nginx", namespace)
    wait_answer(cluster, service, "A", a(ips["web-0"], ips["web-1"]))

    cl.set_pod_ready(cluster, namespace, "web-1", ready=False)

    wait_answer(cluster, service, "A", a(ips["web-0"]))
    wait_answer(cluster, fqdn(cluster, "web-1", "nginx", namespace), "A", NXDOMAIN)
    # kwok plays the kubelet: it must not have flipped the pod back meanwhile.
    assert not cl.pod_ready(cluster, namespace, "web-1")

    cl.set_pod_ready(cluster, namespace, "web-1", ready=True)
    wait_answer(cluster, fqdn(cluster, "web-1", "nginx", namespace), "A", a(ips["web-1"]))


def serving(cluster: cl.Cluster, namespace: str, ip: str) -> bool | None:
    for endpoint in cl.slice_endpoints(cluster, namespace, "nginx"):
        if ip in endpoint["addresses"]:
            return bool(endpoint["conditions"].get("serving"))
    return None


def test_publish_not_ready_addresses_keeps_unready_pod(cluster: cl.Cluster, namespace: str) -> None:
    ips = start_web(cluster, namespace, publish_not_ready=True)
    service = fqdn(cluster, "nginx", namespace)
    cl.set_pod_ready(cluster, namespace, "web-1", ready=False)
    # The slice has seen the change (serving false) but still says ready: DNS keeps the pod.
    poll.until(
        lambda: serving(cluster, namespace, ips["web-1"]) is False,
        timeout=30,
        what="web-1 serving=false in its slice",
    )
    for server in cluster.dns_servers:
        assert dnsquery.ask(server, service, "A") == a(ips["web-0"], ips["web-1"])
        assert dnsquery.ask(server, fqdn(cluster, "web-1", "nginx", namespace)) == a(ips["web-1"])


def test_tolerate_unready_annotation_alone_has_no_effect(
    cluster: cl.Cluster, namespace: str
) -> None:
    """Since Kubernetes 1.24 nothing reads the annotation: the unready pod leaves DNS."""
    ips = start_web(cluster, namespace, annotations={TOLERATE: "true"})
    service = fqdn(cluster, "nginx", namespace)
    cl.set_pod_ready(cluster, namespace, "web-1", ready=False)
    wait_answer(cluster, service, "A", a(ips["web-0"]))
    wait_answer(cluster, fqdn(cluster, "web-1", "nginx", namespace), "A", NXDOMAIN)
