"""Fixtures of the e2e tier: the local cluster (started on demand) and a namespace per test."""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterator

import pytest

from tests.e2e import cluster as cl


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


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Run tests that restart the shared cluster (marked ``disruptive``) after all others."""
    items.sort(key=lambda item: item.get_closest_marker("disruptive") is not None)
