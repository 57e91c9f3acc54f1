"""The one configuration object: ``HEADLESS_AUDITOR_*`` variables and flags, validated once.

Every field has a default that works in a kind cluster. A bad value stops start-up with an error
naming the variable (or flag) and the value, never a stack trace from deep inside the operator.
Flags win over the environment; both are handed to :func:`load` as plain strings.
"""

from __future__ import annotations

import dataclasses
import fnmatch
import ipaddress
import math
import re
from collections.abc import Callable, Mapping
from typing import TypeVar

from headless_auditor.core import records

PREFIX = "HEADLESS_AUDITOR_"
T = TypeVar("T")


class ConfigError(ValueError):
    """A configuration value is invalid; the message names the variable and the value."""


@dataclasses.dataclass(frozen=True)
class Settings:
    """The effective configuration of one ``check`` or ``run``."""

    dns_servers: tuple[records.DNSServer, ...] = ()
    """DNS servers to ask (``HEADLESS_AUDITOR_DNS_SERVERS``, ``ip:port,...``). Empty: discover
    them from ``kube-system/kube-dns`` — its Service IP and each ready endpoint (CoreDNS pods)."""
    cluster_domain: str = ""
    """The cluster zone (``HEADLESS_AUDITOR_CLUSTER_DOMAIN``). Empty: the kubernetes plugin's
    zone in the live Corefile, else ``cluster.local``."""
    namespaces: tuple[str, ...] = ()
    """Namespaces to audit (``HEADLESS_AUDITOR_NAMESPACES``, comma-separated names or globs such
    as ``team-*``). Empty: all."""
    exclude_namespaces: tuple[str, ...] = ()
    """Namespaces never audited (``HEADLESS_AUDITOR_EXCLUDE_NAMESPACES``, names or globs); they
    win over ``namespaces``."""
    sweep_interval: float = 60.0
    """Seconds between full re-audits (``HEADLESS_AUDITOR_SWEEP_INTERVAL``). Catches drift
    inside DNS that no API event shows; a sweep of 1,000 Services takes a few seconds."""
    debounce: float = 1.0
    """Seconds to wait after a change before auditing (``HEADLESS_AUDITOR_DEBOUNCE``): a
    rollout touches a slice many times in a row, one audit is enough."""
    grace_seconds: float | None = None
    """Override of the grace window (``HEADLESS_AUDITOR_GRACE_SECONDS``). Unset: derived from
    the live Corefile (ttl, cache) plus propagation slack."""
    dns_concurrency: int = 64
    """DNS questions in flight at once per server set (``HEADLESS_AUDITOR_DNS_CONCURRENCY``)."""
    dns_timeout: float = 2.0
    """Seconds to wait for one DNS answer before a retry (``HEADLESS_AUDITOR_DNS_TIMEOUT``)."""
    dns_retries: int = 2
    """Retries of a question that timed out (``HEADLESS_AUDITOR_DNS_RETRIES``)."""
    audit_concurrency: int = 16
    """Services audited at once (``HEADLESS_AUDITOR_AUDIT_CONCURRENCY``)."""
    metrics_address: str = "0.0.0.0"
    """Address of the /metrics and /healthz server (``HEADLESS_AUDITOR_METRICS_ADDRESS``)."""
    metrics_port: int = 8080
    """Port of the /metrics and /healthz server (``HEADLESS_AUDITOR_METRICS_PORT``)."""
    log_format: str = "text"
    """``text`` or ``json`` (``HEADLESS_AUDITOR_LOG_FORMAT``); defaults to json in a cluster."""
    read_only: bool = False
    """Write nothing to the API (``HEADLESS_AUDITOR_READ_ONLY``, ``--read-only``): no conditions,
    no reports, no Events; the verdicts are in the metrics and the log only."""

    def audits_namespace(self, namespace: str) -> bool:
        """Whether Services of ``namespace`` are in this operator's scope."""
        included = not self.namespaces or _matches(namespace, self.namespaces)
        return included and not _matches(namespace, self.exclude_namespaces)

    def servers_or(
        self, discover: Callable[[], tuple[records.DNSServer, ...]]
    ) -> tuple[records.DNSServer, ...]:
        """The configured DNS servers; when none are configured, the discovered ones."""
        return self.dns_servers or discover()

    def describe(self) -> str:
        """One line with every setting, for the start-up log."""
        parts = []
        for field in dataclasses.fields(self):
            value = getattr(self, field.name)
            if field.name == "dns_servers":
                value = ",".join(s.address for s in value) or "discover"
            parts.append(f"{field.name}={value}")
        return " ".join(parts)


