"""The HTTP endpoints of the operator: ``/metrics`` for Prometheus and ``/healthz`` for liveness."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable

import prometheus_client as prom
from aiohttp import web


def application(
    registry: prom.CollectorRegistry, healthy: Callable[[], str | None]
) -> web.Application:
    """``healthy`` returns None when alive, else why not (served as 503)."""

    async def metrics(_: web.Request) -> web.Response:
        body = await asyncio.to_thread(prom.generate_latest, registry)
        return web.Response(body=body, headers={"Content-Type": prom.CONTENT_TYPE_LATEST})

    async def healthz(_: web.Request) -> web.Response:
        problem = healthy()
        if problem is None:
            return web.Response(text="ok\n")
        return web.Response(status=503, text=problem + "\n")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/healthz", healthz)
    return app


async def serve(app: web.Application, address: str, port: int) -> web.AppRunner:
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, address, port).start()
    return runner


class Heartbeat:
    """Liveness: the audit loops report in; silence for too long means stuck."""

    def __init__(self, limit_seconds: float) -> None:
        self.limit = limit_seconds
        self.last = time.monotonic()

    def beat(self) -> None:
        self.last = time.monotonic()

    def problem(self) -> str | None:
        silent = time.monotonic() - self.last
        return None if silent <= self.limit else f"no audit loop progress for {silent:.0f}s"
