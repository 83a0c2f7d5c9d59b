"""Host-side probes for the benchmark: timed process spawns, cgroups, processes, facts.

Nothing here starts anything that outlives its call: `spawn_and_wait_ns` reaps its child
(SIGKILL after a bound) before it returns.
"""

from __future__ import annotations

import os
import platform
import re
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parent.parent
CGROUP_ROOT = Path("/sys/fs/cgroup")
SPAWN_TIMEOUT_S = 30.0
CGROUP_SEARCH_DEPTH = 6
HOST_ROOT_DIRS = ("bin", "sbin", "lib", "lib32", "lib64", "libx32")


class BenchError(Exception):
    """The benchmark could not run or measured something other than intended."""


def bwrap_argv(bwrap: str, python: str, root: Path = Path("/")) -> list[str]:
    """bwrap running ``python -I -S -c pass`` with pid/net/ipc/uts/mount namespaces.

    /usr read-only; the top-level bin/lib dirs mirror the host: a symlink where the host has
    one (merged /usr), a read-only bind where it has a real directory.
    """
    argv = [bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts"]
    argv += ["--ro-bind", "/usr", "/usr"]
    for name in HOST_ROOT_DIRS:
        path = root / name
        if path.is_symlink():
            argv += ["--symlink", os.readlink(path), f"/{name}"]
        elif path.is_dir():
            argv += ["--ro-bind", f"/{name}", f"/{name}"]
    argv += ["--proc", "/proc", "--dev", "/dev", "--tmpfs", "/tmp"]
    return [*argv, python, "-I", "-S", "-c", "pass"]


def spawn_and_wait_ns(argv: list[str], env: dict[str, str]) -> int:
    """posix_spawn (vfork) `argv`, wait for it through a pidfd; wall time in ns. Exit 0 only."""
    started = time.perf_counter_ns()
    pid = os.posix_spawn(
        argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_OPEN, 1, os.devnull, os.O_WRONLY, 0)]
    )
    pidfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pidfd, select.POLLIN)
        if not poller.poll(int(SPAWN_TIMEOUT_S * 1000)):
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            raise BenchError(f"{argv[0]} did not exit within {SPAWN_TIMEOUT_S:.0f} s")
        _, status = os.waitpid(pid, 0)
    finally:
        os.close(pidfd)
    elapsed = time.perf_counter_ns() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise BenchError(f"{' '.join(argv)} failed with wait status {status}")
    return elapsed


def find_tagged_cgroups(tag: str, root: Path = CGROUP_ROOT) -> list[Path]:
    """Directories named `tag` in any hierarchy, searched to a bounded depth."""
    found: list[Path] = []
    for top, dirs, _ in os.walk(root):  # does not follow the cpu -> cpu,cpuacct symlinks
        if tag in dirs:
            found.append(Path(top) / tag)
        depth = len(Path(top).relative_to(root).parts)
        dirs[:] = [] if depth >= CGROUP_SEARCH_DEPTH else [d for d in dirs if d != tag]
    return found


def wait_for(done: Callable[[], bool], *, timeout_s: float, poll_s: float) -> float | None:
    """Poll `done` until it holds: the ms it took, or None after `timeout_s`."""
    started = time.perf_counter_ns()
    deadline = time.monotonic() + timeout_s
    while not done():
        if time.monotonic() >= deadline:
            return None
        time.sleep(poll_s)
    return (time.perf_counter_ns() - started) / 1e6


def cpu_usage_ns(parents: Sequence[Path]) -> int | None:
    """CPU time used so far by everything under our parent: v1 cpuacct.usage, v2 cpu.stat."""
    for parent in parents:
        try:
            return int((parent / "cpuacct.usage").read_text())
        except (OSError, ValueError):
            pass
        try:
            for line in (parent / "cpu.stat").read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "usage_usec":
                    return int(value) * 1000
        except (OSError, ValueError):
            pass
    return None


