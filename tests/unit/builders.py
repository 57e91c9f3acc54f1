"""Shared test builders: realistic API JSON and short constructors for model objects.

The API fixtures mimic what a v1.36 API server returns for the classic example: StatefulSet
``web`` (3 replicas, ``app=nginx``) governed by the headless Service ``nginx`` in ``default``, and
the EndpointSlice the EndpointSlice controller writes for it.
"""

from __future__ import annotations

import copy
import datetime
from collections.abc import Mapping, Sequence
from typing import Any

from headless_auditor.core import corefile, objects, records

ZONE = "cluster.local"
DOMAIN = "nginx.default.svc.cluster.local."
T0 = datetime.datetime(2026, 5, 1, 12, 0, 0, tzinfo=datetime.UTC)

KUBEADM_COREFILE = """\
.:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
"""

OLD_KUBEADM_COREFILE = KUBEADM_COREFILE.replace(
    """    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
""",
    "    cache 30\n",
)

_SERVICE_API: dict[str, Any] = {
    "apiVersion": "v1",
    "kind": "Service",
    "metadata": {
        "name": "nginx",
        "namespace": "default",
        "uid": "5b1f6d1c-0d5e-4a57-9d0c-3f1f4c5e8a01",
        "resourceVersion": "1201",
        "creationTimestamp": "2026-05-01T11:58:00Z",
        "labels": {"app": "nginx"},
        "managedFields": [
            {
                "manager": "kubectl-client-side-apply",
                "operation": "Update",
                "apiVersion": "v1",
                "time": "2026-05-01T11:58:00Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:spec": {"f:clusterIP": {}}},
            }
        ],
    },
    "spec": {
        "clusterIP": "None",
        "clusterIPs": ["None"],
        "internalTrafficPolicy": "Cluster",
        "ipFamilies": ["IPv4"],
        "ipFamilyPolicy": "SingleStack",
        "ports": [{"name": "web", "port": 80, "protocol": "TCP", "targetPort": 80}],
        "selector": {"app": "nginx"},
        "sessionAffinity": "None",
        "type": "ClusterIP",
    },
    "status": {"loadBalancer": {}},
}

_STATEFULSET_API: dict[str, Any] = {
    "apiVersion": "apps/v1",
    "kind": "StatefulSet",
    "metadata": {"name": "web", "namespace": "default", "generation": 1},
    "spec": {
        "serviceName": "nginx",
        "replicas": 3,
        "selector": {"matchLabels": {"app": "nginx"}},
        "podManagementPolicy": "OrderedReady",
        "template": {
            "metadata": {"labels": {"app": "nginx"}},
            "spec": {
                "containers": [
                    {
                        "name": "nginx",
                        "image": "registry.k8s.io/nginx-slim:0.27",
                        "ports": [{"containerPort": 80, "name": "web", "protocol": "TCP"}],
                    }
                ]
            },
        },
        "updateStrategy": {"type": "RollingUpdate", "rollingUpdate": {"partition": 0}},
    },
    "status": {"replicas": 3, "readyReplicas": 2},
}


def _api_endpoint(
    ordinal: int, ip: str, *, ready: bool, terminating: bool = False
) -> dict[str, Any]:
    pod = f"web-{ordinal}"
    return {
        "addresses": [ip],
        "conditions": {"ready": ready, "serving": ready or terminating, "terminating": terminating},
        "hostname": pod,
        "nodeName": "kwok-node-0",
        "targetRef": {"kind": "Pod", "name": pod, "namespace": "default", "uid": f"uid-{pod}"},
        "zone": "zone-a",
    }


_SLICE_API: dict[str, Any] = {
    "apiVersion": "discovery.k8s.io/v1",
    "kind": "EndpointSlice",
    "metadata": {
        "name": "nginx-7xkqz",
        "generateName": "nginx-",
        "namespace": "default",
        "creationTimestamp": "2026-05-01T11:58:01Z",
        "labels": {
            "app": "nginx",
            "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
            "kubernetes.io/service-name": "nginx",
            "service.kubernetes.io/headless": "",
        },
        "ownerReferences": [
            {
                "apiVersion": "v1",
                "kind": "Service",
                "name": "nginx",
                "uid": "5b1f6d1c-0d5e-4a57-9d0c-3f1f4c5e8a01",
                "controller": True,
                "blockOwnerDeletion": True,
            }
        ],
        "managedFields": [
            {
                "manager": "kube-controller-manager",
                "operation": "Update",
                "apiVersion": "discovery.k8s.io/v1",
                "time": "2026-05-01T11:59:30Z",
                "fieldsType": "FieldsV1",
                "fieldsV1": {"f:endpoints": {}},
            }
        ],
    },
    "addressType": "IPv4",
    "endpoints": [
        _api_endpoint(0, "10.244.0.5", ready=True),
        _api_endpoint(1, "10.244.0.6", ready=True),
        _api_endpoint(2, "10.244.0.7", ready=False),
    ],
    "ports": [{"name": "web", "port": 80, "protocol": "TCP"}],
}


def service_api() -> dict[str, Any]:
    """The ``nginx`` headless Service as the API returns it (a fresh copy)."""
    return copy.deepcopy(_SERVICE_API)


def statefulset_api() -> dict[str, Any]:
    """The ``web`` StatefulSet as the API returns it (a fresh copy)."""
    return copy.deepcopy(_STATEFULSET_API)


