"""Issue 4 acceptance: the operator end to end against the local cluster and real CoreDNS."""

from __future__ import annotations

import json
from typing import Any

from tests import poll
from tests.e2e import cluster as cl
from tests.e2e import workloads

GROUP = "headless-auditor.io"
DNS = f"{GROUP}/DNSConsistent"
PODS = f"{GROUP}/PodNamesResolvable"
CONFIG = f"{GROUP}/ConfigurationValid"
TOLERATE = "service.alpha.kubernetes.io/tolerate-unready-endpoints"


def conditions(cluster: cl.Cluster, namespace: str, service: str = "nginx") -> dict[str, Any]:
    body = cluster.get("service", service, namespace)
    return {c["type"]: c for c in body.get("status", {}).get("conditions", [])}


def wait_condition(
    cluster: cl.Cluster, namespace: str, type_: str, status: str, timeout: float = 30
) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        c = conditions(cluster, namespace).get(type_)
        return c if c is not None and c["status"] == status else None

    return poll.until(check, timeout=timeout, what=f"{type_}={status}")


def start_web(cluster: cl.Cluster, namespace: str, **kwargs: Any) -> None:
    cluster.apply(workloads.nginx_web(**kwargs), namespace)
    cl.wait_ready_endpoints(cluster, namespace, "nginx", 2)


def test_healthy_example_gets_all_conditions(cluster, namespace, start_operator) -> None:
    start_web(cluster, namespace)
    start_operator()
    for type_ in (DNS, PODS, CONFIG):
        wait_condition(cluster, namespace, type_, "True", timeout=20)
    # The real kubectl waits on our condition type.
    cluster.kubectl("wait", f"--for=condition={DNS}", "svc/nginx", "-n", namespace, "--timeout=30s")
    table = cluster.kubectl("get", "hsa", "-A")
    row = next(line.split() for line in table.splitlines() if line.startswith(namespace))
    assert row[1:5] == ["nginx", "True", "True", "True"], table
    report = cluster.get("hsa", "nginx", namespace)
    assert report["metadata"]["ownerReferences"][0]["kind"] == "Service"
    assert report["status"]["dnsState"] == "Consistent"
    assert report["status"]["missingRecords"] == 0
    assert {s["state"] for s in report["status"]["servers"]} == {"OK"}


def test_unready_pod_fails_pod_names_only(cluster, namespace, start_operator) -> None:
    start_web(cluster, namespace)
    start_operator()
    wait_condition(cluster, namespace, PODS, "True")
    cl.set_pod_ready(cluster, namespace, "web-1", ready=False)
    pods = wait_condition(cluster, namespace, PODS, "False")
    assert "web-1" in pods["message"]
    assert "web-0" not in pods["message"]
    # DNS rightly dropped the pod: the records match the API.
    assert conditions(cluster, namespace)[DNS]["status"] == "True"


def test_publish_not_ready_keeps_both_true(cluster, namespace, start_operator) -> None:
    start_web(cluster, namespace, publish_not_ready=True)
    op = start_operator()
    wait_condition(cluster, namespace, PODS, "True")
    cl.set_pod_ready(cluster, namespace, "web-1", ready=False)
    op.wait_sweeps(2)
    current = conditions(cluster, namespace)
    assert current[PODS]["status"] == "True"
    assert current[DNS]["status"] == "True"


def test_read_only_writes_nothing_and_metrics_carry_the_verdict(
    cluster, namespace, start_operator
) -> None:
    start_web(cluster, namespace)
    cl.set_pod_ready(cluster, namespace, "web-1", ready=False)
    op = start_operator(extra_env={"HEADLESS_AUDITOR_READ_ONLY": "true"})
    series = {"namespace": namespace, "service": "nginx", "condition": "PodNamesResolvable"}
    poll.until(
        lambda: op.metric("headless_auditor_service_condition", **series, status="False") == 1,
        timeout=30,
        what="PodNamesResolvable False in the metrics",
    )
    op.wait_sweeps(2)
    # Nothing was written, as the API server records it: no field manager of ours on the
    # Service, no condition, no report object, no Event; and the operator counted no write.
    service = cluster.get("service", "nginx", namespace)
    managers = {m.get("manager") for m in service["metadata"].get("managedFields", [])}
    assert "headless-auditor" not in managers, managers
    assert not service.get("status", {}).get("conditions")
    assert cluster.kubectl("get", "hsa", "-n", namespace, "-o", "name").strip() == ""
    ours = [
        e
        for e in json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json"))[
            "items"
        ]
        if e.get("reportingComponent") == "headless-auditor"
    ]
    assert ours == []
    for kind in ("service_status", "report", "event"):
        assert op.metric("headless_auditor_writes_total", kind=kind) is None
    logged = op.log.read_text()
    assert "read-only: no Event written" in logged
    assert "web-1" in logged


