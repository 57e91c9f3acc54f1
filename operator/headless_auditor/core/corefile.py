"""What the live Corefile says about the cluster zone: its name, record TTL and caching.

The audit needs three facts from the ``kube-system/coredns`` ConfigMap: the cluster zone (names are
built under it), the ``kubernetes`` plugin options that change answers (``endpoint_pod_names``,
``noendpoints``, ``namespaces``), and how long a *stale* answer can be served from the ``cache``
plugin after a change -- that, plus propagation slack, is the grace window before a mismatch is
real (:func:`grace_seconds`).

The text is read as CoreDNS reads it (:mod:`caddyfile`). In particular ``;`` does not separate
the options of a plugin block, so ``{ disable success a; disable denial b }`` on one line is one
``disable success`` option; we interpret it the same way (CoreDNS decides what clients get) and
say so in :attr:`CorefileOptions.warnings`.

Cache arithmetic (``plugin/cache``): an answer is kept for ``min(max(ttl, MINTTL), TTL)``, where
``ttl`` is the smallest TTL in the message, ``MINTTL`` defaults to 5 s and ``TTL`` (the cache's
maximum) to 3600 s positive / 1800 s negative. The kubernetes plugin gives records the ``ttl``
option (default 5) and negative answers an SOA whose TTL is ``min(ttl, 300)``.

Not modelled: the ``labels`` and ``namespace_labels`` filters, reverse-zone CIDR keys, and
``serve_stale`` beyond a flag (an expired entry may be served once more before it is refreshed);
nor what :mod:`caddyfile` leaves out (``import``, snippets, ``{$ENV}``).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import Any

from headless_auditor.core import caddyfile

DEFAULT_TTL = 5
"""The kubernetes plugin's record TTL when the Corefile has no ``ttl`` option."""
CACHE_MAX_SUCCESS = 3600
"""The cache plugin's maximum TTL for positive answers when ``cache`` has no TTL argument."""
CACHE_MAX_DENIAL = 1800
"""The cache plugin's maximum TTL for NXDOMAIN/NODATA when ``cache`` has no TTL argument."""
CACHE_MIN_TTL = 5
"""The cache plugin's minimum cache duration (``MINTTL``) for both kinds of answers."""
SOA_TTL_CAP = 300
"""The kubernetes plugin caps the TTL of the SOA in negative answers at this many seconds."""

PROPAGATION_SLACK_SECONDS = 5.0
"""Default time for a change in the API to reach CoreDNS's answers, not counting its cache.

The EndpointSlice controller syncs a Service through a rate-limited work queue and may batch
updates (``--endpointslice-updates-batch-period``, dns-rules.md: "can batch for >= 1 s"); CoreDNS
applies each watch event when it arrives, usually well under a second later; and the
``managedFields`` timestamps that date the change have one-second resolution. Five seconds covers
these with room for a loaded control plane without hiding a real, lasting mismatch for long.
"""

_REVERSE_SUFFIXES = ("in-addr.arpa.", "ip6.arpa.")


class CorefileError(ValueError):
    """The Corefile cannot be used to predict answers; the message says why and where."""


class NoKubernetesPluginError(CorefileError):
    """No server block of the Corefile uses the ``kubernetes`` plugin."""


@dataclasses.dataclass(frozen=True)
class CacheOptions:
    """The ``cache`` plugin of the server block that holds the ``kubernetes`` plugin."""

    zones: tuple[str, ...] = (".",)
    """Zones the cache applies to (fully qualified); the server block's zones by default."""
    success_ttl: int = CACHE_MAX_SUCCESS
    """Longest time a positive answer is kept, in seconds (``cache TTL`` / ``success N TTL``)."""
    denial_ttl: int = CACHE_MAX_DENIAL
    """Longest time NXDOMAIN/NODATA is kept, in seconds (``cache TTL`` / ``denial N TTL``)."""
    success_min_ttl: int = CACHE_MIN_TTL
    """Shortest time a positive answer is kept, even when its TTL is lower (seconds)."""
    denial_min_ttl: int = CACHE_MIN_TTL
    """Shortest time a negative answer is kept, even when its TTL is lower (seconds)."""
    success_disabled: tuple[str, ...] = ()
    """Zones whose positive answers are never cached (``disable success ZONES``)."""
    denial_disabled: tuple[str, ...] = ()
    """Zones whose negative answers are never cached (``disable denial ZONES``)."""
    serve_stale: bool = False
    """``serve_stale`` is on: an expired answer may be served once more while it is refreshed."""


