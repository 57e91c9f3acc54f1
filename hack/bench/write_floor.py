"""The API side of a cold start alone: the writes it must make, with no operator running."""

from __future__ import annotations

import asyncio
import datetime
import time
from typing import Any

from hack.bench.cluster import control_plane_pids
from hack.bench.common import CONDITIONS, NAMESPACE, load, until
from hack.bench.engine import REPORT_API_VERSION, REPORT_PLURAL, Kube, KubeWriter
from hack.bench.sampling import cpu_of

REPORTS = f"/apis/{REPORT_API_VERSION}/namespaces/{NAMESPACE}/{REPORT_PLURAL}"


def clear_our_writes(kube: Kube) -> None:
    """Delete the report objects and every condition on the bench's Services: a cold start again."""
    ns = NAMESPACE
    kube.request("DELETE", REPORTS)
    for svc in kube.list(f"/api/v1/namespaces/{ns}/services"):
        if (svc.get("status") or {}).get("conditions"):
            kube.request(
                "PATCH",
                f"/api/v1/namespaces/{ns}/services/{svc['metadata']['name']}/status",
                body={"status": {"conditions": None}},
                content_type="application/merge-patch+json",
            )
    until(lambda: not kube.list(REPORTS), timeout=300, what="report objects deleted")


def bench_conditions(meta: dict[str, Any], stamp: str) -> list[dict[str, Any]]:
    """Our three conditions, True, as the operator writes them."""
    return [
        {
            "type": f"headless-auditor.io/{kind}",
            "status": "True",
            "reason": "Bench",
            "message": "written by the benchmark's write floor",
            "lastTransitionTime": stamp,
            "observedGeneration": meta.get("generation", 1),
        }
        for kind in CONDITIONS
    ]


async def write_all(
    kube: Kube, services: list[dict[str, Any]], with_reports: bool, concurrency: int
) -> None:
    """Conditions on every Service (and its report, when ``with_reports``), through the
    operator's own writer, ``concurrency`` at once."""
    writer = KubeWriter(kube)
    limit = asyncio.Semaphore(concurrency)
    stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

    async def one(svc: dict[str, Any]) -> None:
        meta = svc["metadata"]
        conds = bench_conditions(meta, stamp)
        async with limit:
            await writer.apply_conditions(meta["namespace"], meta["name"], conds)
            if with_reports:
                status = {"conditions": conds, "dnsState": "Consistent", "summary": "bench"}
                await writer.apply_report(meta["namespace"], meta["name"], meta["uid"], status)

    await asyncio.gather(*(one(s) for s in services))


def write_floor(kube: Kube, *, concurrency: int = 16) -> dict[str, Any]:
    """The writes a cold start must make, with no operator: the operator's own writer puts three
    conditions on every Service, then (after a reset) conditions and report objects. Wall time and
    kube-apiserver+etcd CPU: what no change inside the operator can make faster."""
    services = kube.list(f"/api/v1/namespaces/{NAMESPACE}/services")
    pids = control_plane_pids()
    out: dict[str, Any] = {"services": len(services), "concurrency": concurrency}
    for label, with_reports in (("conditions", False), ("conditions_and_reports", True)):
        clear_our_writes(kube)
        cpu0, t0 = cpu_of(pids), time.monotonic()
        asyncio.run(write_all(kube, services, with_reports, concurrency))
        out[label] = {
            "writes": len(services) * (3 if with_reports else 1),
            "wall_s": round(time.monotonic() - t0, 2),
            "apiserver_etcd_cpu_s": round(cpu_of(pids) - cpu0, 2),
            "load": load(),
        }
    return out
