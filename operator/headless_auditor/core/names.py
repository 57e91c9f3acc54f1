"""The DNS names CoreDNS's kubernetes plugin gives a headless Service and its endpoints.

The Service is ``S.ns.svc.Z`` (:func:`service_domain`); each endpoint address is
``<name(e)>.S.ns.svc.Z``, where ``name(e)`` is the endpoint's hostname, else its ``targetRef``
name with ``endpoint_pod_names``, else its dashed IP (:func:`endpoint_label`). Read from CoreDNS's
``plugin/kubernetes``, where it is more precise than dns-rules.md: ``endpoint_pod_names`` takes
the ``targetRef`` name whatever its kind, if shorter than 64.
"""

from __future__ import annotations

from headless_auditor.core import objects

_POD_NAME_LIMIT = 64
"""``endpoint_pod_names`` ignores target names at least this long (not a valid DNS label)."""


def dashed_ip(address: str) -> str:
    """The label CoreDNS derives from an address: ``10-244-1-5``, ``fd00--5``, ``fd00--0``.

    IPv4 dots become dashes; IPv6 colons become dashes, and a trailing dash gets a ``0`` (CoreDNS
    1.12.3 and later) so that the label does not end with a hyphen.
    """
    if "." in address:
        return address.replace(".", "-")
    dashed = address.replace(":", "-")
    return dashed + "0" if dashed.endswith("-") else dashed


def endpoint_label(endpoint: objects.Endpoint, address: str, *, endpoint_pod_names: bool) -> str:
    """``name(e)`` for one address of an endpoint, lower-case (names match case-insensitively)."""
    ref = endpoint.target_ref
    if endpoint.hostname:
        label = endpoint.hostname
    elif endpoint_pod_names and ref is not None and 0 < len(ref.name) < _POD_NAME_LIMIT:
        label = ref.name
    else:
        label = dashed_ip(address)
    return label.lower()


def service_domain(namespace: str, name: str, zone: str) -> str:
    """``name.namespace.svc.zone.``, lower-case and fully qualified."""
    zone = zone.lower().strip(".")
    suffix = f"{zone}." if zone else ""
    return f"{name}.{namespace}.svc.{suffix}".lower()


def display_name(namespace: str, name: str, zone: str, label: str = "") -> str:
    """``label.name.namespace.svc.zone`` (or the Service's own name) without trailing dot.

    The form messages use; lower-case like :func:`service_domain`, the label as given.
    """
    domain = service_domain(namespace, name, zone)
    return f"{label}.{domain}".strip(".") if label else domain.rstrip(".")
