"""Issue 5 acceptance: the Helm chart and deploy/ against the real API server, and RBAC proof."""

from __future__ import annotations

import subprocess

import pytest
import yaml

from tests import poll
from tests.e2e import cluster as cl
from tests.e2e import delivery, operator_proc, workloads

DNS = "headless-auditor.io/DNSConsistent"


def test_helm_lint_strict(cluster: cl.Cluster) -> None:
    toggles = ["serviceMonitor", "prometheusRule", "rulesConfigMap", "grafanaDashboard"]
    for extra in ([], [a for t in toggles for a in ("--set", f"{t}.enabled=true")]):
        out = delivery.helm(cluster, "lint", "--strict", str(delivery.CHART), *extra).stdout
        assert "0 chart(s) failed" in out, out


def test_values_schema_rejects_bad_values(cluster: cl.Cluster) -> None:
    for bad in (
        "config.sweepInterval=-1",
        "bogus=1",
        "config.logFormat=xml",
        "config.readOnly=sometimes",
        "config.excludeNamespaces={Kube System}",
        "image.pullPolicy=Sometimes",
    ):
        proc = delivery.helm(
            cluster,
            "template",
            "t",
            str(delivery.CHART),
            "--kube-version",
            "1.36.3",
            "--set",
            bad,
            check=False,
        )
        assert proc.returncode != 0, bad
        assert "values don't meet the specifications of the schema" in proc.stderr, proc.stderr


def cluster_role_verbs(cluster: cl.Cluster, *values: str) -> dict[str, set[str]]:
    """The verbs of the chart's ClusterRole and Role, by resource, rendered with ``values``."""
    sets = [a for v in values for a in ("--set", v)]
    args = ("template", "t", str(delivery.CHART), "--kube-version", "1.36.3", *sets)
    rendered = yaml.safe_load_all(delivery.helm(cluster, *args).stdout)
    verbs: dict[str, set[str]] = {}
    for obj in rendered:
        if obj and obj["kind"] in ("ClusterRole", "Role"):
            for rule in obj["rules"]:
                for resource in rule["resources"]:
                    verbs.setdefault(resource, set()).update(rule["verbs"])
    return verbs


def test_read_only_rbac_has_no_write_verb(cluster: cl.Cluster) -> None:
    writes = {"create", "update", "patch", "delete", "deletecollection"}
    default = cluster_role_verbs(cluster)
    assert default["services/status"] == {"patch"}  # the control: writes are there by default
    read_only = cluster_role_verbs(cluster, "config.readOnly=true")
    assert read_only, "no RBAC rendered"
    assert {r: v & writes for r, v in read_only.items() if v & writes} == {}
    assert read_only["services"] == {"get", "list", "watch"}
    env = delivery.helm(
        cluster, "template", "t", str(delivery.CHART), "--set", "config.readOnly=true"
    ).stdout
    assert '{name: HEADLESS_AUDITOR_READ_ONLY, value: "true"}' in env


def test_namespace_globs_reach_the_operator(cluster: cl.Cluster) -> None:
    rendered = delivery.helm(
        cluster,
        "template",
        "t",
        str(delivery.CHART),
        "--set",
        "config.namespaces={team-*,shop}",
        "--set",
        "config.excludeNamespaces={team-x*}",
    ).stdout
    assert '{name: HEADLESS_AUDITOR_NAMESPACES, value: "team-*,shop"}' in rendered
    assert '{name: HEADLESS_AUDITOR_EXCLUDE_NAMESPACES, value: "team-x*"}' in rendered


def test_a_release_gets_its_own_job(cluster: cl.Cluster) -> None:
    rendered = delivery.helm(
        cluster, "template", "team-a", str(delivery.CHART), "--set", "prometheusRule.enabled=true"
    ).stdout
    assert "headless-auditor.io/job: team-a-headless-auditor" in rendered
    assert 'absent(up{job="team-a-headless-auditor"} == 1)' in rendered
    default = delivery.helm(
        cluster,
        "template",
        "headless-auditor",
        str(delivery.CHART),
        "--set",
        "prometheusRule.enabled=true",
    ).stdout
    assert 'absent(up{job="headless-auditor"} == 1)' in default  # unchanged for that name