def ours(cluster: cl.Cluster, namespace: str) -> list[dict[str, Any]]:
    """The Events the operator sent in ``namespace``."""
    items = json.loads(cluster.kubectl("get", "events", "-n", namespace, "-o", "json"))["items"]
    return [e for e in items if e.get("reportingComponent") == "headless-auditor"]


def test_a_service_that_opts_out_is_left_alone(cluster, namespace, start_operator) -> None:
    start_web(cluster, namespace)
    op = start_operator()
    wait_condition(cluster, namespace, DNS, "True")
    poll.until(
        lambda: cluster.kubectl("get", "hsa", "-n", namespace, "-o", "name").strip(),
        timeout=30,
        what="the report written",
    )
    series = {"namespace": namespace, "service": "nginx", "state": "Consistent"}
    assert op.metric("headless_auditor_service_dns_state", **series) == 1
    cluster.kubectl("annotate", "svc", "nginx", "-n", namespace, "headless-auditor.io/ignore=true")
    poll.until(lambda: not conditions(cluster, namespace), timeout=30, what="our conditions gone")
    poll.until(
        lambda: not cluster.kubectl("get", "hsa", "-n", namespace, "-o", "name").strip(),
        timeout=30,
        what="the report deleted",
    )
    poll.until(
        lambda: op.metric("headless_auditor_service_dns_state", **series) is None,
        timeout=30,
        what="the series dropped",
    )
    sent = len(ours(cluster, namespace))
    cl.set_pod_ready(cluster, namespace, "web-1", ready=False)  # would be an Event otherwise
    op.wait_sweeps(2)
    assert conditions(cluster, namespace) == {}
    assert len(ours(cluster, namespace)) == sent


def test_ignored_findings_do_not_count_and_an_unknown_code_does(
    cluster, namespace, start_operator
) -> None:
    start_web(cluster, namespace, annotations={TOLERATE: "true"})
    start_operator()
    wait_condition(cluster, namespace, CONFIG, "False")
    ignore = "headless-auditor.io/ignore-findings"
    code = "TolerateUnreadyAnnotationIneffective"
    cluster.kubectl("annotate", "svc", "nginx", "-n", namespace, f"{ignore}={code}")
    wait_condition(cluster, namespace, CONFIG, "True")
    report = poll.until(
        lambda: (
            (r := cluster.get("hsa", "nginx", namespace))["status"].get("ignoredFindings") and r
        ),
        timeout=30,
        what="the report listing the ignored finding",
    )
    assert [f["code"] for f in report["status"]["ignoredFindings"]] == [code]
    assert code not in {f["code"] for f in report["status"]["findings"]}
    cluster.kubectl(
        "annotate", "svc", "nginx", "-n", namespace, f"{ignore}={code},NoSuchCode", "--overwrite"
    )
    invalid = wait_condition(cluster, namespace, CONFIG, "False")
    assert invalid["reason"] == "IgnoredCodeUnknown"
    assert "NoSuchCode" in invalid["message"]


def events(cluster: cl.Cluster, namespace: str, kind: str, reason: str) -> list[dict[str, Any]]:
    out = cluster.kubectl(
        "get",
        "events",
        "-n",
        namespace,
        "-o",
        "json",
        "--field-selector",
        f"involvedObject.kind={kind},reason={reason}",
    )
    return list(json.loads(out)["items"])


def test_deprecated_annotation_alone_is_invalid_with_one_event(
    cluster, namespace, start_operator
) -> None:
    start_web(cluster, namespace, annotations={TOLERATE: "true"})
    op = start_operator()
    config = wait_condition(cluster, namespace, CONFIG, "False")
    assert config["reason"] == "TolerateUnreadyAnnotationIneffective"
    assert "spec.publishNotReadyAddresses: true" in config["message"]
    op.wait_sweeps(3)
    found = events(cluster, namespace, "Service", "ConfigurationValidFalse")
    assert len(found) == 1, found
    assert "publishNotReadyAddresses" in found[0]["message"]


