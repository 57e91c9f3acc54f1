"""The benchmark's constants (paths, addresses, names) and the small helpers every step uses."""

from __future__ import annotations

import contextlib
import os
import pathlib
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[2]
STATE = ROOT / ".bench-cluster"
ADDRESSES = ("127.0.20.1", "127.0.20.2")
EXTRA_ADDRESS = "127.0.20.3"
DNS_PORT = 1053
SERVERS = tuple(f"{a}:{DNS_PORT}" for a in ADDRESSES)
NAMESPACE = "bench"
OUT = ROOT / "build" / "bench"
CRDS = ROOT / "charts" / "headless-auditor" / "crds"
BENCH_USER_AGENT = "headless-auditor-bench"
OPERATOR_AGENTS = ("kopf/", "headless-auditor")  # kopf's watches; its raw client (writes, GETs)
CONDITIONS = ("DNSConsistent", "PodNamesResolvable", "ConfigurationValid")
NO_PROXY_ENV = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def until(check: Callable[[], Any], *, timeout: float, interval: float = 0.2, what: str) -> Any:
    """Call ``check`` until it returns a truthy value and return that; its exceptions propagate."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(interval)


def local_get(url: str, timeout: float) -> tuple[int, str]:
    """GET on loopback, never through a proxy: the status and the body."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    with opener.open(url, timeout=timeout) as response:
        return int(response.status), str(response.read().decode())


def answers_ok(url: str) -> bool:
    """A loopback endpoint answers 200 (health and readiness checks); False while it cannot."""
    try:
        return local_get(url, timeout=1)[0] == 200
    except OSError:
        return False


def stop_process(process: subprocess.Popen[bytes], *, group: bool = True) -> None:
    """SIGTERM (the process group when it has its own), SIGKILL after 15 s; reaped."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            if group:
                os.killpg(process.pid, signal.SIGKILL)
            else:
                process.kill()
        process.wait(timeout=10)
