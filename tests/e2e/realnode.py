"""The real node as tests see it: the examples as real pods, a client pod, nslookup, and the
operator installed by Helm (the user's path).

Workloads are the repository's own examples (deploy/examples/) put onto the real node by
hack/node/pin.py, exactly as the demo does; a readiness probe fails when its pod's /www/ready
is removed (``set_probe``), as in the examples' comments.
"""

from __future__ import annotations

import dataclasses
import functools
import re
import subprocess
import urllib.request
from typing import Any

from tests import poll
from tests.e2e import cluster as cl
from tests.e2e import delivery, operator_proc

EXAMPLES = cl.ROOT / "deploy" / "examples"
PIN = cl.ROOT / "hack" / "node" / "pin.py"
LABEL = "headless-auditor.io/real-node"
IMAGE = "localhost/headless-auditor:e2e"
GROUP = "headless-auditor.io"
DNS = f"{GROUP}/DNSConsistent"
PODS = f"{GROUP}/PodNamesResolvable"
CONFIG = f"{GROUP}/ConfigurationValid"


def pinned(manifest_json: str) -> str:
    """JSON manifests with the real node's toleration, node selector and local image."""
    proc = subprocess.run(
        ["python3", str(PIN)], input=manifest_json, capture_output=True, text=True, check=True
    )
    return proc.stdout


def apply_example(cluster: cl.Cluster, filename: str, namespace: str) -> None:
    """deploy/examples/FILENAME, pinned to the real node, applied in NAMESPACE."""
    objects = cluster.kubectl(
        "create", "-n", namespace, "--dry-run=client", "-o", "json", "-f", str(EXAMPLES / filename)
    )
    cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=pinned(objects))


def start_client(cluster: cl.Cluster, namespace: str, name: str = "dns-client") -> str:
    """A toolbox pod that only sleeps (bounded: an hour), for ``kubectl exec ... nslookup``."""
    pod = cluster.kubectl(
        "run", name, "-n", namespace, "--image=busybox:1.36", "--restart=Never",
        "--dry-run=client", "-o", "json", "--command", "--", "sleep", "3600",
    )  # fmt: skip
    cluster.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=pinned(pod))
    wait_ready(cluster, namespace, [name])
    return name


def wait_ready(cluster: cl.Cluster, namespace: str, pods: list[str], timeout: float = 120) -> None:
    for pod in pods:
        poll.until(
            functools.partial(cl.pod_ready, cluster, namespace, pod),
            timeout=timeout,
            what=f"pod {pod} Ready",
        )


def pod_ip(cluster: cl.Cluster, namespace: str, pod: str) -> str:
    return str(cluster.get("pod", pod, namespace)["status"]["podIP"])


def exec_in(cluster: cl.Cluster, namespace: str, pod: str, *command: str) -> str:
    return cluster.kubectl("exec", "-n", namespace, pod, "--", *command)


def set_probe(cluster: cl.Cluster, namespace: str, pod: str, *, passing: bool) -> None:
    """Make the pod's readiness probe pass or fail (the examples serve /www/ready), and wait
    until the kubelet has reported the pod's readiness accordingly."""
    exec_in(cluster, namespace, pod, "touch" if passing else "rm", "/www/ready")
    poll.until(
        lambda: cl.pod_ready(cluster, namespace, pod) is passing,
        timeout=30,
        what=f"pod {pod} Ready={passing}",
    )


def nslookup(cluster: cl.Cluster, namespace: str, client: str, name: str) -> frozenset[str]:
    """The IPv4 addresses a client pod resolves NAME to (through kube-dns); empty: none."""
    proc = subprocess.run(
        ["kubectl", "exec", "-n", namespace, client, "--", "nslookup", "-type=a", name + "."],
        capture_output=True,
        text=True,
        env=cluster.process_env,
        timeout=60,
        check=False,
    )
    answer = proc.stdout.split("Name:", 1)[1] if "Name:" in proc.stdout else ""
    return frozenset(re.findall(r"^Address: *([0-9.]+)$", answer, re.MULTILINE))


def conditions(cluster: cl.Cluster, namespace: str, service: str) -> dict[str, dict[str, Any]]:
    body = cluster.get("service", service, namespace)
    return {c["type"]: c for c in body.get("status", {}).get("conditions", [])}


def wait_condition(
    cluster: cl.Cluster,
    namespace: str,
    service: str,
    type_: str,
    status: str,
    *,
    timeout: float = 60,
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        c = conditions(cluster, namespace, service).get(type_)
        return c if c is not None and c["status"] == status else None

    return poll.until(check, timeout=timeout, interval=0.1, what=f"{service} {type_}={status}")


@dataclasses.dataclass
class Release:
    """The chart installed with Helm, its operator pod on the real node."""

    cluster: cl.Cluster
    name: str
    namespace: str

    def helm(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return delivery.helm(self.cluster, *args, "-n", self.namespace, check=check)

    def pod(self) -> dict[str, Any]:
        """The one running operator pod (there is one replica)."""
        pods = [
            p
            for p in self.cluster.list(
                "pods", self.namespace, f"app.kubernetes.io/instance={self.name}"
            )
            if p["metadata"].get("ownerReferences") and p["status"].get("phase") == "Running"
        ]
        assert len(pods) == 1, [p["metadata"]["name"] for p in pods]
        return pods[0]

    def metrics(self) -> str:
        """/metrics, fetched from the host at the operator pod's IP (on the node's bridge)."""
        pod = self.pod()
        url = f"http://{pod['status']['podIP']}:8080/metrics"
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())

    def sample(self, name: str, **labels: str) -> float | None:
        return operator_proc.sample(self.metrics(), name, **labels)


def values(namespaces: list[str], sweep_interval: int = 5) -> list[str]:
    """`helm` arguments: hack/demo-values.yaml (the real node), the test image, the namespaces."""
    args = ["-f", str(cl.ROOT / "hack" / "demo-values.yaml"), "--set", "image.tag=e2e"]
    args += ["--set", f"config.sweepInterval={sweep_interval}"]
    args += ["--set", "config.namespaces={" + ",".join(namespaces) + "}"]
    return args
