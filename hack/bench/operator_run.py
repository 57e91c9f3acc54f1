"""The operator under test: ``headless-auditor run`` as a child process, sampled as it runs."""

from __future__ import annotations

import contextlib
import pathlib
import subprocess
import time
from typing import Any

from tests.e2e import operator_proc

from hack.bench.cluster import BenchCluster
from hack.bench.common import free_port, local_get, stop_process, until
from hack.bench.sampling import metric_figures, proc_cpu, proc_memory, sweep_lines


class Operator:
    """``headless-auditor run`` as a child process, JSON logs to a file, metrics on loopback."""

    def __init__(
        self,
        cluster: BenchCluster,
        servers: list[str],
        sweep_interval: float,
        log_path: pathlib.Path,
        python_path: str = "",
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        env = cluster.process_env
        env["HEADLESS_AUDITOR_DNS_SERVERS"] = ",".join(servers)
        args = operator_proc.command(self.port, sweep_interval, "json")
        if python_path:
            env["PYTHONPATH"] = python_path  # a patched copy of operator/ (design experiments)
        self._log = log_path.open("ab")
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            args, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pid = self.process.pid

    def get(self, path: str) -> str:
        return local_get(f"http://127.0.0.1:{self.port}{path}", timeout=30)[1]

    def scrape(self) -> dict[str, Any]:
        """The figures of /metrics the benchmark reads (one scrape)."""
        return metric_figures(self.get("/metrics"))

    def sweeps(self) -> list[dict[str, Any]]:
        """Every ``sweep N: X Services in Ys`` line of the log: end time, count, seconds."""
        return sweep_lines(self.log_path.read_text(errors="replace"))

    def wait_sweep(self, n: int, timeout: float) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            if self.process.poll() is not None:
                raise RuntimeError(f"operator exited:\n{self.log_path.read_text()[-3000:]}")
            return next((s for s in self.sweeps() if s["n"] == n), None)

        return dict(until(done, timeout=timeout, interval=0.2, what=f"operator sweep {n}"))

    def errors(self) -> list[str]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if '"level": "error"' in line][:5]

    def cpu(self) -> float:
        return proc_cpu(self.pid)

    def memory(self) -> dict[str, float]:
        return proc_memory(self.pid)

    def stop(self) -> dict[str, Any]:
        """SIGTERM; the exit code and whether the log shows a traceback."""
        stop_process(self.process)
        with contextlib.suppress(OSError):
            self._log.close()
        text = self.log_path.read_text(errors="replace")
        return {"exit_code": self.process.returncode, "traceback": "Traceback" in text}

    def wait_quiet(self, timeout: float = 120) -> float:
        """Wait until no audit ran for 3 s (the start-up tail is over); seconds waited."""
        started = time.monotonic()
        last, still = -1.0, 0
        while time.monotonic() - started < timeout:
            audits = sum(self.scrape()["audits"].values())
            still = still + 1 if audits == last else 0
            if still >= 2:
                break
            last = audits
            time.sleep(1.5)
        return round(time.monotonic() - started, 1)


def start_profiler(pid: int, output: pathlib.Path) -> subprocess.Popen[bytes]:
    """py-spy over a process (raw stacks, 50 Hz, at most 600 s); stopped with SIGINT."""
    return subprocess.Popen(
        [
            "py-spy",
            "record",
            "--pid",
            str(pid),
            "--rate",
            "50",
            "--nonblocking",
            "--format",
            "raw",
            "-o",
            str(output),
            "--duration",
            "600",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
