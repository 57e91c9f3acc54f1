"""server: /metrics and /healthz through aiohttp's test client (loopback, any free port)."""

from __future__ import annotations

import re
import time

import prometheus_client as prom
from aiohttp import test_utils

from headless_auditor import __version__
from headless_auditor.controller import server
from headless_auditor.sinks import metrics


async def get(
    registry: prom.CollectorRegistry, heartbeat: server.Heartbeat, path: str
) -> tuple[int, str, str]:
    app = server.application(registry, heartbeat.problem)
    async with test_utils.TestClient(test_utils.TestServer(app)) as client:
        response = await client.get(path)
        return response.status, response.headers["Content-Type"], await response.text()


async def test_metrics_serves_the_injected_registry() -> None:
    registry = prom.CollectorRegistry()
    meters = metrics.Metrics(registry)
    meters.writes.labels("report").inc(3)
    status, content_type, body = await get(registry, server.Heartbeat(60), "/metrics")
    assert status == 200
    assert content_type == prom.CONTENT_TYPE_LATEST
    assert body == prom.generate_latest(registry).decode()
    assert f'headless_auditor_build_info{{version="{__version__}"}} 1.0' in body
    assert 'headless_auditor_writes_total{kind="report"} 3.0' in body
    assert "python_gc_objects_collected_total" not in body  # not the global registry


async def test_healthz_ok_while_the_loops_beat() -> None:
    heartbeat = server.Heartbeat(60)
    status, _, body = await get(prom.CollectorRegistry(), heartbeat, "/healthz")
    assert (status, body) == (200, "ok\n")


async def test_healthz_503_with_the_reason_when_stale() -> None:
    heartbeat = server.Heartbeat(60)
    heartbeat.last = time.monotonic() - 300
    status, _, body = await get(prom.CollectorRegistry(), heartbeat, "/healthz")
    assert status == 503
    assert re.fullmatch(r"no audit loop progress for 30\ds\n", body)


async def test_a_beat_makes_it_healthy_again() -> None:
    heartbeat = server.Heartbeat(60)
    heartbeat.last = time.monotonic() - 300
    assert heartbeat.problem() is not None
    heartbeat.beat()
    assert heartbeat.problem() is None
    status, _, _ = await get(prom.CollectorRegistry(), heartbeat, "/healthz")
    assert status == 200


def test_silence_up_to_the_limit_is_healthy() -> None:
    heartbeat = server.Heartbeat(60)
    heartbeat.last = time.monotonic() - 59
    assert heartbeat.problem() is None
    heartbeat.last = time.monotonic() - 61
    assert re.fullmatch(r"no audit loop progress for 6\ds", heartbeat.problem() or "")


async def test_unknown_paths_are_404() -> None:
    status, _, _ = await get(prom.CollectorRegistry(), server.Heartbeat(60), "/")
    assert status == 404