def test_deploy_manifests_are_the_chart_rendering() -> None:
    proc = subprocess.run(
        [str(cl.ROOT / "hack" / "manifests.sh"), "--check"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_every_rendered_object_passes_server_side_dry_run(
    cluster: cl.Cluster, namespace: str
) -> None:
    rendered = delivery.helm(
        cluster,
        "template",
        "dry",
        str(delivery.CHART),
        "-n",
        namespace,
        "--kube-version",
        "1.36.3",
        "--include-crds",
        # Every toggle whose objects this API server knows (ServiceMonitor and PrometheusRule
        # need the Prometheus Operator's CRDs; helm lint covers them).
        "--set",
        "rulesConfigMap.enabled=true",
        "--set",
        "grafanaDashboard.enabled=true",
    ).stdout
    out = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=rendered)
    kinds = {line.split("/")[0] for line in out.splitlines()}
    assert kinds >= {
        "serviceaccount",
        "clusterrole.rbac.authorization.k8s.io",
        "clusterrolebinding.rbac.authorization.k8s.io",
        "role.rbac.authorization.k8s.io",
        "rolebinding.rbac.authorization.k8s.io",
        "service",
        "deployment.apps",
        "pod",
        "customresourcedefinition.apiextensions.k8s.io",
        "configmap",
    }, out
    # deploy/ creates its own namespace, which a dry run cannot: point it at the test's.
    plain = (cl.ROOT / "deploy" / "headless-auditor.yaml").read_text()
    objects = plain.split("\n---\n")[1:]
    assert "kind: Namespace" in plain.split("\n---\n")[0]
    moved = "\n---\n".join(objects).replace(
        "namespace: headless-auditor", f"namespace: {namespace}"
    )
    out = cluster.kubectl("apply", "--dry-run=server", "-f", "-", stdin=moved)
    assert "deployment.apps/headless-auditor created (server dry run)" in out, out


@pytest.fixture
def release(cluster: cl.Cluster, crds: None, namespace: str):
    name = f"headless-auditor-{namespace[-5:]}"  # contains the chart name: fullname == name
    values = [
        "--set",
        f"config.dnsServers={{{','.join(cluster.dns_servers)}}}",
        "--set",
        "config.sweepInterval=2",
        "--set",
        f"config.namespaces={{{namespace}}}",
    ]
    delivery.helm(
        cluster,
        "install",
        name,
        str(delivery.CHART),
        "-n",
        namespace,
        "--wait",
        "--timeout",
        "2m",
        *values,
    )
    yield name
    delivery.helm(cluster, "uninstall", name, "-n", namespace, "--wait", check=False)


def test_helm_install_then_uninstall(cluster: cl.Cluster, namespace: str, release: str) -> None:
    deployment = cluster.get("deployment", release, namespace)
    assert deployment["status"].get("availableReplicas") == 1
    notes = delivery.helm(cluster, "get", "notes", release, "-n", namespace).stdout
    assert "kubectl get hsa -A" in notes
    assert "kubectl wait --for=condition=headless-auditor.io/DNSConsistent" in notes
    delivery.helm(cluster, "uninstall", release, "-n", namespace, "--wait")
    left = cluster.kubectl(
        "get",
        "deployment,serviceaccount,service",
        "-n",
        namespace,
        "-l",
        f"app.kubernetes.io/instance={release}",
        "-o",
        "name",
    )
    assert left.strip() == ""
    assert cluster.kubectl("get", "clusterrole", release, check=False) == ""


def test_operator_as_the_chart_service_account(
    cluster: cl.Cluster, namespace: str, release: str, tmp_path
) -> None:
    """RBAC proof: the chart's ServiceAccount is enough, and not more than needed."""
    account, release_namespace = release, namespace

    def can(verb: str, resource: str, namespace: str = namespace, sub: str = "") -> bool:
        return delivery.can_i(
            cluster,
            account,
            verb,
            resource,
            namespace=namespace,
            account_namespace=release_namespace,
            subresource=sub,
        )

    for verb in ("get", "list", "watch"):
        assert not can(verb, "secrets")
        assert not can(verb, "secrets", namespace="kube-system")
    for verb in ("patch", "update", "delete", "create"):
        assert not can(verb, "services")
    assert not can("update", "services", sub="status")
    assert can("patch", "services", sub="status")
    assert can("get", "configmaps/coredns", namespace="kube-system")
    assert not can("get", "configmaps/other", namespace="kube-system")
    assert not can("list", "configmaps", namespace="kube-system")
    assert not can("delete", "endpointslices.discovery.k8s.io")
    assert not can("patch", "statefulsets.apps")
    reports = "headlessserviceaudits.headless-auditor.io"
    assert can("list", reports)  # listed once at start...
    assert not can("watch", reports)  # ...not watched
    cluster.apply(workloads.nginx_web(), namespace)
    cl.wait_ready_endpoints(cluster, namespace, "nginx", 2)
    token = delivery.service_account_token(cluster, namespace, account)
    kubeconfig = delivery.token_kubeconfig(cluster, token, tmp_path / "sa.kubeconfig")
    log = tmp_path / "operator.log"
    op = operator_proc.Operator(
        cluster,
        [namespace],
        log,
        dns_servers=list(cluster.dns_servers),
        extra_env={"KUBECONFIG": str(kubeconfig)},
    )
    try:

        def consistent() -> bool:
            body = cluster.get("service", "nginx", namespace)
            return any(
                c["type"] == DNS and c["status"] == "True"
                for c in body.get("status", {}).get("conditions", [])
            )

        poll.until(consistent, timeout=30, what="DNSConsistent written as the ServiceAccount")
        op.wait_sweeps(2)
        assert cluster.get("hsa", "nginx", namespace)["status"]["dnsState"] == "Consistent"
    finally:
        op.stop()
    text = log.read_text()
    assert "Forbidden" not in text, text[-3000:]
    assert " 403 " not in text, text[-3000:]


def test_pinned_helm_knows_its_version_and_a_current_kubernetes(cluster: cl.Cluster) -> None:
    version = delivery.helm(cluster, "version", "--template", "{{.Version}}").stdout
    assert version == "v3.21.4", version
    # No --kube-version: helm assumes the Kubernetes it was built for, which the chart's
    # kubeVersion constraint (>=1.28) must accept, as it does for a released helm.
    rendered = delivery.helm(cluster, "template", "t", str(delivery.CHART)).stdout
    assert "kind: Deployment" in rendered
