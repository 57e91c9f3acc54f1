#!/usr/bin/env python3
# ruff: noqa: E501, PLR0915
"""The benchmark of issue 7: the audit at scale, side by side with dnsperf and blackbox_exporter.

``make bench`` (or ``.venv/bin/python hack/bench.py [--scales 100x5,500x10,1000x10]``) runs, for
each scale N x M (N headless Services, each governing one StatefulSet of M pods):

1. a fresh benchmark cluster of its own (``hack/cluster.sh up`` with state ``.bench-cluster/``,
   CoreDNS on 127.0.20.1/.2, and an API audit log), never the default ``.cluster``;
2. N Services + N StatefulSets (``podManagementPolicy: Parallel``; kwok makes the pods), then a
   wait until every Service's slices hold M ready endpoints (creation rate measured);
3. operator #1 (``headless-auditor run``, the two CoreDNS replicas): its cold full sweep (log line
   and ``headless_auditor_sweep_duration_seconds``), the time until every Service carries our three
   conditions (a watch on Services), the DNS questions it asked; then one steady-state sweep with
   its CPU and the API requests it made (API audit log, by userAgent/verb/resource); then a pod
   made unready, three times, until PodNamesResolvable False; peak RSS (VmHWM) and CPU;
4. the ceiling: dnsperf with the same question list (built in-process from the listed objects by
   the engine: ``snapshots.snapshots`` + ``expected.questions_for``), one dnsperf per replica at
   once, bounded by ``-l`` seconds and ``-n`` passes;
5. the peer: blackbox_exporter (Debian package) with one dns module per name of a sample, probed
   against both replicas over HTTP, bounded in count and time; probes/s and CPU s per probe;
6. operator #2 with a third, extra CoreDNS (127.0.20.3) whose hosts file serves chosen names
   before the kubernetes plugin: (a) a stale record -- the extra keeps a pod's address after the
   pod turns unready -- until DNSConsistent False, minus the grace window; (b) a wrong record
   appearing with no API change (drift) until DNSConsistent False, which only a sweep can see;
7. ``hack/cluster.sh down``.

Traffic goes only to 127.0.0.0/8 (the API server, CoreDNS, the exporter, the operator's metrics);
pod IPs are fake and never contacted. Every load is bounded in count and time. Results:
``build/bench/results-<time>.json`` and ``.md`` (the tables of docs/benchmarks.md).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import concurrent.futures
import contextlib
import dataclasses
import datetime
import json
import os
import pathlib
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import threading
import time
import urllib.request
from collections.abc import Callable
from typing import Any

ROOT = pathlib.Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "operator"))
sys.path.insert(0, str(ROOT))  # the e2e helpers: workloads, the operator command, the Corefile

import aiohttp  # noqa: E402  (a dependency of kopf, hence in the venv)
import dns.message  # noqa: E402
import dns.query  # noqa: E402
import dns.rdatatype  # noqa: E402
from kubernetes import config as kube_config  # noqa: E402
from prometheus_client.parser import text_string_to_metric_families  # noqa: E402
from tests.e2e import extra_coredns, operator_proc, workloads  # noqa: E402

from headless_auditor.core import corefile, expected, snapshots  # noqa: E402
from headless_auditor.kube import client, gather, writers  # noqa: E402
from headless_auditor.sinks import report  # noqa: E402

STATE = ROOT / ".bench-cluster"
ADDRESSES = ("127.0.20.1", "127.0.20.2")
EXTRA_ADDRESS = "127.0.20.3"
DNS_PORT = 1053
NAMESPACE = "bench"
OUT = ROOT / "build" / "bench"
CRDS = ROOT / "charts" / "headless-auditor" / "crds"
BENCH_USER_AGENT = "headless-auditor-bench"
OPERATOR_AGENTS = ("kopf/", "headless-auditor")  # kopf's watches; its raw client (writes, GETs)
CONDITIONS = ("DNSConsistent", "PodNamesResolvable", "ConfigurationValid")
CLK_TCK = os.sysconf("SC_CLK_TCK")
NO_PROXY_ENV = {"NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost"}

# The API audit policy of the benchmark cluster: everything at Metadata level except the traffic
# of pods, nodes and leases (kwok and the scheduler: tens of thousands of lines, never ours).
AUDIT_POLICY = """\
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
- level: None
  resources:
  - group: ""
    resources: [pods, pods/status, pods/binding, pods/eviction, nodes, nodes/status]
  - group: coordination.k8s.io
    resources: [leases]
- level: None
  nonResourceURLs: ["/healthz*", "/readyz*", "/livez*", "/version", "/metrics", "/openapi*"]
- level: Metadata
"""


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def load() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def until(check: Callable[[], Any], *, timeout: float, interval: float = 0.2, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() >= deadline:
            raise TimeoutError(f"{what}: not reached within {timeout:.0f} s")
        time.sleep(interval)


def proc_cpu(pid: int) -> float:
    """utime + stime of a process (all its threads), seconds."""
    fields = pathlib.Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def proc_memory(pid: int) -> dict[str, float]:
    """VmRSS and VmHWM (peak RSS) in MiB."""
    found = {}
    for line in pathlib.Path(f"/proc/{pid}/status").read_text().splitlines():
        key, _, value = line.partition(":")
        if key in ("VmRSS", "VmHWM"):
            found[key] = round(int(value.split()[0]) / 1024, 1)
    return found


def stop_process(process: subprocess.Popen[bytes], *, group: bool = True) -> None:
    """SIGTERM (the process group when it has its own), SIGKILL after 15 s; reaped."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        if group:
            os.killpg(process.pid, signal.SIGTERM)
        else:
            process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL) if group else process.kill()
        process.wait(timeout=10)


# -- the benchmark cluster ----------------------------------------------------------------------


