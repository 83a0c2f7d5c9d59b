"""A burst of cold starts finds stems ready: counted by the daemon (`GET /lambdalet/v1/pool`),
not timed. Each cold start is counted once, as having taken a ready stem or made its own; the
control with stems off shows the count would see every cold start make its own."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.cli.client import Client
from tests.integration.conftest import FUNCTIONS, Daemon, wait_until

pytestmark = pytest.mark.privileged

HELLO = "def handler(event, context):\n    return 'ok'\n"
BURST = 30


def pool(daemon: Daemon) -> dict[str, Any]:
    resp = daemon.client.request("GET", "/lambdalet/v1/pool")
    assert resp.status == 200, resp.body
    doc: dict[str, Any] = json.loads(resp.body)
    return doc


def cold_start(daemon: Daemon, names: list[str], errors: list[str] | None = None) -> None:
    client = Client(daemon.socket_path, timeout_s=60)  # one connection per thread
    try:
        for name in names:
            resp = client.request("POST", f"{FUNCTIONS}/{name}/invocations", b"{}")
            if resp.status != 200:
                (errors if errors is not None else []).append(f"{name}: {resp.body!r}")
                assert errors is not None, resp.body
    finally:
        client.close()


@pytest.fixture(scope="module")
def daemon(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    d.start()
    for i in range(2 * BURST):
        assert d.create(f"burst-{i}", HELLO).status == 201
    yield d
    d.stop()


def test_a_burst_from_one_client_takes_ready_stems(daemon: Daemon) -> None:
    assert wait_until(lambda: pool(daemon)["Stems"]["Ready"] >= 2, timeout_s=10)
    before = pool(daemon)["Stems"]
    cold_start(daemon, [f"burst-{i}" for i in range(BURST)])
    after = pool(daemon)
    stems = after["Stems"]
    ready = stems["ColdStartsWithReadyStem"] - before["ColdStartsWithReadyStem"]
    own = stems["ColdStartsMakingTheirOwn"] - before["ColdStartsMakingTheirOwn"]
    assert ready + own == BURST  # every cold start counted once
    assert own <= 2, stems  # back to back, the refill keeps ahead
    assert after["Environments"]["Live"] >= BURST
    # Once the burst is over, the pool drifts back to `prewarm`.
    assert wait_until(lambda: pool(daemon)["Stems"]["Target"] == 2, timeout_s=10)
    assert wait_until(lambda: pool(daemon)["Stems"]["Ready"] == 2, timeout_s=10)


def test_a_burst_from_four_clients_grows_the_pool(daemon: Daemon) -> None:
    before = pool(daemon)["Stems"]
    names = [f"burst-{i}" for i in range(BURST, 2 * BURST)]
    errors: list[str] = []
    threads = [
        threading.Thread(target=cold_start, args=(daemon, names[i::4], errors)) for i in range(4)
    ]
    targets: list[int] = []
    for t in threads:
        t.start()
    while any(t.is_alive() for t in threads):
        targets.append(pool(daemon)["Stems"]["Target"])
    for t in threads:
        t.join(timeout=60)
    assert not errors
    stems = pool(daemon)["Stems"]
    ready = stems["ColdStartsWithReadyStem"] - before["ColdStartsWithReadyStem"]
    own = stems["ColdStartsMakingTheirOwn"] - before["ColdStartsMakingTheirOwn"]
    assert ready + own == BURST
    assert max(targets) > 2  # the target followed the rate
    assert own <= BURST // 3, stems


def test_control_without_stems_every_cold_start_makes_its_own(
    daemon_factory: Callable[[], Daemon],
) -> None:
    d = daemon_factory()
    d.start(sandbox_toml="prewarm = 0")
    try:
        for i in range(5):
            assert d.create(f"own-{i}", HELLO).status == 201
        cold_start(d, [f"own-{i}" for i in range(5)])
        stems = pool(d)["Stems"]
        assert (stems["ColdStartsWithReadyStem"], stems["ColdStartsMakingTheirOwn"]) == (0, 5)
        assert stems["Ready"] == 0
    finally:
        d.stop()
