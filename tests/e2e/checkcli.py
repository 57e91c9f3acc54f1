"""Run ``headless-auditor check`` as a user would: a subprocess with the cluster's environment.

The e2e tests of the one-shot command go through here: :func:`run` returns the exit code and the
parsed ``-o json`` document, :func:`settled` polls the command until the audit no longer says
``Converging`` (a change may still be on its way to CoreDNS) and returns that final result.
"""

from __future__ import annotations

import dataclasses
import json
import pathlib
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import Any

from headless_auditor.core import expected, snapshots
from headless_auditor.kube import gather
from tests import poll
from tests.e2e import cluster as cl

EXECUTABLE = cl.ROOT / ".venv" / "bin" / "headless-auditor"
if not EXECUTABLE.exists():  # a venv elsewhere: the entry point next to this interpreter
    EXECUTABLE = pathlib.Path(sys.executable).with_name("headless-auditor")

CONVERGING = "Converging"


@dataclasses.dataclass(frozen=True)
class CheckResult:
    """One run of ``check -o json``."""

    exit_code: int
    document: dict[str, Any] | None
    """The parsed JSON on stdout; None when the command printed none (e.g. exit code 2)."""
    stderr: str

    @property
    def services(self) -> list[dict[str, Any]]:
        return list((self.document or {}).get("services", []))

    def service(self, name: str) -> dict[str, Any]:
        """The row of the Service ``name``; AssertionError naming the rows when it is absent."""
        for row in self.services:
            if row["name"] == name:
                return row
        raise AssertionError(f"no row for {name!r} in {[r['name'] for r in self.services]}")

    def states(self) -> dict[str, str]:
        """Service name -> DNS state (``NotAudited`` when DNS was not asked)."""
        return {r["name"]: r["dns"]["state"] if r["dns"] else "NotAudited" for r in self.services}

    @property
    def converging(self) -> bool:
        return CONVERGING in self.states().values()

    def __str__(self) -> str:
        shown = json.dumps(self.document, indent=1) if self.document else "(no JSON)"
        return f"exit {self.exit_code}; stderr: {self.stderr.strip()!r}; output:\n{shown}"


def run(
    cluster: cl.Cluster,
    namespace: str,
    *,
    dns_servers: Sequence[str] | None = None,
    extra_args: Sequence[str] = (),
    timeout: float = 60,
) -> CheckResult:
    """``headless-auditor check -n NAMESPACE -o json`` with the cluster's KUBECONFIG and DNS.

    ``dns_servers`` become ``--dns-server`` flags (which override HEADLESS_AUDITOR_DNS_SERVERS).
    """
    args = [str(EXECUTABLE), "check", "-n", namespace, "-o", "json", *extra_args]
    for server in dns_servers or ():
        args += ["--dns-server", server]
    proc = subprocess.run(
        args,
        capture_output=True,
        text=True,
        env=cluster.process_env,
        timeout=timeout,
        check=False,
    )
    document = json.loads(proc.stdout) if proc.stdout.strip() else None
    return CheckResult(proc.returncode, document, proc.stderr)


def settled(
    cluster: cl.Cluster,
    namespace: str,
    *,
    until: Callable[[CheckResult], bool] | None = None,
    timeout: float = 30,
    dns_servers: Sequence[str] | None = None,
) -> CheckResult:
    """Run ``check`` until no Service is Converging (and ``until`` holds); return that result.

    Call it once the API objects have settled: then only CoreDNS can still be catching up, which
    the auditor reports as Converging within its grace window. The caller asserts on the result.
    """
    last: list[CheckResult] = []

    def attempt() -> CheckResult | None:
        result = run(cluster, namespace, dns_servers=dns_servers)
        last[:] = [result]
        if result.document is None or result.converging:
            return None
        return result if until is None or until(result) else None

    try:
        return poll.until(attempt, timeout=timeout, interval=0.5, what="a settled check")
    except poll.PollTimeoutError as error:
        raise poll.PollTimeoutError(f"{error}; last check: {last[0] if last else None}") from None


# -- shorthands for assertions ----------------------------------------------------------------


def codes(row: dict[str, Any]) -> list[str]:
    """The finding codes of one row, sorted."""
    return sorted(f["code"] for f in row["findings"])


def pod_problems(row: dict[str, Any]) -> dict[str, str]:
    """Pod name -> pod-name problem code of one row."""
    return {p["pod"]: p["code"] for p in row["podNameProblems"]}


def counts(row: dict[str, Any]) -> tuple[int, int, int]:
    """``(expectedRecords, missing, unexpected)`` of an audited row."""
    dns = row["dns"]
    return dns["expectedRecords"], len(dns["missing"]), len(dns["unexpected"])


def assert_consistent(row: dict[str, Any], expected_records: int, servers: Sequence[str]) -> None:
    """DNS state Consistent: every server asked answered every record as expected."""
    dns = row["dns"]
    assert dns is not None, row
    assert dns["state"] == "Consistent", dns["summary"]
    assert counts(row) == (expected_records, 0, 0), dns["summary"]
    assert dns["outcomeMismatches"] == [], dns
    assert dns["failures"] == [], dns
    assert dns["disagreements"] == [], dns
    assert sorted(dns["servers"]) == sorted(servers)


def expected_records(
    cluster: cl.Cluster, namespace: str, name: str
) -> dict[tuple[str, str], set[str]]:
    """What the engine predicts for one Service, computed in-process from the live objects.

    ``(name, type) -> records`` for every question ``check`` asks about the Service (the JSON
    output only counts them): lets a test show that a record is part of the expectation.
    """
    kinds = ("services", "endpointslices", "statefulsets")
    services, slices, sets = (cluster.list(kind, namespace) for kind in kinds)
    configmap = cluster.get("configmap", "coredns", "kube-system")
    options = gather.corefile_options(configmap)
    for snapshot in snapshots.snapshots(services, slices, sets, options):
        if snapshot.name == name:
            answers = expected.expected_answers(snapshot, options.cluster_zone)
            return {(q.name, str(q.rdtype)): set(a.records) for q, a in answers.items()}
    raise AssertionError(f"{namespace}/{name} is not audited")