class BenchCluster:
    """``hack/cluster.sh`` with the benchmark's state directory, addresses and audit log."""

    def __init__(self, work: pathlib.Path) -> None:
        self.policy = work / "audit-policy.yaml"
        self.policy.write_text(AUDIT_POLICY)
        self.script_env = {
            **os.environ,
            **NO_PROXY_ENV,
            "HEADLESS_AUDITOR_STATE": str(STATE),
            "HEADLESS_AUDITOR_COREDNS_ADDRESSES": " ".join(ADDRESSES),
            "HEADLESS_AUDITOR_KUBE_AUDIT_POLICY": str(self.policy),
            # fake pods at scale only: one real node per machine, and it is the e2e cluster's
            "HEADLESS_AUDITOR_REAL_NODE": "0",
        }
        self.env: dict[str, str] = {}
        self.audit_log = STATE / "kwok" / "clusters" / "headless-auditor" / "logs" / "audit.log"

    def script(self, action: str, timeout: float = 600) -> None:
        proc = subprocess.run(
            [str(ROOT / "hack" / "cluster.sh"), action],
            env=self.script_env,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"hack/cluster.sh {action} failed:\n{proc.stderr}{proc.stdout}")

    def up(self) -> None:
        if STATE.exists():
            log(f"{STATE} exists (an earlier run was interrupted): taking it down first")
            self.script("down")
        started = time.monotonic()
        self.script("up")
        for line in (STATE / "env").read_text().splitlines():
            if line.startswith("export ") and not line.startswith("export PATH="):
                key, _, value = line.removeprefix("export ").partition("=")
                self.env[key] = value
        log(f"benchmark cluster up in {time.monotonic() - started:.1f} s ({STATE})")

    def down(self) -> None:
        self.script("down")
        log("benchmark cluster down")

    @property
    def process_env(self) -> dict[str, str]:
        bin_dir = self.env["HEADLESS_AUDITOR_TOOLS_BIN"]
        return {**os.environ, **NO_PROXY_ENV, **self.env, "PATH": f"{bin_dir}:{os.environ['PATH']}"}

    def kubectl(self, *args: str) -> str:
        proc = subprocess.run(
            ["kubectl", *args],
            env=self.process_env,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        if proc.returncode != 0:
            raise RuntimeError(f"kubectl {' '.join(args)}: {proc.stderr.strip()}")
        return proc.stdout

    def kube(self) -> client.Kube:
        kube = client.Kube(kube_config.new_client_from_config(config_file=self.env["KUBECONFIG"]))
        kube._api.user_agent = BENCH_USER_AGENT  # tell our requests from the operator's
        return kube

    def coredns_pids(self) -> list[int]:
        return [int((STATE / f"coredns-{i}.pid").read_text().strip()) for i in (1, 2)]


# -- the workload -------------------------------------------------------------------------------


def service_name(i: int) -> str:
    return f"s{i:04d}"


def sts_name(i: int) -> str:
    return f"w{i:04d}"


def workload(i: int, pods: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """Headless Service ``s<i>`` (one named port) and StatefulSet ``w<i>`` (Parallel, ``pods``
    replicas), the shapes of the e2e tests."""
    labels = {"app": service_name(i)}
    service = workloads.headless_service(service_name(i), selector=labels)
    statefulset = workloads.statefulset(
        sts_name(i), service_name=service_name(i), replicas=pods, labels=labels
    )
    return service, statefulset


PODS_PER_NODE = 3000


def create_nodes(kube: client.Kube, pods: int) -> int:
    """Fake nodes for kwok with room for ``pods`` (kwokctl's nodes hold 110 pods each), each
    with a /16 pod CIDR (kwok takes pod IPs from it; fake addresses, never contacted)."""
    count = max(1, -(-pods // (PODS_PER_NODE - 500)))
    room = {"cpu": "1000", "memory": "4Ti", "pods": str(PODS_PER_NODE)}
    for i in range(count):
        name = f"bench-node-{i}"
        kube.request(
            "POST",
            "/api/v1/nodes",
            body={
                "apiVersion": "v1",
                "kind": "Node",
                "metadata": {
                    "name": name,
                    "annotations": {"kwok.x-k8s.io/node": "fake"},
                    "labels": {"type": "kwok", "kubernetes.io/hostname": name},
                },
                "spec": {"podCIDR": f"10.{100 + i}.0.0/16", "podCIDRs": [f"10.{100 + i}.0.0/16"]},
                "status": {"capacity": room, "allocatable": room},
            },
        )
    return count


def create_workload(kube: client.Kube, services: int, pods: int) -> float:
    """POST the namespace, N Services and N StatefulSets (8 at a time); seconds taken."""
    started = time.monotonic()
    kube.request("POST", "/api/v1/namespaces", body={"metadata": {"name": NAMESPACE}})
    paths = {
        "Service": f"/api/v1/namespaces/{NAMESPACE}/services",
        "StatefulSet": f"/apis/apps/v1/namespaces/{NAMESPACE}/statefulsets",
    }
    objects = [o for i in range(services) for o in workload(i, pods)]
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda o: kube.request("POST", paths[o["kind"]], body=o), objects))
    return time.monotonic() - started


def ready_endpoints(kube: client.Kube) -> collections.Counter[str]:
    """Ready endpoints with a hostname, per Service name, from the namespace's slices."""
    counts: collections.Counter[str] = collections.Counter()
    slices = kube.list(f"/apis/discovery.k8s.io/v1/namespaces/{NAMESPACE}/endpointslices")
    for s in slices:
        name = (s["metadata"].get("labels") or {}).get("kubernetes.io/service-name")
        for e in s.get("endpoints") or []:
            if (e.get("conditions") or {}).get("ready", True) and e.get("hostname"):
                counts[name] += 1
    return counts


def wait_settled(
    kube: client.Kube, services: int, pods: int, started: float, timeout: float
) -> dict[str, Any]:
    """Poll the slices until every Service has exactly M ready endpoints."""
    total = services * pods
    progress = []
    last_print = 0.0
    while True:
        counts = ready_endpoints(kube)
        ready = sum(min(c, pods) for c in counts.values())
        elapsed = time.monotonic() - started
        progress.append((round(elapsed, 1), ready))
        settled = len(counts) == services and all(c == pods for c in counts.values())
        if settled:
            return {"settled_s": round(elapsed, 1), "progress": progress}
        if elapsed - last_print >= 15:
            log(f"settling: {ready}/{total} ready endpoints after {elapsed:.0f} s")
            last_print = elapsed
        if elapsed > timeout:
            rate = ready / elapsed
            raise TimeoutError(
                f"not settled within {timeout:.0f} s: {ready}/{total} ready endpoints "
                f"({rate:.1f}/s)"
            )
        time.sleep(3 if total > 2000 else 1)


def question_list(kube: client.Kube) -> tuple[list[tuple[str, str]], float]:
    """Every question the operator asks per server, from the engine over the listed objects."""
    objects = gather.objects(kube, NAMESPACE)
    options = gather.live_corefile(kube)
    zone = options.cluster_zone
    snaps = snapshots.snapshots(objects.services, objects.slices, objects.statefulsets, options)
    questions = [(q.name, q.rdtype.value) for s in snaps for q in expected.questions_for(s, zone)]
    return questions, corefile.grace_seconds(options)


# -- watching Services --------------------------------------------------------------------------


class ServiceWatch:
    """A watch on the namespace's Services: when each got our conditions, and every change."""

    def __init__(self, kube: client.Kube) -> None:
        self.kube = kube
        self.lock = threading.Lock()
        self.conditions: dict[str, dict[str, str]] = {}
        self.complete_at: dict[str, float] = {}
        self.changes: list[tuple[float, str, str, str]] = []
        self._stop = threading.Event()
        page = kube.request("GET", f"/api/v1/namespaces/{NAMESPACE}/services")
        for item in page.get("items") or []:
            self._update(item, time.time())
        self._rv = page["metadata"]["resourceVersion"]
        self._thread = threading.Thread(target=self._run, name="service-watch", daemon=True)
        self._thread.start()

    def _update(self, obj: dict[str, Any], now: float) -> None:
        name = obj["metadata"]["name"]
        ours = {
            c["type"].rpartition("/")[2]: c["status"]
            for c in (obj.get("status") or {}).get("conditions") or []
            if c.get("type", "").startswith("headless-auditor.io/")
        }
        with self.lock:
            before = self.conditions.get(name, {})
            for type_, status in ours.items():
                if before.get(type_) != status:
                    self.changes.append((now, name, type_, status))
            self.conditions[name] = ours
            if name not in self.complete_at and all(c in ours for c in CONDITIONS):
                self.complete_at[name] = now

    def _run(self) -> None:
        api = self.kube._api
        while not self._stop.is_set():
            query = [
                ("watch", "1"),
                ("resourceVersion", self._rv),
                ("timeoutSeconds", "5"),
                ("allowWatchBookmarks", "true"),
            ]
            _, url, headers, _, _ = api.param_serialize(
                "GET",
                f"/api/v1/namespaces/{NAMESPACE}/services",
                query_params=query,
                header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"],
            )
            try:
                response = api.rest_client.request(
                    "GET", url, headers=headers, _request_timeout=(5, 30)
                )
                buffer = b""
                for chunk in response.response.stream(65536):
                    buffer += chunk
                    while b"\n" in buffer:
                        line, buffer = buffer.split(b"\n", 1)
                        if line.strip():
                            self._event(json.loads(line), time.time())
            except Exception as error:  # a broken watch is re-established
                log(f"service watch: {error!r}; re-watching")
                time.sleep(0.5)

    def _event(self, event: dict[str, Any], now: float) -> None:
        obj = event.get("object") or {}
        if event.get("type") == "ERROR":
            page = self.kube.request("GET", f"/api/v1/namespaces/{NAMESPACE}/services")
            for item in page.get("items") or []:
                self._update(item, now)
            self._rv = page["metadata"]["resourceVersion"]
            return
        self._rv = obj.get("metadata", {}).get("resourceVersion", self._rv)
        if event.get("type") in ("ADDED", "MODIFIED"):
            self._update(obj, now)

    def first_change(self, name: str, type_: str, status: str, after: float) -> float | None:
        with self.lock:
            for t, n, ty, st in self.changes:
                if t >= after and n == name and ty == type_ and st == status:
                    return t
        return None

    def status(self, name: str, type_: str) -> str | None:
        with self.lock:
            return self.conditions.get(name, {}).get(type_)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# -- the operator process -----------------------------------------------------------------------


class Operator:
    """``headless-auditor run`` as a child process, JSON logs to a file, metrics on loopback."""

    def __init__(
        self,
        cluster: BenchCluster,
        servers: list[str],
        sweep_interval: float,
        log_path: pathlib.Path,
        python_path: str = "",
    ) -> None:
        self.port = free_port()
        self.log_path = log_path
        env = cluster.process_env
        env["HEADLESS_AUDITOR_DNS_SERVERS"] = ",".join(servers)
        args = operator_proc.command(self.port, sweep_interval, "json")
        if python_path:
            env["PYTHONPATH"] = python_path  # a patched copy of operator/ (design experiments)
        self._log = log_path.open("ab")
        self.started_wall = time.time()
        self.started = time.monotonic()
        self.process = subprocess.Popen(
            args, env=env, stdout=self._log, stderr=subprocess.STDOUT, start_new_session=True
        )
        self.pid = self.process.pid

    def get(self, path: str) -> str:
        opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
        with opener.open(f"http://127.0.0.1:{self.port}{path}", timeout=30) as response:
            return str(response.read().decode())

    def scrape(self) -> dict[str, Any]:
        """The figures of /metrics the benchmark reads (one scrape)."""
        found: dict[str, Any] = {
            "dns_queries": 0.0,
            "dns_errors": 0.0,
            "audits": {},
            "writes": {},
            "audit_seconds_sum": 0.0,
            "audit_count": 0.0,
        }
        for family in text_string_to_metric_families(self.get("/metrics")):
            for s in family.samples:
                if s.name == "headless_auditor_dns_query_duration_seconds_count":
                    found["dns_queries"] += s.value
                elif s.name == "headless_auditor_dns_query_errors_total":
                    found["dns_errors"] += s.value
                elif s.name == "headless_auditor_audits_total":
                    found["audits"][s.labels["state"]] = s.value
                elif s.name == "headless_auditor_writes_total":
                    found["writes"][s.labels["kind"]] = s.value
                elif s.name == "headless_auditor_audit_duration_seconds_sum":
                    found["audit_seconds_sum"] = s.value
                elif s.name == "headless_auditor_audit_duration_seconds_count":
                    found["audit_count"] = s.value
                elif s.name == "headless_auditor_sweep_duration_seconds":
                    found["sweep_duration"] = s.value
                elif s.name == "headless_auditor_last_sweep_timestamp_seconds":
                    found["last_sweep"] = s.value
        return found

    def sweeps(self) -> list[dict[str, Any]]:
        """Every ``sweep N: X Services in Ys`` line of the log: end time, count, seconds."""
        found = []
        for line in self.log_path.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            m = re.fullmatch(r"sweep (\d+): (\d+) Services in ([\d.]+)s", entry.get("message", ""))
            if m:
                end = datetime.datetime.fromisoformat(entry["time"]).timestamp()
                found.append(
                    {"n": int(m[1]), "services": int(m[2]), "seconds": float(m[3]), "end": end}
                )
        return found

    def wait_sweep(self, n: int, timeout: float) -> dict[str, Any]:
        def done() -> dict[str, Any] | None:
            if self.process.poll() is not None:
                raise RuntimeError(f"operator exited:\n{self.log_path.read_text()[-3000:]}")
            return next((s for s in self.sweeps() if s["n"] == n), None)

        return dict(until(done, timeout=timeout, interval=0.2, what=f"operator sweep {n}"))

    def errors(self) -> list[str]:
        lines = self.log_path.read_text(errors="replace").splitlines()
        return [line for line in lines if '"level": "error"' in line][:5]

    def cpu(self) -> float:
        return proc_cpu(self.pid)

    def memory(self) -> dict[str, float]:
        return proc_memory(self.pid)

    def stop(self) -> dict[str, Any]:
        """SIGTERM; the exit code and whether the log shows a traceback."""
        stop_process(self.process)
        with contextlib.suppress(OSError):
            self._log.close()
        text = self.log_path.read_text(errors="replace")
        return {"exit_code": self.process.returncode, "traceback": "Traceback" in text}

    def wait_quiet(self, timeout: float = 120) -> float:
        """Wait until no audit ran for 3 s (the start-up tail is over); seconds waited."""
        started = time.monotonic()
        last, still = -1.0, 0
        while time.monotonic() - started < timeout:
            audits = sum(self.scrape()["audits"].values())
            still = still + 1 if audits == last else 0
            if still >= 2:
                break
            last = audits
            time.sleep(1.5)
        return round(time.monotonic() - started, 1)


def control_plane_pids() -> dict[str, int]:
    """kube-apiserver and etcd of the benchmark cluster (kwokctl's pid files)."""
    pids = STATE / "kwok" / "clusters" / "headless-auditor" / "pids"
    return {
        name: int((pids / f"{name}.pid").read_text().strip())
        for name in ("kube-apiserver", "etcd")
        if (pids / f"{name}.pid").exists()
    }


def cpu_of(pids: dict[str, int] | list[int]) -> float:
    return sum(proc_cpu(p) for p in (pids.values() if isinstance(pids, dict) else pids))


def install_crds(cluster: BenchCluster) -> None:
    cluster.kubectl("apply", "--server-side", "-f", str(CRDS))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/headlessserviceaudits.headless-auditor.io",
    )


def reports_served(kube: client.Kube) -> bool:
    """The report CRD answers a LIST (its storage may still be initializing after creation)."""
    try:
        kube.list("/apis/headless-auditor.io/v1alpha1/headlessserviceaudits")
    except client.KubeError:
        return False
    return True


def set_pod_ready(kube: client.Kube, pod: str, ready: bool) -> float:
    """Flip the pod's Ready/ContainersReady conditions; the wall time the API accepted it."""
    path = f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}"
    body = kube.request("GET", path)
    status = "True" if ready else "False"
    conditions = [
        {**c, "status": status} if c["type"] in ("Ready", "ContainersReady") else c
        for c in body["status"].get("conditions", [])
    ]
    kube.request(
        "PATCH",
        path + "/status",
        body={"status": {"conditions": conditions}},
        content_type="application/merge-patch+json",
    )
    return time.time()


