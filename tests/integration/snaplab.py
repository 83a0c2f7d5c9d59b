"""SnapStart templates driven through the real spawner, without a daemon: a template from a
function's code, environments made in shells and let go (`sandbox.snapshot`), their runtime
sockets, and the cleanup of every cgroup and process. Used by `test_snapshot_sandbox.py` and
`bench.snapstart_restore`."""

from __future__ import annotations

import json
import os
import shutil
import socket
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import trio

from engine.runtime.catalog import PYTHON_RUNTIME_DIR
from sandbox.cgroups import Cgroups
from sandbox.launcher import Spawner, Stem, open_spawner
from sandbox.limits import CgroupLimits
from sandbox.protocol import Closed, Connection, Invoke, Message, NeedData, Ready, Response
from sandbox.spec import SandboxSpec, StemSpec

TEMPLATE_UID = 23001


def _write(path: str, text: str) -> None:
    with open(path, "w") as f:
        f.write(text)


@dataclass
class Env:
    name: str
    stem: Stem
    stream: trio.SocketStream
    conn: Connection

    async def invoke(self, event: dict[str, Any]) -> Any:
        msg = Invoke(
            request_id=f"req-{time.monotonic_ns()}",
            deadline_ms=int(time.time() * 1000) + 30_000,
            invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:snap",
            payload=json.dumps(event).encode(),
        )
        await self.stream.send_all(self.conn.send(msg))
        reply = await _next(self.stream, self.conn)
        assert isinstance(reply, Response), reply
        return json.loads(reply.payload)


async def _next(stream: trio.SocketStream, conn: Connection) -> Message:
    while True:
        event = conn.next_event()
        if isinstance(event, NeedData):
            data = await stream.receive_some(65536)
            conn.receive_data(data)
            if not data:
                raise EOFError("the environment closed its runtime socket")
            continue
        if isinstance(event, Closed):
            raise EOFError("the environment closed its runtime socket")
        return event


class Lab:
    """Templates and environments through one spawner."""

    def __init__(self, spawner: Spawner, cgroups: Cgroups, work: str) -> None:
        self.spawner = spawner
        self.cgroups = cgroups
        self.work = work
        self.count = 0
        self.streams: list[trio.SocketStream] = []

    def _cgroup(self, name: str, memory_mb: int) -> None:
        limits = CgroupLimits(
            memory_max_bytes=memory_mb << 20,
            cpu_quota_us=100_000,
            cpu_period_us=100_000,
            pids_max=64,
        )
        self.cgroups.create(name, limits)

    def _procs(self, name: str) -> list[int]:
        return [os.open(p, os.O_WRONLY | os.O_CLOEXEC) for p in self.cgroups.procs_files(name)]

    async def template(self, code: str) -> Stem:
        self.count += 1
        name = f"tpl{self.count}"
        self._cgroup(name, 512)
        root = os.path.join(self.work, name)
        os.mkdir(root)
        code_dir = os.path.join(self.work, f"{name}-code")
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
            tmp_size_mb=512,
            env={"PATH": "/usr/bin:/bin"},
        )
        proc = await self.spawner.specialize(stem, spec)
        conn = Connection()
        assert isinstance(await _next(proc.stream, conn), Ready)
        self.streams.append(proc.stream)  # the template's runtime socket, open for its life
        os.close(proc.log_fd)
        return stem

    async def shell(
        self, template: Stem, name: str, uid: int, memory_mb: int = 512
    ) -> tuple[dict[str, Any], Stem, socket.socket]:
        """An environment in its shell, made, set up and let go (it waits in the template's
        receive): the template's answer ("pid", "prepared_ms"), the environment as a stem and
        our end of its runtime socket."""
        self._cgroup(name, memory_mb)
        procs = self._procs(name)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_r, log_w = os.pipe2(os.O_CLOEXEC)
        try:
            request = {
                "op": "shell",
                "uid": uid,
                "gid": uid,
                "hostname": name,
                "tmp_size_mb": 64,
                "cgroups": len(procs),
            }
            given = [*procs, theirs.fileno(), log_w]
            answer, env = await self.spawner.shell(template, name, request, given)
        finally:
            for fd in (*procs, log_w):
                os.close(fd)
            theirs.close()
        os.close(log_r)
        return answer, env, ours

    def wrap(self, name: str, shell: tuple[dict[str, Any], Stem, socket.socket]) -> Env:
        """The environment of `shell`, its stream ours to talk on."""
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(shell[2]))
        self.streams.append(stream)
        return Env(name=name, stem=shell[1], stream=stream, conn=Connection())

    async def environment(self, template: Stem, name: str, uid: int, memory_mb: int = 512) -> Env:
        """`shell`, `wrap`ped."""
        return self.wrap(name, await self.shell(template, name, uid, memory_mb))


@asynccontextmanager
async def lab(tag: str | None = None) -> AsyncIterator[Lab]:
    """A lab on its own spawner and cgroup parent (`tag`, which must name lambdalet)."""
    tag = tag or f"lambdalet-snaptest-{os.getpid()}"
    work = tempfile.mkdtemp(prefix=f"{tag}-")
    os.chmod(work, 0o755)
    os.mkdir(os.path.join(work, "etc"))
    _write(os.path.join(work, "etc", "passwd"), "root:x:0:0::/:/bin/false\n")
    cgroups = Cgroups.detect(parent_name=tag)
    cgroups.prepare()
    made: list[str] = []
    try:
        async with open_spawner(tag=tag) as spawner:
            the_lab = Lab(spawner, cgroups, work)
            original = cgroups.create

            def create(name: str, limits: Any) -> None:
                original(name, limits)
                made.append(name)

            cgroups.create = create  # type: ignore[method-assign]
            try:
                yield the_lab
            finally:
                for stream in the_lab.streams:
                    await stream.aclose()
    finally:
        for _ in range(50):  # the spawner's death ends every sandbox; their groups empty
            if not any(cgroups.pids(n) for n in made):
                break
            await trio.sleep(0.05)
        for name in made:
            cgroups.destroy(name)
        cgroups.remove_parent()
        shutil.rmtree(work, ignore_errors=True)
