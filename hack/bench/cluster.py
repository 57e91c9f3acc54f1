"""The benchmark's own cluster (``hack/cluster.sh`` with its state, addresses and audit log)."""

from __future__ import annotations

import os
import pathlib
import subprocess
import time

from tests.e2e import cluster as e2e_cluster

from hack.bench.common import (
    ADDRESSES,
    BENCH_USER_AGENT,
    CRDS,
    NAMESPACE,
    NO_PROXY_ENV,
    STATE,
    log,
)
from hack.bench.engine import Kube, KubeError, connect

# The API audit policy of the benchmark cluster: everything at Metadata level except the traffic
# of pods, nodes and leases (kwok and the scheduler: tens of thousands of lines, never ours).
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  resources:
  - group: ""
    resources: [pods, pods/status, pods/binding, pods/eviction, nodes, nodes/status]
  - group: coordination.k8s.io
    resources: [leases]
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/metrics", "/openapi*"]
- level: Metadata
"""
KWOK_CLUSTER = STATE / "kwok" / "clusters" / "headless-auditor"


class BenchCluster:
    """``hack/cluster.sh`` with the benchmark's state directory, addresses and audit log."""

    def __init__(self, work: pathlib.Path) -> None:
        self.policy = work / "audit-policy.yaml"
        self.policy.write_text(AUDIT_POLICY)
        self.script_env = {
            **os.environ,
            **NO_PROXY_ENV,
            "HEADLESS_AUDITOR_STATE": str(STATE),
            "HEADLESS_AUDITOR_COREDNS_ADDRESSES": " ".join(ADDRESSES),
            "HEADLESS_AUDITOR_KUBE_AUDIT_POLICY": str(self.policy),
            # fake pods at scale only: one real node per machine, and it is the e2e cluster's
            "HEADLESS_AUDITOR_REAL_NODE": "0",
        }
        self.env: dict[str, str] = {}
        self.audit_log = KWOK_CLUSTER / "logs" / "audit.log"

    def script(self, action: str, timeout: float = 600) -> None:
        e2e_cluster.run_script(action, timeout=timeout, env=self.script_env)

    def up(self) -> None:
        if STATE.exists():
            log(f"{STATE} exists (an earlier run was interrupted): taking it down first")
            self.script("down")
        started = time.monotonic()
        self.script("up")
        for line in (STATE / "env").read_text().splitlines():
            if line.startswith("export ") and not line.startswith("export PATH="):
                key, _, value = line.removeprefix("export ").partition("=")
                self.env[key] = value
        log(f"benchmark cluster up in {time.monotonic() - started:.1f} s ({STATE})")

    def down(self) -> None:
        self.script("down")
        log("benchmark cluster down")

    @property
    def process_env(self) -> dict[str, str]:
        bin_dir = self.env["HEADLESS_AUDITOR_TOOLS_BIN"]
        path = f"{bin_dir}:{os.environ['PATH']}"
        return {**os.environ, **NO_PROXY_ENV, **self.env, "PATH": path}

    def kubectl(self, *args: str) -> str:
        proc = subprocess.run(
            ["kubectl", *args],
            env=self.process_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def kube(self) -> Kube:
        """A client whose requests carry the bench's user agent, not the operator's."""
        return connect(self.env["KUBECONFIG"], BENCH_USER_AGENT)

    def coredns_pids(self) -> list[int]:
        return [int((STATE / f"coredns-{i}.pid").read_text().strip()) for i in (1, 2)]


def control_plane_pids() -> dict[str, int]:
    """kube-apiserver and etcd of the benchmark cluster (kwokctl's pid files)."""
    pids = KWOK_CLUSTER / "pids"
    return {
        name: int((pids / f"{name}.pid").read_text().strip())
        for name in ("kube-apiserver", "etcd")
        if (pids / f"{name}.pid").exists()
    }


def install_crds(cluster: BenchCluster) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/headlessserviceaudits.headless-auditor.io",
    )


def reports_served(kube: Kube) -> bool:
    """The report CRD answers a LIST (its storage may still be initializing after creation)."""
    try:
        kube.list("/apis/headless-auditor.io/v1alpha1/headlessserviceaudits")
    except KubeError:
        return False
    return True


def set_pod_ready(kube: Kube, pod: str, ready: bool) -> float:
    """Flip the pod's Ready/ContainersReady conditions; the wall time the API accepted it."""
    path = f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}"
    body = kube.request("GET", path)
    status = "True" if ready else "False"
    conditions = [
        {**c, "status": status} if c["type"] in ("Ready", "ContainersReady") else c
        for c in body["status"].get("conditions", [])
    ]
    kube.request(
        "PATCH",
        path + "/status",
        body={"status": {"conditions": conditions}},
        content_type="application/merge-patch+json",
    )
    return time.time()


def pod_ip(kube: Kube, pod: str) -> str:
    return str(kube.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}")["status"]["podIP"])