def pod_ip(kube: client.Kube, pod: str) -> str:
    return str(kube.request("GET", f"/api/v1/namespaces/{NAMESPACE}/pods/{pod}")["status"]["podIP"])


# -- the API audit log --------------------------------------------------------------------------


def audit_requests(
    path: pathlib.Path, start: float, end: float, agents: tuple[str, ...] = OPERATOR_AGENTS
) -> dict[str, int]:
    """Requests received in [start, end] whose userAgent starts with one of ``agents``, counted
    by ``userAgent verb resource[/subresource]`` (each auditID once)."""
    seen: set[str] = set()
    counts: collections.Counter[str] = collections.Counter()
    with path.open(errors="replace") as lines:
        for line in lines:
            if not any(f'"userAgent":"{a}' in line for a in agents):
                continue
            event = json.loads(line)
            agent = event["userAgent"].split(" ")[0]
            if not any(agent == a or (a.endswith("/") and agent.startswith(a)) for a in agents):
                continue
            if event["auditID"] in seen:
                continue
            received = datetime.datetime.fromisoformat(
                event["requestReceivedTimestamp"]
            ).timestamp()
            if not start <= received <= end:
                continue
            seen.add(event["auditID"])
            ref = event.get("objectRef") or {}
            resource = ref.get("resource", event.get("requestURI", "?"))
            if ref.get("subresource"):
                resource += "/" + ref["subresource"]
            counts[f"{agent} {event['verb']} {resource}"] += 1
    return dict(sorted(counts.items()))


