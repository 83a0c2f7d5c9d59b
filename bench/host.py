"""Host-side probes for the benchmark: timed process spawns, cgroups, processes, facts.

Nothing here starts anything that outlives its call: `spawn_and_wait_ns` reaps its child
(SIGKILL after a bound) before it returns.
"""

from __future__ import annotations

import os
import platform
import select
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
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


def live_sandboxes(parents: Sequence[Path]) -> int:
    """Sandbox cgroups under our parent(s): one per environment not yet torn down."""
    names: set[str] = set()
    for parent in parents:
        try:
            with os.scandir(parent) as entries:
                names |= {e.name for e in entries if e.is_dir(follow_symlinks=False)}
        except FileNotFoundError:
            pass
    return len(names)


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


def other_daemons() -> list[int]:
    """Pids of lambdalet daemons and spawners already running: they compete for the CPUs."""
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                args = f.read().split(b"\0")
        except OSError:
            continue
        if b"sandbox.spawner" in args or (b"engine.cli" in args and b"serve" in args):
            pids.append(int(entry))
    return pids


def host_facts() -> dict[str, Any]:
    try:
        sha = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10
        ).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        sha = ""
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
        "kernel": platform.release(),
        "cpu_model": cpu,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "python_full": sys.version,
        "hostname": socket.gethostname(),
    }
