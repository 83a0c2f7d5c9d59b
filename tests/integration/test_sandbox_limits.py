"""Resource limits and isolation, each asserted by what the function (or the host) sees."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from engine.cli.client import HttpResponse
from tests.integration.conftest import Daemon, host_pids_matching, log_of, wait_until

# Every test that deploys runs against ordinary and SnapStart-restored environments.
pytestmark = [pytest.mark.privileged, pytest.mark.both_kinds]


def _ok(resp: HttpResponse) -> dict[str, Any]:
    assert resp.status == 200, resp.body
    assert "x-amz-function-error" not in resp.headers, resp.body
    result: dict[str, Any] = json.loads(resp.body)
    return result


def test_out_of_memory_is_reported_and_the_daemon_lives_on(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    hog = deploy(
        """
        def handler(event, context):
            chunks = []
            for _ in range(2 * int(context.memory_limit_in_mb)):
                chunks.append(bytearray(1024 * 1024))  # touched: bytearray zero-fills
            return len(chunks)
        """,
        MemorySize=128,
        Timeout=30,
    )
    resp = daemon.invoke(hog, {}, tail=True)
    assert resp.status == 200
    assert resp.headers["x-amz-function-error"] == "Unhandled"
    err = resp.json()
    assert err["errorType"] == "Runtime.OutOfMemory"
    assert "Runtime exited with error: signal: killed" in err["errorMessage"]
    assert "Max Memory Used: " in log_of(resp)
    # The daemon and the same function keep working.
    ok = deploy("def handler(e, c):\n    return 'alive'\n")
    assert daemon.invoke(ok).json() == "alive"


def test_cpu_quota_scales_with_memory(daemon: Daemon, deploy: Callable[..., str]) -> None:
    busy = deploy(
        """
        import time
        def handler(event, context):
            wall0, cpu0 = time.monotonic(), time.process_time()
            while time.monotonic() - wall0 < event["seconds"]:
                pass
            return {"wall": time.monotonic() - wall0, "cpu": time.process_time() - cpu0}
        """,
        MemorySize=128,
        Timeout=10,
    )
    before = _cgroup_cpu_usage_ns(daemon)
    resp = daemon.invoke(busy, {"seconds": 2.0})
    result = _ok(resp)
    used_ns = _cgroup_cpu_usage_ns(daemon) - before
    expected = 128 / 1769  # vCPUs at 128 MB
    share_cgroup = used_ns / 1e9 / result["wall"]
    share_process = result["cpu"] / result["wall"]
    # The quota is a ceiling enforced per 100 ms period; a noisy host may give less.
    assert 0.4 * expected < share_cgroup < 1.3 * expected, (share_cgroup, expected)
    assert share_process < 1.3 * expected, (share_process, expected)


def _cgroup_cpu_usage_ns(daemon: Daemon) -> int:
    total = 0
    v1 = list(Path("/sys/fs/cgroup").glob(f"*/{daemon.cgroup_parent}/sb-*/cpuacct.usage"))
    for path in v1:
        try:
            total += int(path.read_text())
        except FileNotFoundError:  # a ready stem torn down as the stem pool shrinks
            pass
    if v1:  # a hybrid host's unified groups (freezing only) count the same CPU again
        return total
    for path in Path("/sys/fs/cgroup").glob(f"*/{daemon.cgroup_parent}/sb-*/cpu.stat"):
        try:
            text = path.read_text()
        except FileNotFoundError:
            continue
        for line in text.splitlines():
            if line.startswith("usage_usec"):
                total += int(line.split()[1]) * 1000
    return total


def test_fork_bomb_stops_at_pids_max(daemon: Daemon, deploy: Callable[..., str]) -> None:
    bomb = deploy(
        """
        import os, signal
        def handler(event, context):
            made = 0
            for _ in range(2000):  # bounded: pids.max is 1024
                try:
                    pid = os.fork()
                except BlockingIOError:
                    return {"forked": made, "stopped": True}
                if pid == 0:
                    signal.pause()
                    os._exit(0)
                made += 1
            return {"forked": made, "stopped": False}
        """,
        MemorySize=2048,
        Timeout=60,
    )
    result = _ok(daemon.invoke(bomb))
    assert result["stopped"] is True
    assert 900 < result["forked"] < 1024
    ok = deploy("def handler(e, c):\n    return 1\n")
    assert daemon.invoke(ok).json() == 1


def test_tmp_fills_up_at_its_size(daemon: Daemon, deploy: Callable[..., str]) -> None:
    filler = deploy(
        """
        import errno, os
        def handler(event, context):
            chunk = b"x" * (1024 * 1024)
            written = 0
            with open("/tmp/fill", "wb", buffering=0) as f:
                for _ in range(4096):  # bounded
                    try:
                        f.write(chunk)
                    except OSError as exc:
                        return {"mb": written, "errno": errno.errorcode[exc.errno]}
                    written += 1
            return {"mb": written, "errno": None}
        """,
        MemorySize=1024,
        Timeout=60,
        EphemeralStorage={"Size": 512},
    )
    result = _ok(daemon.invoke(filler))
    assert result["errno"] == "ENOSPC"
    assert 500 <= result["mb"] <= 512


def test_filesystem_is_read_only_outside_tmp(daemon: Daemon, deploy: Callable[..., str]) -> None:
    fn = deploy(
        """
        import errno
        def handler(event, context):
            out = {}
            for path in ["/var/task/x", "/x", "/etc/x", "/opt/x", "/usr/x", "/var/runtime/x",
                         "/tmp/x"]:
                try:
                    with open(path, "w") as f:
                        f.write("x")
                    out[path] = "written"
                except OSError as exc:
                    out[path] = errno.errorcode[exc.errno]
            return out
        """
    )
    result = _ok(daemon.invoke(fn))
    assert result.pop("/tmp/x") == "written"
    assert set(result.values()) <= {"EROFS", "EACCES"}, result
    assert result["/var/task/x"] == "EROFS"
    assert result["/x"] == "EROFS"


def test_privileges_and_visibility(
    daemon: Daemon, deploy: Callable[..., str], sandbox_kind: str
) -> None:
    fn = deploy(
        """
        import os
        def masked(path):
            try:
                return open(path, "rb").read(64).hex()
            except FileNotFoundError:
                return ""  # not built into this kernel
        def handler(event, context):
            status = dict(l.split(":", 1) for l in open("/proc/self/status"))
            return {
                "uid": os.getuid(), "gid": os.getgid(), "euid": os.geteuid(),
                "groups": os.getgroups(),
                "cap_eff": status["CapEff"].strip(), "cap_prm": status["CapPrm"].strip(),
                "cap_bnd": status["CapBnd"].strip(), "cap_amb": status["CapAmb"].strip(),
                "no_new_privs": status["NoNewPrivs"].strip(),
                "pids": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
                "sid": os.getsid(0) == os.getpid(),
                "fds": sorted(os.listdir("/proc/self/fd")),
                "hostname": os.uname().nodename,
                "env": dict(os.environ),
                "mounts": open("/proc/self/mounts").read(),
                "masked": [masked(p) for p in ("/proc/kcore", "/proc/timer_list",
                                                "/proc/sched_debug", "/proc/keys")],
                "cwd": os.getcwd(),
            }
        """,
        Environment={"Variables": {"GREETING": "hi"}},
    )
    r = _ok(daemon.invoke(fn))
    assert r["uid"] != 0 and r["gid"] != 0 and r["euid"] != 0
    assert r["groups"] == []
    assert r["cap_eff"] == r["cap_prm"] == r["cap_bnd"] == r["cap_amb"] == "0000000000000000"
    assert r["no_new_privs"] == "1"
    assert r["sid"] is True
    # Only the sandbox's own processes: init (1) and the runtime.
    assert max(r["pids"]) < 10, r["pids"]
    # stdin/stdout/stderr, the Runtime API socket and the fd listdir itself opened.
    assert len(r["fds"]) <= 5, r["fds"]
    assert r["masked"] == ["", "", "", ""]
    assert r["cwd"] == "/var/task"
    assert str(daemon.state_dir) not in r["mounts"]
    env = r["env"]
    assert env["GREETING"] == "hi"
    for key in (
        "AWS_LAMBDA_FUNCTION_NAME",
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
        "AWS_REGION",
        "_HANDLER",
        "LAMBDA_TASK_ROOT",
        "TZ",
        "PATH",
    ):
        assert key in env, key
    # A SnapStart function has no log group or stream variable, as on Lambda.
    logged = {"AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME"}
    assert (logged <= env.keys()) if sandbox_kind != "snap-start" else not (logged & env.keys())
    assert not any(k.startswith(("SUDO_", "PYTEST", "HOME")) for k in env), env.keys()


def test_timeout_kills_a_detached_grandchild(daemon: Daemon, deploy: Callable[..., str]) -> None:
    marker = f"{time.time_ns() % 10**6}.{os.getpid()}"
    fn = deploy(
        f"""
        import os, signal, time
        def handler(event, context):
            if os.fork() == 0:
                os.setsid()
                if os.fork() == 0:
                    signal.signal(signal.SIGTERM, signal.SIG_IGN)
                    os.execv("/bin/sleep", ["sleep", "{marker}"])
                os._exit(0)
            time.sleep(30)
        """,
        Timeout=1,
    )
    started = time.monotonic()
    resp = daemon.invoke(fn, tail=True)
    assert time.monotonic() - started < 10
    assert resp.headers["x-amz-function-error"] == "Unhandled"
    err = resp.json()
    assert err["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in err["errorMessage"]
    assert "Task timed out after 1.00 seconds" in log_of(resp)
    assert wait_until(lambda: not host_pids_matching(f"sleep {marker}"), 10)


def test_warm_reuse_keeps_module_state(daemon: Daemon, deploy: Callable[..., str]) -> None:
    fn = deploy(
        """
        import os
        COUNT = 0
        def handler(event, context):
            global COUNT
            COUNT += 1
            return {"count": COUNT, "host": os.uname().nodename}
        """
    )
    results = [daemon.invoke(fn).json() for _ in range(3)]
    assert [r["count"] for r in results] == [1, 2, 3]
    assert len({r["host"] for r in results}) == 1
