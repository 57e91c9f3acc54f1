"""``headless-auditor run`` start-up: a metrics address that cannot be bound is one line and exit 2.

The entry point runs as a real process (``python -m headless_auditor.cli run``) against a
kubeconfig that does not exist: the metrics server is bound before any login, so the bind error is
what it reports, with no traceback. Nothing here reaches a cluster.
"""

from __future__ import annotations

import collections.abc
import json
import os
import pathlib
import socket
import subprocess
import sys

import prometheus_client as prom
import pytest

from headless_auditor import config
from headless_auditor.controller import runner, server
from headless_auditor.kube import client

ADVICE = (
    "; choose another port with --metrics-port or HEADLESS_AUDITOR_METRICS_PORT"
    " (or another address with --metrics-address / HEADLESS_AUDITOR_METRICS_ADDRESS)"
)
UNASSIGNED = "192.0.2.1"  # TEST-NET-1 (RFC 5737): on no host's interfaces


@pytest.fixture
def taken_port() -> collections.abc.Iterator[int]:
    """A free 127.0.0.1 port, held (listening) by this test while it runs."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        held.listen()
        yield held.getsockname()[1]


def run_operator(tmp_path: pathlib.Path, *argv: str) -> subprocess.CompletedProcess[str]:
    environ = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(config.PREFIX)
        and name not in ("KUBECONFIG", "KUBERNETES_SERVICE_HOST")
    }
    return subprocess.run(
        [
            *(sys.executable, "-m", "headless_auditor.cli", "run"),
            *("--kubeconfig", str(tmp_path / "no-such-kubeconfig")),
            *argv,
        ],
        env=environ,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_a_taken_metrics_port_is_one_line_and_exit_2(
    tmp_path: pathlib.Path, taken_port: int
) -> None:
    done = run_operator(
        tmp_path, "--metrics-address", "127.0.0.1", "--metrics-port", str(taken_port)
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr + done.stdout
    assert done.stdout == ""
    [line] = done.stderr.splitlines()
    assert line.endswith(
        f" ERROR headless_auditor: cannot serve metrics on 127.0.0.1:{taken_port}:"
        f" address already in use{ADVICE}"
    )


def test_in_json_the_one_line_is_one_json_object(tmp_path: pathlib.Path, taken_port: int) -> None:
    done = run_operator(
        tmp_path,
        *("--metrics-address", "127.0.0.1", "--metrics-port", str(taken_port)),
        *("--log-format", "json"),
    )
    assert done.returncode == 2
    [line] = done.stderr.splitlines()
    entry = json.loads(line)
    assert entry["level"] == "error"
    assert entry["message"] == (
        f"cannot serve metrics on 127.0.0.1:{taken_port}: address already in use{ADVICE}"
    )
    assert "exception" not in entry


@pytest.mark.parametrize(
    ("address", "reason"),
    [
        pytest.param("127.0.0.1", "address already in use", id="EADDRINUSE"),
        pytest.param(UNASSIGNED, "cannot assign requested address", id="EADDRNOTAVAIL"),
    ],
)
async def test_serve_raises_a_bind_error_naming_address_and_reason(
    taken_port: int, address: str, reason: str
) -> None:
    app = server.application(prom.CollectorRegistry(), lambda: None)
    with pytest.raises(server.BindError) as caught:
        await server.serve(app, address, taken_port)
    assert str(caught.value) == f"cannot serve metrics on {address}:{taken_port}: {reason}"
    assert (caught.value.address, caught.value.port) == (address, taken_port)


def test_an_ipv6_address_is_bracketed() -> None:
    error = server.BindError("::1", 8080, "address already in use")
    assert str(error) == "cannot serve metrics on [::1]:8080: address already in use"


async def test_the_port_is_bound_before_any_login_or_watch(
    monkeypatch: pytest.MonkeyPatch, taken_port: int
) -> None:
    def no_login(*args: object, **kwargs: object) -> client.Kube:
        raise AssertionError("connected to the cluster before binding the metrics port")

    monkeypatch.setattr(client.Kube, "connect", no_login)
    monkeypatch.setattr(runner, "_operate", no_login)
    settings = config.Settings(metrics_address="127.0.0.1", metrics_port=taken_port)
    with pytest.raises(server.BindError):
        await runner.run(settings, kubeconfig=None, in_cluster=False)
