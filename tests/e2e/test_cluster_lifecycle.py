"""Issue 2 acceptance: the local cluster goes down and up repeatedly, and `up` is idempotent."""

from __future__ import annotations

import subprocess
import time

import pytest

from tests.e2e import cluster as cl
from tests.e2e import dnsquery


def processes_of_state() -> list[str]:
    out = subprocess.run(
        ["pgrep", "-a", "-f", f"{cl.STATE}/"], capture_output=True, text=True, check=False
    ).stdout
    return [line for line in out.splitlines() if "pgrep" not in line]


@pytest.mark.disruptive
def test_down_and_up_repeatedly(cluster: cl.Cluster) -> None:
    start = time.monotonic()
    again = cl.run_script("up")
    assert "already running" in again.stderr
    assert time.monotonic() - start < 10, "a second cluster-up must be a no-op"

    for _ in range(2):
        cl.run_script("down")
        assert processes_of_state() == []
        assert not cl.STATE.exists()
        assert not cl.is_running()

        cl.run_script("up")
        env = cl.read_env(cl.STATE / "env")
        fresh = cl.Cluster(env)
        name = f"kubernetes.default.svc.{fresh.domain}."
        for server in fresh.dns_servers:
            reply = dnsquery.ask(server, name, "A")
            assert reply.rcode == "NOERROR", (server, reply)
            assert reply.records, (server, reply)
