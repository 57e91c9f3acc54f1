"""The finding codes of ``ConfigurationValid``, each declared once, and the finding record (pure).

A code's severity is fixed (a code means one thing everywhere): errors break the names users
almost certainly rely on; warnings are probably unintended; infos are worth knowing but by
design. Errors and warnings make the condition False, infos do not. The checks are in
:mod:`lint`; a Service may ignore codes by annotation (:mod:`optout`).
"""

from __future__ import annotations

import dataclasses
import enum
import types
from collections.abc import Iterable, Mapping


class Severity(enum.StrEnum):
    """How much a finding matters; see the module docstring."""

    ERROR = "error"
    WARNING = "warning"
    INFO = "info"


@dataclasses.dataclass(frozen=True)
class Rule:
    """One finding code, declared once: its severity (fixed per code) and its one-line meaning."""

    code: str
    severity: Severity
    meaning: str
    """What is wrong, in one line (docs and alerts quote it)."""


def _declare(*rules: Rule) -> Mapping[str, Rule]:
    table = {rule.code: rule for rule in rules}
    if len(table) != len(rules):
        raise ValueError("a finding code is declared more than once")
    return types.MappingProxyType(table)


_ERROR, _WARNING, _INFO = Severity.ERROR, Severity.WARNING, Severity.INFO

RULES: Mapping[str, Rule] = _declare(
    Rule(
        "ServiceNotFound", _ERROR, "a StatefulSet's serviceName names a Service that does not exist"
    ),
    Rule(
        "ServiceNotHeadless",
        _WARNING,
        "a StatefulSet's serviceName names a Service that is not headless",
    ),
    Rule(
        "SelectorlessGoverningService", _WARNING, "a Service without selector governs a StatefulSet"
    ),
    Rule(
        "SelectorMissesStatefulSet",
        _ERROR,
        "the Service selector matches none of a StatefulSet's pods",
    ),
    Rule("SelectorMatchesNoEndpoints", _WARNING, "the Service selector matches no pod with an IP"),
    Rule(
        "TolerateUnreadyAnnotationIneffective",
        _WARNING,
        "the deprecated tolerate-unready annotation is set without publishNotReadyAddresses; "
        "it has had no effect since Kubernetes 1.24",
    ),
    Rule(
        "TolerateUnreadyAnnotationRedundant",
        _INFO,
        "the deprecated tolerate-unready annotation duplicates publishNotReadyAddresses",
    ),
    Rule("NoPorts", _WARNING, "the Service has no ports, hence no SRV records"),
    Rule("NoNamedPorts", _INFO, "no port is named, so no _port._proto SRV name exists"),
    Rule(
        "ForeignEndpointSlice",
        _WARNING,
        "a slice not written by the EndpointSlice controller is labelled with a selector "
        "Service's name; CoreDNS serves it too",
    ),
    Rule(
        "DuplicateHostname",
        _WARNING,
        "several endpoints share one hostname: one name, many addresses",
    ),
    Rule(
        "SubdomainMismatch",
        _WARNING,
        "StatefulSet-like pods are endpoints without hostname: their subdomain is not the "
        "Service name",
    ),
    Rule(
        "PublishNotReadyServesUnready",
        _INFO,
        "publishNotReadyAddresses puts unready or terminating endpoints in DNS",
    ),
    Rule(
        "IgnoredCodeUnknown",
        _WARNING,
        "the headless-auditor.io/ignore-findings annotation names a code that is not a finding",
    ),
)
"""Every finding code, the one place it is declared. Codes are stable: alerts and docs use them."""

CODES: Mapping[str, str] = types.MappingProxyType({c: r.meaning for c, r in RULES.items()})
"""Every finding code, with its one-line meaning (read from :data:`RULES`)."""
SEVERITIES: Mapping[str, Severity] = types.MappingProxyType(
    {c: r.severity for c, r in RULES.items()}
)
"""The severity of each code (read from :data:`RULES`)."""


@dataclasses.dataclass(frozen=True, order=True)
class Finding:
    """One misconfiguration."""

    code: str
    severity: Severity
    message: str
    subject: str
    """``Kind/name`` of the object to change (in the Service's namespace)."""


def ordered(findings: Iterable[Finding]) -> tuple[Finding, ...]:
    """Most severe first, then by subject, code and message: a stable order."""
    rank = {s: i for i, s in enumerate(Severity)}
    return tuple(sorted(findings, key=lambda f: (rank[f.severity], f.subject, f.code, f.message)))


def finding(code: str, subject: str, message: str) -> Finding:
    """A finding of a code :data:`RULES` declares, with its severity; KeyError for any other."""
    rule = RULES[code]
    return Finding(rule.code, rule.severity, message, subject)
