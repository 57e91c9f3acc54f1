"""kopf_fixes: the readiness set wakes its waiters only when its state changes."""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import pathlib
import re
from collections.abc import Callable, Iterable
from typing import Any

import pytest
from kopf._cogs.aiokits import aiotoggles

from headless_auditor.controller import kopf_fixes

ORIGINAL = {
    name: getattr(aiotoggles.ToggleSet, name)
    for name in ("make_toggle", "drop_toggle", "drop_toggles")
}


@pytest.fixture(params=["kopf as released", "fixed"])
def fixed(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> bool:
    for name, method in ORIGINAL.items():
        monkeypatch.setattr(aiotoggles.ToggleSet, name, method)
    if request.param == "fixed":
        assert kopf_fixes.apply()
    return bool(request.param == "fixed")


class Counting:
    """An aggregate function (all/any) that counts how often the set's state is evaluated."""

    def __init__(self, fn: Callable[[Iterable[bool]], bool]) -> None:
        self.fn, self.calls = fn, 0

    def __call__(self, states: Iterable[bool]) -> bool:
        self.calls += 1
        return self.fn(states)


async def test_indexing_many_objects_wakes_the_waiters_once(fixed: bool) -> None:
    # kopf's pattern: a toggle per listed object, a worker per object that drops its toggle once
    # indexed and then waits for the whole set to turn on.
    objects = 300
    fn = Counting(all)
    ready = aiotoggles.ToggleSet(fn)
    blocker = await ready.make_toggle(name="listing")

    async def worker(toggle: aiotoggles.Toggle) -> None:
        await ready.drop_toggle(toggle)
        await ready.wait_for(True)

    workers = []
    for i in range(objects):
        toggle = await ready.make_toggle(name=f"object {i}")
        workers.append(asyncio.create_task(worker(toggle)))
        await asyncio.sleep(0)  # each worker runs and waits before the next object is listed
    assert not any(w.done() for w in workers)
    await ready.drop_toggle(blocker)
    await asyncio.wait_for(asyncio.gather(*workers), 10)
    if fixed:
        assert fn.calls < 10 * objects  # a few checks per object
    else:
        assert fn.calls > objects * objects // 4  # what the fix removes: every waiter, every time


@pytest.mark.parametrize("aggregate", [all, any])
async def test_waiters_still_see_every_change_of_the_set(
    fixed: bool, aggregate: Callable[[Iterable[bool]], bool]
) -> None:
    toggles = aiotoggles.ToggleSet(aggregate)
    a = await toggles.make_toggle(False, name="a")
    on = asyncio.create_task(toggles.wait_for(True))
    await asyncio.sleep(0)
    if aggregate is any:
        b = await toggles.make_toggle(True, name="b")  # adding an "on" toggle turns `any` on
    else:
        await toggles.drop_toggle(a)  # dropping the last "off" toggle turns `all` on
        b = await toggles.make_toggle(True, name="b")
    await asyncio.wait_for(on, 5)
    off = asyncio.create_task(toggles.wait_for(False))
    await asyncio.sleep(0)
    if aggregate is any:
        await toggles.drop_toggles([b])  # only "off" toggles left
    else:
        await toggles.make_toggle(False, name="c")  # adding an "off" toggle turns `all` off
    await asyncio.wait_for(off, 5)
    await b.turn_to(False)  # a toggle's own change still wakes its set's waiters
    assert toggles.is_off()


def test_another_kopf_release_is_left_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, method in ORIGINAL.items():
        monkeypatch.setattr(aiotoggles.ToggleSet, name, method)
    assert not kopf_fixes.apply("9.9.9")
    current: dict[str, Any] = {n: getattr(aiotoggles.ToggleSet, n) for n in ORIGINAL}
    assert current == ORIGINAL


def test_another_kopf_release_is_told_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name, method in ORIGINAL.items():
        monkeypatch.setattr(aiotoggles.ToggleSet, name, method)
    assert not kopf_fixes.apply("9.9.9")
    [record] = [r for r in caplog.records if r.name == kopf_fixes.__name__]
    assert record.levelno == logging.WARNING
    assert "9.9.9" in record.getMessage()


def test_moved_internals_leave_kopf_unchanged_with_a_warning(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    for name, method in ORIGINAL.items():
        monkeypatch.setattr(aiotoggles.ToggleSet, name, method)
    monkeypatch.delattr(aiotoggles.ToggleSet, "drop_toggles")
    assert not kopf_fixes.apply()
    assert aiotoggles.ToggleSet.make_toggle is ORIGINAL["make_toggle"]
    assert any(r.levelno == logging.WARNING for r in caplog.records)
    monkeypatch.setattr(kopf_fixes, "PRIVATE_MODULE", "kopf._no_such_module")
    assert not kopf_fixes.apply()


def test_the_pinned_kopf_is_a_checked_release() -> None:
    """Fails when the lock files pin a kopf this fix was not read against: read the new
    release's ToggleSet, then add it to CHECKED (or drop the fix if upstream fixed it)."""
    root = pathlib.Path(__file__).resolve().parents[2]
    pins = {
        match
        for lock in ("requirements.lock", "requirements-runtime.lock", "pyproject.toml")
        for match in re.findall(r"\bkopf==([\w.]+)", (root / lock).read_text())
    }
    assert pins == {importlib.metadata.version("kopf")}
    assert pins <= set(kopf_fixes.CHECKED)
