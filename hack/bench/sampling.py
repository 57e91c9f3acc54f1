"""Samples of processes and of the operator: CPU and memory from /proc, its /metrics, its log."""

from __future__ import annotations

import datetime
import json
import os
import pathlib
import re
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

CLK_TCK = os.sysconf("SC_CLK_TCK")

# /metrics samples the benchmark reads: summed over their labels / one entry per label value /
# the last value seen.
SUMMED = {
    "headless_auditor_dns_query_duration_seconds_count": "dns_queries",
    "headless_auditor_dns_query_errors_total": "dns_errors",
}
BY_LABEL = {
    "headless_auditor_audits_total": ("audits", "state"),
    "headless_auditor_writes_total": ("writes", "kind"),
}
LAST = {
    "headless_auditor_audit_duration_seconds_sum": "audit_seconds_sum",
    "headless_auditor_audit_duration_seconds_count": "audit_count",
    "headless_auditor_sweep_duration_seconds": "sweep_duration",
    "headless_auditor_last_sweep_timestamp_seconds": "last_sweep",
}
SWEEP_LINE = re.compile(r"sweep (\d+): (\d+) Services in ([\d.]+)s")


def proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) in MiB."""
    found: dict[str, float] = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return found


def cpu_of(pids: dict[str, int] | list[int]) -> float:
    """The CPU seconds of several processes together."""
    return sum(proc_cpu(p) for p in (pids.values() if isinstance(pids, dict) else pids))


def metric_figures(metrics_text: str) -> dict[str, Any]:
    """The figures of one /metrics page the benchmark reads."""
    found: dict[str, Any] = {
        "dns_queries": 0.0,
        "dns_errors": 0.0,
        "audits": {},
        "writes": {},
        "audit_seconds_sum": 0.0,
        "audit_count": 0.0,
    }
    for family in text_string_to_metric_families(metrics_text):
        for s in family.samples:
            if s.name in SUMMED:
                found[SUMMED[s.name]] += s.value
            elif s.name in BY_LABEL:
                key, label = BY_LABEL[s.name]
                found[key][s.labels[label]] = s.value
            elif s.name in LAST:
                found[LAST[s.name]] = s.value
    return found


def sweep_lines(log_text: str) -> list[dict[str, Any]]:
    """Every ``sweep N: X Services in Ys`` line of a JSON log: end time, count, seconds."""
    found = []
    for line in log_text.splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        m = SWEEP_LINE.fullmatch(entry.get("message", ""))
        if m:
            end = datetime.datetime.fromisoformat(entry["time"]).timestamp()
            found.append(
                {"n": int(m[1]), "services": int(m[2]), "seconds": float(m[3]), "end": end}
            )
    return found
