"""Operator #1 on the two CoreDNS replicas: cold sweep, steady sweep, unready pods, its cost."""

from __future__ import annotations

import functools
import signal
import statistics
import time
from typing import Any, NamedTuple

from hack.bench.auditlog import audit_requests
from hack.bench.cluster import control_plane_pids, set_pod_ready
from hack.bench.common import SERVERS, load, log, until
from hack.bench.context import ScaleRun
from hack.bench.operator_run import Operator, start_profiler
from hack.bench.sampling import cpu_of
from hack.bench.watch import ServiceWatch
from hack.bench.workload import service_name, sts_name


class Usage(NamedTuple):
    """CPU seconds so far of the operator, both CoreDNS, kube-apiserver+etcd; a monotonic time."""

    operator: float
    coredns: float
    control: float
    wall: float


def usage(op: Operator, coredns: list[int], control: dict[str, int]) -> Usage:
    return Usage(op.cpu(), cpu_of(coredns), cpu_of(control), time.monotonic())


def measure(run: ScaleRun, watch: ServiceWatch) -> None:
    """Operator #1 from its start to its SIGTERM; figures in ``run.result``."""
    coredns = run.cluster.coredns_pids()
    control = control_plane_pids()
    op, sweep1 = cold(run, watch, coredns, control)
    steady(run, op, sweep1, coredns, control)
    unready(run, watch)
    finish(run, op, sweep1)


def cold(
    run: ScaleRun, watch: ServiceWatch, coredns: list[int], control: dict[str, int]
) -> tuple[Operator, dict[str, Any]]:
    """Start the operator; its first (cold) sweep and the time until every Service has our
    conditions. The operator and the figures of sweep 1."""
    dns_cpu0, cp_cpu0 = cpu_of(coredns), cpu_of(control)
    log_path = run.work / f"operator-{run.label}.log"
    op = Operator(
        run.cluster, list(SERVERS), run.opts.steady_interval, log_path, run.opts.operator_path
    )
    run.cleanup.callback(op.stop)
    profiler = None
    if run.opts.profile:
        profiler = start_profiler(op.pid, run.work / f"profile-cold-{run.label}.txt")
    sweep1 = op.wait_sweep(1, timeout=900)
    cost = {
        "cpu_s": op.cpu(),
        "coredns_cpu_s": cpu_of(coredns) - dns_cpu0,
        "apiserver_etcd_cpu_s": cpu_of(control) - cp_cpu0,
        "rss_mib": op.memory().get("VmRSS"),
        "load": load(),
    }
    if profiler is not None:
        profiler.send_signal(signal.SIGINT)
        profiler.wait(timeout=60)
    all_done = until(
        lambda: len(watch.complete_at) >= run.services and max(watch.complete_at.values()),
        timeout=600,
        what="every Service with our conditions",
    )
    run.result["cold"] = cold_figures(op, sweep1, watch, all_done, cost)
    log(f"cold: {run.result['cold']}")
    return op, sweep1


def cold_figures(
    op: Operator, sweep1: dict[str, Any], watch: ServiceWatch, all_done: float, cost: dict[str, Any]
) -> dict[str, Any]:
    """The figures of the cold phase: ``cost`` sampled at the end of sweep 1, /metrics now."""
    scrape = op.scrape()
    cpu = cost["cpu_s"]
    return {
        "sweep_s": sweep1["seconds"],
        "sweep_services": sweep1["services"],
        "start_to_sweep_end_s": round(sweep1["end"] - op.started_wall, 2),
        "start_to_all_conditions_s": round(all_done - op.started_wall, 2),
        "start_to_first_conditions_s": round(min(watch.complete_at.values()) - op.started_wall, 2),
        "dns_queries": int(scrape["dns_queries"]),
        "dns_errors": int(scrape["dns_errors"]),
        "queries_per_s": round(scrape["dns_queries"] / sweep1["seconds"]),
        "audits": int(sum(scrape["audits"].values())),
        "writes": {k: int(v) for k, v in scrape["writes"].items()},
        "cpu_s": round(cpu, 2),
        "cpu_us_per_query": round(cpu / scrape["dns_queries"] * 1e6, 1),
        "coredns_cpu_s": round(cost["coredns_cpu_s"], 2),
        "apiserver_etcd_cpu_s": round(cost["apiserver_etcd_cpu_s"], 2),
        "rss_mib": cost["rss_mib"],
        "load": cost["load"],
    }