@dataclasses.dataclass(frozen=True)
class CorefileOptions:
    """The facts of a Corefile that decide what the cluster zone answers, and for how long.

    The defaults are CoreDNS's own for ``kubernetes cluster.local`` without options or cache.
    """

    zones: tuple[str, ...] = ("cluster.local.",)
    """The kubernetes plugin's zones, fully qualified and lower-case, in Corefile order."""
    ttl: int = DEFAULT_TTL
    """TTL of every record the kubernetes plugin answers, in seconds (0..3600)."""
    endpoint_pod_names: bool = False
    """Endpoints without a hostname are named after their ``targetRef`` instead of their IP."""
    noendpoints: bool = False
    """Endpoints are not watched: every headless name answers NXDOMAIN."""
    namespaces: frozenset[str] = frozenset()
    """Only these namespaces are exposed (``namespaces`` option); empty means all."""
    fallthrough: tuple[str, ...] = ()
    """Zones whose NXDOMAIN is passed to the next plugin instead (``fallthrough``)."""
    cache: CacheOptions | None = None
    """The cache in front of the kubernetes plugin, or None when there is none."""
    warnings: tuple[str, ...] = ()
    """Things in the Corefile that probably do not do what their author meant."""

    @property
    def cluster_zone(self) -> str:
        """The first non-reverse zone without its trailing dot, e.g. ``cluster.local``."""
        zone = next(z for z in self.zones if not _is_reverse(z))
        return zone if zone == "." else zone.rstrip(".")

    def exposes(self, namespace: str) -> bool:
        """Whether the kubernetes plugin answers for names in this namespace."""
        return not self.namespaces or namespace in self.namespaces


# -- interpretation ----------------------------------------------------------------------------


def parse_corefile(text: str) -> CorefileOptions:
    """Read the options that shape cluster-zone answers from a Corefile's text.

    Raises :class:`NoKubernetesPluginError` when no server block uses the kubernetes plugin, and
    :class:`CorefileError` for a Corefile CoreDNS itself would reject in the parts we read.
    """
    try:
        blocks = [b for b in caddyfile.server_blocks(text) if _find(b, "kubernetes")]
    except caddyfile.CaddyfileError as error:
        raise CorefileError(str(error)) from error
    if not blocks:
        raise NoKubernetesPluginError(
            "the Corefile has no 'kubernetes' plugin: CoreDNS does not serve the cluster zone "
            "from it, so there is nothing to audit (is this the kube-system/coredns ConfigMap?)"
        )
    block = blocks[0]
    options = _kubernetes_options(block)
    cache_directive = _find(block, "cache")
    cache = _cache_options(cache_directive, block.keys) if cache_directive else None
    warnings = list(options.warnings) + _semicolon_warnings(block)
    if len(blocks) > 1:
        warnings.append(
            f"{len(blocks)} server blocks use the kubernetes plugin; the audit follows the "
            f"first ({' '.join(block.keys)})"
        )
    return dataclasses.replace(options, cache=cache, warnings=tuple(warnings))


def _find(block: caddyfile.ServerBlock, name: str) -> caddyfile.Directive | None:
    return next((d for d in block.directives if d.name == name), None)


def _kubernetes_options(block: caddyfile.ServerBlock) -> CorefileOptions:
    directive = _find(block, "kubernetes")
    assert directive is not None
    options = CorefileOptions(zones=_zones(directive.args or block.keys))
    if all(_is_reverse(z) for z in options.zones):
        raise CorefileError(f"line {directive.line}: kubernetes needs a non-reverse zone")
    for words in directive.block:
        options = dataclasses.replace(options, **_kubernetes_option(words, directive.line))
    return dataclasses.replace(options, warnings=_kubernetes_warnings(options))


def _kubernetes_option(words: tuple[str, ...], line: int) -> dict[str, Any]:
    name, args = words[0], _without_brace(words[1:])
    if name == "ttl":
        return {"ttl": _int_arg(args, "kubernetes ttl", line, low=0, high=3600)}
    if name in ("endpoint_pod_names", "noendpoints"):
        return {name: True}
    if name == "namespaces":
        return {"namespaces": frozenset(args)}
    if name == "fallthrough":
        return {"fallthrough": _zones(args) if args else (".",)}
    return {}


def _kubernetes_warnings(options: CorefileOptions) -> tuple[str, ...]:
    zone = _fqdn(options.cluster_zone)
    if any(_is_within(zone, f) for f in options.fallthrough):
        return (
            f"kubernetes has 'fallthrough' for {zone}: its NXDOMAIN answers are passed to the "
            "next plugin, so negative answers depend on that plugin",
        )
    return ()


def _cache_options(directive: caddyfile.Directive, keys: Sequence[str]) -> CacheOptions:
    args = list(directive.args)
    cache = CacheOptions()
    if args and args[0].lstrip("-").isdigit():
        ttl = _int_arg(args[:1], "cache TTL", directive.line, low=1)
        cache = dataclasses.replace(cache, success_ttl=ttl, denial_ttl=ttl)
        args = args[1:]
    cache = dataclasses.replace(cache, zones=_zones(args or keys))
    for words in directive.block:
        cache = dataclasses.replace(cache, **_cache_option(words, directive.line))
    return cache


def _cache_option(words: tuple[str, ...], line: int) -> dict[str, Any]:
    name, args = words[0], list(words[1:])
    if name in ("success", "denial"):
        return _capacity_option(name, _without_brace(args), line)
    if name == "disable":
        if not args or args[0] not in ("success", "denial"):
            raise CorefileError(f"line {line}: cache 'disable' must be followed by success|denial")
        zones = tuple(_fqdn(z) for z in args[1:]) or (".",)
        return {f"{args[0]}_disabled": zones}
    if name == "serve_stale":
        return {"serve_stale": True}
    return {}


