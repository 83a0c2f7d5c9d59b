"""Daemon stop and restart: a clean SIGTERM, and recovery after SIGKILL.

Each test runs its own daemon (from `daemon_factory`) on its own state dir and cgroup
parent, and stops it at the end.
"""

from __future__ import annotations

import os
import re
import secrets
import signal
import time
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.conftest import nft_tables
from tests.integration.conftest import FUNCTIONS, Daemon, host_pids_matching, wait_until
from tests.integration.netfixtures import connect_from, start_server

pytestmark = pytest.mark.privileged

CGROUP_ROOT = Path("/sys/fs/cgroup")
WAIT_S = 15.0

CODE = """
import os
COUNT = 0
def handler(event, context):
    global COUNT
    COUNT += 1
    return {"count": COUNT, "host": os.uname().nodename, "echo": event.get("echo")}
"""


def parent_dirs(daemon: Daemon) -> list[Path]:
    """The daemon's cgroup parent in every hierarchy (v1 controllers and the v2 mount)."""
    found = list(CGROUP_ROOT.glob(f"*/{daemon.cgroup_parent}"))
    found += CGROUP_ROOT.glob(f"*/*/{daemon.cgroup_parent}")
    if (CGROUP_ROOT / daemon.cgroup_parent).is_dir():
        found.append(CGROUP_ROOT / daemon.cgroup_parent)
    return found


def sandbox_cgroups(daemon: Daemon) -> set[str]:
    """Names of the sandbox cgroups under the daemon's parent, across hierarchies."""
    return {child.name for p in parent_dirs(daemon) for child in p.iterdir() if child.is_dir()}


def spawner_pids(daemon_pid: int) -> list[int]:
    pids = []
    for pid in host_pids_matching("sandbox.spawner"):
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == daemon_pid:
            pids.append(pid)
    return pids


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie waiting to be reaped."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def swept_count(daemon: Daemon) -> int:
    """How many leftover sandboxes the last start-up sweep reported removing."""
    found = re.findall(r"removed (\d+) sandbox\(es\) left by a previous daemon", daemon.log())
    return int(found[-1]) if found else 0


def finish(daemon: Daemon) -> int:
    """Stop the daemon; after a SIGKILL, start it once more so its sweep cleans up."""
    if daemon.process is None and parent_dirs(daemon):
        daemon.start()
    return daemon.stop()


def invoke_ok(daemon: Daemon, name: str, echo: str = "x") -> dict[str, object]:
    resp = daemon.invoke(name, {"echo": echo})
    assert resp.status == 200, resp.body
    assert "x-amz-function-error" not in resp.headers, resp.body
    result: dict[str, object] = resp.json()
    assert result["echo"] == echo
    return result


def test_sigterm_stops_cleanly_and_functions_survive_a_restart(
    daemon_factory: Callable[[], Daemon],
) -> None:
    d = daemon_factory()
    d.start()
    try:
        resp = d.create("survivor", CODE, MemorySize=256)
        assert resp.status == 201, resp.body
        sha = resp.json()["CodeSha256"]
        assert invoke_ok(d, "survivor")["count"] == 1
        assert sandbox_cgroups(d), "a warm sandbox should have a cgroup"  # the check can fail
        assert d.process is not None
        spawners = spawner_pids(d.process.pid)
        assert len(spawners) == 1, spawners

        assert d.stop(signal.SIGTERM) == 0, d.log()
        assert sandbox_cgroups(d) == set()
        assert parent_dirs(d) == [], parent_dirs(d)
        assert not d.socket_path.exists()
        assert wait_until(lambda: not alive(spawners[0]), WAIT_S), "the spawner outlived the daemon"
        assert "Traceback" not in d.log(), d.log()

        d.start()
        listed = d.client.request("GET", f"{FUNCTIONS}?MaxItems=50").json()["Functions"]
        assert [f["FunctionName"] for f in listed] == ["survivor"]
        got = d.client.request("GET", f"{FUNCTIONS}/survivor/configuration").json()
        assert got["CodeSha256"] == sha
        assert got["MemorySize"] == 256
        again = invoke_ok(d, "survivor", "after-restart")
        assert again["count"] == 1  # a new environment: module state starts over
    finally:
        code = finish(d)
    assert code == 0, d.log()
    assert parent_dirs(d) == []


