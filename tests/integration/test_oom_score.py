"""The host's OOM killer picks a function before the daemon: the daemon and its spawner run
at oom_score_adj -900 (as the systemd unit sets it, also when started by hand), a function's
runtime at 0, and a sandbox's init at -1000 (it must outlive its runtime to report)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Daemon

pytestmark = pytest.mark.privileged

READ = """
def handler(event, context):
    with open("/proc/self/oom_score_adj") as f:
        return int(f.read())
"""


@pytest.fixture(scope="module")
def daemon(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    d.start()
    yield d
    d.stop()


def oom_score_adj(pid: int) -> int:
    return int(Path(f"/proc/{pid}/oom_score_adj").read_text())


def can_lower_oom_score_adj() -> bool:
    probe = subprocess.run(
        ["sh", "-c", "echo -1 > /proc/self/oom_score_adj"], capture_output=True, check=False
    )
    return probe.returncode == 0


def test_a_function_is_an_ordinary_oom_candidate(daemon: Daemon) -> None:
    assert daemon.create("oom", READ).status == 201
    resp = daemon.invoke("oom", {})
    assert resp.status == 200, resp.body
    assert json.loads(resp.body) == 0


def test_daemon_and_spawner_are_protected(daemon: Daemon) -> None:
    if not can_lower_oom_score_adj():
        pytest.skip("this host withholds CAP_SYS_RESOURCE: oom_score_adj cannot be lowered")
    assert daemon.process is not None
    # The test runner itself is an ordinary process: the daemon's value is its own doing.
    assert oom_score_adj(daemon.process.pid) == -900
    children = subprocess.run(
        ["pgrep", "-P", str(daemon.process.pid), "-f", "sandbox.spawner"],
        capture_output=True,
        text=True,
        check=False,
        timeout=10,
    ).stdout.split()
    assert children, "no spawner found"
    assert oom_score_adj(int(children[0])) == -900