def steady(
    run: ScaleRun,
    op: Operator,
    sweep1: dict[str, Any],
    coredns: list[int],
    control: dict[str, int],
) -> None:
    """Sweep 2, nothing changed: sampled from ~5 s before it starts to right after it ends."""
    # the next sweep starts steady_interval after the first ended
    quiet_at = sweep1["end"] + run.opts.steady_interval - 6
    time.sleep(max(0.0, quiet_at - time.time()))
    s1 = op.scrape()
    time.sleep(1)
    s2 = op.scrape()
    idle_tail = int(sum(s2["audits"].values()) - sum(s1["audits"].values()))
    before = usage(op, coredns, control)
    sweep2 = op.wait_sweep(2, timeout=run.opts.steady_interval + 900)
    after = usage(op, coredns, control)
    s3 = op.scrape()
    time.sleep(1.5)  # the audit log is written asynchronously
    sweep2_start = sweep2["end"] - sweep2["seconds"]
    figures = steady_figures(sweep2, s2, s3, (before, after), idle_tail)
    figures["api_requests"] = audit_requests(
        run.cluster.audit_log, sweep2_start - 0.5, sweep2["end"] + 0.5
    )
    figures["load"] = load()
    run.result["steady"] = figures
    log(f"steady: {run.result['steady']}")


def steady_figures(
    sweep2: dict[str, Any],
    s2: dict[str, Any],
    s3: dict[str, Any],
    around: tuple[Usage, Usage],
    idle_tail: int,
) -> dict[str, Any]:
    """The figures of sweep 2 from the scrapes and the CPU samples ``around`` it."""
    before, after = around
    queries = s3["dns_queries"] - s2["dns_queries"]
    cpu = after.operator - before.operator
    return {
        "sweep_s": sweep2["seconds"],
        "dns_queries": int(queries),
        "queries_per_s": round(queries / sweep2["seconds"]),
        "audits": int(sum(s3["audits"].values()) - sum(s2["audits"].values())),
        "audits_before_sweep": idle_tail,
        "writes": {k: int(v - s2["writes"].get(k, 0)) for k, v in s3["writes"].items()},
        "cpu_s": round(cpu, 2),
        "cpu_us_per_query": round(cpu / queries * 1e6, 1),
        "cpu_share_of_one_core": round(cpu / sweep2["seconds"], 2),
        "sample_wall_s": round(after.wall - before.wall, 1),
        "coredns_cpu_s": round(after.coredns - before.coredns, 2),
        "apiserver_etcd_cpu_s": round(after.control - before.control, 2),
    }


def unready(run: ScaleRun, watch: ServiceWatch) -> None:
    """A pod made unready, ``unready_samples`` times: PodNamesResolvable False (and
    DNSConsistent stays True)."""
    samples = []
    for i in run.rng.sample(range(run.services), run.opts.unready_samples):
        svc, pod = service_name(i), f"{sts_name(i)}-0"
        t0 = set_pod_ready(run.kube, pod, False)
        t1 = until(
            functools.partial(watch.first_change, svc, "PodNamesResolvable", "False", t0),
            timeout=60,
            what=f"PodNamesResolvable False on {svc}",
        )
        samples.append(round(t1 - t0, 2))
    time.sleep(run.grace + 3)  # past the grace window: did DNSConsistent stay True?
    others = {str(watch.status(service_name(i), "DNSConsistent")) for i in range(run.services)}
    run.result["unready"] = {
        "seconds": samples,
        "median_s": statistics.median(samples),
        "max_s": max(samples),
        "max_minus_grace_s": round(max(samples) - run.grace, 2),
        "dns_consistent_after": sorted(others - {"True"}) or ["True"],
        "load": load(),
    }
    log(f"unready: {run.result['unready']}")


def finish(run: ScaleRun, op: Operator, sweep1: dict[str, Any]) -> None:
    """The operator's API requests after and during its start-up, its memory and CPU; SIGTERM."""
    audit_log = run.cluster.audit_log
    run.result["api_after_startup"] = audit_requests(audit_log, sweep1["end"], time.time())
    run.result["api_startup"] = audit_requests(audit_log, op.started_wall - 1, sweep1["end"])
    memory = op.memory()
    run.result["operator"] = {
        "peak_rss_mib": memory.get("VmHWM"),
        "rss_mib": memory.get("VmRSS"),
        "cpu_s": round(op.cpu(), 2),
        "lifetime_s": round(time.monotonic() - op.started, 1),
        "log_errors": op.errors(),
    }
    run.result["operator"].update(op.stop())
    log(f"operator #1: {run.result['operator']}")
