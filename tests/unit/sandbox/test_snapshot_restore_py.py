"""SnapStart's hooks module (AWS's snapshot-restore-py API) and the runtime's hook runners."""

from __future__ import annotations

import os
import random
import signal
import tempfile
import time
import uuid
from typing import Any

import pytest

import sandbox.runtimes.python.snapshot_restore_py as hooks
import sandbox.runtimes.python.snapstart as snapstart


@pytest.fixture(autouse=True)
def empty_registries(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(hooks, "_before_snapshot_hooks", [])
    monkeypatch.setattr(hooks, "_after_restore_hooks", [])


def test_a_bare_decorator_registers_the_function_and_hands_it_back() -> None:
    @hooks.register_before_snapshot
    def before() -> int:
        return 1

    @hooks.register_after_restore
    def after() -> int:
        return 2

    assert (before(), after()) == (1, 2)  # still the functions themselves
    assert hooks.get_before_snapshot() == [(before, (), {})]
    assert hooks.get_after_restore() == [(after, (), {})]


def test_a_plain_call_registers_with_arguments() -> None:
    def f(*args: Any, **kwargs: Any) -> None: ...

    assert hooks.register_before_snapshot(f, 1) is f
    assert hooks.register_after_restore(f, 2, arg1="Lambda", arg2="SnapStart") is f
    assert hooks.get_before_snapshot() == [(f, (1,), {})]
    assert hooks.get_after_restore() == [(f, (2,), {"arg1": "Lambda", "arg2": "SnapStart"})]


def test_the_module_offers_awss_names() -> None:
    assert hooks.__version__ == "1.0.0"
    assert sorted(hooks.__all__) == ["register_after_restore", "register_before_snapshot"]


def test_before_snapshot_hooks_run_last_registered_first_and_once() -> None:
    ran: list[str] = []
    hooks.register_before_snapshot(ran.append, "a")
    hooks.register_before_snapshot(ran.append, "b")
    hooks.register_before_snapshot(lambda *, x: ran.append(x), x="c")
    snapstart.run_before_snapshot()
    assert ran == ["c", "b", "a"]
    assert hooks.get_before_snapshot() == []  # taken off as they run, as awslambdaric does


def test_after_restore_hooks_run_in_registration_order() -> None:
    ran: list[str] = []
    hooks.register_after_restore(ran.append, "a")
    hooks.register_after_restore(lambda *, x: ran.append(x), x="b")
    snapstart.run_after_restore(5.0)
    assert ran == ["a", "b"]


def test_an_after_restore_hook_past_the_limit_is_interrupted_and_the_timer_cleared() -> None:
    def slow() -> None:
        try:
            time.sleep(5)
        except Exception:
            pytest.fail("the interruption is not an Exception")

    hooks.register_after_restore(slow)
    began = time.monotonic()
    with pytest.raises(snapstart.AfterRestoreTimeout, match="within 10 seconds"):
        snapstart.run_after_restore(0.05)
    assert time.monotonic() - began < 2
    assert signal.getitimer(signal.ITIMER_REAL) == (0.0, 0.0)
    assert signal.getsignal(signal.SIGALRM) is signal.SIG_DFL


def test_make_unique_again_renews_what_python_keeps_per_process(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(uuid, "_node", 1234)
    monkeypatch.setattr(uuid, "_generate_time_safe", uuid._generate_time_safe)  # type: ignore[attr-defined]
    monkeypatch.setattr(tempfile, "_name_sequence", tempfile._get_candidate_names())  # type: ignore[attr-defined]
    state = random.getstate()
    snapstart.make_unique_again()
    assert random.getstate() != state
    assert uuid._node is None  # type: ignore[attr-defined]
    assert uuid._generate_time_safe is None  # type: ignore[attr-defined]
    assert uuid.uuid1().node != 1234
    assert tempfile._name_sequence is None  # type: ignore[attr-defined]


def test_apply_environment_sets_and_removes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SNAP_OLD", "x")
    monkeypatch.delenv("SNAP_NEW", raising=False)
    snapstart.apply_environment({"SNAP_NEW": "y"}, ["SNAP_OLD", "SNAP_NEVER_SET"])
    assert os.environ.get("SNAP_OLD") is None
    assert os.environ["SNAP_NEW"] == "y"
    monkeypatch.delenv("SNAP_NEW")
