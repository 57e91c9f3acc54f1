"""The results as markdown: the tables of docs/benchmarks.md, one per scale, then the growth."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

Result = dict[str, Any]


def fmt_requests(counts: dict[str, int]) -> str:
    """``agent verb resource: n, ...``; kopf's API discovery GETs (/api, /apis/...) as one."""
    discovery = sum(v for k, v in counts.items() if " get /api" in k)
    rest = [f"{k}: {v}" for k, v in counts.items() if " get /api" not in k]
    if discovery:
        rest.append(f"kopf API discovery GETs: {discovery}")
    return ", ".join(rest) or "none"


def pct(a: float, b: float) -> str:
    return f"{100 * a / b:.0f}%" if b else "n/a"


def row(figure: str, value: str, load: object = None) -> str:
    """One line of a scale's table; the load column is empty when ``load`` is None."""
    return f"| {figure} | {value} | {'' if load is None else f'{load} '}|"


def creation_rows(r: Result) -> list[str]:
    create, q = r["create"], r["questions_per_server"]
    return [
        row(
            "creation: objects posted / all slices ready",
            f"{create['posted_s']} s / {create['settled_s']} s ({create['pods_per_s']} pods/s)",
            create["load"],
        ),
        row("questions per server (engine) x servers", f"{q} x 2 = {2 * q}"),
    ]


def cold_rows(c: Result) -> list[str]:
    return [
        row("**cold full sweep** (`sweep_duration_seconds`)", f"**{c['sweep_s']} s**", c["load"]),
        row(
            "operator start -> first sweep ends / -> every Service has its 3 conditions",
            f"{c['start_to_sweep_end_s']} s / {c['start_to_all_conditions_s']} s",
        ),
        row(
            "cold: DNS questions (errors), rate; audits; writes",
            f"{c['dns_queries']} ({c['dns_errors']}), {c['queries_per_s']}/s; "
            f"{c['audits']} audits; {fmt_requests(c['writes'])}",
        ),
        row(
            "cold: CPU s of the operator (start-up included) / CoreDNS x2 / kube-apiserver+etcd",
            f"{c['cpu_s']} / {c['coredns_cpu_s']} / {c['apiserver_etcd_cpu_s']}",
        ),
    ]


def steady_rows(s: Result) -> list[str]:
    return [
        row(
            "**steady full sweep**",
            f"**{s['sweep_s']} s**, {s['dns_queries']} questions, "
            f"**{s['queries_per_s']}/s**, {s['audits']} audits",
            s["load"],
        ),
        row(
            "steady: operator CPU s, per question, share of one core / CoreDNS CPU s",
            f"{s['cpu_s']}, {s['cpu_us_per_query']} us, {s['cpu_share_of_one_core']} / "
            f"{s['coredns_cpu_s']}",
        ),
        row(
            "steady: API requests by the operator during the sweep (audit log)",
            fmt_requests(s["api_requests"]),
        ),
    ]


def comparison_rows(r: Result) -> list[str]:
    """The ceiling (dnsperf) and the peer (blackbox_exporter) beside the operator."""
    c, s, ce, p = r["cold"], r["steady"], r["ceiling"], r["peer"]
    return [
        row(
            "ceiling: dnsperf, one per replica at once",
            f"**{ce['qps']}/s** ({ce['dnsperf_cpu_us_per_query']} us dnsperf CPU per query)",
            ce["load"],
        ),
        row(
            "operator rate / dnsperf: cold; steady",
            f"{pct(c['queries_per_s'], ce['qps'])}; **{pct(s['queries_per_s'], ce['qps'])}**",
        ),
        row(
            f"peer: blackbox_exporter, {p['sample_names']} names x 2 servers, "
            f"{p['concurrency']} at once",
            f"{p['probes_per_s']} probes/s, {p['cpu_us_per_probe']} us CPU per probe "
            f"({p['probes']} probes, {p['successful']} ok)",
            p["load"],
        ),
        row(
            "CPU per DNS question: operator (steady) / blackbox_exporter / dnsperf",
            f"{s['cpu_us_per_query']} / {p['cpu_us_per_probe']} / "
            f"{ce['dnsperf_cpu_us_per_query']} us",
        ),
    ]


def latency_rows(r: Result) -> list[str]:
    """How soon a change shows: an unready pod, a stale record, a wrong record (drift)."""
    u, st, d = r["unready"], r["stale"], r["drift"]
    return [
        row(
            f"pod unready -> PodNamesResolvable False ({len(u['seconds'])} pods)",
            f"{u['seconds']} s (grace {r['grace_s']} s: max - grace = {u['max_minus_grace_s']} s);"
            f" DNSConsistent stays {u['dns_consistent_after']}",
            u["load"],
        ),
        row(
            "stale record on a 3rd replica -> DNSConsistent False",
            f"{st['seconds']} s, **{st['minus_grace_s']} s after grace** "
            f"(PodNamesResolvable False after {st['pod_names_false_s']} s)",
            st["load"],
        ),
        row(
            "wrong record, no API change (drift) -> DNSConsistent False",
            f"{d['seconds']} s (sweep interval {d['sweep_interval_s']} s)",
            d["load"],
        ),
    ]


