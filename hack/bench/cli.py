"""``python -m hack.bench``: every scale in turn, the results written after each."""

from __future__ import annotations

import argparse
import json
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time
from typing import Any

from hack.bench.common import OUT, ROOT, log
from hack.bench.options import Options, options, parse_scale, parser
from hack.bench.report import markdown
from hack.bench.scale import run_scale


def git(*args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip()


def run_meta(args: argparse.Namespace) -> dict[str, Any]:
    """When, where and what ran: the header of the results."""
    return {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpus": os.cpu_count(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "operator_dirty": bool(git("status", "--porcelain", "--", "operator")),
        "operator_path": args.operator_path or "operator/",
        "args": vars(args),
    }


def run_scales(
    scales: str, opts: Options, work: pathlib.Path, meta: dict[str, Any]
) -> list[dict[str, Any]]:
    """Each scale of ``N1xM1,N2xM2,...``; results.json rewritten after each."""
    results = []
    for scale in scales.split(","):
        services, pods = parse_scale(scale)
        log(f"=== scale {services} x {pods} ===")
        scale_started = time.monotonic()
        result = run_scale(services, pods, opts, work)
        result["scale_total_s"] = round(time.monotonic() - scale_started, 1)
        results.append(result)
        (work / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    return results


def main() -> int:
    args = parser().parse_args()
    opts = options(args)
    for tool in ("dnsperf", "kubectl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not on PATH: run make tools")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # finally-blocks take the cluster down
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = OUT / stamp
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    meta = run_meta(args)
    results = run_scales(args.scales, opts, work, meta)
    meta["total_s"] = time.monotonic() - started
    (work / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    (work / "results.md").write_text(markdown(results, meta))
    print(markdown(results, meta))
    log(f"done in {meta['total_s']:.0f} s; results in {work}")
    return 0
