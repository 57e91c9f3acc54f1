"""cli: ``headless-auditor check`` from argv to exit code, with a fake cluster and a twin prober.

Every test runs with the ``HEADLESS_AUDITOR_*``, ``KUBECONFIG`` and ``KUBERNETES_SERVICE_HOST``
variables removed and with ``Kube.connect`` replaced, so nothing here can reach a real cluster.
"""

from __future__ import annotations

import json
import logging
import os
from typing import Any

import builders
import pytest

from headless_auditor import cli, config, probe
from headless_auditor.check import render
from headless_auditor.core import corefile, expected, records, snapshots
from headless_auditor.kube import client, errors, gather

SERVER = records.DNSServer("127.0.0.1", 1053)
COREDNS = "/api/v1/namespaces/kube-system/configmaps/coredns"


FakeKube = builders.FakeKube


def nginx_cluster(
    namespace: str = "default", corefile_text: str = builders.KUBEADM_COREFILE
) -> FakeKube:
    """The nginx example in ``namespace``, listed at the namespaced or the cluster-wide paths."""
    scope = f"/namespaces/{namespace}"
    items = {
        "/api/v1{}/services": [builders.service_api()],
        "/apis/discovery.k8s.io/v1{}/endpointslices": [builders.slice_api()],
        "/apis/apps/v1{}/statefulsets": [builders.statefulset_api()],
    }
    collections = {path.format(scope): objs for path, objs in items.items()}
    collections |= {path.format(""): objs for path, objs in items.items()}
    return FakeKube({COREDNS: {"data": {"Corefile": corefile_text}}}, collections)


def healthy_answers() -> dict[records.Question, records.Answer]:
    """What CoreDNS should answer for the nginx example."""
    options = corefile.parse_corefile(builders.KUBEADM_COREFILE)
    [snapshot] = snapshots.snapshots(
        [builders.service_api()], [builders.slice_api()], [builders.statefulset_api()], options
    )
    return expected.expected_answers(snapshot, "cluster.local")


@pytest.fixture(autouse=True)
def isolated(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in list(os.environ):
        if name.startswith(config.PREFIX):
            monkeypatch.delenv(name)
    monkeypatch.delenv("KUBECONFIG", raising=False)
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST", raising=False)

    def no_cluster(*args: object, **kwargs: object) -> client.Kube:
        raise AssertionError("this test must not connect to a cluster")

    def no_prober(*args: object, **kwargs: object) -> probe.DnsPythonProber:
        raise AssertionError("this test must not send DNS queries")

    monkeypatch.setattr(client.Kube, "connect", no_cluster)
    monkeypatch.setattr(client, "current_namespace", lambda kubeconfig: "from-kubeconfig")
    monkeypatch.setattr(probe, "DnsPythonProber", no_prober)


def connect_to(monkeypatch: pytest.MonkeyPatch, kube: FakeKube) -> list[tuple[Any, ...]]:
    """``Kube.connect`` returns ``kube``; the list collects (kubeconfig, in_cluster) per call."""
    calls: list[tuple[Any, ...]] = []

    def connect(kubeconfig: str | None = None, *, in_cluster: bool = False) -> FakeKube:
        calls.append((kubeconfig, in_cluster))
        return kube

    monkeypatch.setattr(client.Kube, "connect", connect)
    return calls


def twin_prober(
    monkeypatch: pytest.MonkeyPatch, prober: probe.InMemoryProber
) -> list[probe.ProbeSettings]:
    """``DnsPythonProber`` hands out ``prober``; the list collects the settings it gets."""
    built: list[probe.ProbeSettings] = []

    class Twin:
        def __init__(self, settings: probe.ProbeSettings, on_query: object = None) -> None:
            built.append(settings)

        async def __aenter__(self) -> probe.InMemoryProber:
            return prober

        async def __aexit__(self, *exc_info: object) -> None:
            return None

    monkeypatch.setattr(probe, "DnsPythonProber", Twin)
    return built


def error_lines(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]


# -- configuration errors ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        pytest.param("HEADLESS_AUDITOR_DNS_TIMEOUT", "abc", id="timeout-not-a-number"),
        pytest.param("HEADLESS_AUDITOR_DNS_TIMEOUT", "0", id="timeout-zero"),
        pytest.param("HEADLESS_AUDITOR_DNS_SERVERS", "kube-dns:53", id="server-not-an-ip"),
        pytest.param("HEADLESS_AUDITOR_GRACE_SECONDS", "-1", id="negative-grace"),
        pytest.param("HEADLESS_AUDITOR_CLUSTER_DOMAIN", "bad domain", id="bad-domain"),
        pytest.param("HEADLESS_AUDITOR_AUDIT_CONCURRENCY", "many", id="concurrency"),
    ],
)
def test_bad_environment_value_exits_2_naming_the_variable(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    variable: str,
    value: str,
) -> None:
    monkeypatch.setenv(variable, value)
    assert cli.main(["check", "-A"]) == render.EXIT_CANNOT_AUDIT
    [message] = error_lines(caplog)
    assert message.startswith("configuration: ")
    assert f"{variable}={value!r}" in message


