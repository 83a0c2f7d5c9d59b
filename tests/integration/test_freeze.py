"""Idle environments are frozen between invokes (`sandbox.freeze_idle`), on the real kernel.

The function starts a thread that counts in a /tmp file every 10 ms; the test reads that file
from the host through ``/proc/<pid>/root`` of a process in the sandbox's cgroup.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import FUNCTIONS, Daemon, wait_until

pytestmark = pytest.mark.privileged

CGROUP_ROOT = Path("/sys/fs/cgroup")

COUNTER = """
import os, threading, time

def _count():
    n = 0
    while True:
        n += 1
        with open("/tmp/counter.new", "w") as f:
            f.write(str(n))
        os.replace("/tmp/counter.new", "/tmp/counter")
        time.sleep(0.01)

_thread = None

def _read():
    try:
        with open("/tmp/counter") as f:
            return int(f.read() or 0)
    except FileNotFoundError:
        return 0

def handler(event, context):
    global _thread
    if _thread is None:
        _thread = threading.Thread(target=_count, daemon=True)
        _thread.start()
    before = _read()
    time.sleep(event.get("sleep", 0.05))
    return {"host": os.uname().nodename, "before": before, "after": _read()}
"""


def groups_of(daemon: Daemon, host: str) -> list[Path]:
    """The sandbox's group in every hierarchy (this host: v1 ones and the unified one)."""
    name = f"sb-{host.removeprefix('lambdalet-')}"
    return [p / name for p in CGROUP_ROOT.glob(f"*/{daemon.cgroup_parent}")] + [
        p / name for p in CGROUP_ROOT.glob(daemon.cgroup_parent)
    ]


def group_of(daemon: Daemon, host: str) -> Path:
    """Where the sandbox is frozen: its v2 group (cgroup.freeze) if any, else v1 freezer."""
    groups = groups_of(daemon, host)
    return next((g for g in groups if (g / "cgroup.freeze").exists()), groups[0])


def state(daemon: Daemon, host: str) -> str:
    group = group_of(daemon, host)
    if (group / "cgroup.freeze").exists():
        asked = (group / "cgroup.freeze").read_text().strip() == "1"
        done = "frozen 1" in (group / "cgroup.events").read_text()
        return ("FROZEN" if done else "FREEZING") if asked else "THAWED"
    return (group / "freezer.state").read_text().strip()


def counter(daemon: Daemon, host: str) -> int:
    pids = (group_of(daemon, host) / "cgroup.procs").read_text().split()
    for pid in pids:
        try:
            return int(Path(f"/proc/{pid}/root/tmp/counter").read_text() or 0)
        except (FileNotFoundError, ProcessLookupError, ValueError):
            continue
    raise AssertionError(f"no process of {host} shows /tmp/counter")


def invoke(daemon: Daemon, name: str, event: dict[str, float] | None = None) -> dict[str, object]:
    resp = daemon.invoke(name, event or {})
    assert resp.status == 200, resp.body
    body: dict[str, object] = json.loads(resp.body)
    return body


@pytest.fixture(scope="module")
def freezing(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    if not any((CGROUP_ROOT / p).exists() for p in ("freezer", "unified", "cgroup.controllers")):
        pytest.skip("no cgroup freezer on this host")
    d = daemon_factory()
    d.start()
    yield d
    d.stop()


@pytest.fixture(scope="module")
def not_freezing(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    d.start(sandbox_toml="freeze_idle = false")
    yield d
    d.stop()


def test_an_idle_environment_makes_no_progress_and_resumes(freezing: Daemon) -> None:
    assert freezing.create("counting", COUNTER).status == 201
    host = str(invoke(freezing, "counting")["host"])
    assert wait_until(lambda: state(freezing, host) == "FROZEN", 5), state(freezing, host)
    frozen_at = counter(freezing, host)
    time.sleep(0.5)
    assert counter(freezing, host) == frozen_at, "a frozen environment's thread kept counting"
    again = invoke(freezing, "counting", {"sleep": 0.1})
    assert again["host"] == host  # warm: the same environment, thawed
    assert state(freezing, host) == "THAWED"
    assert int(str(again["before"])) >= frozen_at
    assert int(str(again["after"])) > frozen_at + 3, again  # the thread runs again


def test_without_freeze_idle_the_thread_keeps_running(not_freezing: Daemon) -> None:
    assert not_freezing.create("counting", COUNTER).status == 201
    host = str(invoke(not_freezing, "counting")["host"])
    time.sleep(0.2)
    first = counter(not_freezing, host)
    time.sleep(0.5)
    assert counter(not_freezing, host) > first + 10
    assert state(not_freezing, host) == "THAWED"


def test_deleting_the_function_tears_a_frozen_environment_down(freezing: Daemon) -> None:
    assert freezing.create("deleted", COUNTER).status == 201
    host = str(invoke(freezing, "deleted")["host"])
    assert wait_until(lambda: state(freezing, host) == "FROZEN", 5)
    groups = groups_of(freezing, host)
    assert freezing.client.request("DELETE", f"{FUNCTIONS}/deleted").status == 204
    # Well inside teardown_timeout_s (10 s): a frozen v1 task would ignore SIGKILL until then.
    gone = wait_until(lambda: not any(g.exists() for g in groups), 3)
    assert gone, "the frozen environment outlived its function"


def test_a_timeout_after_a_thaw_still_kills_and_replaces(freezing: Daemon) -> None:
    assert freezing.create("slow", COUNTER, Timeout=1).status == 201
    host = str(invoke(freezing, "slow")["host"])
    assert wait_until(lambda: state(freezing, host) == "FROZEN", 5)
    resp = freezing.invoke("slow", {"sleep": 3})
    assert resp.status == 200
    assert resp.headers.get("x-amz-function-error") == "Unhandled"
    assert "Task timed out" in json.loads(resp.body)["errorMessage"]
    assert wait_until(lambda: not group_of(freezing, host).exists(), 5)
    fresh = invoke(freezing, "slow")
    assert fresh["host"] != host
    assert int(str(fresh["after"])) > 0  # the new environment's thread counts


def test_stopping_the_daemon_tears_frozen_environments_down(
    daemon_factory: Callable[[], Daemon],
) -> None:
    d = daemon_factory()
    d.start()
    try:
        assert d.create("stopped", COUNTER).status == 201
        hosts = {str(invoke(d, "stopped")["host"])}
        assert wait_until(lambda: all(state(d, h) == "FROZEN" for h in hosts), 5)
        started = time.monotonic()
        assert d.stop() == 0
        assert time.monotonic() - started < 5  # not a teardown waiting out its bound
        assert not d.has_cgroups(), "a frozen environment's cgroups were left behind"
    finally:
        d.stop()
