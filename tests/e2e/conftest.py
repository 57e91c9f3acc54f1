"""Fixtures of the e2e tier: the local cluster (started on demand) and a namespace per test."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import uuid
from collections.abc import Callable, Iterator

import pytest

from tests.e2e import cluster as cl
from tests.e2e import extra_coredns, operator_proc, realnode


@pytest.fixture(scope="session")
def cluster() -> Iterator[cl.Cluster]:
    """The running local cluster; started (and stopped again at the end) if it was not running."""
    started_here = not cl.is_running()
    if started_here:
        cl.run_script("up")
    yield cl.Cluster(cl.read_env(cl.STATE / "env"))
    if started_here:
        cl.run_script("down")


@pytest.fixture
def namespace(cluster: cl.Cluster, request: pytest.FixtureRequest) -> Iterator[str]:
    """A fresh namespace named after the test, deleted afterwards (without waiting)."""
    stem = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40].strip("-")
    name = f"{stem}-{uuid.uuid4().hex[:5]}"
    cluster.kubectl("create", "namespace", name)
    yield name
    cluster.kubectl("delete", "namespace", name, "--wait=false", check=False)


@pytest.fixture(scope="session")
def crds(cluster: cl.Cluster) -> None:
    """The operator's CRD, installed once (as the chart would)."""
    cluster.kubectl("apply", "--server-side", "-f", str(operator_proc.CRDS))
    cluster.kubectl(
        "wait",
        "--for=condition=Established",
        "--timeout=60s",
        "crd/headlessserviceaudits.headless-auditor.io",
    )


@pytest.fixture(scope="session")
def image() -> str:
    """The operator image, built once with hack/image.sh (local Debian base, locked wheels)."""
    _image_script("build")
    return realnode.IMAGE


@pytest.fixture(scope="session")
def node_image(cluster: cl.Cluster, image: str) -> str:
    """The operator image imported into the real node's containerd (pods never pull it)."""
    _image_script("import")
    return image


def _image_script(action: str) -> None:
    proc = subprocess.run(
        [str(cl.ROOT / "hack" / "image.sh"), action],
        capture_output=True,
        text=True,
        env={**os.environ, "IMAGE": realnode.IMAGE},
        timeout=1800,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]


@pytest.fixture
def start_operator(
    cluster: cl.Cluster, crds: None, namespace: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., operator_proc.Operator]]:
    """Start ``headless-auditor run`` for this test's namespace; stopped at teardown."""
    started: list[operator_proc.Operator] = []
    logs = tmp_path_factory.mktemp("operator")

    def start(**kwargs: object) -> operator_proc.Operator:
        log = logs / f"operator-{len(started)}.log"
        op = operator_proc.Operator(cluster, [namespace], log, **kwargs)  # type: ignore[arg-type]
        started.append(op)
        return op

    yield start
    for op in started:
        op.stop()


@pytest.fixture
def extra_dns(
    cluster: cl.Cluster, tmp_path: pathlib.Path
) -> Iterator[Callable[..., extra_coredns.ExtraCoreDNS]]:
    """Start extra CoreDNS processes (``start(address, hosts=...)``); all stopped at the end."""
    started: list[extra_coredns.ExtraCoreDNS] = []

    def start(address: str, **kwargs) -> extra_coredns.ExtraCoreDNS:
        process = extra_coredns.start(cluster, tmp_path / address, address, **kwargs)
        started.append(process)
        return process

    yield start
    for process in started:
        process.stop()


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run tests that restart the shared cluster (marked ``disruptive``) after all others."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)
