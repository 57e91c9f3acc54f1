"""Issue 6 acceptance: the shipped rules, in a real Prometheus scraping the operator."""

from __future__ import annotations

import pathlib
from collections.abc import Iterator
from typing import Any

import pytest

from tests import poll
from tests.e2e import cluster as cl
from tests.e2e import prom, workloads

SHORT = {
    "HeadlessServiceDNSInconsistent": "8s",
    "HeadlessAuditorAbsent": "3s",
}


@pytest.fixture
def prometheus_for(tmp_path: pathlib.Path) -> Iterator[Any]:
    started: list[prom.Prometheus] = []

    def start(target: str) -> prom.Prometheus:
        p = prom.Prometheus(tmp_path, target, prom.rules_file(tmp_path / "rules.yaml", SHORT))
        started.append(p)
        return p

    yield start
    for p in started:
        p.stop()


def test_dns_alert_pending_firing_resolved_and_absent_alert(
    cluster, namespace, start_operator, extra_dns, prometheus_for
) -> None:
    cluster.apply(workloads.nginx_web(), namespace)
    cl.wait_ready_endpoints(cluster, namespace, "nginx", 2)
    name = f"web-0.nginx.{namespace}.svc.{cluster.domain}"
    stale = extra_dns("127.0.10.7", hosts={name: "10.99.99.99"})
    op = start_operator(dns_servers=[*cluster.dns_servers, stale.server], sweep_interval=1)
    prom = prometheus_for(f"127.0.0.1:{op.port}")
    labels = {"namespace": namespace, "service": "nginx"}
    alert = "HeadlessServiceDNSInconsistent"

    poll.until(
        lambda: prom.state(alert, **labels) == "pending",
        timeout=60,
        interval=0.2,
        what=f"{alert} pending",
    )
    poll.until(lambda: prom.state(alert, **labels) == "firing", timeout=60, what=f"{alert} firing")

    stale.stop()
    extra_dns("127.0.10.7")  # the same replica without its stale entry
    poll.until(lambda: prom.state(alert, **labels) is None, timeout=90, what=f"{alert} resolved")
    assert prom.state("HeadlessAuditorAbsent") is None

    op.stop()
    poll.until(
        lambda: prom.state("HeadlessAuditorAbsent") == "firing",
        timeout=60,
        what="HeadlessAuditorAbsent firing",
    )
