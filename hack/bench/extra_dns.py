"""A third CoreDNS whose hosts *file* answers chosen names first: stale and wrong records."""

from __future__ import annotations

import pathlib
import subprocess

import dns.message
import dns.query
import dns.rdatatype
from tests.e2e import extra_coredns

from hack.bench.cluster import BenchCluster
from hack.bench.common import DNS_PORT, EXTRA_ADDRESS, answers_ok, free_port, stop_process, until


class ExtraCoreDNS:
    """A third CoreDNS on 127.0.20.3 (own port), like tests/e2e/extra_coredns.py, whose hosts
    *file* is re-read every second, so that a wrong record can appear while it runs."""

    def __init__(self, cluster: BenchCluster, work: pathlib.Path, hosts: dict[str, str]) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.hosts_file = work / "hosts"
        self.write_hosts(hosts)
        self.port = DNS_PORT
        self.ready_port = free_port(EXTRA_ADDRESS)
        conf = self._write_corefile(work, cluster.env["KUBECONFIG"])
        self._log = (work / "coredns.log").open("ab")
        binary = pathlib.Path(cluster.env["HEADLESS_AUDITOR_TOOLS_BIN"]) / "coredns"
        self.process = subprocess.Popen(
            [str(binary), "-conf", str(conf)],
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        self._wait_ready(work)

    def _write_corefile(self, work: pathlib.Path, kubeconfig: str) -> pathlib.Path:
        """The e2e tests' Corefile, with the hosts file re-read every second."""
        conf = work / "Corefile"
        conf.write_text(
            extra_coredns.corefile(
                address=EXTRA_ADDRESS,
                port=self.port,
                ready_port=self.ready_port,
                kubeconfig=kubeconfig,
                hosts_file=self.hosts_file,
                hosts={},
                reload="1s",
            )
        )
        return conf

    def _wait_ready(self, work: pathlib.Path) -> None:
        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"extra CoreDNS exited: {(work / 'coredns.log').read_text()}")
            return answers_ok(f"http://{EXTRA_ADDRESS}:{self.ready_port}/ready")

        until(ready, timeout=30, what="extra CoreDNS ready")

    @property
    def server(self) -> str:
        return f"{EXTRA_ADDRESS}:{self.port}"

    def write_hosts(self, hosts: dict[str, str]) -> None:
        tmp = self.hosts_file.with_suffix(".tmp")
        tmp.write_text("".join(f"{ip} {name.rstrip('.')}\n" for name, ip in hosts.items()))
        tmp.replace(self.hosts_file)

    def answers(self, name: str) -> set[str]:
        query = dns.message.make_query(name, dns.rdatatype.A)
        response = dns.query.udp(query, EXTRA_ADDRESS, port=self.port, timeout=1)
        return {r.to_text() for rrset in response.answer for r in rrset}

    def stop(self) -> None:
        stop_process(self.process)
        self._log.close()
