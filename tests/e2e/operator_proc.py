"""The operator as a real process against the local cluster, for e2e tests."""

from __future__ import annotations

import contextlib
import functools
import os
import pathlib
import signal
import socket
import subprocess
import sys
import urllib.request
from collections.abc import Sequence
from typing import IO

from tests import poll
from tests.e2e import cluster as cl

CRDS = cl.ROOT / "charts" / "headless-auditor" / "crds"


def command(
    metrics_port: int, sweep_interval: float, log_format: str, namespaces: Sequence[str] = ()
) -> list[str]:
    """``headless-auditor run`` with metrics on 127.0.0.1 (also used by hack.bench)."""
    args = [
        sys.executable,
        "-m",
        "headless_auditor.cli",
        "run",
        "--metrics-address",
        "127.0.0.1",
        "--metrics-port",
        str(metrics_port),
        "--sweep-interval",
        str(sweep_interval),
        "--log-format",
        log_format,
    ]
    for ns in namespaces:
        args += ["--namespace", ns]
    return args


def sample(metrics_text: str, name: str, **labels: str) -> float | None:
    """The value of one sample of a /metrics page, or None when absent."""
    from prometheus_client.parser import text_string_to_metric_families  # noqa: PLC0415

    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
                return float(s.value)
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Operator:
    """``headless-auditor run`` limited to some namespaces, metrics on a free loopback port."""

    def __init__(
        self,
        cluster: cl.Cluster,
        namespaces: list[str],
        log: pathlib.Path,
        *,
        dns_servers: list[str] | None = None,
        sweep_interval: float = 3.0,
        extra_env: dict[str, str] | None = None,
    ) -> None:
        self.cluster = cluster
        self.port = free_port()
        self.log = log
        env = cluster.process_env
        env.update(extra_env or {})
        if dns_servers:
            env["HEADLESS_AUDITOR_DNS_SERVERS"] = ",".join(dns_servers)
        args = command(self.port, sweep_interval, "text", namespaces)
        self._log_file: IO[bytes] = log.open("ab")
        self.process = subprocess.Popen(
            args,
            env=env,
            stdout=self._log_file,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        poll.until(self.healthy, timeout=30, what="operator /healthz")

    def get(self, path: str) -> str:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}{path}", timeout=5) as r:
            return str(r.read().decode())

    def healthy(self) -> bool:
        if self.process.poll() is not None:
            raise RuntimeError(
                f"operator exited {self.process.returncode}:\n{self.log.read_text()}"
            )
        try:
            return self.get("/healthz").strip() == "ok"
        except OSError:
            return False

    def metric(self, name: str, **labels: str) -> float | None:
        """The value of one sample from /metrics, or None when absent."""
        return sample(self.get("/metrics"), name, **labels)

    def sweeps(self) -> float:
        return self.metric("headless_auditor_last_sweep_timestamp_seconds") or 0.0

    def wait_sweeps(self, count: int, timeout: float = 60) -> None:
        """Wait until ``count`` more full sweeps have finished."""
        for _ in range(count):
            before = self.sweeps()
            poll.until(
                functools.partial(self._swept_after, before), timeout=timeout, what="a full sweep"
            )

    def _swept_after(self, before: float) -> bool:
        return self.sweeps() > before

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=5)
        with contextlib.suppress(OSError):
            self._log_file.close()
