"""Everything the benchmark takes from the operator package, and the only module that imports it.

When the operator's modules move, the imports are rewritten here and nowhere else. The other
modules of the benchmark import these names from this module.
"""

from __future__ import annotations

from typing import Any

from headless_auditor.core import corefile, expected, snapshots
from headless_auditor.kube import gather
from headless_auditor.kube.client import Kube
from headless_auditor.kube.errors import KubeError
from headless_auditor.kube.resources import REPORT_API_VERSION, REPORT_PLURAL
from headless_auditor.kube.writers import KubeWriter

__all__ = [
    "REPORT_API_VERSION",
    "REPORT_PLURAL",
    "Kube",
    "KubeError",
    "KubeWriter",
    "api_client",
    "connect",
    "question_list",
]


def connect(kubeconfig: str, user_agent: str) -> Kube:
    """A raw client like the operator's, with its own user agent (told apart in the audit log)."""
    kube = Kube.connect(kubeconfig)
    kube._api.user_agent = user_agent
    return kube


def api_client(kube: Kube) -> Any:
    """The official client's ApiClient under a :class:`Kube` (for a streaming watch)."""
    return kube._api


def question_list(kube: Kube, namespace: str) -> tuple[list[tuple[str, str]], float]:
    """Every question the operator asks per server, from the engine over the listed objects;
    and the grace window of the live Corefile."""
    listed = gather.objects(kube, namespace)
    options = gather.live_corefile(kube)
    zone = options.cluster_zone
    found = snapshots.snapshots(listed.services, listed.slices, listed.statefulsets, options)
    questions = [(q.name, q.rdtype.value) for s in found for q in expected.questions_for(s, zone)]
    return questions, corefile.grace_seconds(options)
