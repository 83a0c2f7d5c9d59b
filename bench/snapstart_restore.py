"""What a SnapStart restore costs (issue 17), against a plain fork of a process of the same
size, in one run (as root).

``python -m bench.snapstart_restore [--runs 30] [--size-mb 40]``. Builds a template through
the real spawner (no daemon) whose init holds ``--size-mb`` of touched memory, freezes it,
then makes ``--runs`` environments one after the other: each restore is timed as its caller
sees it (`Spawner.restore`, shell made beforehand and not counted), invoked once (its uid
must be its own) and killed. The baseline: ``os.fork()`` of a Python process holding the
same memory, until the child runs (it writes a byte to a pipe). Reported as p50/p90 and the
ratio of the p50s.

Resource handling: every environment is killed after its invoke; the spawner's exit ends
the template; every cgroup made is destroyed and the temporary directory removed, whatever
happens. The loop is bounded in count and in time (``--budget-s``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import trio

from bench.session import open_session, write_results
from bench.stats import summarize
from engine.runtime.catalog import PYTHON_RUNTIME_DIR
from sandbox.cgroups import Cgroups
from sandbox.launcher import Spawner, Stem, open_spawner
from sandbox.limits import CgroupLimits
from sandbox.protocol import Closed, Connection, Invoke, Message, NeedData, Ready, Response
from sandbox.spec import SandboxSpec, StemSpec

TEMPLATE_UID = 23101
CODE = """
import os
BIG = bytearray(b"\\1") * ({size_mb} << 20)  # touched: the template's memory is really there

def handler(event, context):
    return {{"uid": os.getuid(), "pid": os.getpid()}}
"""
# A same-size Python process forking children that run (they write a byte and exit).
FORK_BASELINE = """
import json, os, sys, time
BIG = bytearray(b"\\1") * ({size_mb} << 20)
samples = []
for _ in range({runs}):
    r, w = os.pipe()
    started = time.perf_counter_ns()
    pid = os.fork()
    if pid == 0:
        os.write(w, b"x")
        os._exit(0)
    os.read(r, 1)
    samples.append((time.perf_counter_ns() - started) / 1e6)
    os.waitpid(pid, 0)
    os.close(r)
    os.close(w)
json.dump(samples, sys.stdout)
"""


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


async def _next(stream: trio.SocketStream, conn: Connection) -> Message:
    while True:
        event = conn.next_event()
        if isinstance(event, NeedData):
            data = await stream.receive_some(65536)
            if not data:
                raise EOFError("the environment closed its runtime socket")
            conn.receive_data(data)
            continue
        if isinstance(event, Closed):
            raise EOFError("the environment closed its runtime socket")
        return event


class Lab:
    """Templates and environments through one spawner, as the integration test makes them."""

    def __init__(self, spawner: Spawner, cgroups: Cgroups, work: str) -> None:
        self.spawner = spawner
        self.cgroups = cgroups
        self.work = work
        self.made: list[str] = []
        self.streams: list[trio.SocketStream] = []

    def cgroup(self, name: str) -> None:
        limits = CgroupLimits(
            memory_max_bytes=512 << 20, cpu_quota_us=100_000, cpu_period_us=100_000, pids_max=64
        )
        self.cgroups.create(name, limits)
        self.made.append(name)

    def procs(self, name: str) -> list[int]:
        return [os.open(p, os.O_WRONLY | os.O_CLOEXEC) for p in self.cgroups.procs_files(name)]

    async def template(self, code: str) -> Stem:
        name = "tpl"
        self.cgroup(name)
        root = os.path.join(self.work, name)
        code_dir = os.path.join(self.work, "code")
        os.mkdir(root)
        os.mkdir(code_dir)
        _write(os.path.join(code_dir, "app.py"), code)
        stem = await self.spawner.make_stem(
            StemSpec(
                sandbox_id=name,
                rootfs_dir=root,
                etc_dir=os.path.join(self.work, "etc"),
                cgroup_procs=tuple(self.cgroups.procs_files(name)),
                template=True,
            )
        )
        spec = SandboxSpec(
            sandbox_id=name,
            runtime="python3.11",
            handler="app.handler",
            uid=TEMPLATE_UID,
            gid=TEMPLATE_UID,
            hostname=name,
            code_dir=code_dir,
            runtime_dir=os.fspath(PYTHON_RUNTIME_DIR),
            tmp_size_mb=64,
            env={"PATH": "/usr/bin:/bin"},
        )
        proc = await self.spawner.specialize(stem, spec)
        assert isinstance(await _next(proc.stream, Connection()), Ready)
        self.streams.append(proc.stream)
        os.close(proc.log_fd)
        await self.spawner.template_request(stem, {"op": "freeze"})
        return stem

    async def shell(self, template: Stem, name: str, uid: int) -> tuple[int, socket.socket]:
        """A shell with its environment made and held; its pid and our end of the
        environment's runtime socket."""
        self.cgroup(name)
        procs = self.procs(name)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_r, log_w = os.pipe2(os.O_CLOEXEC)
        try:
            request = {
                "op": "shell",
                "uid": uid,
                "gid": uid,
                "hostname": name,
                "tmp_size_mb": 16,
                "cgroups": len(procs),
            }
            given = [*procs, theirs.fileno(), log_w]
            reply = await self.spawner.template_request(template, request, given)
        finally:
            for fd in (*procs, log_w):
                os.close(fd)
            theirs.close()
        os.close(log_r)
        pid: int = reply["pid"]
        return pid, ours

    async def restore(
        self, template: Stem, name: str, shell: tuple[int, socket.socket]
    ) -> tuple[Stem, trio.SocketStream, float]:
        """An environment, its runtime socket, and how long the restore took (ms)."""
        request = {"op": "restore", "env_id": name, "shell": shell[0]}
        started = time.perf_counter_ns()
        env = await self.spawner.restore(template, request)
        took_ms = (time.perf_counter_ns() - started) / 1e6
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(shell[1]))
        self.streams.append(stream)
        return env, stream, took_ms


