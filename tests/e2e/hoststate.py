"""What the local cluster can leave on this machine, as a comparable snapshot.

`make cluster-down` must leave nothing behind: no process, container, shim, mount, network
namespace, link, route, iptables rule or chain, cgroup, runtime directory or sysctl change that
`up` made. Comparing a snapshot taken before `up` with one taken after `down` proves it.
"""

from __future__ import annotations

import glob
import os
import pathlib
import re
import subprocess

from tests.e2e import cluster as cl

WATCHED_PATHS = (
    "/run/containerd",
    "/run/netns",
    "/var/log/containers",
    "/var/log/pods",
    "/var/lib/kubelet",
    "/var/lib/containerd",
    "/var/lib/cni",
    "/opt/containerd",
    "/etc/cni",
    "/etc/kubernetes",
)
SYSCTLS = ("net/ipv4/ip_forward", "net/bridge/bridge-nf-call-iptables")


def _run(*args: str) -> str:
    return subprocess.run(args, capture_output=True, text=True, check=False, timeout=60).stdout


def processes() -> list[str]:
    """Processes of the state directory, and any process in a pod's cgroup."""
    own = [
        line
        for line in _run("pgrep", "-a", "-f", f"{cl.STATE}/").splitlines()
        if "pgrep" not in line
    ]
    pods = [
        pid
        for path in glob.glob("/sys/fs/cgroup/pids/kubepods/**/cgroup.procs", recursive=True)
        for pid in pathlib.Path(path).read_text().split()
    ]
    return own + [f"pod process {pid}" for pid in pods]


def _iptables(command: str) -> list[str]:
    lines = _run(command).splitlines()
    return sorted(
        re.sub(r"\[\d+:\d+\]", "", line)  # counters
        for line in lines
        if line and not line.startswith("#")
    )


def _cgroups() -> list[str]:
    return sorted(
        p
        for p in glob.glob("/sys/fs/cgroup/*/*") + glob.glob("/sys/fs/cgroup/*/*/*")
        if os.path.isdir(p)
    )


def _paths() -> list[str]:
    """Each watched path that exists, and each entry in it."""
    found = []
    for path in WATCHED_PATHS:
        if os.path.lexists(path):
            found.append(path)
        if os.path.isdir(path):
            found += [os.path.join(path, entry) for entry in os.listdir(path)]
    return sorted(found)


def snapshot() -> dict[str, list[str]]:
    return {
        "processes": processes(),
        "mounts": sorted(_run("findmnt", "-rn", "-o", "TARGET").split()),
        "netns": sorted(_run("ip", "netns", "list").split()),
        "links": sorted(
            line.split(": ")[1].split("@")[0] for line in _run("ip", "-o", "link").splitlines()
        ),
        "routes": sorted(_run("ip", "route").splitlines()),
        "iptables": _iptables("iptables-save"),
        "ip6tables": _iptables("ip6tables-save"),
        "cgroups": _cgroups(),
        "paths": _paths(),
        "sysctls": [f"{k}={pathlib.Path('/proc/sys', k).read_text().strip()}" for k in SYSCTLS],
    }


def differences(
    before: dict[str, list[str]], after: dict[str, list[str]]
) -> dict[str, dict[str, list[str]]]:
    """What ``after`` has that ``before`` had not, or the other way round, per kind."""
    diff = {}
    for key, old in before.items():
        added, removed = sorted(set(after[key]) - set(old)), sorted(set(old) - set(after[key]))
        if added or removed:
            diff[key] = {"left behind": added, "gone": removed}
    return diff


def kill_like_a_crash() -> None:
    """SIGKILL every process the cluster runs, as when a session is stopped at once: mounts,
    network namespaces, links, rules and cgroups stay behind for the next `up` to clean."""
    for line in processes():
        pid = line.split()[-1] if line.startswith("pod process") else line.split()[0]
        subprocess.run(["kill", "-9", pid], capture_output=True, check=False)
