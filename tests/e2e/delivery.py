"""Helpers of the delivery tests: helm, service-account kubeconfigs, the image."""

from __future__ import annotations

import base64
import dataclasses
import pathlib
import subprocess
from typing import Any

import yaml

from tests.e2e import cluster as cl

CHART = cl.ROOT / "charts" / "headless-auditor"


def helm(cluster: cl.Cluster, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["helm", *args],
        capture_output=True,
        text=True,
        env=cluster.process_env,
        timeout=300,
        check=False,
    )
    if check and proc.returncode != 0:
        raise RuntimeError(f"helm {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")
    return proc


@dataclasses.dataclass(frozen=True)
class ApiServer:
    """Where the API server is and the CA that signs its certificate."""

    host: str
    port: int
    ca_pem: bytes

    @property
    def url(self) -> str:
        return f"https://{self.host}:{self.port}"


def api_server(cluster: cl.Cluster) -> ApiServer:
    config: dict[str, Any] = yaml.safe_load(pathlib.Path(cluster.kubeconfig).read_text())
    entry = config["clusters"][0]["cluster"]
    server = entry["server"].removeprefix("https://")
    host, _, port = server.rpartition(":")
    if "certificate-authority-data" in entry:
        ca = base64.b64decode(entry["certificate-authority-data"])
    else:
        ca = pathlib.Path(entry["certificate-authority"]).read_bytes()
    return ApiServer(host, int(port), ca)


def service_account_token(cluster: cl.Cluster, namespace: str, name: str) -> str:
    """A short-lived token of the ServiceAccount, from the real TokenRequest API."""
    return cluster.kubectl("create", "token", name, "-n", namespace, "--duration=1h").strip()


def token_kubeconfig(cluster: cl.Cluster, token: str, path: pathlib.Path) -> pathlib.Path:
    """A kubeconfig that authenticates with ``token`` only (no client certificate)."""
    api = api_server(cluster)
    ca_path = path.with_suffix(".ca.crt")
    ca_path.write_bytes(api.ca_pem)
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [
            {"name": "local", "cluster": {"server": api.url, "certificate-authority": str(ca_path)}}
        ],
        "users": [{"name": "sa", "user": {"token": token}}],
        "contexts": [{"name": "sa", "context": {"cluster": "local", "user": "sa"}}],
        "current-context": "sa",
    }
    path.write_text(yaml.safe_dump(config))
    return path


def can_i(
    cluster: cl.Cluster,
    account: str,
    verb: str,
    resource: str,
    *,
    namespace: str,
    account_namespace: str | None = None,
    subresource: str = "",
) -> bool:
    """``kubectl auth can-i`` as the ServiceAccount; ``resource`` may be ``kind/name``."""
    extra = [f"--subresource={subresource}"] if subresource else []
    as_account = f"--as=system:serviceaccount:{account_namespace or namespace}:{account}"
    proc = subprocess.run(
        ["kubectl", "auth", "can-i", verb, resource, "-n", namespace, *extra, as_account],
        capture_output=True,
        text=True,
        env=cluster.process_env,
        timeout=60,
        check=False,
    )
    return proc.stdout.strip() == "yes"
