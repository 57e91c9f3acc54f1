"""Opting out by annotation (pure).

- ``headless-auditor.io/ignore: "true"`` on a Service: it is not audited. The operator removes
  what it wrote there (its conditions, the report object, the metric series) once, and sends no
  more Events.
- The same annotation on a StatefulSet: the StatefulSet is left out of its Service's audit (no
  pod-name problems, no findings about it); a Service known only from ignored StatefulSets is not
  audited at all.
- ``headless-auditor.io/ignore-findings: CodeA,CodeB`` on a Service: those findings do not count
  (ConfigurationValid is computed without them; the report lists them as ignored). A code that is
  not a finding code is a finding of its own (``IgnoredCodeUnknown``), never silently dropped.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from headless_auditor.core import objects, rules


def is_ignored(obj: Mapping[str, Any]) -> bool:
    """Whether an API object (raw JSON) carries ``headless-auditor.io/ignore: "true"``."""
    annotations = (obj.get("metadata") or {}).get("annotations") or {}
    return str(annotations.get(objects.IGNORE_ANNOTATION, "")).strip().lower() == "true"


def split(
    findings: Iterable[rules.Finding], service: objects.Service | None
) -> tuple[tuple[rules.Finding, ...], tuple[rules.Finding, ...]]:
    """(the findings that count, the ignored ones) for the Service's ignore-findings codes."""
    codes = set(service.ignored_findings) if service is not None else set()
    kept = [f for f in findings if f.code not in codes]
    ignored = tuple(f for f in findings if f.code in codes)
    unknown = sorted(codes - set(rules.RULES))
    if service is not None and unknown:
        kept.append(_unknown(service, unknown))
    return rules.ordered(kept), ignored


def _unknown(service: objects.Service, unknown: list[str]) -> rules.Finding:
    return rules.finding(
        "IgnoredCodeUnknown",
        f"Service/{service.name}",
        f"the annotation {objects.IGNORE_FINDINGS_ANNOTATION} of Service/{service.name} names "
        f"{', '.join(unknown)}, which no finding has: nothing is ignored for it. Use the codes "
        "of the findings (kubectl get hsa -o yaml, status.findings[].code); known codes: "
        f"{', '.join(sorted(rules.RULES))}.",
    )