def _capacity_option(kind: str, args: Sequence[str], line: int) -> dict[str, Any]:
    """``success|denial CAPACITY [TTL [MINTTL]]``: only the TTLs matter here."""
    _int_arg(args[:1], f"cache {kind} CAPACITY", line, low=0)
    values: dict[str, Any] = {}
    if len(args) > 1:
        values[f"{kind}_ttl"] = _int_arg(args[1:2], f"cache {kind} TTL", line, low=1)
    if len(args) > 2:
        values[f"{kind}_min_ttl"] = _int_arg(args[2:3], f"cache {kind} MINTTL", line, low=0)
    return values


def _int_arg(
    args: Sequence[str], what: str, line: int, *, low: int, high: int | None = None
) -> int:
    if not args:
        raise CorefileError(f"line {line}: {what} is missing")
    try:
        value = int(args[0])
    except ValueError:
        raise CorefileError(f"line {line}: {what} must be a number, not {args[0]!r}") from None
    if value < low or (high is not None and value > high):
        bounds = f"{low}..{high}" if high is not None else f">= {low}"
        raise CorefileError(f"line {line}: {what} must be {bounds}, not {value}")
    return value


def _semicolon_warnings(block: caddyfile.ServerBlock) -> list[str]:
    return [
        f"line {d.line}: {d.name!r} has ';' in {' '.join(words)!r}, but ';' does not separate "
        "options in a Corefile: CoreDNS reads the rest of the line as arguments of "
        f"{words[0]!r}; put each option on its own line"
        for d in block.directives
        for words in d.block
        if any(";" in w for w in words)
    ]


def _without_brace(args: Sequence[str]) -> list[str]:
    """Drop a trailing ``}`` that CoreDNS reads as an argument of a one-line block's option."""
    return [a for a in args if a != "}"]


def _zones(keys: Sequence[str]) -> tuple[str, ...]:
    """Server block keys or plugin arguments as fully qualified lower-case zones."""
    return tuple(_fqdn(_strip_key(k)) for k in keys)


def _strip_key(key: str) -> str:
    """``dns://cluster.local:53`` → ``cluster.local``."""
    _, _, rest = key.rpartition("://")
    host, _, port = rest.rpartition(":")
    return host if host and port.isdigit() else rest


def _fqdn(zone: str) -> str:
    zone = zone.lower()
    return zone if zone.endswith(".") else zone + "."


def _is_reverse(zone: str) -> bool:
    return any(_is_within(zone, suffix) for suffix in _REVERSE_SUFFIXES)


def _is_within(name: str, zone: str) -> bool:
    """Whether the fully qualified ``name`` is ``zone`` or below it."""
    return zone in (".", name) or name.endswith("." + zone)


def _overlaps(zone: str, zones: Sequence[str]) -> bool:
    """Whether some of ``zones`` covers part of ``zone`` (the zone itself, a parent or a child)."""
    return any(_is_within(zone, z) or _is_within(z, zone) for z in zones)


def _covers(zone: str, zones: Sequence[str]) -> bool:
    """Whether ``zones`` covers all of ``zone`` (it or a parent is listed)."""
    return any(_is_within(zone, z) for z in zones)


# -- timing ------------------------------------------------------------------------------------


def positive_cache_seconds(options: CorefileOptions) -> int:
    """Longest time a positive cluster-zone answer can be served from cache after it changed."""
    cache = options.cache
    zone = _fqdn(options.cluster_zone)
    if cache is None or not _overlaps(zone, cache.zones) or _covers(zone, cache.success_disabled):
        return 0
    return min(max(options.ttl, cache.success_min_ttl), cache.success_ttl)


def negative_cache_seconds(options: CorefileOptions) -> int:
    """Longest time a cluster-zone NXDOMAIN/NODATA can be served from cache after it changed.

    Negative answers carry an SOA whose TTL is ``min(ttl, 300)``; the cache keeps them for that,
    raised to the denial minimum and capped by the denial maximum.
    """
    cache = options.cache
    zone = _fqdn(options.cluster_zone)
    if cache is None or not _overlaps(zone, cache.zones) or _covers(zone, cache.denial_disabled):
        return 0
    soa_ttl = min(options.ttl, SOA_TTL_CAP)
    return min(max(soa_ttl, cache.denial_min_ttl), cache.denial_ttl)


def grace_seconds(options: CorefileOptions, slack: float = PROPAGATION_SLACK_SECONDS) -> float:
    """Seconds after a change before a difference between DNS and the API counts as real.

    Propagation ``slack`` (see :data:`PROPAGATION_SLACK_SECONDS`) plus the longest time a stale
    cluster-zone answer, positive or negative, can still come out of a replica's cache.
    """
    return slack + max(positive_cache_seconds(options), negative_cache_seconds(options))