def settled_cgroups(d: Daemon, quiet_s: float = 0.5, timeout_s: float = 10.0) -> set[str]:
    """The daemon's sandbox cgroups once the set has not changed for `quiet_s`."""
    deadline = time.monotonic() + timeout_s
    last, since = sandbox_cgroups(d), time.monotonic()
    while time.monotonic() < deadline:
        time.sleep(0.05)
        now = sandbox_cgroups(d)
        if now != last:
            last, since = now, time.monotonic()
        elif time.monotonic() - since >= quiet_s:
            break
    return last


def test_sigkill_leftovers_are_swept_at_the_next_start(
    daemon_factory: Callable[[], Daemon],
) -> None:
    marker = f"{900 + secrets.randbelow(99)}.{secrets.randbelow(10**9):09d}"
    # The handler waits for its child's exec: an idle environment is frozen (freeze_idle),
    # and a child still between fork and exec would stay a python until the next invoke.
    code = f"""
import os, time
def handler(event, context):
    if event.get("spawn"):
        child = os.fork()
        if child == 0:
            os.setsid()
            os.execv("/bin/sleep", ["sleep", "{marker}"])
        for _ in range(500):
            with open(f"/proc/{{child}}/cmdline", "rb") as f:
                if f.read().startswith(b"sleep"):
                    break
            time.sleep(0.01)
    return os.uname().nodename
"""
    d = daemon_factory()
    d.start()
    try:
        assert d.create("crashy", code).status == 201
        resp = d.invoke("crashy", {"spawn": True})
        assert resp.status == 200, resp.body
        host = resp.json()
        assert wait_until(lambda: bool(host_pids_matching(f"sleep {marker}")), 5)
        # The function's sandbox and the ready stems, once the pool has replaced the stem
        # this cold start used (it does so right after the invoke answers).
        left_cgroups = settled_cgroups(d)
        assert left_cgroups, "a warm sandbox should have a cgroup"
        assert d.process is not None
        daemon_pid = d.process.pid
        spawners = spawner_pids(daemon_pid)
        assert len(spawners) == 1, spawners

        assert d.stop(signal.SIGKILL) == -signal.SIGKILL
        # The spawner notices its control socket closing and exits, taking the sandbox along.
        assert wait_until(lambda: not alive(spawners[0]), WAIT_S), "the spawner outlived a SIGKILL"
        assert wait_until(lambda: not host_pids_matching(f"sleep {marker}"), WAIT_S)
        assert sandbox_cgroups(d) == left_cgroups  # nobody removed the cgroup: the sweep will

        d.start()
        assert not sandbox_cgroups(d) & left_cgroups  # swept before the API answers
        assert swept_count(d) == len(left_cgroups)
        assert host_pids_matching(f"sleep {marker}") == []
        after = d.invoke("crashy", {})
        assert after.status == 200, after.body
        assert "x-amz-function-error" not in after.headers, after.body
        assert after.json() != host
    finally:
        stop_code = finish(d)
    assert stop_code == 0, d.log()
    assert parent_dirs(d) == []