def wait_cpu_quiet(
    parents: Sequence[Path], *, quiet_s: float, timeout_s: float, poll_s: float
) -> int | None:
    """Wait until the sandboxes used no CPU for `quiet_s`: perf_counter_ns of the last use.

    None after `timeout_s`, or at once when the hierarchy has no usage counter.
    """
    usage = cpu_usage_ns(parents)
    last_change = time.perf_counter_ns()
    if usage is None:
        return last_change
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        time.sleep(poll_s)
        now = cpu_usage_ns(parents)
        if now != usage:
            usage, last_change = now, time.perf_counter_ns()
        elif time.perf_counter_ns() - last_change >= quiet_s * 1e9:
            return last_change
    return None


def settled_count(groups: Callable[[], list[str]], *, quiet_s: float, timeout_s: float) -> int:
    """The number of sandbox cgroups once it has not changed for `quiet_s` (bounded)."""
    deadline = time.monotonic() + timeout_s
    count, since = len(groups()), time.monotonic()
    while time.monotonic() < deadline and time.monotonic() - since < quiet_s:
        time.sleep(0.01)
        if (now := len(groups())) != count:
            count, since = now, time.monotonic()
    return count


def start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return None if fields[0] == "Z" else fields[19]  # state, starttime (field 22)


def descendants(pid: int, limit: int = 10_000) -> dict[int, str]:
    """Live descendants of `pid` (spawner, sandbox inits, runtimes) with their start times."""
    found: dict[int, str] = {}
    todo = [pid]
    while todo and len(found) < limit:
        parent = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{parent}/task")
        except OSError:
            continue
        for tid in tasks:
            try:
                with open(f"/proc/{parent}/task/{tid}/children") as f:
                    children = [int(c) for c in f.read().split()]
            except OSError:
                continue
            for child in children:
                started = start_time(child)
                if started is not None and child not in found:
                    found[child] = started
                    todo.append(child)
    return found


def loadavg() -> list[float]:
    try:
        with open("/proc/loadavg") as f:
            return [float(x) for x in f.read().split()[:3]]
    except (OSError, ValueError):
        return []


def _cmdlines() -> dict[int, list[bytes]]:
    found: dict[int, list[bytes]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    found[int(entry)] = f.read().split(b"\0")
            except OSError:
                continue
    return found


def other_daemons() -> list[int]:
    """Pids of lambdalet daemons already running: they (and their sandboxes) share the CPUs."""
    return [pid for pid, args in _cmdlines().items() if b"engine.cli" in args and b"serve" in args]


def tagged_processes(tag: str) -> list[int]:
    """Processes whose command line names `tag`: our daemon (its config path) and spawner."""
    me = os.getpid()
    named = re.compile(re.escape(tag.encode()) + rb"(?![0-9])")  # -12 must not match -123
    return [
        pid for pid, args in _cmdlines().items() if pid != me and any(named.search(a) for a in args)
    ]


def _git(*args: str) -> str:
    try:
        return subprocess.run(
            ["git", *args], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.TimeoutExpired):
        return ""


def host_facts() -> dict[str, Any]:
    sha = _git("rev-parse", "HEAD").strip()
    # Read-only (unlike `git status`, `git diff` never rewrites the index).
    modified = _git("diff", "--name-only", "HEAD", "--").split()
    cpu = "unknown"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "git_sha": sha or None,
        "git_modified_files": modified,
        "kernel": platform.release(),
        "cpu_model": cpu,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "python_full": sys.version,
        "hostname": socket.gethostname(),
    }


IF_PREFIX = "lbb-"  # host veth ends of benchmark daemons
SUBNET = "subnet-bench"
GROUP = "sg-bench"


def network_toml(tag: str, *, enabled: bool) -> str:
    """The [network] table of a benchmark daemon: its own names, never the host's defaults."""
    table = tag.replace("-", "_")
    return f"""
    [network]
    enabled = {"true" if enabled else "false"}
    if_prefix = "{IF_PREFIX}"
    nft_table = "{table}"
    netns_prefix = "{tag}-"
    default_cidr = "10.253.0.0/24"
    [[vpc]]
    id = "vpc-bench"
    cidr = "10.252.0.0/16"
    [[vpc.subnet]]
    id = "{SUBNET}"
    cidr = "10.252.1.0/24"
    [[vpc.security_group]]
    id = "{GROUP}"
    """
