"""The peer: blackbox_exporter with one dns module per sampled name, probed over HTTP."""

from __future__ import annotations

import asyncio
import json
import pathlib
import shutil
import subprocess
import time
from typing import IO, Any

import aiohttp  # a dependency of kopf, hence in the venv

from hack.bench.common import ADDRESSES, DNS_PORT, answers_ok, free_port, load, stop_process, until
from hack.bench.sampling import proc_cpu, proc_memory


def blackbox_config(sample: list[tuple[str, str]]) -> str:
    lines = ["modules:"]
    for i, (name, rdtype) in enumerate(sample):
        lines += [
            f"  dns_{i}:",
            "    prober: dns",
            "    timeout: 2s",
            "    dns:",
            f"      query_name: {json.dumps(name)}",
            f"      query_type: {rdtype}",
            "      transport_protocol: udp",
            "      preferred_ip_protocol: ip4",
            "      ip_protocol_fallback: false",
            "      valid_rcodes: [NOERROR, NXDOMAIN]",
        ]
    return "\n".join(lines) + "\n"


async def _drive_probes(
    port: int, jobs: list[tuple[int, str]], concurrency: int, seconds: float
) -> tuple[int, int, float]:
    """GET /probe for each (module, target), ``concurrency`` at once, until done or ``seconds``."""
    queue = iter(jobs)
    deadline = time.monotonic() + seconds
    done = ok = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done, ok
        for module, target in queue:
            if time.monotonic() > deadline:
                return
            url = f"http://127.0.0.1:{port}/probe?module=dns_{module}&target={target}"
            async with session.get(url) as response:
                body = await response.text()
            done += 1
            ok += "\nprobe_success 1" in body

    started = time.monotonic()
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, trust_env=False) as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))
    return done, ok, time.monotonic() - started


def exporter_binary() -> str:
    binary = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if binary is None:
        raise RuntimeError(
            "blackbox_exporter missing: apt-get install prometheus-blackbox-exporter"
        )
    return binary


def start_exporter(
    binary: str, work: pathlib.Path, sample: list[tuple[str, str]], log_file: IO[bytes]
) -> tuple[subprocess.Popen[bytes], int]:
    """The exporter with one module per sampled name, on a free loopback port."""
    config = work / "blackbox.yml"
    config.write_text(blackbox_config(sample))
    port = free_port()
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--log.level=warn",
        ],
        stdout=log_file,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    return process, port


def wait_healthy(process: subprocess.Popen[bytes], port: int, work: pathlib.Path) -> None:
    def healthy() -> bool:
        if process.poll() is not None:
            raise RuntimeError(f"blackbox_exporter exited: {(work / 'blackbox.log').read_text()}")
        return answers_ok(f"http://127.0.0.1:{port}/-/healthy")

    until(healthy, timeout=30, what="blackbox_exporter /-/healthy")


def probe_all(
    process: subprocess.Popen[bytes],
    port: int,
    jobs: list[tuple[int, str]],
    concurrency: int,
    seconds: float,
) -> dict[str, Any]:
    """Drive the probes: counts, wall time, the exporter's CPU and memory, the driver's CPU."""
    cpu0, own0 = proc_cpu(process.pid), time.process_time()
    done, ok, wall = asyncio.run(_drive_probes(port, jobs, concurrency, seconds))
    cpu = proc_cpu(process.pid) - cpu0
    own = time.process_time() - own0
    memory = proc_memory(process.pid)
    return {"done": done, "ok": ok, "wall": wall, "cpu": cpu, "own": own, "memory": memory}


def run_blackbox(
    questions: list[tuple[str, str]],
    work: pathlib.Path,
    *,
    sample_size: int,
    repeats: int,
    seconds: float,
    concurrency: int,
) -> dict[str, Any]:
    binary = exporter_binary()
    step = max(1, len(questions) // sample_size)
    sample = questions[::step][:sample_size]
    with (work / "blackbox.log").open("ab") as log_file:
        process, port = start_exporter(binary, work, sample, log_file)
        try:
            wait_healthy(process, port, work)
            targets = [f"{a}:{DNS_PORT}" for a in ADDRESSES]
            jobs = [(m, t) for _ in range(repeats) for m in range(len(sample)) for t in targets]
            got = probe_all(process, port, jobs, concurrency, seconds)
        finally:
            stop_process(process)
    done, cpu, own = got["done"], got["cpu"], got["own"]
    return {
        "sample_names": len(sample),
        "probes": done,
        "successful": got["ok"],
        "probes_per_s": round(done / got["wall"]),
        "cpu_s": round(cpu, 2),
        "cpu_us_per_probe": round(cpu / done * 1e6, 1),
        "driver_cpu_us_per_probe": round(own / done * 1e6, 1),
        "concurrency": concurrency,
        "peak_rss_mib": got["memory"].get("VmHWM"),
        "load": load(),
    }
