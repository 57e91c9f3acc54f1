"""Manifests of the workloads the e2e tests create: the nginx/web example and its variants."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def headless_service(
    name: str = "nginx",
    *,
    selector: Mapping[str, str] | None = None,
    ports: list[dict[str, Any]] | None = None,
    publish_not_ready: bool = False,
    annotations: Mapping[str, str] | None = None,
    cluster_ip: str = "None",
) -> dict[str, Any]:
    spec: dict[str, Any] = {
        "clusterIP": cluster_ip,
        "ports": [{"name": "web", "port": 80, "protocol": "TCP"}] if ports is None else ports,
        "publishNotReadyAddresses": publish_not_ready,
    }
    if cluster_ip != "None":
        spec.pop("clusterIP")
    if selector is not None:
        spec["selector"] = dict(selector)
    return {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "annotations": dict(annotations or {})},
        "spec": spec,
    }


def statefulset(
    name: str = "web",
    *,
    service_name: str | None = "nginx",
    replicas: int = 2,
    labels: Mapping[str, str] | None = None,
    container_port: int = 80,
    port_name: str = "web",
) -> dict[str, Any]:
    labels = dict(labels or {"app": "nginx"})
    spec: dict[str, Any] = {
        "replicas": replicas,
        "podManagementPolicy": "Parallel",
        "selector": {"matchLabels": labels},
        "template": {
            "metadata": {"labels": labels},
            "spec": {
                "containers": [
                    {
                        "name": "nginx",
                        "image": "registry.invalid/nginx:1",
                        "ports": [{"name": port_name, "containerPort": container_port}],
                    }
                ],
            },
        },
    }
    if service_name is not None:
        spec["serviceName"] = service_name
    return {
        "apiVersion": "apps/v1",
        "kind": "StatefulSet",
        "metadata": {"name": name},
        "spec": spec,
    }


def manifest(*objects: Mapping[str, Any]) -> str:
    """A multi-document manifest (JSON is valid YAML) for `kubectl apply -f -`."""
    return "\n---\n".join(json.dumps(o) for o in objects)


def nginx_web(
    *,
    replicas: int = 2,
    publish_not_ready: bool = False,
    annotations: Mapping[str, str] | None = None,
) -> str:
    """The example every tutorial uses: headless Service nginx + StatefulSet web."""
    return manifest(
        headless_service(
            selector={"app": "nginx"}, publish_not_ready=publish_not_ready, annotations=annotations
        ),
        statefulset(replicas=replicas),
    )


def endpoint(
    address: str,
    *,
    hostname: str | None = None,
    ready: bool | None = True,
) -> dict[str, Any]:
    """One endpoint of a hand-made EndpointSlice; ``ready=None`` leaves the condition unset."""
    body: dict[str, Any] = {"addresses": [address], "conditions": {}}
    if ready is not None:
        body["conditions"]["ready"] = ready
    if hostname is not None:
        body["hostname"] = hostname
    return body


def endpoint_slice(
    name: str,
    *,
    service: str,
    endpoints: list[dict[str, Any]],
    ports: list[dict[str, Any]] | None = None,
    managed_by: str = "e2e.headless-auditor.test",
) -> dict[str, Any]:
    """A hand-made IPv4 EndpointSlice labelled for ``service`` and managed by someone custom.

    Use fake addresses (e.g. 10.200.0.0/16): nothing may ever connect to them.
    """
    return {
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "name": name,
            "labels": {
                "kubernetes.io/service-name": service,
                "endpointslice.kubernetes.io/managed-by": managed_by,
            },
        },
        "addressType": "IPv4",
        "endpoints": endpoints,
        "ports": [] if ports is None else ports,
    }
