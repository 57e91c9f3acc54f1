#!/usr/bin/env python3
"""Put workloads onto the local cluster's real node: JSON objects in (stdin), JSON out (stdout).

    kubectl create --dry-run=client -o json -f deploy/examples/ | hack/node/pin.py |
      kubectl apply -f -

Each pod template (and each bare Pod) gets the real node's toleration and node selector, so it
runs there and not on a kwok node, and the public busybox image, which this machine cannot pull,
becomes localhost/toolbox:local (busybox from Debian, imported by hack/node.sh) with
imagePullPolicy Never. Nothing else changes: the manifests stay those a kind user applies.
"""

from __future__ import annotations

import json
import sys
from typing import Any

LABEL = "headless-auditor.io/real-node"
TOOLBOX = "localhost/toolbox:local"
SWAPPED = ("busybox",)  # repositories whose images the toolbox stands in for


def pin_pod_spec(spec: dict[str, Any]) -> None:
    spec.setdefault("nodeSelector", {})[LABEL] = "true"
    toleration = {"key": LABEL, "operator": "Exists", "effect": "NoSchedule"}
    if toleration not in spec.setdefault("tolerations", []):
        spec["tolerations"].append(toleration)
    for container in spec.get("containers", []) + spec.get("initContainers", []):
        repository = container.get("image", "").split(":")[0].split("@")[0]
        if repository.removeprefix("docker.io/").removeprefix("library/") in SWAPPED:
            container["image"] = TOOLBOX
            container["imagePullPolicy"] = "Never"


def pin(obj: dict[str, Any]) -> dict[str, Any]:
    if obj.get("kind") == "List":
        obj["items"] = [pin(item) for item in obj.get("items", [])]
    elif obj.get("kind") == "Pod":
        pin_pod_spec(obj.setdefault("spec", {}))
    elif "template" in obj.get("spec", {}):
        pin_pod_spec(obj["spec"]["template"].setdefault("spec", {}))
    return obj


def documents(text: str) -> list[dict[str, Any]]:
    """Every JSON object in TEXT (`kubectl create -o json` prints one after another)."""
    decoder, found, at = json.JSONDecoder(), [], 0
    while at < len(text):
        if text[at].isspace():
            at += 1
            continue
        obj, at = decoder.raw_decode(text, at)
        found.append(obj)
    return found


if __name__ == "__main__":
    items = [pin(obj) for obj in documents(sys.stdin.read())]
    json.dump({"apiVersion": "v1", "kind": "List", "items": items}, sys.stdout)