def parse_server(text: str, *, role: str = "replica") -> records.DNSServer:
    """``ip``, ``ip:port`` or ``[ipv6]:port`` → DNSServer; ValueError when malformed."""
    text = text.strip()
    match = re.fullmatch(
        r"\[(?P<v6>[^\]]+)\](?::(?P<port6>\d+))?|(?P<host>[^:]+)(?::(?P<port>\d+))?", text
    )
    if match is None:
        if ":" in text:  # a bare IPv6 address without port
            ipaddress.IPv6Address(text)
            return records.DNSServer(text, 53, role)
        raise ValueError(f"not ip:port: {text!r}")
    host = match["v6"] or match["host"]
    port = int(match["port6"] or match["port"] or 53)
    ipaddress.ip_address(host)
    if not 0 < port < 65536:
        raise ValueError(f"port out of range: {port}")
    return records.DNSServer(host, port, role)


def _servers(text: str) -> tuple[records.DNSServer, ...]:
    return tuple(parse_server(part) for part in text.split(",") if part.strip())


def _names(text: str) -> tuple[str, ...]:
    names = tuple(part.strip() for part in text.split(",") if part.strip())
    for name in names:
        if not re.fullmatch(r"[-a-z0-9*?\[\]]+", name):
            raise ValueError(f"not a namespace name or glob: {name!r}")
    return names


def _matches(namespace: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatchcase(namespace, pattern) for pattern in patterns)


def _domain(text: str) -> str:
    domain = text.strip().strip(".").lower()
    if not re.fullmatch(r"[a-z0-9]([-a-z0-9.]*[a-z0-9])?", domain):
        raise ValueError("not a DNS domain")
    return domain


def _positive_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value <= 0:
        raise ValueError("must be a positive number of seconds")
    return value


def _non_negative_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value) or value < 0:
        raise ValueError("must be zero or a positive number of seconds")
    return value


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise ValueError("must be a positive whole number")
    return value


def _non_negative_int(text: str) -> int:
    value = int(text)
    if value < 0:
        raise ValueError("must be zero or a positive whole number")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 0 < value < 65536:
        raise ValueError("must be a port number 1-65535")
    return value


def _address(text: str) -> str:
    ipaddress.ip_address(text)
    return text


def _boolean(text: str) -> bool:
    value = text.strip().lower()
    if value not in _BOOLEANS:
        raise ValueError("must be true or false")
    return _BOOLEANS[value]


_BOOLEANS = {"true": True, "1": True, "yes": True, "false": False, "0": False, "no": False}


def _log_format(text: str) -> str:
    if text not in ("text", "json"):
        raise ValueError("must be text or json")
    return text


PARSERS: Mapping[str, Callable[[str], object]] = {
    "dns_servers": _servers,
    "cluster_domain": _domain,
    "namespaces": _names,
    "exclude_namespaces": _names,
    "sweep_interval": _positive_float,
    "debounce": _non_negative_float,
    "grace_seconds": _non_negative_float,
    "dns_concurrency": _positive_int,
    "dns_timeout": _positive_float,
    "dns_retries": _non_negative_int,
    "audit_concurrency": _positive_int,
    "metrics_address": _address,
    "metrics_port": _port,
    "log_format": _log_format,
    "read_only": _boolean,
}


def env_name(field: str) -> str:
    """The environment variable of a field: ``dns_servers`` → ``HEADLESS_AUDITOR_DNS_SERVERS``."""
    return PREFIX + field.upper()


def load(environ: Mapping[str, str], flags: Mapping[str, str | None] | None = None) -> Settings:
    """Settings from the environment, overridden by flags (field name → raw string or None)."""
    values: dict[str, object] = {}
    if "KUBERNETES_SERVICE_HOST" in environ:
        values["log_format"] = "json"
    for field, parse in PARSERS.items():
        source, raw = env_name(field), environ.get(env_name(field))
        flag = (flags or {}).get(field)
        if flag is not None:
            source, raw = "--" + field.replace("_", "-"), flag
        if raw is None or raw == "":
            continue
        try:
            values[field] = parse(raw)
        except ValueError as error:
            raise ConfigError(f"{source}={raw!r}: {error}") from None
    return Settings(**values)  # type: ignore[arg-type]
