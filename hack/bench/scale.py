"""One scale N x M, step by step, on a fresh benchmark cluster taken down at the end."""

from __future__ import annotations

import contextlib
import pathlib
import time
from typing import Any

from hack.bench import first_operator, scenarios
from hack.bench.blackbox import run_blackbox
from hack.bench.cluster import BenchCluster, install_crds, reports_served
from hack.bench.common import NAMESPACE, load, log, until
from hack.bench.context import ScaleRun
from hack.bench.dnsperf import run_dnsperf
from hack.bench.engine import question_list
from hack.bench.options import Options
from hack.bench.watch import ServiceWatch
from hack.bench.workload import create_nodes, create_workload, wait_nodes_ready, wait_settled
from hack.bench.write_floor import write_floor


def run_scale(services: int, pods: int, opts: Options, work: pathlib.Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "scale": f"{services}x{pods}",
        "services": services,
        "pods": services * pods,
    }
    cluster = BenchCluster(work)
    with contextlib.ExitStack() as cleanup:
        cluster.up()
        cleanup.callback(cluster.down)
        kube = cluster.kube()
        install_crds(cluster)
        run = ScaleRun(services, pods, opts, work, cluster, kube, cleanup, result)
        create_and_settle(run)
        until(lambda: reports_served(kube), timeout=60, what="the report CRD served")
        watch = ServiceWatch(kube)
        cleanup.callback(watch.stop)
        first_operator.measure(run, watch)
        ceiling_and_peer(run)
        scenarios.measure(run, watch)
        watch.stop()
        result["write_floor"] = write_floor(kube)
        log(f"write floor: {result['write_floor']}")
        with contextlib.suppress(OSError):
            result["audit_log_mib"] = round(cluster.audit_log.stat().st_size / 2**20, 1)
    return result


def create_and_settle(run: ScaleRun) -> None:
    """Nodes, then the workload until its slices are ready; then the engine's question list."""
    services, pods, kube = run.services, run.pods, run.kube
    nodes = create_nodes(kube, services * pods)
    wait_nodes_ready(kube, nodes)
    started = time.monotonic()
    posted = create_workload(kube, services, pods)
    log(
        f"{services} Services + StatefulSets posted in {posted:.1f} s; "
        f"waiting for {services * pods} ready endpoints"
    )
    settled = wait_settled(kube, services, pods, started, run.opts.settle_timeout)
    create = {
        "posted_s": round(posted, 1),
        "settled_s": settled["settled_s"],
        "pods_per_s": round(services * pods / settled["settled_s"], 1),
        "load": load(),
    }
    run.result["create"] = create
    log(f"settled in {settled['settled_s']} s ({create['pods_per_s']} pods/s)")
    time.sleep(5)  # let the controllers' last status writes drain
    run.questions, run.grace = question_list(kube, NAMESPACE)
    run.result["questions_per_server"] = len(run.questions)
    run.result["grace_s"] = run.grace


def ceiling_and_peer(run: ScaleRun) -> None:
    """dnsperf, then blackbox_exporter, with the operator stopped."""
    opts = run.opts
    run.result["ceiling"] = run_dnsperf(
        run.questions, run.work, opts.dnsperf_seconds, opts.dnsperf_target
    )
    log(f"dnsperf: {run.result['ceiling']}")
    run.result["peer"] = run_blackbox(
        run.questions,
        run.work,
        sample_size=opts.blackbox_sample,
        repeats=opts.blackbox_repeats,
        seconds=opts.blackbox_seconds,
        concurrency=opts.blackbox_concurrency,
    )
    log(f"blackbox: {run.result['peer']}")