def operator_rows(r: Result) -> list[str]:
    o = r["operator"]
    traceback = " (traceback in log)" if o.get("traceback") else ""
    return [
        row(
            f"operator #1: **peak RSS** (VmHWM); CPU s over {o['lifetime_s']} s; exit on SIGTERM",
            f"**{o['peak_rss_mib']} MiB**; {o['cpu_s']}; {o.get('exit_code')}{traceback}",
        ),
        row(
            "API requests by the operator after its first sweep (audit log)",
            fmt_requests(r["api_after_startup"]),
        ),
        row(
            "API requests by the operator during start-up and first sweep",
            fmt_requests(r["api_startup"]),
        ),
    ]


def write_floor_rows(r: Result) -> list[str]:
    if "write_floor" not in r:
        return []
    w = r["write_floor"]
    rows = []
    for label, what in (
        ("conditions", "services/status"),
        ("conditions_and_reports", "services/status + report + report status"),
    ):
        f = w[label]
        rows.append(
            row(
                f"write floor, no operator: {f['writes']} writes ({what}), "
                f"{w['concurrency']} at once",
                f"{f['wall_s']} s, kube-apiserver+etcd CPU {f['apiserver_etcd_cpu_s']} s",
                f["load"],
            )
        )
    return rows


def scale_table(r: Result) -> list[str]:
    m = r["pods"] // r["services"]
    return [
        f"### {r['services']} Services x {m} pods ({r['pods']} pods)",
        "",
        "| figure | value | load avg 1/5/15 min |",
        "|---|---|---|",
        *creation_rows(r),
        *cold_rows(r["cold"]),
        *steady_rows(r["steady"]),
        *comparison_rows(r),
        *latency_rows(r),
        *operator_rows(r),
        *write_floor_rows(r),
        "",
    ]


def floor_growth(r: Result) -> object:
    if "write_floor" not in r:
        return "-"
    w = r["write_floor"]
    return f"{w['conditions']['wall_s']} / {w['conditions_and_reports']['wall_s']}"


# The growth table: one figure per line, one column per scale.
GROWTH: list[tuple[str, Callable[[Result], object]]] = [
    ("pods ready after creation (s)", lambda r: r["create"]["settled_s"]),
    ("questions per sweep (2 servers)", lambda r: 2 * r["questions_per_server"]),
    ("cold sweep (s)", lambda r: r["cold"]["sweep_s"]),
    ("start -> all conditions (s)", lambda r: r["cold"]["start_to_all_conditions_s"]),
    ("write floor: conditions / + reports, no operator (s)", floor_growth),
    ("cold audits", lambda r: r["cold"]["audits"]),
    ("cold questions/s", lambda r: r["cold"]["queries_per_s"]),
    ("steady sweep (s)", lambda r: r["steady"]["sweep_s"]),
    ("steady questions/s", lambda r: r["steady"]["queries_per_s"]),
    ("dnsperf queries/s", lambda r: r["ceiling"]["qps"]),
    ("steady / dnsperf", lambda r: pct(r["steady"]["queries_per_s"], r["ceiling"]["qps"])),
    ("operator CPU us/question (steady)", lambda r: r["steady"]["cpu_us_per_query"]),
    ("blackbox probes/s", lambda r: r["peer"]["probes_per_s"]),
    ("blackbox CPU us/probe", lambda r: r["peer"]["cpu_us_per_probe"]),
    ("unready -> PodNamesResolvable False, max (s)", lambda r: r["unready"]["max_s"]),
    ("stale -> DNSConsistent False, after grace (s)", lambda r: r["stale"]["minus_grace_s"]),
    ("drift -> DNSConsistent False (s)", lambda r: r["drift"]["seconds"]),
    ("peak RSS (MiB)", lambda r: r["operator"]["peak_rss_mib"]),
    ("operator CPU s (whole run of operator #1)", lambda r: r["operator"]["cpu_s"]),
    (
        "LIST requests after start-up",
        lambda r: sum(v for k, v in r["api_after_startup"].items() if " list " in k),
    ),
]


def growth_table(results: list[Result]) -> list[str]:
    scales = [r["scale"] for r in results]
    return [
        "### Growth",
        "",
        "| figure | " + " | ".join(scales) + " |",
        "|---|" + "---|" * len(scales),
        *(f"| {name} | " + " | ".join(str(f(r)) for r in results) + " |" for name, f in GROWTH),
        "",
    ]


def markdown(results: list[Result], meta: dict[str, Any]) -> str:
    """The tables of docs/benchmarks.md: one per scale, then how each figure grows."""
    dirty = " + uncommitted operator/ changes" if meta["operator_dirty"] else ""
    out = [
        f"Run {meta['started']}, commit {meta['commit']}{dirty}, operator from "
        f"`{meta['operator_path']}`; {meta['total_s']:.0f} s in all on {meta['cpus']} CPUs.",
        "",
    ]
    for r in results:
        out += scale_table(r)
    if len(results) > 1:
        out += growth_table(results)
    return "\n".join(out)
