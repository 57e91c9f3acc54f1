"""``headless-auditor check``: list the objects once, audit every Service once, print the result."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Awaitable
from typing import TypeVar

from headless_auditor import config, probe
from headless_auditor.check import render
from headless_auditor.core import audit, corefile, snapshots
from headless_auditor.kube import client, gather
from headless_auditor.probe import auditing

logger = logging.getLogger("headless_auditor")
T = TypeVar("T")


async def _bounded(limit: asyncio.Semaphore, work: Awaitable[T]) -> T:
    async with limit:
        return await work


async def _audit_all(
    listed: gather.Objects,
    context: audit.Context,
    settings: config.Settings,
    options: corefile.CorefileOptions,
) -> list[audit.Audit]:
    found = snapshots.snapshots(listed.services, listed.slices, listed.statefulsets, options)
    limit = asyncio.Semaphore(settings.audit_concurrency)
    async with probe.DnsPythonProber(auditing.probe_settings(settings)) as prober:
        audits = (auditing.audit_service(s, context, prober) for s in found)
        return list(await asyncio.gather(*(_bounded(limit, a) for a in audits)))


def check(args: argparse.Namespace, settings: config.Settings, kube: client.Kube) -> int:
    """The one-shot audit; returns the exit code."""
    namespace = (
        None if args.all_namespaces else args.namespace or client.current_namespace(args.kubeconfig)
    )
    listed = gather.objects(kube, namespace)
    options = gather.live_corefile(kube)
    servers = settings.servers_or(lambda: gather.dns_servers(kube))
    if not servers:
        logger.error("no DNS servers: kube-system/kube-dns has no endpoints; pass --dns-server")
        return render.EXIT_CANNOT_AUDIT
    context = audit.Context.of(
        options, servers, zone=settings.cluster_domain, grace_seconds=settings.grace_seconds
    )
    audits = asyncio.run(_audit_all(listed, context, settings, options))
    text = render.to_json(audits, context) if args.output == "json" else render.table(audits)
    sys.stdout.write(text)
    return render.exit_code(audits)
