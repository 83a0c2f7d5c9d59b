"""Churn leaks nothing: functions created, cold-started and deleted over and over leave the
same kernel objects and daemon descriptors as before, once the ready pools have drifted back
to their floors. The control keeps one function's environment and sees every count move."""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import FUNCTIONS, Daemon, wait_until

pytestmark = pytest.mark.privileged

HELLO = "def handler(event, context):\n    return 'ok'\n"
CYCLES = 40
CHURN_BOUND_S = 90.0


def counts(daemon: Daemon) -> dict[str, int]:
    """What churn could leak: sandbox cgroups (every hierarchy), host veth ends, firewall
    elements, processes in sandbox cgroups, the daemon's descriptors."""
    groups = [
        g
        for parent in Path("/sys/fs/cgroup").glob(f"*/{daemon.cgroup_parent}")
        for g in parent.iterdir()
        if g.is_dir()
    ]
    procs = sum(len((g / "cgroup.procs").read_text().split()) for g in groups)
    links = subprocess.run(
        ["ip", "-o", "link", "show"], capture_output=True, text=True, check=True, timeout=30
    ).stdout
    listing = subprocess.run(
        ["nft", "-j", "list", "table", "inet", daemon.nft_table],
        capture_output=True,
        text=True,
        check=True,
        timeout=30,
    ).stdout
    elements = sum(
        len(obj.get("elem", []))
        for item in json.loads(listing)["nftables"]
        for kind, obj in item.items()
        if kind in ("set", "map")
    )
    assert daemon.process is not None
    return {
        "cgroups": len(groups),
        "processes": procs,
        "links": sum(1 for line in links.splitlines() if f" {daemon.if_prefix}" in line),
        "firewall_elements": elements,
        "daemon_fds": len(os.listdir(f"/proc/{daemon.process.pid}/fd")),
    }


def at_floor(daemon: Daemon) -> bool:
    doc = json.loads(daemon.client.request("GET", "/lambdalet/v1/pool").body)
    stems = doc["Stems"]
    return bool(stems["Ready"] == 2 and stems["Pending"] == 0 and doc["Environments"]["Live"] == 0)


def settled(daemon: Daemon) -> dict[str, int]:
    """Counts once the pools are back at their floors and stay put for a moment."""
    assert wait_until(lambda: at_floor(daemon), timeout_s=30)
    last = counts(daemon)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        time.sleep(0.5)
        now = counts(daemon)
        if now == last:
            return now
        last = now
    return last


@pytest.fixture(scope="module")
def daemon(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    d.start()
    yield d
    d.stop()


def churn(daemon: Daemon, names: list[str]) -> None:
    deadline = time.monotonic() + CHURN_BOUND_S
    for name in names:
        assert time.monotonic() < deadline, "churn took too long"
        assert daemon.create(name, HELLO).status == 201
        resp = daemon.invoke(name, {})
        assert resp.status == 200, resp.body
        assert daemon.client.request("DELETE", f"{FUNCTIONS}/{name}").status == 204


def test_churn_leaves_nothing_behind(daemon: Daemon) -> None:
    churn(daemon, ["warm-up"])
    before = settled(daemon)
    churn(daemon, [f"churn-{i}" for i in range(CYCLES)])
    assert settled(daemon) == before


def test_control_a_kept_environment_is_seen(daemon: Daemon) -> None:
    before = settled(daemon)
    assert daemon.create("kept", HELLO).status == 201
    assert daemon.invoke("kept", {}).status == 200
    time.sleep(0.5)
    now = counts(daemon)
    for key in ("cgroups", "processes", "links", "firewall_elements", "daemon_fds"):
        assert now[key] > before[key], (key, before, now)
    assert daemon.client.request("DELETE", f"{FUNCTIONS}/kept").status == 204
