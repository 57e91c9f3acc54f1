"""Issue 6 acceptance: the shipped rules, in a real Prometheus scraping the operator.

The rules are the chart's (hack/manifests.sh --rules); only their `for:` windows are shortened,
through the chart's values, so the test runs in seconds without editing a rule.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest
import yaml

from tests import poll
from tests.e2e import cluster as cl
from tests.e2e import operator_proc, workloads

SHORT = {
    "HeadlessServiceDNSInconsistent": "8s",
    "HeadlessAuditorAbsent": "3s",
}


def rules_file(path: pathlib.Path) -> pathlib.Path:
    overrides = [
        arg
        for alert, window in SHORT.items()
        for arg in ("--set", f"prometheusRule.alerts.{alert}.for={window}")
    ]
    proc = subprocess.run(
        [str(cl.ROOT / "hack" / "manifests.sh"), "--rules", *overrides],
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    path.write_text(proc.stdout)
    return path


class Prometheus:
    def __init__(self, workdir: pathlib.Path, target: str, rules: pathlib.Path) -> None:
        self.port = operator_proc.free_port()
        config = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [str(rules)],
            "scrape_configs": [
                {"job_name": "headless-auditor", "static_configs": [{"targets": [target]}]}
            ],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = (workdir / "prometheus.log").open("wb")
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={workdir / 'prometheus.yml'}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        poll.until(self.ready, timeout=60, what="Prometheus ready")

    def ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/-/ready", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def alerts(self) -> list[dict[str, Any]]:
        url = f"http://127.0.0.1:{self.port}/api/v1/alerts"
        with urllib.request.urlopen(url, timeout=5) as r:
            return list(json.loads(r.read())["data"]["alerts"])

    def state(self, name: str, **labels: str) -> str | None:
        for alert in self.alerts():
            al = alert["labels"]
            if al["alertname"] == name and all(al.get(k) == v for k, v in labels.items()):
                return str(alert["state"])
        return None

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


@pytest.fixture
def prometheus_for(tmp_path: pathlib.Path) -> Iterator[Any]:
    started: list[Prometheus] = []

    def start(target: str) -> Prometheus:
        p = Prometheus(tmp_path, target, rules_file(tmp_path / "rules.yaml"))
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
