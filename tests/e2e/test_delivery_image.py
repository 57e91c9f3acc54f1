"""Issue 5 acceptance: the image, built on the local Docker engine, run in in-cluster mode.

The container runs as it would in a pod: non-root, read-only root filesystem, no capabilities,
the ServiceAccount token and CA mounted where Kubernetes mounts them, KUBERNETES_SERVICE_HOST
and _PORT set. Host networking lets it reach the API server and CoreDNS on loopback.
"""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator

import pytest

from tests import poll
from tests.e2e import cluster as cl
from tests.e2e import delivery, operator_proc, workloads


def docker(*args: str, check: bool = True, timeout: float = 120) -> str:
    proc = subprocess.run(
        ["docker", *args], capture_output=True, text=True, timeout=timeout, check=False
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"docker {' '.join(args)} failed: {proc.stderr}")
    return proc.stdout


@pytest.fixture
def account(cluster: cl.Cluster, crds: None, namespace: str) -> Iterator[str]:
    """The chart's ServiceAccount and RBAC, installed by helm (the Deployment itself is fake)."""
    name = f"headless-auditor-img-{namespace[-5:]}"
    delivery.helm(cluster, "install", name, str(delivery.CHART), "-n", namespace, "--wait")
    yield name
    delivery.helm(cluster, "uninstall", name, "-n", namespace, "--wait", check=False)


def test_image_audits_in_cluster_mode(
    cluster: cl.Cluster, namespace: str, image: str, account: str, tmp_path
) -> None:
    user = docker("image", "inspect", image, "--format", "{{.Config.User}}").strip()
    assert user == "65532:65532"
    cluster.apply(workloads.nginx_web(), namespace)
    cl.wait_ready_endpoints(cluster, namespace, "nginx", 2)

    secrets = tmp_path / "serviceaccount"
    secrets.mkdir()
    api = delivery.api_server(cluster)
    (secrets / "token").write_text(delivery.service_account_token(cluster, namespace, account))
    (secrets / "ca.crt").write_bytes(api.ca_pem)
    (secrets / "namespace").write_text(namespace)
    for f in (secrets, *secrets.iterdir()):
        f.chmod(0o755 if f.is_dir() else 0o644)
    tmp_path.chmod(0o755)
    port = operator_proc.free_port()
    env = {
        "KUBERNETES_SERVICE_HOST": api.host,
        "KUBERNETES_SERVICE_PORT": str(api.port),
        "HEADLESS_AUDITOR_DNS_SERVERS": ",".join(cluster.dns_servers),
        "HEADLESS_AUDITOR_NAMESPACES": namespace,
        "HEADLESS_AUDITOR_METRICS_ADDRESS": "127.0.0.1",
        "HEADLESS_AUDITOR_METRICS_PORT": str(port),
        "HEADLESS_AUDITOR_SWEEP_INTERVAL": "2",
    }
    container = docker(
        "run",
        "-d",
        "--network",
        "host",
        "--read-only",
        "--tmpfs",
        "/tmp",
        "--cap-drop",
        "ALL",
        "--security-opt",
        "no-new-privileges",
        "-v",
        f"{secrets}:/var/run/secrets/kubernetes.io/serviceaccount:ro",
        *(a for k, v in env.items() for a in ("-e", f"{k}={v}")),
        image,
    ).strip()
    try:

        def consistent() -> bool:
            conds = (
                cluster.get("service", "nginx", namespace).get("status", {}).get("conditions", [])
            )
            return any(
                c["type"] == "headless-auditor.io/DNSConsistent" and c["status"] == "True"
                for c in conds
            )

        poll.until(consistent, timeout=60, what="DNSConsistent from the container")
        metrics = poll.until(
            lambda: _get(f"http://127.0.0.1:{port}/metrics"), timeout=30, what="/metrics"
        )
        series = f'namespace="{namespace}",service="nginx",state="Consistent"'
        assert f"headless_auditor_service_dns_state{{{series}}} 1.0" in metrics
        logs = subprocess.run(
            ["docker", "logs", container], capture_output=True, text=True, timeout=60, check=True
        )
        lines = [line for line in (logs.stderr + logs.stdout).splitlines() if line.strip()]
        assert lines, "the container logged nothing"
        entries = [json.loads(line) for line in lines]  # JSON logs in a cluster, every line
        assert any(e["logger"] == "headless_auditor.controller.runner" for e in entries), lines[:5]
    finally:
        docker("rm", "-f", container, check=False)


def _get(url: str) -> str | None:
    import urllib.request  # noqa: PLC0415

    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return str(response.read().decode())
    except OSError:
        return None