def test_sigkill_of_daemon_and_spawner_together_is_also_swept(
    daemon_factory: Callable[[], Daemon],
) -> None:
    """Without the spawner's help (it dies at the same moment), PDEATHSIG ends the sandbox's
    init and so its pid namespace; the next start removes the cgroups."""
    marker = f"{900 + secrets.randbelow(99)}.{secrets.randbelow(10**9):09d}"
    code = f"""
import os
def handler(event, context):
    if os.fork() == 0:
        os.setsid()
        os.execv("/bin/sleep", ["sleep", "{marker}"])
    return "spawned"
"""
    d = daemon_factory()
    d.start()
    try:
        assert d.create("orphaned", code).status == 201
        assert d.invoke("orphaned", {}).json() == "spawned"
        assert wait_until(lambda: bool(host_pids_matching(f"sleep {marker}")), 5)
        assert d.process is not None
        spawners = spawner_pids(d.process.pid)
        assert len(spawners) == 1
        os.kill(spawners[0], signal.SIGKILL)
        assert d.stop(signal.SIGKILL) == -signal.SIGKILL
        assert wait_until(lambda: not host_pids_matching(f"sleep {marker}"), WAIT_S)
        left_cgroups = sandbox_cgroups(d)
        assert left_cgroups

        d.start()
        assert not sandbox_cgroups(d) & left_cgroups
        assert swept_count(d) == len(left_cgroups)
        assert d.invoke("orphaned", {}).json() == "spawned"
    finally:
        stop_code = finish(d)
    assert stop_code == 0, d.log()
    assert host_pids_matching(f"sleep {marker}") == []
    assert parent_dirs(d) == []


def test_vpcs_and_attached_hosts_survive_a_crash_and_enis_do_not(
    daemon_factory: Callable[[], Daemon], tmp_path: Path
) -> None:
    d = daemon_factory()
    a = 200 + d.n % 40
    d.start(
        extra_toml=f"""
        [[vpc]]
        id = "vpc-conf"
        cidr = "10.{a}.0.0/17"
        [[vpc.subnet]]
        id = "subnet-conf"
        cidr = "10.{a}.1.0/24"
        """
    )
    server = None
    try:
        got = d.client.request("GET", "/lambdalet/v1/vpcs/vpc-conf").json()
        assert got["source"] == "config"
        refused = d.client.json_request("PUT", "/lambdalet/v1/vpcs/vpc-conf", got)
        assert refused.status == 409, refused.body
        api_doc = {
            "cidr": f"10.{a}.128.0/17",
            "subnets": [{"id": "subnet-api", "cidr": f"10.{a}.129.0/24"}],
        }
        assert d.client.json_request("PUT", "/lambdalet/v1/vpcs/vpc-api", api_doc).status == 200
        made = d.client.json_request("PUT", "/lambdalet/v1/hosts/keep", {"subnet_id": "subnet-api"})
        assert made.status == 201, made.body
        host = made.json()
        server = start_server(host["netns"], tmp_path, ports=(5432,))
        assert d.create("warm", CODE).status == 201
        assert d.invoke("warm", {}).status == 200
        links_before = set(os.listdir("/sys/class/net"))
        enis = {n for n in links_before if n.startswith(d.if_prefix) and n != host["ifname"]}
        assert enis  # the warm environment's ENI and the ready ones

        d.stop(signal.SIGKILL)
        # The daemon held every ENI's namespace; the kernel removes them with it.
        assert wait_until(lambda: not enis & set(os.listdir("/sys/class/net")), WAIT_S)
        assert host["ifname"] in os.listdir("/sys/class/net")  # the attached host stays
        assert d.nft_table in nft_tables()  # ... and so does the table, until the next start

        d.start()
        assert d.client.request("GET", "/lambdalet/v1/vpcs/vpc-api").json()["subnets"] == [
            {"id": "subnet-api", "cidr": f"10.{a}.129.0/24", "nat_gateway": False}
        ]
        hosts = d.client.request("GET", "/lambdalet/v1/hosts").json()["Hosts"]
        assert [(h["name"], h["address"]) for h in hosts] == [("keep", host["address"])]
        assert server.process.poll() is None  # the database in it never noticed
        assert connect_from(host["netns"], "127.0.0.1", 5432).startswith("ok:")
        assert d.invoke("warm", {}).status == 200  # a new environment, a new ENI
        assert d.client.request("DELETE", "/lambdalet/v1/hosts/keep").status == 204
        assert not Path(host["netns_path"]).exists()
    finally:
        if server is not None:
            server.stop()
        d.client.request("DELETE", "/lambdalet/v1/hosts/keep")
        finish(d)
    assert d.nft_table not in nft_tables()  # a clean stop removes the table