def test_statefulset_naming_a_missing_service_gets_an_event(
    cluster, namespace, start_operator
) -> None:
    cluster.apply(workloads.manifest(workloads.statefulset(service_name="ghost")), namespace)
    op = start_operator()
    poll.until(
        lambda: events(cluster, namespace, "StatefulSet", "ServiceNotFound"),
        timeout=30,
        what="ServiceNotFound event on the StatefulSet",
    )
    op.wait_sweeps(2)
    assert len(events(cluster, namespace, "StatefulSet", "ServiceNotFound")) == 1


def test_read_only_towards_user_objects(cluster, namespace, start_operator) -> None:
    start_web(cluster, namespace)
    before = cluster.get("service", "nginx", namespace)
    sts_before = cluster.get("statefulset", "web", namespace)
    op = start_operator(sweep_interval=0.5)
    wait_condition(cluster, namespace, DNS, "True")
    op.wait_sweeps(10)
    after = cluster.get("service", "nginx", namespace)
    for field in ("annotations", "labels", "finalizers", "ownerReferences"):
        assert after["metadata"].get(field) == before["metadata"].get(field), field
    assert after["spec"] == before["spec"]
    assert all(c["type"].startswith(GROUP) for c in after["status"]["conditions"])
    with_fields = json.loads(
        cluster.kubectl("get", "svc/nginx", "-n", namespace, "-o", "json", "--show-managed-fields")
    )
    ours = [
        m for m in with_fields["metadata"]["managedFields"] if m["manager"] == "headless-auditor"
    ]
    assert [m.get("subresource") for m in ours] == ["status"], ours
    sts_after = cluster.get("statefulset", "web", namespace)
    assert sts_after["metadata"].get("annotations") == sts_before["metadata"].get("annotations")
    assert sts_after["metadata"].get("finalizers") is None
    # Ten sweeps, one status write: nothing is written when nothing changed.
    rv = after["metadata"]["resourceVersion"]
    op.wait_sweeps(3)
    assert cluster.get("service", "nginx", namespace)["metadata"]["resourceVersion"] == rv


def test_other_controllers_conditions_survive(cluster, namespace, start_operator) -> None:
    start_web(cluster, namespace)
    foreign = {
        "type": "example.com/Checked",
        "status": "True",
        "reason": "Manual",
        "message": "set by another controller",
        "lastTransitionTime": "2026-01-01T00:00:00Z",
    }
    patch = {
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": "nginx", "namespace": namespace},
        "status": {"conditions": [foreign]},
    }
    cluster.kubectl(
        "apply",
        "--server-side",
        "--subresource=status",
        "--field-manager=someone-else",
        "-f",
        "-",
        stdin=json.dumps(patch),
    )
    start_operator()
    wait_condition(cluster, namespace, DNS, "True")
    assert conditions(cluster, namespace)["example.com/Checked"]["message"] == foreign["message"]


def test_restart_with_nothing_changed_writes_nothing(cluster, namespace, start_operator) -> None:
    start_web(cluster, namespace)
    first = start_operator()
    for type_ in (DNS, PODS, CONFIG):
        wait_condition(cluster, namespace, type_, "True")
    first.wait_sweeps(1)
    service_rv = cluster.get("service", "nginx", namespace)["metadata"]["resourceVersion"]
    report_rv = cluster.get("hsa", "nginx", namespace)["metadata"]["resourceVersion"]
    first.stop()
    assert first.process.returncode == 0, "SIGTERM stops the operator cleanly"
    assert "Traceback" not in first.log.read_text()
    second = start_operator()
    second.wait_sweeps(2)
    assert cluster.get("service", "nginx", namespace)["metadata"]["resourceVersion"] == service_rv
    assert cluster.get("hsa", "nginx", namespace)["metadata"]["resourceVersion"] == report_rv
    assert second.metric("headless_auditor_writes_total", kind="service_status") is None


