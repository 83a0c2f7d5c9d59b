"""Environment lifetime: keep-warm reclaim, and one uid per live sandbox."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.cli.client import Client
from tests.integration.conftest import FUNCTIONS, Daemon, log_of, wait_until

pytestmark = pytest.mark.privileged

WHO = """
import os, time
def handler(event, context):
    time.sleep(event.get("sleep", 0))
    return {"host": os.uname().nodename, "uid": os.getuid()}
"""


@pytest.fixture(scope="module")
def short_lived(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    d.start(keep_warm_s=1.0)
    yield d
    d.stop()


def cgroup_of(daemon: Daemon, host: str) -> Path:
    sandbox_id = host.removeprefix("lambdalet-")
    return Path("/sys/fs/cgroup/memory") / daemon.cgroup_parent / f"sb-{sandbox_id}"


def test_idle_environment_is_reclaimed_after_keep_warm(short_lived: Daemon) -> None:
    assert short_lived.create("reclaimed", WHO).status == 201
    first = short_lived.invoke("reclaimed", {}, tail=True)
    host = first.json()["host"]
    assert "Init Duration" in log_of(first)
    group = cgroup_of(short_lived, host)
    assert group.is_dir()
    assert wait_until(lambda: not group.exists(), 15), "the idle environment outlived keep_warm_s"
    again = short_lived.invoke("reclaimed", {}, tail=True)
    assert "Init Duration" in log_of(again)  # a new, cold environment
    assert again.json()["host"] != host


def test_concurrent_sandboxes_run_as_distinct_uids(short_lived: Daemon) -> None:
    assert short_lived.create("uids", WHO).status == 201
    results: list[Any] = []

    def call() -> None:
        client = Client(short_lived.socket_path, timeout_s=60)
        try:
            resp = client.request("POST", f"{FUNCTIONS}/uids/invocations", b'{"sleep": 1}')
            results.append(resp.json())
        finally:
            client.close()

    threads = [threading.Thread(target=call) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == 3
    assert len({r["host"] for r in results}) == 3
    uids = {r["uid"] for r in results}
    assert len(uids) == 3 and 0 not in uids
