"""The API server's audit log: the requests the operator made, by user agent, verb and resource."""

from __future__ import annotations

import collections
import datetime
import json
import pathlib
from typing import Any

from hack.bench.common import OPERATOR_AGENTS


def agent_of(event: dict[str, Any], agents: tuple[str, ...]) -> str | None:
    """The event's user agent (its first word) when it is one of ``agents`` (``kopf/`` a prefix)."""
    agent = str(event["userAgent"].split(" ")[0])
    if any(agent == a or (a.endswith("/") and agent.startswith(a)) for a in agents):
        return agent
    return None


def request_key(agent: str, event: dict[str, Any]) -> str:
    """``agent verb resource[/subresource]`` (the request URI when there is no object)."""
    ref = event.get("objectRef") or {}
    resource = ref.get("resource", event.get("requestURI", "?"))
    if ref.get("subresource"):
        resource += "/" + ref["subresource"]
    return f"{agent} {event['verb']} {resource}"


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
            agent = agent_of(event, agents)
            if agent is None or event["auditID"] in seen:
                continue
            received = datetime.datetime.fromisoformat(event["requestReceivedTimestamp"])
            if not start <= received.timestamp() <= end:
                continue
            seen.add(event["auditID"])
            counts[request_key(agent, event)] += 1
    return dict(sorted(counts.items()))
