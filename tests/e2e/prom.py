"""A real Prometheus (the Debian package) with the shipped rules, for e2e tests.

The rules are the chart's (hack/manifests.sh --rules); only their `for:` windows are shortened,
through the chart's values, so a test sees an alert fire in seconds without editing a rule.
"""

from __future__ import annotations

import json
import pathlib
import subprocess
import urllib.request
from collections.abc import Mapping
from typing import Any

import yaml

from tests import poll
from tests.e2e import cluster as cl
from tests.e2e import operator_proc


def rules_file(path: pathlib.Path, short: Mapping[str, str]) -> pathlib.Path:
    """The shipped rule file, each alert in ``short`` with its `for:` window replaced."""
    overrides = [
        arg
        for alert, window in short.items()
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
