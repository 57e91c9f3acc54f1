#!/usr/bin/env python3
"""The demo's two views (hack/demo.sh), from kubectl output on stdin.

demo_view.py conditions      Services (kubectl get svc -o json): our conditions, one per line
demo_view.py side-by-side    the reports (kubectl get hsa -o json), then for each name a line
                             "#nslookup NAME" and busybox nslookup's output: what a client
                             pod resolves beside what the operator concluded
"""

from __future__ import annotations

import json
import re
import sys
from typing import Any

PREFIX = "headless-auditor.io/"


def conditions(services: dict[str, Any]) -> None:
    for svc in services["items"]:
        ours = [
            c for c in svc.get("status", {}).get("conditions", []) if c["type"].startswith(PREFIX)
        ]
        if ours:
            print(svc["metadata"]["name"] + ":")
        for c in ours:
            message = c["message"] if len(c["message"]) <= 150 else c["message"][:147] + "..."
            print(
                f"  {c['type'].removeprefix(PREFIX):<19} {c['status']:<7} {c['reason']}: {message}"
            )


def resolved(output: str) -> str:
    """The addresses busybox nslookup printed after "Name:", else why there were none."""
    answer = output.split("Name:", 1)[1] if "Name:" in output else ""
    addresses = re.findall(r"^Address: *([0-9a-f.:]+)$", answer, re.MULTILINE)
    if addresses:
        return " ".join(sorted(set(addresses)))
    if "NXDOMAIN" in output:
        return "NXDOMAIN"
    return "no answer"


def verdict(name: str, reports: dict[str, Any]) -> str:
    """What the operator concluded about NAME (a Service name or a pod's stable name)."""
    labels = name.split(".")
    if labels[2] == "svc":  # service.namespace.svc.zone
        status = reports.get(labels[0], {})
        return (
            f"DNS {status.get('dnsState', '?')}: {status.get('expectedRecords', '?')} records "
            f"expected, {status.get('missingRecords', '?')} missing, "
            f"{status.get('unexpectedRecords', '?')} unexpected"
        )
    pod, service = labels[0], labels[1]
    for problem in reports.get(service, {}).get("podNameProblems", []):
        if problem["pod"] == pod:
            return f"does not resolve: {problem['code']}"
    return "resolves"


def side_by_side(text: str) -> None:
    head, _, rest = text.partition("#nslookup ")
    reports = {r["metadata"]["name"]: r.get("status", {}) for r in json.loads(head)["items"]}
    rows = []
    for block in ("#nslookup " + rest).split("#nslookup ")[1:]:
        name, _, output = block.partition("\n")
        rows.append((name, resolved(output), verdict(name, reports)))
    width = max(len(r[0]) for r in rows)
    print(f"{'NAME':<{width}}  {'CLIENT POD (nslookup)':<34}  OPERATOR")
    for name, client, operator in rows:
        print(f"{name:<{width}}  {client:<34}  {operator}")


if __name__ == "__main__":
    if sys.argv[1:] == ["conditions"]:
        conditions(json.load(sys.stdin))
    elif sys.argv[1:] == ["side-by-side"]:
        side_by_side(sys.stdin.read())
    else:
        sys.exit(__doc__)
