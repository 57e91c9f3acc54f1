"""The HTTP endpoints of the operator: ``/metrics`` for Prometheus and ``/healthz`` for liveness.

The server is bound first thing at start-up, before any login or watch: an address that cannot be
bound (a port in use, an address not on this host, a privileged port) is a configuration error
that stops the operator with one line (:class:`BindError`), not a traceback from inside kopf.
"""

from __future__ import annotations

import asyncio
import os
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


class BindError(Exception):
    """The server cannot listen on its address and port; the message says why, in one line."""

    def __init__(self, address: str, port: int, reason: str) -> None:
        super().__init__(f"cannot serve metrics on {endpoint(address, port)}: {reason}")
        self.address = address
        self.port = port
        self.reason = reason


def endpoint(address: str, port: int) -> str:
    """``address:port``, with an IPv6 address in brackets."""
    return f"[{address}]:{port}" if ":" in address else f"{address}:{port}"


def bind_reason(error: OSError) -> str:
    """Why a bind failed, as the C library says it: ``address already in use``."""
    if error.errno is not None:
        return os.strerror(error.errno).lower()
    return str(error)


async def serve(app: web.Application, address: str, port: int) -> web.AppRunner:
    """Listen on ``address:port``; :class:`BindError` when that is not possible."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    try:
        await web.TCPSite(runner, address, port).start()
    except OSError as error:
        await runner.cleanup()
        raise BindError(address, port, bind_reason(error)) from error
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
