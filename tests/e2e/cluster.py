"""The local cluster as tests see it: its environment file, kubectl, and pod readiness helpers."""

from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import shlex
import subprocess
from collections.abc import Mapping, Sequence
from typing import Any

from tests import poll

ROOT = pathlib.Path(__file__).resolve().parents[2]
STATE = pathlib.Path(os.environ.get("HEADLESS_AUDITOR_STATE", ROOT / ".cluster"))


@dataclasses.dataclass(frozen=True)
class Cluster:
    """What `hack/cluster.sh up` wrote into .cluster/env."""

    env: Mapping[str, str]

    @property
    def kubeconfig(self) -> str:
        return self.env["KUBECONFIG"]

    @property
    def dns_servers(self) -> tuple[str, ...]:
        """The loopback CoreDNS processes the kwok tier asks (the real node's are pods)."""
        return tuple(self.env["HEADLESS_AUDITOR_LOOPBACK_DNS_SERVERS"].split(","))

    @property
    def domain(self) -> str:
        return self.env["HEADLESS_AUDITOR_CLUSTER_DOMAIN"]

    @property
    def process_env(self) -> dict[str, str]:
        """os.environ plus the cluster's variables, for child processes of the kwok tier: an
        operator or `check` started with it asks the loopback CoreDNS processes."""
        merged = self.plain_env
        merged["HEADLESS_AUDITOR_DNS_SERVERS"] = ",".join(self.dns_servers)
        return merged

    @property
    def plain_env(self) -> dict[str, str]:
        """os.environ plus KUBECONFIG and the tools, with no DNS server configured."""
        merged = dict(os.environ)
        merged.update(self.env)
        merged.pop("HEADLESS_AUDITOR_DNS_SERVERS", None)
        merged["PATH"] = f"{self.env['HEADLESS_AUDITOR_TOOLS_BIN']}:{os.environ['PATH']}"
        return merged

    def kubectl(self, *args: str, stdin: str | None = None, check: bool = True) -> str:
        """Run the cluster's kubectl; return stdout; raise with stderr on failure."""
        proc = subprocess.run(
            ["kubectl", *args],
            input=stdin,
            capture_output=True,
            text=True,
            env=self.process_env,
            timeout=120,
            check=False,
        )
        if check and proc.returncode != 0:
            raise RuntimeError(f"kubectl {shlex.join(args)} failed: {proc.stderr.strip()}")
        return proc.stdout

    def apply(self, manifest: str, namespace: str) -> None:
        self.kubectl("apply", "--server-side", "-n", namespace, "-f", "-", stdin=manifest)

    def get(self, kind: str, name: str, namespace: str) -> dict[str, Any]:
        return dict(json.loads(self.kubectl("get", kind, name, "-n", namespace, "-o", "json")))

    def list(self, kind: str, namespace: str, *selector: str) -> list[dict[str, Any]]:
        args = ["get", kind, "-n", namespace, "-o", "json"]
        if selector:
            args += ["-l", ",".join(selector)]
        return list(json.loads(self.kubectl(*args))["items"])


def read_env(path: pathlib.Path) -> dict[str, str]:
    """Parse the `export K=V` lines of .cluster/env."""
    env: dict[str, str] = {}
    for line in path.read_text().splitlines():
        if line.startswith("export "):
            key, _, value = line.removeprefix("export ").partition("=")
            if key != "PATH":
                env[key] = value
    return env


def run_script(
    *args: str, timeout: float = 600, env: Mapping[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run hack/cluster.sh with ARGS (in ``env``, default: ours), raising with its output on
    failure."""
    proc = subprocess.run(
        [str(ROOT / "hack" / "cluster.sh"), *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"hack/cluster.sh {' '.join(args)} failed:\n{proc.stderr}{proc.stdout}")
    return proc


def is_running() -> bool:
    return (
        subprocess.run(
            [str(ROOT / "hack" / "cluster.sh"), "status"], capture_output=True, check=False
        ).returncode
        == 0
    )


def set_pod_ready(cluster: Cluster, namespace: str, pod: str, ready: bool) -> None:
    """Flip the pod's Ready and ContainersReady conditions, as a failing readiness probe would.

    kwok plays the kubelet; its pod-ready stage only acts on Pending pods, so it must not undo
    this: the function reads the pod back and checks the conditions stuck.
    """
    status = "True" if ready else "False"
    body = cluster.get("pod", pod, namespace)
    conditions = [
        {**c, "status": status} if c["type"] in ("Ready", "ContainersReady") else c
        for c in body["status"].get("conditions", [])
    ]
    patch = json.dumps({"status": {"conditions": conditions}})
    cluster.kubectl(
        "patch", "pod", pod, "-n", namespace, "--subresource=status", "--type=merge", "-p", patch
    )
    poll.until(
        lambda: pod_ready(cluster, namespace, pod) is ready,
        timeout=10,
        what=f"pod {pod} Ready={status}",
    )


def pod_ready(cluster: Cluster, namespace: str, pod: str) -> bool:
    conditions = cluster.get("pod", pod, namespace)["status"].get("conditions", [])
    return any(c["type"] == "Ready" and c["status"] == "True" for c in conditions)


def slice_endpoints(cluster: Cluster, namespace: str, service: str) -> list[dict[str, Any]]:
    """Every endpoint of every EndpointSlice labelled with the Service's name."""
    slices = cluster.list("endpointslices", namespace, f"kubernetes.io/service-name={service}")
    return [e for s in slices for e in s.get("endpoints") or []]


def wait_ready_endpoints(
    cluster: Cluster, namespace: str, service: str, count: int, *, timeout: float = 60
) -> list[dict[str, Any]]:
    """Wait until the Service's slices hold exactly ``count`` endpoints, all ready."""

    def check() -> list[dict[str, Any]] | None:
        endpoints = slice_endpoints(cluster, namespace, service)
        ready = [e for e in endpoints if e.get("conditions", {}).get("ready", True)]
        return endpoints if len(endpoints) == count == len(ready) else None

    return poll.until(check, timeout=timeout, what=f"{count} ready endpoints of {service}")


def pod_ips(cluster: Cluster, namespace: str, pods: Sequence[str]) -> dict[str, str]:
    return {p: cluster.get("pod", p, namespace)["status"]["podIP"] for p in pods}
