"""The command line of the benchmark: its flags, and the options one scale runs with."""

from __future__ import annotations

import argparse
import dataclasses

import hack.bench


@dataclasses.dataclass
class Options:
    settle_timeout: float
    steady_interval: float
    drift_interval: float
    dnsperf_seconds: float
    dnsperf_target: int
    blackbox_sample: int
    blackbox_repeats: int
    blackbox_seconds: float
    blackbox_concurrency: int
    unready_samples: int
    profile: bool
    operator_path: str


def parser() -> argparse.ArgumentParser:
    description = (hack.bench.__doc__ or "").split("\n\n")[0]
    p = argparse.ArgumentParser(prog="python -m hack.bench", description=description)
    p.add_argument("--scales", default="100x5,500x10,1000x10")
    p.add_argument("--settle-timeout", type=float, default=1800)
    p.add_argument("--steady-interval", type=float, default=30)
    p.add_argument("--drift-interval", type=float, default=30)
    p.add_argument("--dnsperf-seconds", type=float, default=15)
    p.add_argument("--dnsperf-target", type=int, default=150_000, help="queries per server")
    p.add_argument("--blackbox-sample", type=int, default=300)
    p.add_argument("--blackbox-repeats", type=int, default=10)
    p.add_argument("--blackbox-seconds", type=float, default=20)
    p.add_argument("--blackbox-concurrency", type=int, default=64)
    p.add_argument("--unready-samples", type=int, default=3)
    p.add_argument("--profile", action="store_true", help="py-spy the cold sweep (raw stacks)")
    p.add_argument(
        "--operator-path",
        default="",
        help="run the operator from this source dir (a patched copy of operator/) via PYTHONPATH",
    )
    return p


def options(args: argparse.Namespace) -> Options:
    """The options of every scale: the flags of the same names."""
    return Options(**{f.name: getattr(args, f.name) for f in dataclasses.fields(Options)})


def parse_scale(text: str) -> tuple[int, int]:
    """``NxM``: N Services of M pods each."""
    n, _, m = text.partition("x")
    return int(n), int(m)
