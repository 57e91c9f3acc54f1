"""The ceiling: dnsperf with the operator's question list, one per CoreDNS replica at once."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import time
from typing import Any

from hack.bench.common import ADDRESSES, DNS_PORT, load


def commands(data: pathlib.Path, passes: int, seconds: float) -> list[list[str]]:
    """One dnsperf per replica: ``passes`` over the question file, at most ``seconds``, EDNS0."""
    return [
        [
            "dnsperf",
            "-s",
            address,
            "-p",
            str(DNS_PORT),
            "-d",
            str(data),
            "-n",
            str(passes),
            "-l",
            str(int(seconds)),
            "-e",
            "-t",
            "2",
        ]
        for address in ADDRESSES
    ]


def run_all(argvs: list[list[str]]) -> tuple[list[str], float]:
    """Start every command at once, wait for all: their outputs, and their CPU seconds in all."""
    processes = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for c in argvs
    ]
    outputs, cpu = [], 0.0
    for p in processes:
        out = p.stdout.read().decode() if p.stdout else ""
        _pid, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        outputs.append(out)
    return outputs, cpu


def parse(out: str) -> dict[str, Any]:
    """The figures of one dnsperf report."""
    qps = re.search(r"Queries per second:\s+([\d.]+)", out)
    completed = re.search(r"Queries completed:\s+(\d+)", out)
    lost = re.search(r"Queries lost:\s+(\d+)", out)
    run_time = re.search(r"Run time \(s\):\s+([\d.]+)", out)
    if not (qps and completed and lost and run_time):
        raise RuntimeError(f"cannot read dnsperf's output:\n{out}")
    return {
        "qps": float(qps[1]),
        "completed": int(completed[1]),
        "lost": int(lost[1]),
        "seconds": float(run_time[1]),
    }


def run_dnsperf(
    questions: list[tuple[str, str]], work: pathlib.Path, seconds: float, target: int
) -> dict[str, Any]:
    """One dnsperf per replica at once, the same question list, -n passes and -l seconds."""
    data = work / "questions.txt"
    data.write_text("".join(f"{name} {rdtype}\n" for name, rdtype in questions))
    passes = max(2, -(-target // len(questions)))
    argvs = commands(data, passes, seconds)
    started = time.monotonic()
    outputs, cpu = run_all(argvs)
    wall = time.monotonic() - started
    per_server = [parse(out) for out in outputs]
    completed = sum(s["completed"] for s in per_server)
    return {
        "command": " ".join(argvs[0]).replace(str(data), "questions.txt"),
        "passes": passes,
        "qps": round(sum(s["qps"] for s in per_server)),
        "per_server": per_server,
        "completed": completed,
        "wall_s": round(wall, 2),
        "dnsperf_cpu_us_per_query": round(cpu / completed * 1e6, 2),
        "load": load(),
    }
