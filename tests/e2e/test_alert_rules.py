"""Issue 6 acceptance: promtool checks the shipped rules and runs their unit tests.

tests/promtool/alerts.test.yaml checks every alert on both sides of its `for:` boundary against
deploy/prometheus/rules.yaml, which the delivery tests prove equal to the chart's rendering.
"""

from __future__ import annotations

import subprocess

from tests.e2e import cluster as cl

RULES = cl.ROOT / "deploy" / "prometheus" / "rules.yaml"
TESTS = cl.ROOT / "tests" / "promtool" / "alerts.test.yaml"


def promtool(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["promtool", *args], capture_output=True, text=True, timeout=120, check=False
    )


def test_rules_are_valid() -> None:
    proc = promtool("check", "rules", str(RULES))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS: 6 rules found" in proc.stdout


def test_rule_unit_tests_pass() -> None:
    proc = promtool("test", "rules", str(TESTS))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "SUCCESS" in proc.stdout


def test_every_alert_has_severity_summary_description_and_runbook() -> None:
    import yaml  # noqa: PLC0415

    rules = yaml.safe_load(RULES.read_text())["groups"][0]["rules"]
    assert len(rules) == 6
    for rule in rules:
        assert rule["labels"]["severity"] in ("critical", "warning"), rule["alert"]
        assert set(rule["annotations"]) == {"summary", "description", "runbook_url"}
        assert rule["annotations"]["runbook_url"].endswith(f"/{rule['alert']}.md")
        assert (cl.ROOT / "docs" / "runbooks" / f"{rule['alert']}.md").is_file(), rule["alert"]
