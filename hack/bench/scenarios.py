"""Operator #2 with a third, extra CoreDNS: a stale record, then a wrong one (drift)."""

from __future__ import annotations

import time
from typing import Any

from hack.bench.cluster import pod_ip, set_pod_ready
from hack.bench.common import NAMESPACE, SERVERS, load, log, until
from hack.bench.context import ScaleRun
from hack.bench.extra_dns import ExtraCoreDNS
from hack.bench.operator_run import Operator
from hack.bench.watch import ServiceWatch
from hack.bench.workload import service_name, sts_name

ZONE = "cluster.local"
WRONG_IP = "10.255.255.1"  # fake, never contacted


def pod_fqdn(i: int, ordinal: int) -> str:
    return f"{sts_name(i)}-{ordinal}.{service_name(i)}.{NAMESPACE}.svc.{ZONE}"


def measure(run: ScaleRun, watch: ServiceWatch) -> None:
    """Operator #2 on both replicas and the extra one, which serves its hosts file first."""
    stale_i, drift_i = run.rng.sample(list(range(run.services)), 2)
    stale_pod = f"{sts_name(stale_i)}-1"
    hosts = {pod_fqdn(stale_i, 1): pod_ip(run.kube, stale_pod)}  # right, until the pod is unready
    extra = ExtraCoreDNS(run.cluster, run.work / "extra-coredns", hosts)
    run.cleanup.callback(extra.stop)
    op2 = Operator(
        run.cluster,
        [*SERVERS, extra.server],
        run.opts.drift_interval,
        run.work / f"operator2-{run.label}.log",
        run.opts.operator_path,
    )
    run.cleanup.callback(op2.stop)
    first = op2.wait_sweep(1, timeout=900)
    quiet = op2.wait_quiet()  # the start-up tail of requested audits is over
    run.result["stale"] = stale(run, watch, stale_i, first, quiet)
    log(f"stale: {run.result['stale']}")
    run.result["drift"] = drift(run, watch, extra, hosts, drift_i)
    log(f"drift: {run.result['drift']}")
    memory = op2.memory()
    run.result["operator2"] = {
        "peak_rss_mib": memory.get("VmHWM"),
        "cpu_s": round(op2.cpu(), 2),
        "log_errors": op2.errors(),
    }
    run.result["operator2"].update(op2.stop())
    extra.stop()


def stale(
    run: ScaleRun, watch: ServiceWatch, stale_i: int, first: dict[str, Any], quiet: float
) -> dict[str, Any]:
    """The extra replica keeps the address of a pod that turned unready: DNSConsistent False."""
    svc = service_name(stale_i)
    t0 = set_pod_ready(run.kube, f"{sts_name(stale_i)}-1", False)
    t_false = until(
        lambda: watch.first_change(svc, "DNSConsistent", "False", t0),
        timeout=run.grace + 120,
        what=f"DNSConsistent False on {svc}",
    )
    t_pods = watch.first_change(svc, "PodNamesResolvable", "False", t0)
    return {
        "seconds": round(t_false - t0, 2),
        "minus_grace_s": round(t_false - t0 - run.grace, 2),
        "pod_names_false_s": round(t_pods - t0, 2) if t_pods else None,
        "sweep_with_3_servers_s": first["seconds"],
        "waited_for_quiet_s": quiet,
        "load": load(),
    }


def drift(
    run: ScaleRun, watch: ServiceWatch, extra: ExtraCoreDNS, hosts: dict[str, str], drift_i: int
) -> dict[str, Any]:
    """A wrong record appears in DNS with no API change at all: DNSConsistent False."""
    drift_name = pod_fqdn(drift_i, 2)
    extra.write_hosts({**hosts, drift_name: WRONG_IP})
    t_wrong = until(
        lambda: WRONG_IP in extra.answers(drift_name) and time.time(),
        timeout=30,
        interval=0.05,
        what="the extra CoreDNS serving the wrong record",
    )
    svc = service_name(drift_i)
    t_false = until(
        lambda: watch.first_change(svc, "DNSConsistent", "False", t_wrong),
        timeout=run.opts.drift_interval + 900,
        what=f"DNSConsistent False on {svc}",
    )
    return {
        "seconds": round(t_false - t_wrong, 2),
        "sweep_interval_s": run.opts.drift_interval,
        "load": load(),
    }