# -- dnsperf: the ceiling -----------------------------------------------------------------------


def run_dnsperf(
    questions: list[tuple[str, str]], work: pathlib.Path, seconds: float, target: int
) -> dict[str, Any]:
    """One dnsperf per replica at once, the same question list, -n passes and -l seconds."""
    data = work / "questions.txt"
    data.write_text("".join(f"{name} {rdtype}\n" for name, rdtype in questions))
    passes = max(2, -(-target // len(questions)))
    commands = [
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
    started = time.monotonic()
    processes = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for c in commands
    ]
    outputs, cpu = [], 0.0
    for p in processes:
        out = p.stdout.read().decode() if p.stdout else ""
        _pid, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        outputs.append(out)
    wall = time.monotonic() - started
    per_server = []
    for out in outputs:
        qps = re.search(r"Queries per second:\s+([\d.]+)", out)
        completed = re.search(r"Queries completed:\s+(\d+)", out)
        lost = re.search(r"Queries lost:\s+(\d+)", out)
        run_time = re.search(r"Run time \(s\):\s+([\d.]+)", out)
        if not (qps and completed and lost and run_time):
            raise RuntimeError(f"cannot read dnsperf's output:\n{out}")
        per_server.append(
            {
                "qps": float(qps[1]),
                "completed": int(completed[1]),
                "lost": int(lost[1]),
                "seconds": float(run_time[1]),
            }
        )
    completed = sum(s["completed"] for s in per_server)
    return {
        "command": " ".join(commands[0]).replace(str(data), "questions.txt"),
        "passes": passes,
        "qps": round(sum(s["qps"] for s in per_server)),
        "per_server": per_server,
        "completed": completed,
        "wall_s": round(wall, 2),
        "dnsperf_cpu_us_per_query": round(cpu / completed * 1e6, 2),
        "load": load(),
    }


# -- blackbox_exporter: the peer ----------------------------------------------------------------


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


def run_blackbox(
    questions: list[tuple[str, str]],
    work: pathlib.Path,
    *,
    sample_size: int,
    repeats: int,
    seconds: float,
    concurrency: int,
) -> dict[str, Any]:
    binary = shutil.which("prometheus-blackbox-exporter") or shutil.which("blackbox_exporter")
    if binary is None:
        raise RuntimeError(
            "blackbox_exporter missing: apt-get install prometheus-blackbox-exporter"
        )
    step = max(1, len(questions) // sample_size)
    sample = questions[::step][:sample_size]
    config = work / "blackbox.yml"
    config.write_text(blackbox_config(sample))
    port = free_port()
    log_file = (work / "blackbox.log").open("ab")
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
    try:

        def healthy() -> bool:
            if process.poll() is not None:
                raise RuntimeError(
                    f"blackbox_exporter exited: {(work / 'blackbox.log').read_text()}"
                )
            try:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                return opener.open(f"http://127.0.0.1:{port}/-/healthy", timeout=1).status == 200
            except OSError:
                return False

        until(healthy, timeout=30, what="blackbox_exporter /-/healthy")
        targets = [f"{a}:{DNS_PORT}" for a in ADDRESSES]
        jobs = [(m, t) for _ in range(repeats) for m in range(len(sample)) for t in targets]
        cpu0, own0 = proc_cpu(process.pid), time.process_time()
        done, ok, wall = asyncio.run(_drive_probes(port, jobs, concurrency, seconds))
        cpu = proc_cpu(process.pid) - cpu0
        own = time.process_time() - own0
        memory = proc_memory(process.pid)
    finally:
        stop_process(process)
        log_file.close()
    return {
        "sample_names": len(sample),
        "probes": done,
        "successful": ok,
        "probes_per_s": round(done / wall),
        "cpu_s": round(cpu, 2),
        "cpu_us_per_probe": round(cpu / done * 1e6, 1),
        "driver_cpu_us_per_probe": round(own / done * 1e6, 1),
        "concurrency": concurrency,
        "peak_rss_mib": memory.get("VmHWM"),
        "load": load(),
    }


# -- the API side of a cold start alone ------------------------------------------------------------


def clear_our_writes(kube: client.Kube) -> None:
    """Delete the report objects and every condition on the bench's Services: a cold start again."""
    ns = NAMESPACE
    kube.request("DELETE", f"/apis/{report.API_VERSION}/namespaces/{ns}/{report.PLURAL}")
    for svc in kube.list(f"/api/v1/namespaces/{ns}/services"):
        if (svc.get("status") or {}).get("conditions"):
            kube.request(
                "PATCH",
                f"/api/v1/namespaces/{ns}/services/{svc['metadata']['name']}/status",
                body={"status": {"conditions": None}},
                content_type="application/merge-patch+json",
            )
    until(
        lambda: not kube.list(f"/apis/{report.API_VERSION}/namespaces/{ns}/{report.PLURAL}"),
        timeout=300,
        what="report objects deleted",
    )


def write_floor(kube: client.Kube, *, concurrency: int = 16) -> dict[str, Any]:
    """The writes a cold start must make, with no operator: the operator's own writer puts three
    conditions on every Service, then (after a reset) conditions and report objects. Wall time and
    kube-apiserver+etcd CPU: what no change inside the operator can make faster."""

    async def write_all(with_reports: bool) -> None:
        writer = writers.KubeWriter(kube)
        limit = asyncio.Semaphore(concurrency)
        stamp = datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")

        async def one(svc: dict[str, Any]) -> None:
            meta = svc["metadata"]
            conds = [
                {
                    "type": f"headless-auditor.io/{kind}",
                    "status": "True",
                    "reason": "Bench",
                    "message": "written by the benchmark's write floor",
                    "lastTransitionTime": stamp,
                    "observedGeneration": meta.get("generation", 1),
                }
                for kind in ("DNSConsistent", "PodNamesResolvable", "ConfigurationValid")
            ]
            async with limit:
                await writer.apply_conditions(meta["namespace"], meta["name"], conds)
                if with_reports:
                    status = {"conditions": conds, "dnsState": "Consistent", "summary": "bench"}
                    await writer.apply_report(meta["namespace"], meta["name"], meta["uid"], status)

        await asyncio.gather(*(one(s) for s in services))

    services = kube.list(f"/api/v1/namespaces/{NAMESPACE}/services")
    pids = control_plane_pids()
    out: dict[str, Any] = {"services": len(services), "concurrency": concurrency}
    for label, with_reports in (("conditions", False), ("conditions_and_reports", True)):
        clear_our_writes(kube)
        cpu0, t0 = cpu_of(pids), time.monotonic()
        asyncio.run(write_all(with_reports))
        out[label] = {
            "writes": len(services) * (3 if with_reports else 1),
            "wall_s": round(time.monotonic() - t0, 2),
            "apiserver_etcd_cpu_s": round(cpu_of(pids) - cpu0, 2),
            "load": load(),
        }
    return out


# -- an extra CoreDNS with a hosts file ---------------------------------------------------------


class ExtraCoreDNS:
    """A third CoreDNS on 127.0.20.3 (own port), like tests/e2e/extra_coredns.py, whose hosts
    *file* is re-read every second, so that a wrong record can appear while it runs."""

    def __init__(self, cluster: BenchCluster, work: pathlib.Path, hosts: dict[str, str]) -> None:
        work.mkdir(parents=True, exist_ok=True)
        self.hosts_file = work / "hosts"
        self.write_hosts(hosts)
        self.port = DNS_PORT
        self.ready_port = free_port(EXTRA_ADDRESS)
        conf = work / "Corefile"
        conf.write_text(
            extra_coredns.corefile(
                address=EXTRA_ADDRESS,
                port=self.port,
                ready_port=self.ready_port,
                kubeconfig=cluster.env["KUBECONFIG"],
                hosts_file=self.hosts_file,
                hosts={},
                reload="1s",
            )
        )
        self._log = (work / "coredns.log").open("ab")
        self.process = subprocess.Popen(
            [
                str(pathlib.Path(cluster.env["HEADLESS_AUDITOR_TOOLS_BIN"]) / "coredns"),
                "-conf",
                str(conf),
            ],
            cwd=work,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

        def ready() -> bool:
            if self.process.poll() is not None:
                raise RuntimeError(f"extra CoreDNS exited: {(work / 'coredns.log').read_text()}")
            try:
                opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
                url = f"http://{EXTRA_ADDRESS}:{self.ready_port}/ready"
                return opener.open(url, timeout=1).status == 200
            except OSError:
                return False

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


# -- one scale ----------------------------------------------------------------------------------


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


def run_scale(services: int, pods: int, opts: Options, work: pathlib.Path) -> dict[str, Any]:
    result: dict[str, Any] = {
        "scale": f"{services}x{pods}",
        "services": services,
        "pods": services * pods,
    }
    cluster = BenchCluster(work)
    with contextlib.ExitStack() as cleanup:
        cluster.up()
        cleanup.callback(cluster.down)
        kube = cluster.kube()
        install_crds(cluster)

        # -- create and settle ----------------------------------------------------------------
        nodes = create_nodes(kube, services * pods)
        until(
            lambda: (
                sum(
                    any(
                        c["type"] == "Ready" and c["status"] == "True"
                        for c in n["status"].get("conditions", [])
                    )
                    for n in kube.list("/api/v1/nodes")
                )
                >= nodes + 2
            ),
            timeout=60,
            what="the bench nodes Ready",
        )
        started = time.monotonic()
        posted = create_workload(kube, services, pods)
        log(
            f"{services} Services + StatefulSets posted in {posted:.1f} s; waiting for {services * pods} ready endpoints"
        )
        settled = wait_settled(kube, services, pods, started, opts.settle_timeout)
        result["create"] = {
            "posted_s": round(posted, 1),
            "settled_s": settled["settled_s"],
            "pods_per_s": round(services * pods / settled["settled_s"], 1),
            "load": load(),
        }
        log(f"settled in {settled['settled_s']} s ({result['create']['pods_per_s']} pods/s)")
        time.sleep(5)  # let the controllers' last status writes drain
        questions, grace = question_list(kube)
        result["questions_per_server"] = len(questions)
        result["grace_s"] = grace
        servers = [f"{a}:{DNS_PORT}" for a in ADDRESSES]

        # -- operator #1: cold sweep, steady sweep, unready pods ------------------------------
        until(lambda: reports_served(kube), timeout=60, what="the report CRD served")
        watch = ServiceWatch(kube)
        cleanup.callback(watch.stop)
        coredns = cluster.coredns_pids()
        control = control_plane_pids()
        dns_cpu0, cp_cpu0 = cpu_of(coredns), cpu_of(control)
        op = Operator(
            cluster,
            servers,
            opts.steady_interval,
            work / f"operator-{services}x{pods}.log",
            opts.operator_path,
        )
        cleanup.callback(op.stop)
        profiler = None
        if opts.profile:
            profiler = subprocess.Popen(
                [
                    "py-spy",
                    "record",
                    "--pid",
                    str(op.pid),
                    "--rate",
                    "50",
                    "--nonblocking",
                    "--format",
                    "raw",
                    "-o",
                    str(work / f"profile-cold-{services}x{pods}.txt"),
                    "--duration",
                    "600",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        sweep1 = op.wait_sweep(1, timeout=900)
        cpu_cold = op.cpu()
        dns_cpu_cold = cpu_of(coredns) - dns_cpu0
        cp_cpu_cold = cpu_of(control) - cp_cpu0
        mem_cold = op.memory()
        load_cold = load()
        if profiler is not None:
            profiler.send_signal(signal.SIGINT)
            profiler.wait(timeout=60)
        all_done = until(
            lambda: len(watch.complete_at) >= services and max(watch.complete_at.values()),
            timeout=600,
            what="every Service with our conditions",
        )
        scrape_cold = op.scrape()
        result["cold"] = {
            "sweep_s": sweep1["seconds"],
            "sweep_services": sweep1["services"],
            "start_to_sweep_end_s": round(sweep1["end"] - op.started_wall, 2),
            "start_to_all_conditions_s": round(all_done - op.started_wall, 2),
            "start_to_first_conditions_s": round(
                min(watch.complete_at.values()) - op.started_wall, 2
            ),
            "dns_queries": int(scrape_cold["dns_queries"]),
            "dns_errors": int(scrape_cold["dns_errors"]),
            "queries_per_s": round(scrape_cold["dns_queries"] / sweep1["seconds"]),
            "audits": int(sum(scrape_cold["audits"].values())),
            "writes": {k: int(v) for k, v in scrape_cold["writes"].items()},
            "cpu_s": round(cpu_cold, 2),
            "cpu_us_per_query": round(cpu_cold / scrape_cold["dns_queries"] * 1e6, 1),
            "coredns_cpu_s": round(dns_cpu_cold, 2),
            "apiserver_etcd_cpu_s": round(cp_cpu_cold, 2),
            "rss_mib": mem_cold.get("VmRSS"),
            "load": load_cold,
        }
        log(f"cold: {result['cold']}")

        # steady-state sweep: the next one starts steady_interval after the first ended
        quiet_at = sweep1["end"] + opts.steady_interval - 6
        time.sleep(max(0.0, quiet_at - time.time()))
        s1 = op.scrape()
        time.sleep(1)
        s2 = op.scrape()
        idle_tail = int(sum(s2["audits"].values()) - sum(s1["audits"].values()))
        cpu0, dns0, cp0, wall0 = op.cpu(), cpu_of(coredns), cpu_of(control), time.monotonic()
        sweep2 = op.wait_sweep(2, timeout=opts.steady_interval + 900)
        cpu1, dns1, cp1, wall1 = op.cpu(), cpu_of(coredns), cpu_of(control), time.monotonic()
        s3 = op.scrape()
        queries = s3["dns_queries"] - s2["dns_queries"]
        time.sleep(1.5)  # the audit log is written asynchronously
        sweep2_start = sweep2["end"] - sweep2["seconds"]
        result["steady"] = {
            "sweep_s": sweep2["seconds"],
            "dns_queries": int(queries),
            "queries_per_s": round(queries / sweep2["seconds"]),
            "audits": int(sum(s3["audits"].values()) - sum(s2["audits"].values())),
            "audits_before_sweep": idle_tail,
            "writes": {k: int(v - s2["writes"].get(k, 0)) for k, v in s3["writes"].items()},
            "cpu_s": round(cpu1 - cpu0, 2),
            "cpu_us_per_query": round((cpu1 - cpu0) / queries * 1e6, 1),
            "cpu_share_of_one_core": round((cpu1 - cpu0) / sweep2["seconds"], 2),
            "sample_wall_s": round(wall1 - wall0, 1),
            "coredns_cpu_s": round(dns1 - dns0, 2),
            "apiserver_etcd_cpu_s": round(cp1 - cp0, 2),
            "api_requests": audit_requests(
                cluster.audit_log, sweep2_start - 0.5, sweep2["end"] + 0.5
            ),
            "load": load(),
        }
        log(f"steady: {result['steady']}")

        # a pod made unready: PodNamesResolvable False (and DNSConsistent stays True)
        samples = []
        rng = random.Random(7)
        for i in rng.sample(range(services), opts.unready_samples):
            svc, pod = service_name(i), f"{sts_name(i)}-0"
            t0 = set_pod_ready(kube, pod, False)
            t1 = until(
                lambda svc=svc, t0=t0: watch.first_change(svc, "PodNamesResolvable", "False", t0),
                timeout=60,
                what=f"PodNamesResolvable False on {svc}",
            )
            samples.append(round(t1 - t0, 2))
        time.sleep(grace + 3)  # past the grace window: did DNSConsistent stay True?
        result["unready"] = {
            "seconds": samples,
            "median_s": statistics.median(samples),
            "max_s": max(samples),
            "max_minus_grace_s": round(max(samples) - grace, 2),
            "dns_consistent_after": sorted(
                {str(watch.status(service_name(i), "DNSConsistent")) for i in range(services)}
                - {"True"}
            )
            or ["True"],
            "load": load(),
        }
        log(f"unready: {result['unready']}")
        result["api_after_startup"] = audit_requests(cluster.audit_log, sweep1["end"], time.time())
        result["api_startup"] = audit_requests(
            cluster.audit_log, op.started_wall - 1, sweep1["end"]
        )
        memory = op.memory()
        result["operator"] = {
            "peak_rss_mib": memory.get("VmHWM"),
            "rss_mib": memory.get("VmRSS"),
            "cpu_s": round(op.cpu(), 2),
            "lifetime_s": round(time.monotonic() - op.started, 1),
            "log_errors": op.errors(),
        }
        result["operator"].update(op.stop())
        log(f"operator #1: {result['operator']}")

        # -- the ceiling and the peer (operator stopped) ---------------------------------------
        result["ceiling"] = run_dnsperf(questions, work, opts.dnsperf_seconds, opts.dnsperf_target)
        log(f"dnsperf: {result['ceiling']}")
        result["peer"] = run_blackbox(
            questions,
            work,
            sample_size=opts.blackbox_sample,
            repeats=opts.blackbox_repeats,
            seconds=opts.blackbox_seconds,
            concurrency=opts.blackbox_concurrency,
        )
        log(f"blackbox: {result['peer']}")

        # -- operator #2 with a third, extra CoreDNS: stale and wrong records -----------------
        zone = "cluster.local"
        stale_i, drift_i = rng.sample([i for i in range(services)], 2)
        stale_pod = f"{sts_name(stale_i)}-1"
        stale_name = f"{stale_pod}.{service_name(stale_i)}.{NAMESPACE}.svc.{zone}"
        hosts = {stale_name: pod_ip(kube, stale_pod)}  # right, until the pod turns unready
        extra = ExtraCoreDNS(cluster, work / "extra-coredns", hosts)
        cleanup.callback(extra.stop)
        op2 = Operator(
            cluster,
            [*servers, extra.server],
            opts.drift_interval,
            work / f"operator2-{services}x{pods}.log",
            opts.operator_path,
        )
        cleanup.callback(op2.stop)
        first = op2.wait_sweep(1, timeout=900)
        quiet = op2.wait_quiet()  # the start-up tail of requested audits is over
        # (a) stale: the extra replica keeps the address of a pod that turned unready
        t0 = set_pod_ready(kube, stale_pod, False)
        t_false = until(
            lambda: watch.first_change(service_name(stale_i), "DNSConsistent", "False", t0),
            timeout=grace + 120,
            what=f"DNSConsistent False on {service_name(stale_i)}",
        )
        t_pods = watch.first_change(service_name(stale_i), "PodNamesResolvable", "False", t0)
        result["stale"] = {
            "seconds": round(t_false - t0, 2),
            "minus_grace_s": round(t_false - t0 - grace, 2),
            "pod_names_false_s": round(t_pods - t0, 2) if t_pods else None,
            "sweep_with_3_servers_s": first["seconds"],
            "waited_for_quiet_s": quiet,
            "load": load(),
        }
        log(f"stale: {result['stale']}")
        # (b) drift: a wrong record appears in DNS with no API change at all
        drift_name = f"{sts_name(drift_i)}-2.{service_name(drift_i)}.{NAMESPACE}.svc.{zone}"
        extra.write_hosts({**hosts, drift_name: "10.255.255.1"})  # fake, never contacted
        t_wrong = until(
            lambda: "10.255.255.1" in extra.answers(drift_name) and time.time(),
            timeout=30,
            interval=0.05,
            what="the extra CoreDNS serving the wrong record",
        )
        t_false = until(
            lambda: watch.first_change(service_name(drift_i), "DNSConsistent", "False", t_wrong),
            timeout=opts.drift_interval + 900,
            what=f"DNSConsistent False on {service_name(drift_i)}",
        )
        result["drift"] = {
            "seconds": round(t_false - t_wrong, 2),
            "sweep_interval_s": opts.drift_interval,
            "load": load(),
        }
        log(f"drift: {result['drift']}")
        memory = op2.memory()
        result["operator2"] = {
            "peak_rss_mib": memory.get("VmHWM"),
            "cpu_s": round(op2.cpu(), 2),
            "log_errors": op2.errors(),
        }
        result["operator2"].update(op2.stop())
        extra.stop()
        watch.stop()
        # -- the writes of a cold start with no operator at all ----------------------------------
        result["write_floor"] = write_floor(kube)
        log(f"write floor: {result['write_floor']}")
        with contextlib.suppress(OSError):
            result["audit_log_mib"] = round(cluster.audit_log.stat().st_size / 2**20, 1)
    return result


# -- the report ---------------------------------------------------------------------------------


def markdown(results: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The tables of docs/benchmarks.md: one per scale, then how each figure grows."""
    out = [
        f"Run {meta['started']}, commit {meta['commit']}"
        f"{' + uncommitted operator/ changes' if meta['operator_dirty'] else ''}, operator from "
        f"`{meta['operator_path']}`; {meta['total_s']:.0f} s in all on {meta['cpus']} CPUs.",
        "",
    ]
    for r in results:
        c, s, ce, p = r["cold"], r["steady"], r["ceiling"], r["peer"]
        m = r["pods"] // r["services"]
        out += [
            f"### {r['services']} Services x {m} pods ({r['pods']} pods)",
            "",
            "| figure | value | load avg 1/5/15 min |",
            "|---|---|---|",
            f"| creation: objects posted / all slices ready | {r['create']['posted_s']} s / {r['create']['settled_s']} s ({r['create']['pods_per_s']} pods/s) | {r['create']['load']} |",
            f"| questions per server (engine) x servers | {r['questions_per_server']} x 2 = {2 * r['questions_per_server']} | |",
            f"| **cold full sweep** (`sweep_duration_seconds`) | **{c['sweep_s']} s** | {c['load']} |",
            f"| operator start -> first sweep ends / -> every Service has its 3 conditions | {c['start_to_sweep_end_s']} s / {c['start_to_all_conditions_s']} s | |",
            f"| cold: DNS questions (errors), rate; audits; writes | {c['dns_queries']} ({c['dns_errors']}), {c['queries_per_s']}/s; {c['audits']} audits; {fmt_requests(c['writes'])} | |",
            f"| cold: CPU s of the operator (start-up included) / CoreDNS x2 / kube-apiserver+etcd | {c['cpu_s']} / {c['coredns_cpu_s']} / {c['apiserver_etcd_cpu_s']} | |",
            f"| **steady full sweep** | **{s['sweep_s']} s**, {s['dns_queries']} questions, **{s['queries_per_s']}/s**, {s['audits']} audits | {s['load']} |",
            f"| steady: operator CPU s, per question, share of one core / CoreDNS CPU s | {s['cpu_s']}, {s['cpu_us_per_query']} us, {s['cpu_share_of_one_core']} / {s['coredns_cpu_s']} | |",
            f"| steady: API requests by the operator during the sweep (audit log) | {fmt_requests(s['api_requests'])} | |",
            f"| ceiling: dnsperf, one per replica at once | **{ce['qps']}/s** ({ce['dnsperf_cpu_us_per_query']} us dnsperf CPU per query) | {ce['load']} |",
            f"| operator rate / dnsperf: cold; steady | {pct(c['queries_per_s'], ce['qps'])}; **{pct(s['queries_per_s'], ce['qps'])}** | |",
            f"| peer: blackbox_exporter, {p['sample_names']} names x 2 servers, {p['concurrency']} at once | {p['probes_per_s']} probes/s, {p['cpu_us_per_probe']} us CPU per probe ({p['probes']} probes, {p['successful']} ok) | {p['load']} |",
            f"| CPU per DNS question: operator (steady) / blackbox_exporter / dnsperf | {s['cpu_us_per_query']} / {p['cpu_us_per_probe']} / {ce['dnsperf_cpu_us_per_query']} us | |",
            f"| pod unready -> PodNamesResolvable False ({len(r['unready']['seconds'])} pods) | {r['unready']['seconds']} s (grace {r['grace_s']} s: max - grace = {r['unready']['max_minus_grace_s']} s); DNSConsistent stays {r['unready']['dns_consistent_after']} | {r['unready']['load']} |",
            f"| stale record on a 3rd replica -> DNSConsistent False | {r['stale']['seconds']} s, **{r['stale']['minus_grace_s']} s after grace** (PodNamesResolvable False after {r['stale']['pod_names_false_s']} s) | {r['stale']['load']} |",
            f"| wrong record, no API change (drift) -> DNSConsistent False | {r['drift']['seconds']} s (sweep interval {r['drift']['sweep_interval_s']} s) | {r['drift']['load']} |",
            f"| operator #1: **peak RSS** (VmHWM); CPU s over {r['operator']['lifetime_s']} s; exit on SIGTERM | **{r['operator']['peak_rss_mib']} MiB**; {r['operator']['cpu_s']}; {r['operator'].get('exit_code')}{' (traceback in log)' if r['operator'].get('traceback') else ''} | |",
            f"| API requests by the operator after its first sweep (audit log) | {fmt_requests(r['api_after_startup'])} | |",
            f"| API requests by the operator during start-up and first sweep | {fmt_requests(r['api_startup'])} | |",
        ]
        if "write_floor" in r:
            w = r["write_floor"]
            for label, what in (
                ("conditions", "services/status"),
                ("conditions_and_reports", "services/status + report + report status"),
            ):
                f = w[label]
                out.append(
                    f"| write floor, no operator: {f['writes']} writes ({what}), {w['concurrency']} at once | {f['wall_s']} s, kube-apiserver+etcd CPU {f['apiserver_etcd_cpu_s']} s | {f['load']} |"
                )
        out.append("")
    if len(results) > 1:
        scales = [r["scale"] for r in results]
        rows = [
            ("pods ready after creation (s)", lambda r: r["create"]["settled_s"]),
            ("questions per sweep (2 servers)", lambda r: 2 * r["questions_per_server"]),
            ("cold sweep (s)", lambda r: r["cold"]["sweep_s"]),
            ("start -> all conditions (s)", lambda r: r["cold"]["start_to_all_conditions_s"]),
            (
                "write floor: conditions / + reports, no operator (s)",
                lambda r: (
                    f"{r['write_floor']['conditions']['wall_s']} / {r['write_floor']['conditions_and_reports']['wall_s']}"
                    if "write_floor" in r
                    else "-"
                ),
            ),
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
            (
                "stale -> DNSConsistent False, after grace (s)",
                lambda r: r["stale"]["minus_grace_s"],
            ),
            ("drift -> DNSConsistent False (s)", lambda r: r["drift"]["seconds"]),
            ("peak RSS (MiB)", lambda r: r["operator"]["peak_rss_mib"]),
            ("operator CPU s (whole run of operator #1)", lambda r: r["operator"]["cpu_s"]),
            (
                "LIST requests after start-up",
                lambda r: sum(v for k, v in r["api_after_startup"].items() if " list " in k),
            ),
        ]
        out += [
            "### Growth",
            "",
            "| figure | " + " | ".join(scales) + " |",
            "|---|" + "---|" * len(scales),
        ]
        out += [f"| {name} | " + " | ".join(str(f(r)) for r in results) + " |" for name, f in rows]
        out.append("")
    return "\n".join(out)


def fmt_requests(counts: dict[str, int]) -> str:
    """``agent verb resource: n, ...``; kopf's API discovery GETs (/api, /apis/...) as one."""
    discovery = sum(v for k, v in counts.items() if " get /api" in k)
    rest = [f"{k}: {v}" for k, v in counts.items() if " get /api" not in k]
    if discovery:
        rest.append(f"kopf API discovery GETs: {discovery}")
    return ", ".join(rest) or "none"


def pct(a: float, b: float) -> str:
    return f"{100 * a / b:.0f}%" if b else "n/a"


def git(*args: str) -> str:
    proc = subprocess.run(
        ["git", "-C", str(ROOT), *args], capture_output=True, text=True, check=False
    )
    return proc.stdout.strip()


def parse_scale(text: str) -> tuple[int, int]:
    n, _, m = text.partition("x")
    return int(n), int(m)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scales", default="100x5,500x10,1000x10")
    parser.add_argument("--settle-timeout", type=float, default=1800)
    parser.add_argument("--steady-interval", type=float, default=30)
    parser.add_argument("--drift-interval", type=float, default=30)
    parser.add_argument("--dnsperf-seconds", type=float, default=15)
    parser.add_argument("--dnsperf-target", type=int, default=150_000, help="queries per server")
    parser.add_argument("--blackbox-sample", type=int, default=300)
    parser.add_argument("--blackbox-repeats", type=int, default=10)
    parser.add_argument("--blackbox-seconds", type=float, default=20)
    parser.add_argument("--blackbox-concurrency", type=int, default=64)
    parser.add_argument("--unready-samples", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="py-spy the cold sweep (raw stacks)")
    parser.add_argument(
        "--operator-path",
        default="",
        help="run the operator from this source dir (a patched copy of operator/) via PYTHONPATH",
    )
    args = parser.parse_args()
    opts = Options(
        settle_timeout=args.settle_timeout,
        steady_interval=args.steady_interval,
        drift_interval=args.drift_interval,
        dnsperf_seconds=args.dnsperf_seconds,
        dnsperf_target=args.dnsperf_target,
        blackbox_sample=args.blackbox_sample,
        blackbox_repeats=args.blackbox_repeats,
        blackbox_seconds=args.blackbox_seconds,
        blackbox_concurrency=args.blackbox_concurrency,
        unready_samples=args.unready_samples,
        profile=args.profile,
        operator_path=args.operator_path,
    )
    for tool in ("dnsperf", "kubectl"):
        if shutil.which(tool) is None:
            raise SystemExit(f"{tool} not on PATH: run make tools")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # finally-blocks take the cluster down
    stamp = time.strftime("%Y%m%d-%H%M%S")
    work = OUT / stamp
    work.mkdir(parents=True, exist_ok=True)
    started = time.monotonic()
    meta: dict[str, Any] = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
        "cpus": os.cpu_count(),
        "commit": git("rev-parse", "--short", "HEAD"),
        "operator_dirty": bool(git("status", "--porcelain", "--", "operator")),
        "operator_path": args.operator_path or "operator/",
        "args": vars(args),
    }
    results = []
    for scale in args.scales.split(","):
        services, pods = parse_scale(scale)
        log(f"=== scale {services} x {pods} ===")
        scale_started = time.monotonic()
        result = run_scale(services, pods, opts, work)
        result["scale_total_s"] = round(time.monotonic() - scale_started, 1)
        results.append(result)
        (work / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    meta["total_s"] = time.monotonic() - started
    (work / "results.json").write_text(json.dumps({"meta": meta, "results": results}, indent=2))
    (work / "results.md").write_text(markdown(results, meta))
    print(markdown(results, meta))
    log(f"done in {meta['total_s']:.0f} s; results in {work}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
