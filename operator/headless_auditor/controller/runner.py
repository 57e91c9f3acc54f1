"""``headless-auditor run``: build the operator's parts from the settings and run them together.

Embedded kopf (its ``operator()`` coroutine) runs beside our own two loops (requested audits and
sweeps) and the HTTP server, on one event loop; dependencies are passed in, nothing is global.
The HTTP server is bound before anything else is built, so a metrics address that cannot be used
ends start-up with :class:`server.BindError` while there is no login, watch or loop to stop.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import os
import pathlib
import socket
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from typing import Any

import kopf
import prometheus_client as prom

from headless_auditor import __version__, config, probe
from headless_auditor.controller import handlers, kopf_fixes, publisher, scheduler, server
from headless_auditor.kube import client, gather, writers
from headless_auditor.probe import auditing
from headless_auditor.sinks import metrics

logger = logging.getLogger(__name__)


SERVICE_ACCOUNT_DIR = pathlib.Path("/var/run/secrets/kubernetes.io/serviceaccount")


def in_cluster_connection(
    environ: Mapping[str, str], secrets: pathlib.Path = SERVICE_ACCOUNT_DIR
) -> kopf.ConnectionInfo:
    """The API server as a pod sees it, the way client-go finds it.

    kopf's own service-account login assumes ``https://kubernetes.default.svc``, which needs
    cluster DNS; client-go (and the official Python client) use KUBERNETES_SERVICE_HOST/PORT.
    The token is re-read on every login, so a rotated projected token is picked up when kopf
    re-authenticates after a 401.
    """
    host = environ["KUBERNETES_SERVICE_HOST"]
    port = environ.get("KUBERNETES_SERVICE_PORT", "443")
    host = f"[{host}]" if ":" in host else host
    namespace = secrets / "namespace"
    return kopf.ConnectionInfo(
        server=f"https://{host}:{port}",
        ca_path=str(secrets / "ca.crt"),
        scheme="Bearer",
        token=(secrets / "token").read_text().strip(),
        default_namespace=namespace.read_text().strip() if namespace.exists() else None,
    )


def _login(registry: kopf.OperatorRegistry, in_cluster: bool) -> None:
    @kopf.on.login(registry=registry)
    def login(**kwargs: Any) -> kopf.ConnectionInfo | None:
        if in_cluster:
            return in_cluster_connection(os.environ)
        return kopf.login_with_kubeconfig(**kwargs)

    del login


async def _forever(name: str, loop: Any, heartbeat: server.Heartbeat) -> None:
    """Run one of our loops; a crash is logged and the loop restarted, never silently lost."""
    while True:
        try:
            await loop()
        except asyncio.CancelledError:
            raise
        except Exception:
            logger.exception("the %s loop failed; restarting it", name)
            heartbeat.beat()
            await asyncio.sleep(1)


async def run(settings: config.Settings, *, kubeconfig: str | None, in_cluster: bool) -> None:
    """The operator until kopf stops; :class:`server.BindError` before anything else started."""
    registry = prom.CollectorRegistry()
    heartbeat = server.Heartbeat(limit_seconds=3 * settings.sweep_interval + 120)
    # Bound first, before any login, watch or DNS socket: a port in use or an address that is not
    # ours stops start-up with one line, and there is nothing else to stop.
    app = server.application(registry, heartbeat.problem)
    http = await server.serve(app, settings.metrics_address, settings.metrics_port)
    try:
        logger.info("headless-auditor %s starting: %s", __version__, settings.describe())
        logger.info(
            "serving /metrics and /healthz on %s",
            server.endpoint(settings.metrics_address, settings.metrics_port),
        )
        await _operate(settings, registry, heartbeat, kubeconfig=kubeconfig, in_cluster=in_cluster)
    finally:
        with contextlib.suppress(Exception):
            await http.cleanup()


def _build(
    settings: config.Settings,
    meters: metrics.Metrics,
    kube: client.Kube,
    prober: probe.Prober,
) -> scheduler.Scheduler:
    """The scheduler and its outputs, wired to the API and the prober."""
    if settings.read_only:
        logger.info("read-only: no conditions, reports or Events are written; see the metrics")
        outputs = publisher.read_only(meters)
    else:
        reader = functools.partial(gather.existing_reports, kube)
        outputs = publisher.standard(writers.KubeWriter(kube), meters, reports_reader=reader)
    return scheduler.Scheduler(
        settings,
        prober=prober,
        outputs=outputs,
        meters=meters,
        corefile_reader=lambda: gather.live_corefile(kube),
    )


def _kopf(kopf_registry: kopf.OperatorRegistry) -> Coroutine[Any, Any, None]:
    # kopf would ask getpass for the user name, which fails for a numeric UID without a passwd
    # entry (runAsUser in a pod); name ourselves instead (kopf's Identity is a str).
    identity: Any = f"headless-auditor@{socket.gethostname()}"
    return kopf.operator(
        registry=kopf_registry,
        settings=handlers.kopf_settings(),
        clusterwide=True,
        standalone=True,
        identity=identity,
    )


def _sweeps(
    loop: scheduler.Scheduler, heartbeat: server.Heartbeat, settings: config.Settings
) -> Callable[[], Awaitable[None]]:
    """The sweep loop: once the watches have listed everything, a sweep every interval."""

    async def sweeps() -> None:
        await loop.ready.wait()
        while True:
            await loop.sweep()
            heartbeat.beat()
            await asyncio.sleep(settings.sweep_interval)

    return sweeps


async def _operate(
    settings: config.Settings,
    registry: prom.CollectorRegistry,
    heartbeat: server.Heartbeat,
    *,
    kubeconfig: str | None,
    in_cluster: bool,
) -> None:
    """kopf, the requested audits and the sweeps, until kopf stops or one of them fails."""
    kube = client.Kube.connect(kubeconfig, in_cluster=in_cluster)
    meters = metrics.Metrics(registry)
    prober = probe.DnsPythonProber(auditing.probe_settings(settings), meters.observe_query)
    loop = _build(settings, meters, kube, prober)
    kopf_fixes.apply()  # start-up in seconds, not half a minute, with thousands of objects
    kopf_registry = kopf.OperatorRegistry()
    _login(kopf_registry, in_cluster)
    handlers.register(kopf_registry, loop)

    # kopf handles SIGINT/SIGTERM itself and returns; our loops must stop with it.
    tasks = [
        asyncio.create_task(_kopf(kopf_registry), name="kopf"),
        asyncio.create_task(_forever("requested-audit", loop.run_requests, heartbeat)),
        asyncio.create_task(_forever("sweep", _sweeps(loop, heartbeat, settings), heartbeat)),
    ]
    try:
        done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in done:
            if not task.cancelled():  # kopf cancels our loops when it stops on a signal
                task.result()  # a crash is fatal and shown
        logger.info("stopping")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await prober.aclose()
