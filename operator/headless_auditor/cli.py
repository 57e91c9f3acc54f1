"""The ``headless-auditor`` command: ``check`` (one-shot audit) and ``run`` (the operator)."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import sys
from collections.abc import Sequence
from typing import Any

from headless_auditor import __version__, config
from headless_auditor.check import command, render
from headless_auditor.controller import logs, runner, server
from headless_auditor.kube import client, errors

logger = logging.getLogger("headless_auditor")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="headless-auditor",
        description="Audit headless Services against what CoreDNS really answers.",
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)
    _check_parser(commands)
    _run_parser(commands)
    return parser


def _check_parser(commands: Any) -> None:
    check = commands.add_parser(
        "check",
        help="audit once and print the result",
        description="Audit once with the current kubeconfig. Exit 0: every Service consistent "
        "and valid; 1: something inconsistent, converging or misconfigured; 2: could not "
        "audit (no cluster, no DNS).",
    )
    scope = check.add_mutually_exclusive_group()
    scope.add_argument("-n", "--namespace", help="namespace to audit (default: the context's)")
    scope.add_argument("-A", "--all-namespaces", action="store_true", help="audit every namespace")
    check.add_argument("-o", "--output", choices=("table", "json"), default="table")
    check.add_argument(
        "--dns-server",
        action="append",
        metavar="IP:PORT",
        help="DNS server to ask (repeatable; default: HEADLESS_AUDITOR_DNS_SERVERS, else "
        "discovered from kube-system/kube-dns)",
    )
    _common_flags(check)


def _run_parser(commands: Any) -> None:
    run = commands.add_parser(
        "run",
        help="run the operator: audit continuously, write conditions, reports, Events, metrics",
        description="Run the operator. Every flag has a HEADLESS_AUDITOR_* variable; see README. "
        "Exit 0 on SIGTERM/SIGINT; 2 when it cannot start: a bad setting, no cluster "
        "credentials, or a metrics address and port that cannot be bound.",
    )
    run.add_argument(
        "--namespace",
        action="append",
        dest="namespaces",
        metavar="NS",
        help="audit only this namespace (repeatable; a glob such as team-* too; default: all)",
    )
    run.add_argument(
        "--exclude-namespace",
        action="append",
        dest="exclude_namespaces",
        metavar="NS",
        help="never audit this namespace (repeatable; a glob such as kube-* works too)",
    )
    run.add_argument("--dns-server", action="append", metavar="IP:PORT", help="DNS server to ask")
    run.add_argument("--sweep-interval", help="seconds between full sweeps (default 60)")
    run.add_argument("--metrics-address", help="address of /metrics and /healthz (default 0.0.0.0)")
    run.add_argument("--metrics-port", help="port of /metrics and /healthz (default 8080)")
    run.add_argument("--log-format", help="text or json (default: json in a cluster)")
    run.add_argument(
        "--read-only",
        action="store_true",
        default=None,
        help="write nothing to the API (no conditions, reports or Events): metrics and logs only",
    )
    _common_flags(run)


def _common_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: $KUBECONFIG, ~/.kube)")
    parser.add_argument("--cluster-domain", help="cluster zone (default: from the Corefile)")
    parser.add_argument("--grace-seconds", help="grace window override, seconds")
    parser.add_argument("--dns-timeout", help="seconds per DNS attempt (default 2)")


def _flags(args: argparse.Namespace) -> dict[str, str | None]:
    servers = getattr(args, "dns_server", None)
    namespaces = getattr(args, "namespaces", None)
    excluded = getattr(args, "exclude_namespaces", None)
    return {
        "dns_servers": ",".join(servers) if servers else None,
        "namespaces": ",".join(namespaces) if namespaces else None,
        "exclude_namespaces": ",".join(excluded) if excluded else None,
        "cluster_domain": args.cluster_domain,
        "grace_seconds": args.grace_seconds,
        "dns_timeout": args.dns_timeout,
        "sweep_interval": getattr(args, "sweep_interval", None),
        "metrics_address": getattr(args, "metrics_address", None),
        "metrics_port": getattr(args, "metrics_port", None),
        "log_format": getattr(args, "log_format", None),
        "read_only": "true" if getattr(args, "read_only", None) else None,
    }


def _in_cluster(kubeconfig: str | None) -> bool:
    """In a pod (and not pointed at a kubeconfig): use the service account."""
    return (
        kubeconfig is None
        and "KUBECONFIG" not in os.environ
        and "KUBERNETES_SERVICE_HOST" in os.environ
    )


def _connect(kubeconfig: str | None) -> client.Kube:
    return client.Kube.connect(kubeconfig, in_cluster=_in_cluster(kubeconfig))


def operate(args: argparse.Namespace, settings: config.Settings) -> int:
    """The operator, until SIGTERM or SIGINT (exit 0); a fatal error raises.

    :class:`server.BindError` (the metrics address cannot be bound) is raised before kopf or any
    loop has started; :func:`main` turns it into one line and exit 2."""
    logs.configure(settings.log_format)
    if args.kubeconfig:
        os.environ["KUBECONFIG"] = args.kubeconfig  # kopf's login reads it from there
    in_cluster = _in_cluster(args.kubeconfig)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(runner.run(settings, kubeconfig=args.kubeconfig, in_cluster=in_cluster))
    return 0


def bind_advice(error: server.BindError) -> str:
    """The one line for a metrics address that cannot be bound: what failed and what to change."""
    return (
        f"{error}; choose another port with --metrics-port or {config.env_name('metrics_port')}"
        f" (or another address with --metrics-address / {config.env_name('metrics_address')})"
    )


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        settings = config.load(os.environ, _flags(args))
        if args.command == "run":
            return operate(args, settings)
        return command.check(args, settings, _connect(args.kubeconfig))
    except config.ConfigError as error:
        logger.error("configuration: %s", error)
    except errors.KubeError as error:
        logger.error("cannot read the cluster: %s", error)
    except server.BindError as error:
        logger.error("%s", bind_advice(error))
    return render.EXIT_CANNOT_AUDIT


if __name__ == "__main__":
    sys.exit(main())
