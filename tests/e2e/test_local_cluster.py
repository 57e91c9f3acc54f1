"""Issue 11: the README's hand-run path on the local cluster.

`make cluster-up`, `source .cluster/env`, `headless-auditor run`: the operator binds its default
metrics port (nothing of the cluster holds 8080), finds its CRD (cluster-up installs it), and
discovers the kube-dns Service IP and both CoreDNS pods with no DNS server configured.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

import pytest

from tests import poll
from tests.e2e import cluster as cl
from tests.e2e import realnode as rn

DEFAULT_PORT = 8080


def listeners_on(port: int) -> list[str]:
    out = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout
    return out.splitlines()


def test_nothing_of_the_cluster_holds_the_operators_default_port(cluster: cl.Cluster) -> None:
    assert listeners_on(DEFAULT_PORT) == []


def test_cluster_up_installs_the_crd(cluster: cl.Cluster) -> None:
    crd = cluster.kubectl("get", "crd", "headlessserviceaudits.headless-auditor.io", "-o", "name")
    assert crd.strip() == "customresourcedefinition.apiextensions.k8s.io/" + (
        "headlessserviceaudits.headless-auditor.io"
    )
    cluster.kubectl("get", "hsa", "-A")


@pytest.fixture
def hand_run(cluster: cl.Cluster, namespace: str, tmp_path) -> Iterator[subprocess.Popen[bytes]]:
    """`headless-auditor run` as the README shows it: .cluster/env only (limited to this test's
    namespace, so it stays out of other tests' Services)."""
    env = {**cluster.plain_env, "HEADLESS_AUDITOR_NAMESPACES": namespace}
    log = (tmp_path / "operator.log").open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "headless_auditor.cli", "run"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    yield process
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=30)
    log.close()


def healthz() -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{DEFAULT_PORT}/healthz", timeout=2) as r:
            return r.read().strip() == b"ok"
    except OSError:
        return False


def test_hand_run_operator_discovers_kube_dns(cluster, namespace, hand_run) -> None:
    rn.apply_example(cluster, "01-web.yaml", namespace)
    rn.wait_ready(cluster, namespace, ["web-0", "web-1"])
    poll.until(lambda: hand_run.poll() is None and healthz(), timeout=30, what="operator /healthz")
    cluster.kubectl(
        "wait", f"--for=condition={rn.DNS}", "svc/nginx", "-n", namespace, "--timeout=60s"
    )
    servers = poll.until(
        lambda: cluster.get("hsa", "nginx", namespace).get("status", {}).get("servers"),
        timeout=30,
        what="the report",
    )
    vip = cluster.get("service", "kube-dns", "kube-system")["spec"]["clusterIP"]
    pods = cluster.list("pods", "kube-system", "k8s-app=kube-dns")
    assert sorted(s["address"] for s in servers) == sorted(
        [f"{vip}:53", *(f"{p['status']['podIP']}:53" for p in pods)]
    )


def test_the_real_node_contract(cluster: cl.Cluster) -> None:
    """One real node (kubelet v1.36.3, containerd), labelled and tainted; kwok plays only the
    nodes it made; only pods that tolerate the taint run on the real node."""
    listed = json.loads(cluster.kubectl("get", "nodes", "-o", "json"))["items"]
    nodes = {n["metadata"]["name"]: n for n in listed}
    real = [name for name, n in nodes.items() if n["metadata"]["labels"].get(rn.LABEL) == "true"]
    assert real == ["real-node"]
    node = nodes["real-node"]
    assert {"key": rn.LABEL, "value": "true", "effect": "NoSchedule"} in [
        {k: t[k] for k in ("key", "value", "effect")} for t in node["spec"].get("taints", [])
    ]
    info = node["status"]["nodeInfo"]
    assert info["kubeletVersion"] == "v1.36.3"
    assert info["containerRuntimeVersion"].startswith("containerd://1.6")
    assert "kwok.x-k8s.io/node" not in node["metadata"].get("annotations", {})
    fakes = [n for name, n in nodes.items() if name != "real-node"]
    assert len(fakes) == 2
    assert all(n["metadata"]["annotations"]["kwok.x-k8s.io/node"] == "fake" for n in fakes)

    pods = json.loads(
        cluster.kubectl(
            "get", "pods", "-A", "--field-selector=spec.nodeName=real-node", "-o", "json"
        )
    )["items"]
    assert pods, "kube-dns runs there at least"
    for pod in pods:
        assert any(t.get("key") == rn.LABEL for t in pod["spec"].get("tolerations", [])), pod[
            "metadata"
        ]["name"]


CRD = "headlessserviceaudits.headless-auditor.io"


@pytest.mark.disruptive
def test_operator_without_its_crd_says_so_once_and_writes_conditions(
    cluster: cl.Cluster, namespace: str, start_operator
) -> None:
    """The CRD is deleted (every report with it), so this runs with the disruptive tests."""
    cluster.kubectl("delete", "crd", CRD, "--wait=true", "--timeout=60s")
    try:
        rn.apply_example(cluster, "01-web.yaml", namespace)
        op = start_operator(sweep_interval=1)
        rn.wait_condition(cluster, namespace, "nginx", rn.DNS, "True")
        op.wait_sweeps(2)
        assert (
            op.log.read_text().count(
                "CRD (headlessserviceaudits.headless-auditor.io) is not installed"
            )
            == 1
        )
        assert "Traceback" not in op.log.read_text()
    finally:
        cluster.kubectl(
            "apply", "--server-side", "-f", str(cl.ROOT / "charts/headless-auditor/crds")
        )
        cluster.kubectl("wait", "--for=condition=Established", f"crd/{CRD}", "--timeout=60s")
    poll.until(
        lambda: cluster.kubectl("get", "hsa", "nginx", "-n", namespace, "-o", "name", check=False),
        timeout=30,
        what="the report, once the CRD is back",
    )
    assert op.log.read_text().count("is installed now: reports are written from now on") == 1
