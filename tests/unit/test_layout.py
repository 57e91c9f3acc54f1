"""The layout's rules that a linter does not check: size limits, a pure core, kopf kept private.

The import layers themselves are import-linter contracts in pyproject.toml (``make lint``).
"""

from __future__ import annotations

import ast
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "operator" / "headless_auditor"
CHECKED_TREES = (PACKAGE, ROOT / "hack")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 40


def modules() -> list[pathlib.Path]:
    return sorted(p for tree in CHECKED_TREES for p in tree.rglob("*.py"))


def ids(paths: list[pathlib.Path]) -> list[str]:
    return [str(p.relative_to(ROOT)) for p in paths]


@pytest.mark.parametrize("path", modules(), ids=ids(modules()))
def test_no_module_is_over_the_limit(path: pathlib.Path) -> None:
    lines = len(path.read_text().splitlines())
    assert lines <= MAX_MODULE_LINES, f"{lines} lines"


@pytest.mark.parametrize("path", modules(), ids=ids(modules()))
def test_no_function_is_over_the_limit(path: pathlib.Path) -> None:
    tree = ast.parse(path.read_text())
    long = {
        f"{node.name} (line {node.lineno}): {length} lines"
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and (length := (node.end_lineno or node.lineno) - node.lineno + 1) > MAX_FUNCTION_LINES
    }
    assert not long


IO_LIBRARIES = {"kopf", "kubernetes", "urllib3", "dns", "aiohttp", "prometheus_client"}
CORE = sorted(f"core.{p.stem}" for p in (PACKAGE / "core").glob("*.py") if p.stem != "__init__")
LIGHT = {
    **{name: IO_LIBRARIES for name in CORE},
    # the outputs and the rendering read audits: no prober, no client library, no kopf
    "sinks.conditions": IO_LIBRARIES,
    "sinks.events": IO_LIBRARIES,
    "sinks.report": IO_LIBRARIES,
    "sinks.metrics": IO_LIBRARIES - {"prometheus_client"},
    "check.render": IO_LIBRARIES,
}


@pytest.mark.parametrize("module", sorted(LIGHT))
def test_importing_a_pure_module_loads_no_io_library(module: str) -> None:
    """Checked in a fresh interpreter, where nothing else imported those libraries first."""
    code = (
        f"import sys, headless_auditor.{module}\n"
        "print(' '.join(sorted({m.split('.')[0] for m in sys.modules})))"
    )
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    loaded = set(run.stdout.split())
    assert "headless_auditor" in loaded
    assert not loaded & LIGHT[module]


@pytest.mark.parametrize("path", modules(), ids=ids(modules()))
def test_kopf_internals_are_never_imported_at_load_time(path: pathlib.Path) -> None:
    """A kopf release that moves its private modules must not stop the operator from starting:
    only kopf's public API is imported at module level (kopf_fixes imports its one private
    module lazily, behind a version check)."""
    tree = ast.parse(path.read_text())
    private = [
        ast.unparse(node)
        for node in tree.body
        if isinstance(node, ast.Import | ast.ImportFrom)
        and any(name.startswith("kopf._") for name in _imported(node))
    ]
    assert not private


def _imported(node: ast.Import | ast.ImportFrom) -> list[str]:
    if isinstance(node, ast.ImportFrom):
        return [node.module or ""]
    return [alias.name for alias in node.names]
