"""The errors of talking to the Kubernetes API (no client library needed to catch them)."""

from __future__ import annotations


class KubeError(Exception):
    """Base of every error talking to the Kubernetes API."""


class ClusterUnreachableError(KubeError):
    """No credentials could be loaded, or the API server did not answer."""


class ApiError(KubeError):
    """The API server answered with an error status."""

    def __init__(self, status: int, reason: str, message: str) -> None:
        super().__init__(f"{status} {reason}: {message}")
        self.status = status
        self.reason = reason
