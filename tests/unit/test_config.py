"""Configuration: defaults, environment, flags over environment, errors naming the variable."""

from __future__ import annotations

import pytest

from headless_auditor import config
from headless_auditor.core import records


def test_defaults_work_without_any_variable() -> None:
    settings = config.load({})
    assert settings.dns_servers == ()
    assert settings.cluster_domain == ""
    assert settings.namespaces == ()
    assert settings.sweep_interval == 60.0
    assert settings.log_format == "text"


def test_json_logs_by_default_in_a_cluster() -> None:
    assert config.load({"KUBERNETES_SERVICE_HOST": "10.96.0.1"}).log_format == "json"


def test_environment_is_parsed() -> None:
    settings = config.load(
        {
            "HEADLESS_AUDITOR_DNS_SERVERS": "127.0.10.1:1053, [::1]:5353,127.0.10.2",
            "HEADLESS_AUDITOR_CLUSTER_DOMAIN": "Cluster.Local.",
            "HEADLESS_AUDITOR_NAMESPACES": "default,team-a",
            "HEADLESS_AUDITOR_SWEEP_INTERVAL": "15",
            "HEADLESS_AUDITOR_GRACE_SECONDS": "0",
            "HEADLESS_AUDITOR_DNS_CONCURRENCY": "8",
        }
    )
    assert settings.dns_servers == (
        records.DNSServer("127.0.10.1", 1053),
        records.DNSServer("::1", 5353),
        records.DNSServer("127.0.10.2", 53),
    )
    assert settings.cluster_domain == "cluster.local"
    assert settings.namespaces == ("default", "team-a")
    assert settings.sweep_interval == 15.0
    assert settings.grace_seconds == 0.0
    assert settings.dns_concurrency == 8


def test_flags_win_over_environment() -> None:
    settings = config.load(
        {"HEADLESS_AUDITOR_SWEEP_INTERVAL": "15"}, {"sweep_interval": "5", "namespaces": None}
    )
    assert settings.sweep_interval == 5.0


@pytest.mark.parametrize(
    ("variable", "value"),
    [
        ("HEADLESS_AUDITOR_DNS_SERVERS", "coredns:53"),
        ("HEADLESS_AUDITOR_DNS_SERVERS", "127.0.0.1:70000"),
        ("HEADLESS_AUDITOR_SWEEP_INTERVAL", "-1"),
        ("HEADLESS_AUDITOR_SWEEP_INTERVAL", "soon"),
        ("HEADLESS_AUDITOR_DNS_CONCURRENCY", "0"),
        ("HEADLESS_AUDITOR_NAMESPACES", "Default"),
        ("HEADLESS_AUDITOR_LOG_FORMAT", "xml"),
        ("HEADLESS_AUDITOR_METRICS_PORT", "0"),
        ("HEADLESS_AUDITOR_GRACE_SECONDS", "nan"),
        ("HEADLESS_AUDITOR_READ_ONLY", "maybe"),
        ("HEADLESS_AUDITOR_EXCLUDE_NAMESPACES", "kube system"),
    ],
)
def test_bad_values_name_the_variable_and_the_value(variable: str, value: str) -> None:
    with pytest.raises(config.ConfigError) as error:
        config.load({variable: value})
    assert variable in str(error.value)
    assert repr(value) in str(error.value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [("true", True), ("True", True), ("1", True), ("yes", True), ("false", False), ("0", False)],
)
def test_read_only_is_a_boolean(value: str, expected: bool) -> None:
    assert config.load({"HEADLESS_AUDITOR_READ_ONLY": value}).read_only is expected
    assert config.Settings().read_only is False


def test_namespace_lists_take_globs() -> None:
    settings = config.load(
        {
            "HEADLESS_AUDITOR_NAMESPACES": "team-*,shop",
            "HEADLESS_AUDITOR_EXCLUDE_NAMESPACES": "team-[xy]*",
        }
    )
    assert settings.namespaces == ("team-*", "shop")
    assert settings.audits_namespace("team-a")
    assert settings.audits_namespace("shop")
    assert not settings.audits_namespace("team-x1")
    assert not settings.audits_namespace("default")


def test_bad_flag_names_the_flag() -> None:
    with pytest.raises(config.ConfigError, match=r"--sweep-interval='x'"):
        config.load({}, {"sweep_interval": "x"})


def test_describe_lists_every_setting() -> None:
    line = config.load({"HEADLESS_AUDITOR_DNS_SERVERS": "127.0.0.1:53"}).describe()
    assert "dns_servers=127.0.0.1:53" in line
    assert "sweep_interval=60.0" in line
    assert "dns_servers=discover" in config.load({}).describe()