async def _invoke(stream: trio.SocketStream) -> Any:
    conn = Connection()
    msg = Invoke(
        request_id=f"req-{time.monotonic_ns()}",
        deadline_ms=int(time.time() * 1000) + 30_000,
        invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:bench",
        payload=b"{}",
    )
    await stream.send_all(conn.send(msg))
    reply = await _next(stream, conn)
    assert isinstance(reply, Response), reply
    return json.loads(reply.payload)


async def measure_restores(
    tag: str, work: str, *, runs: int, size_mb: int, budget_s: float
) -> list[float]:
    os.mkdir(os.path.join(work, "etc"))
    _write(os.path.join(work, "etc", "passwd"), "root:x:0:0::/:/bin/false\n")
    cgroups = Cgroups.detect(parent_name=tag)
    cgroups.prepare()
    lab: Lab | None = None
    samples: list[float] = []
    try:
        async with open_spawner(tag=tag) as spawner:
            lab = Lab(spawner, cgroups, work)
            try:
                template = await lab.template(CODE.format(size_mb=size_mb))
                deadline = time.monotonic() + budget_s
                for i in range(runs):
                    if time.monotonic() > deadline:
                        print(f"time budget spent after {i} restores", file=sys.stderr)
                        break
                    uid = TEMPLATE_UID + 1 + i
                    shell = await lab.shell(template, f"env{i}", uid)
                    await trio.sleep(0.01)  # the shell's set-up settles off the clock
                    env, stream, took_ms = await lab.restore(template, f"env{i}", shell)
                    seen = await _invoke(stream)
                    if seen["uid"] != uid:
                        raise AssertionError(f"environment {i} runs as {seen['uid']}, not {uid}")
                    samples.append(took_ms)
                    await spawner.kill(env)
                    with trio.fail_after(10):
                        await env.exited.wait()
            finally:
                for stream in lab.streams:
                    await stream.aclose()
    finally:
        made = lab.made if lab is not None else []
        for _ in range(100):  # the spawner's exit ends every sandbox; their groups empty
            if not any(cgroups.pids(n) for n in made):
                break
            await trio.sleep(0.05)
        for name in made:
            cgroups.destroy(name)
        cgroups.remove_parent()
    return samples


def fork_baseline(*, runs: int, size_mb: int) -> list[float]:
    code = FORK_BASELINE.format(size_mb=size_mb, runs=runs)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=120)
    samples: list[float] = json.loads(out.stdout)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--size-mb", type=int, default=40, help="touched memory in the template")
    parser.add_argument("--budget-s", type=float, default=120.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    session = open_session("snapstart-restore")
    if session is None:
        return 2
    work = tempfile.mkdtemp(prefix=f"{session.tag}-")
    os.chmod(work, 0o755)
    try:
        fork_before = fork_baseline(runs=args.runs, size_mb=args.size_mb)
        restores = trio.run(
            lambda: measure_restores(
                session.tag, work, runs=args.runs, size_mb=args.size_mb, budget_s=args.budget_s
            )
        )
        fork_after = fork_baseline(runs=args.runs, size_mb=args.size_mb)
    finally:
        shutil.rmtree(work, ignore_errors=True)
        shutil.rmtree(session.base, ignore_errors=True)
    fork = summarize(fork_before + fork_after)
    restore = summarize(restores)
    ratio = restore["p50_ms"] / fork["p50_ms"]
    print(f"{'series':<28}{'n':>5}{'p50 ms':>10}{'p90 ms':>10}{'min ms':>10}")
    for label, s in (("restore (Spawner.restore)", restore), ("fork of same size", fork)):
        print(
            f"{label:<28}{s['n']:>5.0f}{s['p50_ms']:>10.3f}{s['p90_ms']:>10.3f}{s['min_ms']:>10.3f}"
        )
    print(f"restore p50 / fork p50: {ratio:.2f}")
    document = {
        "runs": args.runs,
        "size_mb": args.size_mb,
        "restore": {**restore, "samples_ms": restores},
        "fork": {**fork, "samples_ms": fork_before + fork_after},
        "ratio_p50": ratio,
    }
    write_results(session, args.json, document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
