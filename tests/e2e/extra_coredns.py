"""Extra CoreDNS processes for failure tests, next to (never instead of) the shared replicas.

:func:`start` writes a Corefile shaped like the cluster's (``hack/cluster/Corefile``: the
kubernetes plugin reading the cluster through its kubeconfig, ``ttl 30``, ``pods insecure``) into a
directory of its own, runs the cached CoreDNS binary on one loopback address and a free port, and
waits for the ``ready`` plugin. Optional ``hosts`` entries are served *before* the kubernetes
plugin (with ``fallthrough``): a replica that answers a stale address for chosen names, as a
replica with a stale cache or a hand-edited Corefile would. The caller must :meth:`stop` it (the
tests do so in a fixture finalizer); it only ever stops its own process.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Mapping

from tests import poll
from tests.e2e import cluster as cl

PREFERRED_PORT = 1053
"""The port the shared replicas use; taken when free on the extra address, else any free one."""


@dataclasses.dataclass
class ExtraCoreDNS:
    """One CoreDNS process started by a test."""

    address: str
    port: int
    ready_port: int
    log_path: pathlib.Path
    process: subprocess.Popen[bytes]

    @property
    def server(self) -> str:
        """``ip:port``, as ``--dns-server`` takes it."""
        return f"{self.address}:{self.port}"

    @property
    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError as error:
            return f"(no log: {error})"

    @property
    def running(self) -> bool:
        return self.process.poll() is None

    def stop(self) -> None:
        """Terminate the process (SIGTERM, then SIGKILL after 10 s) and reap it; idempotent."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def corefile(
    *,
    address: str,
    port: int,
    ready_port: int,
    kubeconfig: str,
    hosts_file: pathlib.Path,
    hosts: Mapping[str, str],
    zone: str = "cluster.local",
    reload: str | None = None,
) -> str:
    """The Corefile of an extra replica; ``hosts`` maps FQDN (no trailing dot) -> IP. With
    ``reload`` (a duration, e.g. ``1s``) the hosts *file* is consulted too and re-read that
    often, so that records can be changed while it runs (the benchmark's drift)."""
    hosts_block = ""
    if hosts or reload:
        entries = "".join(f"        {ip} {name.rstrip('.')}\n" for name, ip in hosts.items())
        if reload:
            entries += f"        reload {reload}\n"
        hosts_block = f"    hosts {hosts_file} {zone} {{\n{entries}        fallthrough\n    }}\n"
    return (
        f".:{port} {{\n"
        f"    bind {address}\n"
        "    errors\n"
        f"    ready {address}:{ready_port}\n"
        f"{hosts_block}"
        f"    kubernetes {zone} in-addr.arpa ip6.arpa {{\n"
        f"        kubeconfig {kubeconfig}\n"
        "        pods insecure\n"
        "        fallthrough in-addr.arpa ip6.arpa\n"
        "        ttl 30\n"
        "    }\n"
        "    loadbalance\n"
        "}\n"
    )


def _port_free(address: str, port: int) -> bool:
    """Whether ``port`` can be bound on ``address`` for both TCP and UDP right now."""
    for kind in (socket.SOCK_STREAM, socket.SOCK_DGRAM):
        with socket.socket(socket.AF_INET, kind) as sock:
            try:
                sock.bind((address, port))
            except OSError:
                return False
    return True


def free_port(address: str, preferred: int | None = None, *, avoid: int | None = None) -> int:
    """``preferred`` if it is free on ``address`` (TCP and UDP), else a free ephemeral port."""
    if preferred is not None and preferred != avoid and _port_free(address, preferred):
        return preferred
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind((address, 0))
            port = int(sock.getsockname()[1])
        if port != avoid and _port_free(address, port):
            return port
    raise RuntimeError(f"no free port on {address}")


def _ready(address: str, port: int) -> bool:
    """The ``ready`` plugin says 200 (every plugin, the kubernetes one included, has synced)."""
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback, no proxy
    try:
        with opener.open(f"http://{address}:{port}/ready", timeout=1) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def _accepts(address: str, port: int) -> bool:
    """Whether the DNS port takes TCP connections yet (``ready`` may answer a moment before)."""
    try:
        with socket.create_connection((address, port), timeout=1):
            return True
    except OSError:
        return False


def start(
    cluster: cl.Cluster,
    workdir: pathlib.Path,
    address: str,
    *,
    hosts: Mapping[str, str] | None = None,
    timeout: float = 30,
) -> ExtraCoreDNS:
    """Start CoreDNS on ``address`` (a loopback address) and wait until it is ready.

    A port taken between the check and CoreDNS's bind (someone else on the same address) is
    retried on other free ports, a few times.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    preferred: int | None = PREFERRED_PORT
    for attempt in range(1, 4):
        extra = _launch(
            cluster, workdir, address, preferred=preferred, hosts=hosts or {}, attempt=attempt
        )

        def ready_or_exited(extra: ExtraCoreDNS = extra) -> str | None:
            if not extra.running:
                return "exited"
            ready = _ready(extra.address, extra.ready_port) and _accepts(extra.address, extra.port)
            return "ready" if ready else None

        try:
            outcome = poll.until(
                ready_or_exited, timeout=timeout, what=f"CoreDNS on {extra.server}"
            )
        except poll.PollTimeoutError:
            extra.stop()
            raise
        if outcome == "ready":
            return extra
        extra.stop()
        if "address already in use" not in extra.log:
            break
        preferred = None
    raise RuntimeError(f"CoreDNS on {extra.server} exited:\n{extra.log}")


def _launch(
    cluster: cl.Cluster,
    workdir: pathlib.Path,
    address: str,
    *,
    preferred: int | None,
    hosts: Mapping[str, str],
    attempt: int,
) -> ExtraCoreDNS:
    port = free_port(address, preferred)
    ready_port = free_port(address, 8181 if preferred else None, avoid=port)
    hosts_file = workdir / "hosts"
    hosts_file.write_text("")
    conf = workdir / "Corefile"
    conf.write_text(
        corefile(
            address=address,
            port=port,
            ready_port=ready_port,
            kubeconfig=cluster.kubeconfig,
            hosts_file=hosts_file,
            hosts=hosts,
            zone=cluster.domain,
        )
    )
    binary = pathlib.Path(cluster.env["HEADLESS_AUDITOR_TOOLS_BIN"]) / "coredns"
    log_path = workdir / f"coredns-{attempt}.log"
    with log_path.open("ab") as log:
        process = subprocess.Popen(
            [str(binary), "-conf", str(conf)],
            cwd=workdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **cluster.env},
            start_new_session=True,
        )
    return ExtraCoreDNS(address, port, ready_port, log_path, process)