def test_metrics_and_health(cluster, namespace, start_operator) -> None:
    start_web(cluster, namespace)
    op = start_operator()
    wait_condition(cluster, namespace, DNS, "True")
    op.wait_sweeps(1)
    labels = {"namespace": namespace, "service": "nginx"}
    assert op.metric("headless_auditor_service_dns_state", state="Consistent", **labels) == 1
    assert op.metric("headless_auditor_service_records", kind="expected", **labels) == 8
    assert op.metric("headless_auditor_build_info") == 1
    assert (op.metric("headless_auditor_audit_duration_seconds_count") or 0) > 0
    assert (op.metric("headless_auditor_dns_query_duration_seconds_count") or 0) > 0
    assert op.get("/healthz").strip() == "ok"
    series = [line for line in op.get("/metrics").splitlines() if line.startswith("headless")]
    for ip in cl.pod_ips(cluster, namespace, ["web-0", "web-1"]).values():
        assert not [line for line in series if f'"{ip}' in line], f"pod IP {ip} in a label"
    assert not [line for line in series if "web-0" in line], "no pod name in a label"


def test_service_deletion_removes_report_and_series(cluster, namespace, start_operator) -> None:
    start_web(cluster, namespace)
    op = start_operator()
    wait_condition(cluster, namespace, DNS, "True")
    poll.until(lambda: cluster.kubectl("get", "hsa", "-n", namespace, "-o", "name"), timeout=20)
    cluster.kubectl("delete", "statefulset", "web", "-n", namespace)
    cluster.kubectl("delete", "service", "nginx", "-n", namespace)
    labels = {"namespace": namespace, "service": "nginx", "state": "Consistent"}
    poll.until(
        lambda: op.metric("headless_auditor_service_dns_state", **labels) is None,
        timeout=30,
        what="series of the deleted Service dropped",
    )
    poll.until(
        lambda: not cluster.kubectl("get", "hsa", "-n", namespace, "-o", "name").strip(),
        timeout=60,
        what="report garbage-collected with its Service",
    )


def test_wrong_record_turns_dns_false_until_fixed(
    cluster, namespace, start_operator, extra_dns
) -> None:
    start_web(cluster, namespace)
    name = f"web-0.nginx.{namespace}.svc.{cluster.domain}"
    stale = extra_dns("127.0.10.5", hosts={name: "10.99.99.99"})
    op = start_operator(dns_servers=[*cluster.dns_servers, stale.server])
    false = wait_condition(cluster, namespace, DNS, "False")
    assert false["reason"] == "RecordsMismatch"
    assert stale.server in false["message"]
    assert "10.99.99.99" in false["message"]
    labels = {"namespace": namespace, "service": "nginx"}
    poll.until(
        lambda: (
            op.metric("headless_auditor_service_dns_state", state="Inconsistent", **labels) == 1
        ),
        timeout=20,
        what="the Inconsistent state in the metrics",
    )
    assert (op.metric("headless_auditor_service_records", kind="unexpected", **labels) or 0) >= 1

    stale.stop()
    fixed = extra_dns("127.0.10.5")  # the same replica, its stale entry gone
    assert fixed.server == stale.server
    true = wait_condition(cluster, namespace, DNS, "True", timeout=40)
    assert true["lastTransitionTime"] >= false["lastTransitionTime"]
    op.wait_sweeps(2)
    assert conditions(cluster, namespace)[DNS]["lastTransitionTime"] == true["lastTransitionTime"]
    reasons = [e["reason"] for e in events(cluster, namespace, "Service", "DNSConsistentTrue")]
    assert reasons == ["DNSConsistentTrue"]


def test_stopped_coredns_is_unknown_then_recovers(
    cluster, namespace, start_operator, extra_dns
) -> None:
    start_web(cluster, namespace)
    replica = extra_dns("127.0.10.6")
    op = start_operator(dns_servers=[*cluster.dns_servers, replica.server])
    wait_condition(cluster, namespace, DNS, "True")
    errors_before = op.metric("headless_auditor_dns_query_errors_total", server=replica.server)

    replica.stop()
    unknown = wait_condition(cluster, namespace, DNS, "Unknown", timeout=40)
    assert unknown["reason"] == "DNSUnreachable"
    assert replica.server in unknown["message"]
    errors = op.metric("headless_auditor_dns_query_errors_total", server=replica.server) or 0
    assert errors > (errors_before or 0)

    back = extra_dns("127.0.10.6")
    assert back.server == replica.server
    wait_condition(cluster, namespace, DNS, "True", timeout=60)
    assert op.process.poll() is None, "recovered without a restart"