def test_bad_flag_value_names_the_flag(caplog: pytest.LogCaptureFixture) -> None:
    assert cli.main(["check", "-A", "--grace-seconds", "soon"]) == render.EXIT_CANNOT_AUDIT
    [message] = error_lines(caplog)
    assert "--grace-seconds='soon'" in message


def test_flag_overrides_a_bad_environment_value(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("HEADLESS_AUDITOR_DNS_TIMEOUT", "abc")
    kube = FakeKube()  # no kube-dns: check stops after reading the cluster
    connect_to(monkeypatch, kube)
    assert cli.main(["check", "-A", "--dns-timeout", "1.5"]) == render.EXIT_CANNOT_AUDIT
    assert not any("configuration" in m for m in error_lines(caplog))
    assert kube.paths  # it got past the configuration


# -- arguments ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        pytest.param(["check", "-n", "a", "-A"], "not allowed with", id="namespace-and-all"),
        pytest.param(["check", "-A", "-o", "yaml"], "invalid choice", id="bad-output"),
        pytest.param([], "required", id="no-command"),
        pytest.param(["check", "--bogus"], "unrecognized", id="unknown-flag"),
    ],
)
def test_usage_errors_exit_2(
    argv: list[str], complaint: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as exit_info:
        cli.main(argv)
    assert exit_info.value.code == 2
    assert complaint in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "given"),
    [
        pytest.param(["check"], {}, id="nothing-set"),
        pytest.param(
            ["check", "--dns-server", "10.96.0.10", "--dns-server", "[fd00::a]:5353"],
            {"dns_servers": "10.96.0.10,[fd00::a]:5353"},
            id="servers-joined",
        ),
        pytest.param(
            ["check", "--cluster-domain", "corp.internal", "--grace-seconds", "0"],
            {"cluster_domain": "corp.internal", "grace_seconds": "0"},
            id="zone-and-grace",
        ),
        pytest.param(["check", "--dns-timeout", "3"], {"dns_timeout": "3"}, id="timeout"),
        pytest.param(["check", "-n", "team-a"], {}, id="scope-is-not-a-setting"),
    ],
)
def test_flags(argv: list[str], given: dict[str, str]) -> None:
    """Given flags become raw strings under their config field; every other field is None."""
    flags = cli._flags(cli._parser().parse_args(argv))
    assert set(flags) <= set(config.PARSERS)
    assert {field: value for field, value in flags.items() if value is not None} == given


def test_dns_server_flags_become_settings() -> None:
    args = cli._parser().parse_args(
        ["check", "--dns-server", "10.96.0.10", "--dns-server", "[fd00::a]:5353"]
    )
    settings = config.load({"HEADLESS_AUDITOR_DNS_SERVERS": "192.0.2.1:53"}, cli._flags(args))
    assert settings.dns_servers == (
        records.DNSServer("10.96.0.10", 53),
        records.DNSServer("fd00::a", 5353),
    )


