"""Issue 11 acceptance: the operator as users run it, on the local cluster's real node.

The chart is installed with Helm (image imported into the node's containerd, the demo's values);
CoreDNS runs as two pods behind the kube-dns Service, which the operator discovers by itself;
the workloads are deploy/examples/ as real processes with real readiness probes, and a client pod
resolves names through the kube-dns Service IP as any pod does. Nothing here patches a pod's
status: a probe fails because the file it reads is gone.

One release serves the whole module (a pod start costs seconds); it audits only this module's
namespaces, so the kwok tier's operators never share a Service with it. The Helm lifecycle test
(upgrade, uninstall) runs last.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from headless_auditor.core import corefile
from tests import poll
from tests.e2e import cluster as cl
from tests.e2e import delivery, prom
from tests.e2e import realnode as rn
from tests.e2e.realnode import CONFIG, DNS, PODS

SCENARIOS = ("plain", "probe", "publish", "legacy", "recreate", "alert")
DOMAIN = "cluster.local"


@pytest.fixture(scope="module")
def spaces(cluster: cl.Cluster) -> Iterator[dict[str, str]]:
    """One namespace per scenario, plus one for the client pod."""
    suffix = uuid.uuid4().hex[:5]
    names = {s: f"rn-{s}-{suffix}" for s in (*SCENARIOS, "client")}
    for name in names.values():
        cluster.kubectl("create", "namespace", name)
    yield names
    for name in names.values():
        cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="module")
def client(cluster: cl.Cluster, spaces: dict[str, str]) -> tuple[str, str]:
    return spaces["client"], rn.start_client(cluster, spaces["client"])


@pytest.fixture(scope="module")
def release(
    cluster: cl.Cluster, crds: None, node_image: str, spaces: dict[str, str]
) -> Iterator[rn.Release]:
    """`helm install` of the chart, its operator pod Ready on the real node."""
    audited = [spaces[s] for s in SCENARIOS]
    rel = rn.Release(cluster, "ha-e2e", f"rn-operator-{uuid.uuid4().hex[:5]}")
    rel.helm(
        "install", rel.name, str(delivery.CHART), "--create-namespace", "--wait",
        "--timeout", "3m", *rn.values(audited),
    )  # fmt: skip
    yield rel
    rel.helm("uninstall", rel.name, "--wait", check=False)
    cluster.kubectl("delete", "namespace", rel.namespace, "--wait=false", check=False)


def grace_seconds(cluster: cl.Cluster) -> float:
    """The grace window the operator derives from the live Corefile."""
    text = cluster.get("configmap", "coredns", "kube-system")["data"]["Corefile"]
    return corefile.grace_seconds(corefile.parse_corefile(text))


def report(cluster: cl.Cluster, namespace: str, service: str) -> dict[str, Any]:
    return dict(cluster.get("hsa", service, namespace).get("status", {}))


def ready_ips(cluster: cl.Cluster, namespace: str, pods: list[str]) -> frozenset[str]:
    return frozenset(rn.pod_ip(cluster, namespace, p) for p in pods)


def fqdn(name: str, namespace: str, service: str | None = None) -> str:
    return ".".join(p for p in (name, service, namespace, "svc", DOMAIN) if p)


def test_operator_runs_as_a_pod_on_the_real_node(cluster, release) -> None:
    pod = release.pod()
    node = cluster.kubectl("get", "node", pod["spec"]["nodeName"], "-o", "json")
    assert json.loads(node)["metadata"]["labels"].get(rn.LABEL) == "true"
    spec = pod["spec"]
    account = cluster.get("serviceaccount", spec["serviceAccountName"], release.namespace)
    assert account["metadata"]["labels"]["app.kubernetes.io/instance"] == release.name
    assert spec["securityContext"]["runAsNonRoot"] is True
    container = spec["containers"][0]
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    assert "HEADLESS_AUDITOR_DNS_SERVERS" not in env  # discovery, as in any cluster


def test_plain_statefulset_resolves_and_all_conditions_true(
    cluster, release, spaces, client
) -> None:
    ns = spaces["plain"]
    rn.apply_example(cluster, "01-web.yaml", ns)
    rn.wait_ready(cluster, ns, ["web-0", "web-1"])
    cluster.kubectl("wait", f"--for=condition={DNS}", "svc/nginx", "-n", ns, "--timeout=90s")
    for type_ in (PODS, CONFIG):
        rn.wait_condition(cluster, ns, "nginx", type_, "True")

    ips = ready_ips(cluster, ns, ["web-0", "web-1"])
    client_ns, client_pod = client
    assert rn.nslookup(cluster, client_ns, client_pod, fqdn("nginx", ns)) == ips
    web0 = rn.pod_ip(cluster, ns, "web-0")
    assert rn.nslookup(cluster, client_ns, client_pod, fqdn("web-0", ns, "nginx")) == {web0}

    # The operator asked what it discovered: the kube-dns Service IP and both CoreDNS pods.
    status = report(cluster, ns, "nginx")
    coredns = cluster.list("pods", "kube-system", "k8s-app=kube-dns")
    vip = cluster.get("service", "kube-dns", "kube-system")["spec"]["clusterIP"]
    expected = {f"{vip}:53": "service"} | {f"{p['status']['podIP']}:53": "replica" for p in coredns}
    assert {s["address"]: s["role"] for s in status["servers"]} == expected
    assert all(s["state"] == "OK" for s in status["servers"]), status["servers"]
    assert status["dnsState"] == "Consistent"


def test_failing_probe_fails_pod_names_only_then_recovers(cluster, release, spaces) -> None:
    ns = spaces["probe"]
    rn.apply_example(cluster, "01-web.yaml", ns)
    rn.wait_ready(cluster, ns, ["web-0", "web-1"])
    dns_before = rn.wait_condition(cluster, ns, "nginx", DNS, "True", timeout=90)
    rn.wait_condition(cluster, ns, "nginx", PODS, "True")

    started = time.monotonic()
    rn.exec_in(cluster, ns, "web-1", "rm", "/www/ready")
    failed = rn.wait_condition(cluster, ns, "nginx", PODS, "False", timeout=60)
    elapsed = time.monotonic() - started
    assert "web-1" in failed["message"], failed
    bound = grace_seconds(cluster) + 2
    print(f"probe failed -> PodNamesResolvable False in {elapsed:.2f} s (bound {bound:.0f} s)")
    assert elapsed <= bound, f"PodNamesResolvable False after {elapsed:.1f}s (bound {bound}s)"

    rn.set_probe(cluster, ns, "web-1", passing=True)
    rn.wait_condition(cluster, ns, "nginx", PODS, "True")
    # DNSConsistent never moved: same status, same lastTransitionTime (no flap in between).
    dns_after = rn.conditions(cluster, ns, "nginx")[DNS]
    assert (dns_after["status"], dns_after["lastTransitionTime"]) == (
        "True",
        dns_before["lastTransitionTime"],
    )


def test_publish_not_ready_keeps_the_unready_name(cluster, release, spaces, client) -> None:
    ns = spaces["publish"]
    rn.apply_example(cluster, "03-publish-not-ready.yaml", ns)
    rn.wait_ready(cluster, ns, ["peers-0", "peers-1", "peers-2"])
    rn.wait_condition(cluster, ns, "peers", DNS, "True", timeout=90)

    rn.set_probe(cluster, ns, "peers-2", passing=False)
    client_ns, client_pod = client
    ip = rn.pod_ip(cluster, ns, "peers-2")
    name = fqdn("peers-2", ns, "peers")
    # Still resolvable for a client, and for the operator (after an audit of the new state).
    assert rn.nslookup(cluster, client_ns, client_pod, name) == {ip}
    poll.until(
        lambda: any(
            f["code"] == "PublishNotReadyServesUnready"
            for f in report(cluster, ns, "peers").get("findings", [])
        ),
        timeout=30,
        what="the operator saw peers-2 unready",
    )
    conds = rn.conditions(cluster, ns, "peers")
    assert conds[PODS]["status"] == "True", conds[PODS]
    assert conds[DNS]["status"] == "True", conds[DNS]
    assert report(cluster, ns, "peers").get("podNameProblems", []) == []


def test_tolerate_unready_annotation_alone(cluster, release, spaces, client) -> None:
    ns = spaces["legacy"]
    rn.apply_example(cluster, "02-legacy-annotation.yaml", ns)
    rn.wait_ready(cluster, ns, ["legacy-0", "legacy-1"])
    # Before the slices fill, the first finding may be SelectorMatchesNoEndpoints: wait for ours.
    poll.until(
        lambda: (
            rn.conditions(cluster, ns, "legacy").get(CONFIG, {}).get("reason")
            == "TolerateUnreadyAnnotationIneffective"
        ),
        timeout=90,
        what="ConfigurationValid False for the annotation",
    )
    assert rn.conditions(cluster, ns, "legacy")[CONFIG]["status"] == "False"

    rn.set_probe(cluster, ns, "legacy-1", passing=False)
    client_ns, client_pod = client
    name = fqdn("legacy-1", ns, "legacy")
    poll.until(
        lambda: not rn.nslookup(cluster, client_ns, client_pod, name),
        timeout=30,
        what=f"{name} no longer resolving for the client",
    )
    unresolvable = rn.wait_condition(cluster, ns, "legacy", PODS, "False")
    assert "legacy-1" in unresolvable["message"], unresolvable
    assert rn.conditions(cluster, ns, "legacy")[DNS]["status"] == "True"


def test_recreated_pod_gets_a_new_ip_and_dns_never_false(cluster, release, spaces, client) -> None:
    ns = spaces["recreate"]
    rn.apply_example(cluster, "01-web.yaml", ns)
    rn.wait_ready(cluster, ns, ["web-0", "web-1"])
    dns_before = rn.wait_condition(cluster, ns, "nginx", DNS, "True", timeout=90)
    old_uid = cluster.get("pod", "web-0", ns)["metadata"]["uid"]
    old_ip = rn.pod_ip(cluster, ns, "web-0")

    cluster.kubectl("delete", "pod", "web-0", "-n", ns, "--wait=true", "--timeout=60s")
    poll.until(
        lambda: cluster.get("pod", "web-0", ns)["metadata"]["uid"] != old_uid,
        timeout=60,
        what="web-0 recreated",
    )
    rn.wait_ready(cluster, ns, ["web-0"])
    new_ip = rn.pod_ip(cluster, ns, "web-0")
    assert new_ip != old_ip

    client_ns, client_pod = client
    name = fqdn("web-0", ns, "nginx")
    poll.until(
        lambda: rn.nslookup(cluster, client_ns, client_pod, name) == {new_ip},
        timeout=30,
        what=f"{name} -> {new_ip}",
    )
    rn.wait_condition(cluster, ns, "nginx", PODS, "True")
    # The operator followed: the report is consistent with the new address, and DNSConsistent
    # never left True on the way (same lastTransitionTime).
    poll.until(
        lambda: report(cluster, ns, "nginx").get("dnsState") == "Consistent",
        timeout=30,
        what="report Consistent",
    )
    dns_after = rn.conditions(cluster, ns, "nginx")[DNS]
    assert (dns_after["status"], dns_after["lastTransitionTime"]) == (
        "True",
        dns_before["lastTransitionTime"],
    )


def test_operator_pod_replaced_with_nothing_changed_writes_nothing(
    cluster, release, spaces
) -> None:
    ns = spaces["plain"]
    if not cluster.list("statefulsets", ns):
        rn.apply_example(cluster, "01-web.yaml", ns)
    rn.wait_ready(cluster, ns, ["web-0", "web-1"])
    rn.wait_condition(cluster, ns, "nginx", DNS, "True", timeout=90)
    rn.wait_condition(cluster, ns, "nginx", PODS, "True")
    # Settled: a full sweep after the last change.
    first = release.sample("headless_auditor_last_sweep_timestamp_seconds") or 0.0
    poll.until(
        lambda: (release.sample("headless_auditor_last_sweep_timestamp_seconds") or 0) > first,
        timeout=60,
        what="a sweep",
    )
    before = {
        kind: cluster.get(kind, "nginx", ns)["metadata"]["resourceVersion"]
        for kind in ("service", "hsa")
    }
    old = release.pod()["metadata"]["name"]

    cluster.kubectl("delete", "pod", old, "-n", release.namespace, "--wait=true", "--timeout=60s")
    new = poll.until(
        lambda: (
            (p := release.pod())["metadata"]["name"] != old
            and cl.pod_ready(cluster, release.namespace, p["metadata"]["name"])
            and p
        ),
        timeout=120,
        what="a new operator pod Ready",
    )
    assert new["spec"]["nodeName"] == "real-node"
    poll.until(
        lambda: (release.sample("headless_auditor_last_sweep_timestamp_seconds") or 0) > 0,
        timeout=60,
        what="the new pod's first full sweep",
    )
    writes = {
        kind: release.sample("headless_auditor_writes_total", kind=kind) or 0.0
        for kind in ("service_status", "report", "event")
    }
    assert writes == {"service_status": 0.0, "report": 0.0, "event": 0.0}
    after = {
        kind: cluster.get(kind, "nginx", ns)["metadata"]["resourceVersion"]
        for kind in ("service", "hsa")
    }
    assert after == before


def test_prometheus_scrapes_the_pod_and_an_alert_fires_then_resolves(
    cluster, release, spaces, tmp_path
) -> None:
    ns = spaces["alert"]
    rn.apply_example(cluster, "02-legacy-annotation.yaml", ns)
    rn.wait_condition(cluster, ns, "legacy", CONFIG, "False", timeout=90)
    alert = "HeadlessServiceConfigurationInvalid"
    rules = prom.rules_file(tmp_path / "rules.yaml", {alert: "3s"})
    target = f"{release.pod()['status']['podIP']}:8080"
    prometheus = prom.Prometheus(tmp_path, target, rules)
    try:
        labels = {"namespace": ns, "service": "legacy"}
        poll.until(lambda: prometheus.state(alert, **labels) == "firing", timeout=60, what="firing")
        assert prometheus.state("HeadlessAuditorAbsent") is None  # a healthy target

        # The fix the condition's message names: publish not-ready addresses.
        patch = json.dumps({"spec": {"publishNotReadyAddresses": True}})
        cluster.kubectl("patch", "service", "legacy", "-n", ns, "--type=merge", "-p", patch)
        rn.wait_condition(cluster, ns, "legacy", CONFIG, "True")
        poll.until(lambda: prometheus.state(alert, **labels) is None, timeout=60, what="resolved")
    finally:
        prometheus.stop()


def test_helm_test_upgrade_and_uninstall(cluster, release) -> None:
    tested = release.helm("test", release.name, "--timeout", "2m")  # raises unless it passed
    assert "Succeeded" in tested.stdout, tested.stdout

    old = release.pod()["metadata"]["uid"]
    release.helm(
        "upgrade", release.name, str(delivery.CHART), "--reuse-values", "--wait",
        "--timeout", "3m", "--set", "config.sweepInterval=7",
    )  # fmt: skip
    new = poll.until(
        lambda: (p := release.pod())["metadata"]["uid"] != old and p,
        timeout=120,
        what="the operator rolled",
    )
    env = {e["name"]: e.get("value") for e in new["spec"]["containers"][0]["env"]}
    assert env["HEADLESS_AUDITOR_SWEEP_INTERVAL"] == "7"

    release.helm("uninstall", release.name, "--wait", "--timeout", "2m")
    selector = f"app.kubernetes.io/instance={release.name}"
    kinds = "deployments,replicasets,pods,services,serviceaccounts,configmaps,roles,rolebindings"

    def left_behind() -> list[str]:
        names = cluster.kubectl("get", kinds, "-A", "-l", selector, "-o", "name")
        names += cluster.kubectl(
            "get", "clusterroles,clusterrolebindings", "-l", selector, "-o", "name"
        )
        return names.split()

    # The Deployment goes at once; its pod is garbage-collected and stops within its grace.
    poll.until(lambda: left_behind() == [], timeout=60, what=f"nothing of {release.name} left")
