"""What the steps of one scale share."""

from __future__ import annotations

import contextlib
import dataclasses
import pathlib
import random
from typing import Any

from hack.bench.cluster import BenchCluster
from hack.bench.engine import Kube
from hack.bench.options import Options


@dataclasses.dataclass
class ScaleRun:
    """What the steps of one scale share: the cluster, the results so far, what to clean up."""

    services: int
    pods: int
    opts: Options
    work: pathlib.Path
    cluster: BenchCluster
    kube: Kube
    cleanup: contextlib.ExitStack
    result: dict[str, Any]
    rng: random.Random = dataclasses.field(default_factory=lambda: random.Random(7))
    questions: list[tuple[str, str]] = dataclasses.field(default_factory=list)
    grace: float = 0.0

    @property
    def label(self) -> str:
        return f"{self.services}x{self.pods}"