def slice_api() -> dict[str, Any]:
    """The controller's slice for ``nginx``: web-0 and web-1 ready, web-2 not (a fresh copy)."""
    return copy.deepcopy(_SLICE_API)


# -- model builders ----------------------------------------------------------------------------


def service(
    name: str = "nginx",
    *,
    selector: Mapping[str, str] | None = None,
    ports: Sequence[objects.ServicePort] | None = None,
    cluster_ip: str = "None",
    publish: bool = False,
    annotation: bool = False,
) -> objects.Service:
    return objects.Service(
        namespace="default",
        name=name,
        cluster_ip=cluster_ip,
        selector=objects.labels_of(selector if selector is not None else {"app": "nginx"}) or None,
        ports=tuple(ports) if ports is not None else (objects.ServicePort("web", 80, 80),),
        publish_not_ready_addresses=publish,
        tolerate_unready_annotation=annotation,
    )


def endpoint(
    *addresses: str,
    pod: str | None = None,
    hostname: str | None = None,
    ready: bool | None = True,
    serving: bool | None = None,
    terminating: bool | None = None,
    kind: str = "Pod",
) -> objects.Endpoint:
    """An endpoint; ``pod`` sets the targetRef and, unless ``hostname`` is given (``""``: none),
    the hostname."""
    return objects.Endpoint(
        addresses=addresses,
        hostname=(hostname if hostname is not None else pod) or None,
        ready=ready,
        serving=ready if serving is None else serving,
        terminating=terminating,
        target_ref=objects.TargetRef(kind, pod, "default") if pod else None,
    )


def pod_endpoint(ordinal: int, ip: str, **kwargs: Any) -> objects.Endpoint:
    """The endpoint of pod ``web-<ordinal>`` with its hostname, as the controller writes it."""
    return endpoint(ip, pod=f"web-{ordinal}", **kwargs)


WEB_PORT = objects.EndpointPort("web", 80, "TCP")


def eps(
    *endpoints: objects.Endpoint,
    name: str = "nginx-abcde",
    ports: Sequence[objects.EndpointPort] = (WEB_PORT,),
    managed_by: str | None = objects.ENDPOINTSLICE_CONTROLLER,
    address_type: str = "IPv4",
    service_name: str = "nginx",
) -> objects.EndpointSlice:
    return objects.EndpointSlice(
        namespace="default",
        name=name,
        service_name=service_name,
        managed_by=managed_by,
        address_type=address_type,
        endpoints=endpoints,
        ports=tuple(ports),
    )


def statefulset(
    name: str = "web",
    *,
    replicas: int = 3,
    labels: Mapping[str, str] | None = None,
    service_name: str = "nginx",
    start: int = 0,
) -> objects.StatefulSet:
    template = objects.labels_of(labels if labels is not None else {"app": "nginx"})
    return objects.StatefulSet(
        namespace="default",
        name=name,
        service_name=service_name,
        replicas=replicas,
        template_labels=template,
        selector=template,
        ordinal_start=start,
    )


def snapshot(
    svc: objects.Service | None = None,
    slices: Sequence[objects.EndpointSlice] = (),
    statefulsets: Sequence[objects.StatefulSet] = (),
    *,
    options: corefile.CorefileOptions | None = None,
    missing_service: bool = False,
    name: str = "nginx",
) -> objects.Snapshot:
    """A snapshot of Service ``name`` (default: the nginx Service, unless ``missing_service``)."""
    if svc is None and not missing_service:
        svc = service(name)
    return objects.Snapshot(
        namespace="default",
        name=name,
        service=svc,
        slices=tuple(slices),
        statefulsets=tuple(statefulsets),
        corefile_options=options or corefile.CorefileOptions(),
    )


def web_snapshot(ready: Sequence[bool] = (True, True, True), **kwargs: Any) -> objects.Snapshot:
    """nginx + StatefulSet web with one endpoint per pod, ``ready[i]`` for pod ``web-i``."""
    endpoints = [pod_endpoint(i, f"10.244.0.{i + 5}", ready=r) for i, r in enumerate(ready)]
    return snapshot(service(), [eps(*endpoints)], [statefulset(replicas=len(ready))], **kwargs)


def q(label: str, rdtype: str = "A") -> records.Question:
    """A question about ``label.nginx.default.svc.cluster.local.`` (``""``: the Service name)."""
    name = f"{label}.{DOMAIN}" if label else DOMAIN
    return records.Question(name, records.RecordType(rdtype))


def answer(*records_: str) -> records.Answer:
    return records.Answer.of(set(records_))


class FakeKube:
    """A :class:`client.Kube` stand-in: GETs answered from ``objects``, lists from
    ``collections`` (by path). Records the GETs, the lists (with their query) and every path asked,
    in order."""

    def __init__(
        self,
        objects: Mapping[str, dict[str, Any]] | None = None,
        collections: Mapping[str, list[dict[str, Any]]] | None = None,
    ) -> None:
        self.objects = dict(objects or {})
        self.collections = dict(collections or {})
        self.gets: list[str] = []
        self.lists: list[tuple[str, dict[str, str]]] = []
        self.paths: list[str] = []

    def get(self, path: str) -> dict[str, Any] | None:
        self.gets.append(path)
        self.paths.append(path)
        return self.objects.get(path)

    def list(self, path: str, **query: str) -> list[dict[str, Any]]:
        self.lists.append((path, query))
        self.paths.append(path)
        return self.collections.get(path, [])
