"""A small synchronous Kubernetes API client over the official client's transport.

The official client loads kubeconfig files and in-cluster service-account credentials (certs,
tokens, exec plugins) correctly, but its typed models cost a lot on big lists and turn the API's
camelCase JSON into snake_case objects. The audit works on the raw JSON the API server sends, so
this module sends raw requests through the client's authenticated transport and returns parsed
JSON. Errors become the typed exceptions below, mapped once here.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from typing import Any

import urllib3.exceptions
from kubernetes import client, config

from headless_auditor.core import objects
from headless_auditor.kube.errors import ApiError, ClusterUnreachableError

USER_AGENT = "headless-auditor"
PAGE_SIZE = 500


class Kube:
    """Raw JSON requests against one cluster."""

    def __init__(self, api: client.ApiClient, timeout: float = 30.0) -> None:
        self._api = api
        self._api.user_agent = USER_AGENT
        self._timeout = timeout

    @classmethod
    def connect(cls, kubeconfig: str | None = None, *, in_cluster: bool = False) -> Kube:
        """Credentials from the service account (in a pod) or a kubeconfig file."""
        try:
            if in_cluster:
                config.load_incluster_config()
                return cls(client.ApiClient())
            return cls(config.new_client_from_config(config_file=kubeconfig))
        except (config.ConfigException, OSError) as error:
            raise ClusterUnreachableError(f"no cluster credentials: {error}") from error

    def request(
        self,
        method: str,
        path: str,
        *,
        query: Mapping[str, str | int] | None = None,
        body: object = None,
        content_type: str = "application/json",
    ) -> Any:
        """Send one request; return the parsed JSON body."""
        headers = {"Accept": "application/json", "Content-Type": content_type}
        # The transport JSON-encodes bodies itself for JSON content types; others go as text.
        raw_body = body
        if "json" not in content_type and body is not None and not isinstance(body, str):
            raw_body = json.dumps(body)
        _, url, headers, _, _ = self._api.param_serialize(
            method,
            path,
            query_params=list((query or {}).items()),
            header_params=headers,
            auth_settings=["BearerToken"],
        )
        try:
            response = self._api.rest_client.request(
                method, url, headers=headers, body=raw_body, _request_timeout=self._timeout
            )
        except (urllib3.exceptions.HTTPError, OSError) as error:
            raise ClusterUnreachableError(f"{method} {path}: {error}") from error
        data = response.read()
        if not 200 <= response.status < 300:
            raise ApiError(response.status, str(response.reason), _message(data))
        return json.loads(data) if data else None

    def get(self, path: str) -> dict[str, Any] | None:
        """The object at ``path``, or None when it does not exist."""
        try:
            return dict(self.request("GET", path))
        except ApiError as error:
            if error.status == 404:
                return None
            raise

    def list(self, path: str, **query: str) -> list[dict[str, Any]]:
        """Every item of a collection, page by page."""
        return list(self._pages(path, query))

    def _pages(self, path: str, query: Mapping[str, str]) -> Iterator[dict[str, Any]]:
        token = ""
        while True:
            params: dict[str, str | int] = {**query, "limit": PAGE_SIZE}
            if token:
                params["continue"] = token
            page = self.request("GET", path, query=params)
            yield from page.get("items") or []
            token = page.get("metadata", {}).get("continue", "")
            if not token:
                return


def current_namespace(kubeconfig: str | None) -> str:
    """The namespace of the kubeconfig's current context, ``default`` when it names none."""
    try:
        _, active = config.list_kube_config_contexts(config_file=kubeconfig)
    except (config.ConfigException, OSError):
        return "default"
    return objects.namespace_of(active.get("context") or {})


def _message(data: bytes) -> str:
    try:
        return str(json.loads(data).get("message", ""))
    except (ValueError, AttributeError):
        return data.decode(errors="replace")[:200]
