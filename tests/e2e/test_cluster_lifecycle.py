"""Issues 2 and 11: the local cluster goes down and up repeatedly, `up` is idempotent, `up`
recovers from a run that was killed, and `down` leaves nothing behind on the machine."""

from __future__ import annotations

import json
import time

import pytest

from tests import poll
from tests.e2e import cluster as cl
from tests.e2e import dnsquery, hoststate


def answers_dns(fresh: cl.Cluster) -> None:
    name = f"kubernetes.default.svc.{fresh.domain}."
    for server in fresh.dns_servers:
        reply = dnsquery.ask(server, name, "A")
        assert reply.rcode == "NOERROR", (server, reply)
        assert reply.records, (server, reply)


def kube_dns_pods_ready(fresh: cl.Cluster) -> bool:
    pods = json.loads(fresh.kubectl("get", "pods", "-n", "kube-system", "-l", "k8s-app=kube-dns",
                                    "-o", "json"))["items"]  # fmt: skip
    return len(pods) == 2 and all(
        any(c["type"] == "Ready" and c["status"] == "True" for c in p["status"]["conditions"])
        for p in pods
    )


@pytest.mark.disruptive
def test_down_and_up_repeatedly_leave_nothing_behind(cluster: cl.Cluster) -> None:
    start = time.monotonic()
    again = cl.run_script("up")
    assert "already running" in again.stderr
    assert time.monotonic() - start < 10, "a second cluster-up must be a no-op"

    cl.run_script("down")
    clean = hoststate.snapshot()
    assert clean["processes"] == []
    assert not cl.STATE.exists()
    assert not cl.is_running()

    # A run killed mid-flight (as a stopped session is): the next `up` cleans and starts.
    cl.run_script("up")
    hoststate.kill_like_a_crash()
    poll.until(lambda: hoststate.processes() == [], timeout=30, what="every process gone")
    cl.run_script("up")
    fresh = cl.Cluster(cl.read_env(cl.STATE / "env"))
    answers_dns(fresh)
    poll.until(lambda: kube_dns_pods_ready(fresh), timeout=60, what="the CoreDNS pods Ready")

    cl.run_script("down")
    assert hoststate.differences(clean, hoststate.snapshot()) == {}

    cl.run_script("up")
    answers_dns(cl.Cluster(cl.read_env(cl.STATE / "env")))
