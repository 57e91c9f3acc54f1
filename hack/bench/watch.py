"""A watch on the bench namespace's Services: when each got our conditions, and every change."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

from hack.bench.common import CONDITIONS, NAMESPACE, log
from hack.bench.engine import Kube, api_client

SERVICES = f"/api/v1/namespaces/{NAMESPACE}/services"


class ServiceWatch:
    """A watch on the namespace's Services: when each got our conditions, and every change."""

    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self.lock = threading.Lock()
        self.conditions: dict[str, dict[str, str]] = {}
        self.complete_at: dict[str, float] = {}
        self.changes: list[tuple[float, str, str, str]] = []
        self._stop = threading.Event()
        self._rv = ""
        self._relist(time.time())
        self._thread = threading.Thread(target=self._run, name="service-watch", daemon=True)
        self._thread.start()

    def _relist(self, now: float) -> None:
        page = self.kube.request("GET", SERVICES)
        for item in page.get("items") or []:
            self._update(item, now)
        self._rv = page["metadata"]["resourceVersion"]

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
        while not self._stop.is_set():
            url, headers = self._watch_request()
            try:
                self._stream(url, headers)
            except Exception as error:  # a broken watch is re-established
                log(f"service watch: {error!r}; re-watching")
                time.sleep(0.5)

    def _watch_request(self) -> tuple[str, dict[str, str]]:
        """The URL and headers of one watch from the last resourceVersion (at most 5 s)."""
        query = [
            ("watch", "1"),
            ("resourceVersion", self._rv),
            ("timeoutSeconds", "5"),
            ("allowWatchBookmarks", "true"),
        ]
        _, url, headers, _, _ = api_client(self.kube).param_serialize(
            "GET",
            SERVICES,
            query_params=query,
            header_params={"Accept": "application/json"},
            auth_settings=["BearerToken"],
        )
        return url, headers

    def _stream(self, url: str, headers: dict[str, str]) -> None:
        """One watch request, its events handled line by line."""
        rest = api_client(self.kube).rest_client
        response = rest.request("GET", url, headers=headers, _request_timeout=(5, 30))
        buffer = b""
        for chunk in response.response.stream(65536):
            buffer += chunk
            while b"\n" in buffer:
                line, buffer = buffer.split(b"\n", 1)
                if line.strip():
                    self._event(json.loads(line), time.time())

    def _event(self, event: dict[str, Any], now: float) -> None:
        obj = event.get("object") or {}
        if event.get("type") == "ERROR":
            self._relist(now)
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
