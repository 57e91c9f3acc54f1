"""The workload: fake nodes, N headless Services + N StatefulSets, and the wait until it settles."""

from __future__ import annotations

import collections
import concurrent.futures
import time
from typing import Any

from tests.e2e import workloads

from hack.bench.common import NAMESPACE, log, until
from hack.bench.engine import Kube

PODS_PER_NODE = 3000


def service_name(i: int) -> str:
    return f"s{i:04d}"


def sts_name(i: int) -> str:
    return f"w{i:04d}"


def workload(i: int, pods: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Headless Service ``s<i>`` (one named port) and StatefulSet ``w<i>`` (Parallel, ``pods``
    replicas), the shapes of the e2e tests."""
    labels = {"app": service_name(i)}
    service = workloads.headless_service(service_name(i), selector=labels)
    statefulset = workloads.statefulset(
        sts_name(i), service_name=service_name(i), replicas=pods, labels=labels
    )
    return service, statefulset


def fake_node(i: int) -> dict[str, Any]:
    """A kwok node with room for PODS_PER_NODE pods and a /16 pod CIDR of its own."""
    name = f"bench-node-{i}"
    room = {"cpu": "1000", "memory": "4Ti", "pods": str(PODS_PER_NODE)}
    return {
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": name,
            "annotations": {"kwok.x-k8s.io/node": "fake"},
            "labels": {"type": "kwok", "kubernetes.io/hostname": name},
        },
        "spec": {"podCIDR": f"10.{100 + i}.0.0/16", "podCIDRs": [f"10.{100 + i}.0.0/16"]},
        "status": {"capacity": room, "allocatable": room},
    }


def create_nodes(kube: Kube, pods: int) -> int:
    """Fake nodes for kwok with room for ``pods`` (kwokctl's nodes hold 110 pods each), each
    with a /16 pod CIDR (kwok takes pod IPs from it; fake addresses, never contacted)."""
    count = max(1, -(-pods // (PODS_PER_NODE - 500)))
    for i in range(count):
        kube.request("POST", "/api/v1/nodes", body=fake_node(i))
    return count


def ready_nodes(kube: Kube) -> int:
    return sum(
        any(
            c["type"] == "Ready" and c["status"] == "True"
            for c in n["status"].get("conditions", [])
        )
        for n in kube.list("/api/v1/nodes")
    )


def wait_nodes_ready(kube: Kube, nodes: int) -> None:
    """The bench's nodes and kwokctl's two are Ready."""
    until(lambda: ready_nodes(kube) >= nodes + 2, timeout=60, what="the bench nodes Ready")


def create_workload(kube: Kube, services: int, pods: int) -> float:
    """POST the namespace, N Services and N StatefulSets (8 at a time); seconds taken."""
    started = time.monotonic()
    kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NAMESPACE}})
    paths = {
        "Service": f"/api/v1/namespaces/{NAMESPACE}/services",
        "StatefulSet": f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets",
    }
    objects = [o for i in range(services) for o in workload(i, pods)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda o: kube.request("POST", paths[o["kind"]], body=o), objects))
    return time.monotonic() - started


def ready_endpoints(kube: Kube) -> collections.Counter[str | None]:
    """Ready endpoints with a hostname, per Service name, from the namespace's slices."""
    counts: collections.Counter[str | None] = collections.Counter()
    slices = kube.list(f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices")
    for s in slices:
        name = (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
        for e in s.get("endpoints") or []:
            if (e.get("conditions") or {}).get("ready", True) and e.get("hostname"):
                counts[name] += 1
    return counts


def wait_settled(
    kube: Kube, services: int, pods: int, started: float, timeout: float
) -> dict[str, Any]:
    """Poll the slices until every Service has exactly M ready endpoints."""
    total = services * pods
    progress = []
    last_print = 0.0
    while True:
        counts = ready_endpoints(kube)
        ready = sum(min(c, pods) for c in counts.values())
        elapsed = time.monotonic() - started
        progress.append((round(elapsed, 1), ready))
        settled = len(counts) == services and all(c == pods for c in counts.values())
        if settled:
            return {"settled_s": round(elapsed, 1), "progress": progress}
        if elapsed - last_print >= 15:
            log(f"settling: {ready}/{total} ready endpoints after {elapsed:.0f} s")
            last_print = elapsed
        if elapsed > timeout:
            rate = ready / elapsed
            raise TimeoutError(
                f"not settled within {timeout:.0f} s: {ready}/{total} ready endpoints "
                f"({rate:.1f}/s)"
            )
        time.sleep(3 if total > 2000 else 1)