def test_without_dns_server_flags_the_environment_counts() -> None:
    args = cli._parser().parse_args(["check"])
    settings = config.load({"HEADLESS_AUDITOR_DNS_SERVERS": "192.0.2.1:5353"}, cli._flags(args))
    assert settings.dns_servers == (records.DNSServer("192.0.2.1", 5353),)


# -- the cluster -------------------------------------------------------------------------------


def test_unreachable_cluster_exits_2_with_a_clear_message(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    def connect(kubeconfig: str | None = None, *, in_cluster: bool = False) -> client.Kube:
        raise errors.ClusterUnreachableError("no cluster credentials: Invalid kube-config file")

    monkeypatch.setattr(client.Kube, "connect", connect)
    assert cli.main(["check", "-A"]) == render.EXIT_CANNOT_AUDIT
    assert error_lines(caplog) == [
        "cannot read the cluster: no cluster credentials: Invalid kube-config file"
    ]


def test_api_error_while_listing_exits_2(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    class ForbiddenKube(FakeKube):
        def list(self, path: str, **query: str) -> list[dict[str, Any]]:
            raise errors.ApiError(403, "Forbidden", f"cannot list {path}")

    connect_to(monkeypatch, ForbiddenKube())
    assert cli.main(["check", "-n", "default"]) == render.EXIT_CANNOT_AUDIT
    [message] = error_lines(caplog)
    assert message.startswith("cannot read the cluster: 403 Forbidden: cannot list /api/v1/")


@pytest.mark.parametrize(
    ("kubeconfig", "environ", "in_cluster"),
    [
        pytest.param(None, {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, True, id="in-a-pod"),
        pytest.param(None, {}, False, id="workstation"),
        pytest.param(
            None,
            {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBECONFIG": "/k"},
            False,
            id="kubeconfig-variable-wins",
        ),
        pytest.param(
            "/k", {"KUBERNETES_SERVICE_HOST": "10.96.0.1"}, False, id="kubeconfig-flag-wins"
        ),
    ],
)
def test_connect_in_cluster_only_without_kubeconfig(
    monkeypatch: pytest.MonkeyPatch,
    kubeconfig: str | None,
    environ: dict[str, str],
    in_cluster: bool,
) -> None:
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    calls = connect_to(monkeypatch, FakeKube())
    cli._connect(kubeconfig)
    assert calls == [(kubeconfig, in_cluster)]


def test_no_dns_servers_exits_2(
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    connect_to(monkeypatch, nginx_cluster())  # no kube-dns Service or slices
    assert cli.main(["check", "-n", "default"]) == render.EXIT_CANNOT_AUDIT
    [message] = error_lines(caplog)
    assert "no DNS servers" in message
    assert "--dns-server" in message
    assert capsys.readouterr().out == ""


# -- whole checks ------------------------------------------------------------------------------


def test_healthy_check_as_json(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    kube = nginx_cluster()
    calls = connect_to(monkeypatch, kube)
    prober = probe.InMemoryProber({SERVER: healthy_answers()})
    twin_prober(monkeypatch, prober)
    code = cli.main(
        [
            "check",
            "-n",
            "default",
            "-o",
            "json",
            "--dns-server",
            SERVER.address,
            "--kubeconfig",
            "/k",
        ]
    )
    document = json.loads(capsys.readouterr().out)
    assert code == render.EXIT_OK
    assert calls == [("/k", False)]
    assert document["exitCode"] == 0
    assert document["zone"] == "cluster.local"
    assert document["servers"] == [SERVER.address]
    assert document["graceSeconds"] == 5.0  # kubeadm: no cache for the cluster zone
    [service] = document["services"]
    assert (service["namespace"], service["name"]) == ("default", "nginx")
    assert service["dns"]["state"] == "Consistent"
    assert [p["pod"] for p in service["podNameProblems"]] == ["web-2"]
    assert [server for server, _questions in prober.asked] == [SERVER]
    assert "/api/v1/namespaces/default/services" in kube.paths


def test_inconsistent_check_as_table(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    connect_to(monkeypatch, nginx_cluster())
    twin_prober(monkeypatch, probe.InMemoryProber())  # NXDOMAIN for every name
    code = cli.main(["check", "-n", "default", "--dns-server", SERVER.address])
    out = capsys.readouterr().out
    assert code == render.EXIT_PROBLEMS
    header, row = out.splitlines()[:2]
    assert header.split()[0] == "NAMESPACE"
    # the real clock decides whether the fixture's last change is still within grace
    assert row.split()[:3] in (
        ["default", "nginx", "Inconsistent"],
        ["default", "nginx", "Converging"],
    )
    assert "default/nginx:" in out


def test_dead_server_check_exits_2(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    connect_to(monkeypatch, nginx_cluster())
    twin_prober(monkeypatch, probe.InMemoryProber(failures={SERVER: records.Outcome.TIMEOUT}))
    code = cli.main(["check", "-n", "default", "-o", "json", "--dns-server", SERVER.address])
    document = json.loads(capsys.readouterr().out)
    assert code == render.EXIT_CANNOT_AUDIT == document["exitCode"]
    assert document["services"][0]["dns"]["state"] == "Unknown"


@pytest.mark.parametrize(
    ("argv", "path"),
    [
        pytest.param(["-n", "team-a"], "/api/v1/namespaces/team-a/services", id="namespace"),
        pytest.param(["-A"], "/api/v1/services", id="all-namespaces"),
        pytest.param([], "/api/v1/namespaces/from-kubeconfig/services", id="context-namespace"),
    ],
)
def test_scope_of_the_check(
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    argv: list[str],
    path: str,
) -> None:
    kube = FakeKube()
    connect_to(monkeypatch, kube)
    twin_prober(monkeypatch, probe.InMemoryProber())
    assert cli.main(["check", *argv, "--dns-server", SERVER.address]) == render.EXIT_OK
    assert path in kube.paths
    assert "(no headless Services" in capsys.readouterr().out


def test_settings_reach_the_prober_and_the_context(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("HEADLESS_AUDITOR_DNS_RETRIES", "0")
    monkeypatch.setenv("HEADLESS_AUDITOR_DNS_CONCURRENCY", "7")
    connect_to(monkeypatch, nginx_cluster(corefile_text=builders.OLD_KUBEADM_COREFILE))
    built = twin_prober(monkeypatch, probe.InMemoryProber())
    argv = ["check", "-A", "-o", "json", "--dns-server", SERVER.address, "--dns-timeout", "0.5"]
    cli.main([*argv, "--cluster-domain", "Corp.Internal.", "--grace-seconds", "0"])
    document = json.loads(capsys.readouterr().out)
    assert built == [probe.ProbeSettings(timeout=0.5, retries=0, max_in_flight=7)]
    assert document["zone"] == "corp.internal"
    assert document["graceSeconds"] == 0.0


def test_grace_from_the_live_corefile(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    connect_to(monkeypatch, nginx_cluster(corefile_text=builders.OLD_KUBEADM_COREFILE))
    twin_prober(monkeypatch, probe.InMemoryProber())
    cli.main(["check", "-A", "-o", "json", "--dns-server", SERVER.address])
    assert json.loads(capsys.readouterr().out)["graceSeconds"] == 35.0  # cache 30 + 5 s slack


def test_gather_paths_match_fake_cluster() -> None:
    """Guards the fixture: the fake cluster serves the paths gather really asks for."""
    kube = nginx_cluster("team-b")
    objects = gather.objects(kube, "team-b")  # type: ignore[arg-type]
    assert [len(objects.services), len(objects.slices), len(objects.statefulsets)] == [1, 1, 1]
