"""Everything the operator writes to the API: our conditions, the report object, Events.

Conditions go to ``services/status`` by server-side apply with our own field manager: the
Service's ``status.conditions`` is a map keyed by ``type``, so the API server merges our three
types and never touches another controller's. Nothing else of a user's object is written.
One interface, a real implementation over :mod:`client` (blocking calls run in a thread; writes
are rare: only when something changed) and an in-memory twin for tests.
"""

from __future__ import annotations

import asyncio
import dataclasses
import datetime
import logging
import typing
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from headless_auditor.core import text
from headless_auditor.kube import errors, resources

if TYPE_CHECKING:  # only a type here: writing needs no client library until a KubeWriter is made
    from headless_auditor.kube import client

FIELD_MANAGER = "headless-auditor"
APPLY = "application/apply-patch+yaml"
logger = logging.getLogger(__name__)


@dataclasses.dataclass(frozen=True)
class ObjectRef:
    """What an Event is about."""

    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str


class Writer(typing.Protocol):
    async def apply_conditions(
        self, namespace: str, name: str, conditions: Sequence[Mapping[str, Any]]
    ) -> None: ...

    async def apply_report(
        self, namespace: str, name: str, service_uid: str, status: Mapping[str, Any]
    ) -> None: ...

    async def event(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None: ...

    async def apply(self, path: str, body: Mapping[str, Any]) -> None:
        """Server-side apply of any object of ours at its API ``path`` (a new output's kind)."""
        ...

    async def delete_report(self, namespace: str, name: str) -> None:
        """Delete the report object (gone already is fine)."""
        ...


class KubeWriter:
    """Writes through the Kubernetes API."""

    def __init__(self, kube: client.Kube) -> None:
        self._kube = kube

    async def apply(self, path: str, body: Mapping[str, Any]) -> None:
        await self._apply(path, body)

    async def delete_report(self, namespace: str, name: str) -> None:
        path = resources.report_path(namespace, name)
        try:
            await asyncio.to_thread(self._kube.request, "DELETE", path)
        except errors.ApiError as error:
            if error.status != 404:
                raise

    async def _apply(self, path: str, body: Mapping[str, Any]) -> None:
        query = {"fieldManager": FIELD_MANAGER, "force": "true"}
        await asyncio.to_thread(
            self._kube.request, "PATCH", path, query=query, body=body, content_type=APPLY
        )

    async def apply_conditions(
        self, namespace: str, name: str, conditions: Sequence[Mapping[str, Any]]
    ) -> None:
        body = {
            "apiVersion": "v1",
            "kind": "Service",
            "metadata": {"name": name, "namespace": namespace},
            "status": {"conditions": list(conditions)},
        }
        await self._apply(f"/api/v1/namespaces/{namespace}/services/{name}/status", body)

    async def apply_report(
        self, namespace: str, name: str, service_uid: str, status: Mapping[str, Any]
    ) -> None:
        """Create or update the report object, then its status subresource."""
        body = resources.report_skeleton(namespace, name, service_uid)
        await self._apply(resources.report_path(namespace, name), body)
        await self._apply(
            resources.report_path(namespace, name, status=True), {**body, "status": status}
        )

    async def event(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        now = text.timestamp(datetime.datetime.now(datetime.UTC))
        body = {
            "apiVersion": "v1",
            "kind": "Event",
            "metadata": {"generateName": f"{ref.name}.", "namespace": ref.namespace},
            "involvedObject": {
                "apiVersion": ref.api_version,
                "kind": ref.kind,
                "namespace": ref.namespace,
                "name": ref.name,
                "uid": ref.uid,
            },
            "reason": reason,
            "message": text.capped(message),
            "type": type_,
            "source": {"component": FIELD_MANAGER},
            "reportingComponent": FIELD_MANAGER,
            "firstTimestamp": now,
            "lastTimestamp": now,
            "count": 1,
        }
        await asyncio.to_thread(
            self._kube.request, "POST", f"/api/v1/namespaces/{ref.namespace}/events", body=body
        )


@dataclasses.dataclass
class RecordingWriter:
    """The in-memory twin: remembers every write, in order."""

    conditions: list[tuple[str, str, list[dict[str, Any]]]] = dataclasses.field(
        default_factory=list
    )
    reports: list[tuple[str, str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    events: list[tuple[ObjectRef, str, str, str]] = dataclasses.field(default_factory=list)
    applied: list[tuple[str, dict[str, Any]]] = dataclasses.field(default_factory=list)
    deleted_reports: list[tuple[str, str]] = dataclasses.field(default_factory=list)

    async def apply_conditions(
        self, namespace: str, name: str, conditions: Sequence[Mapping[str, Any]]
    ) -> None:
        self.conditions.append((namespace, name, [dict(c) for c in conditions]))

    async def apply_report(
        self, namespace: str, name: str, service_uid: str, status: Mapping[str, Any]
    ) -> None:
        del service_uid
        self.reports.append((namespace, name, dict(status)))

    async def event(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        self.events.append((ref, type_, reason, message))

    async def apply(self, path: str, body: Mapping[str, Any]) -> None:
        self.applied.append((path, dict(body)))

    async def delete_report(self, namespace: str, name: str) -> None:
        self.deleted_reports.append((namespace, name))


class LogWriter:
    """The read-only mode's writer: what would have been an Event is a log line; nothing else
    may be written (the read-only publisher registers no sink that would)."""

    def __init__(self, log: logging.Logger = logger) -> None:
        self._log = log

    async def event(self, ref: ObjectRef, type_: str, reason: str, message: str) -> None:
        level = logging.INFO if type_ == "Normal" else logging.WARNING
        where = f"{ref.kind} {ref.namespace}/{ref.name}"
        self._log.log(level, "%s %s: %s (read-only: no Event written)", where, reason, message)

    async def apply_conditions(
        self, namespace: str, name: str, conditions: Sequence[Mapping[str, Any]]
    ) -> None:
        raise _read_only(f"conditions of {namespace}/{name}")

    async def apply_report(
        self, namespace: str, name: str, service_uid: str, status: Mapping[str, Any]
    ) -> None:
        raise _read_only(f"the report of {namespace}/{name}")

    async def apply(self, path: str, body: Mapping[str, Any]) -> None:
        raise _read_only(path)

    async def delete_report(self, namespace: str, name: str) -> None:
        raise _read_only(f"the report of {namespace}/{name}")


def _read_only(what: str) -> RuntimeError:
    return RuntimeError(f"read-only mode: {what} must not be written")
