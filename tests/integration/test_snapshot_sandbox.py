"""SnapStart templates at the sandbox layer: environments cloned from one initialised runtime,
driven through the real spawner (no daemon yet), each checked for the isolation a normal
sandbox has, with the attack performed and a control that shows it would be seen."""

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

import pytest
import trio

from engine.runtime.catalog import PYTHON_RUNTIME_DIR
from sandbox.cgroups import Cgroups
from sandbox.errors import SandboxError
from sandbox.launcher import Spawner, Stem, open_spawner
from sandbox.limits import CgroupLimits
from sandbox.protocol import Closed, Connection, Invoke, Message, NeedData, Ready, Response
from sandbox.spec import SandboxSpec, StemSpec

pytestmark = pytest.mark.privileged

TEMPLATE_UID = 23001
CODE = """
import ctypes, os, random, socket, uuid
BIG = bytearray(8 * 1024 * 1024)
PIPE = os.pipe()  # shared with every clone unless the restore replaces it
with open("/tmp/made-during-init", "w") as f:
    f.write("the template's /tmp")
libc = ctypes.CDLL(None, use_errno=True)

def errno_of(call, *args):
    ctypes.set_errno(0)
    return 0 if call(*args) == 0 else ctypes.get_errno()

def handler(event, context):
    op = event.get("op")
    if op == "write_tmp":
        with open("/tmp/" + event["name"], "w") as f:
            f.write("private")
        return sorted(os.listdir("/tmp"))
    if op == "allocate":
        chunks = [bytearray(1024 * 1024) for _ in range(event["mb"])]
        return len(chunks)
    if op == "signal":
        seen = {}
        for pid in event["pids"]:
            try:
                os.kill(pid, 0)
                seen[pid] = "ok"
            except OSError as exc:
                seen[pid] = exc.strerror
        return seen
    status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines()
                  if line.startswith(("Cap", "Uid", "NoNewPrivs", "Seccomp:")))
    try:
        os.listdir("/.lambdalet")
        hidden = "readable"
    except OSError as exc:
        hidden = exc.strerror
    return {
        "pid": os.getpid(), "uid": os.getuid(), "hostname": socket.gethostname(),
        "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "tmp": sorted(os.listdir("/tmp")), "status": status,
        "setns": errno_of(libc.setns, 0, 0), "unshare": errno_of(libc.unshare, 0x20000),
        "uuid": str(uuid.uuid4()), "pipe": os.readlink(f"/proc/self/fd/{PIPE[0]}"),
        "cgroup": open("/proc/self/cgroup").read().splitlines()[0], "hidden_proc": hidden,
        "links": open("/proc/net/dev").read().count(":"),
    }
"""
SHARED_MEMORY_CODE = """
import mmap
SHARED = mmap.mmap(-1, 4096, flags=mmap.MAP_SHARED)
def handler(event, context):
    return "never"
"""


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

    async def restore(self, template: Stem, name: str, uid: int, memory_mb: int = 512) -> Env:
        """A shell (with its environment made and held), then the restore that lets it run."""
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
            shell = await self.spawner.template_request(template, request, given)
        finally:
            for fd in (*procs, log_w):
                os.close(fd)
            theirs.close()
        os.close(log_r)
        request = {"op": "restore", "env_id": name, "shell": shell["pid"]}
        env = await self.spawner.restore(template, request)
        stream = trio.SocketStream(trio.socket.from_stdlib_socket(ours))
        self.streams.append(stream)
        return Env(name=name, stem=env, stream=stream, conn=Connection())


@asynccontextmanager
async def lab() -> AsyncIterator[Lab]:
    work = tempfile.mkdtemp(prefix="lambdalet-snap-test-")
    os.chmod(work, 0o755)
    os.mkdir(os.path.join(work, "etc"))
    _write(os.path.join(work, "etc", "passwd"), "root:x:0:0::/:/bin/false\n")
    cgroups = Cgroups.detect(parent_name=f"lambdalet-snaptest-{os.getpid()}")
    cgroups.prepare()
    made: list[str] = []
    try:
        async with open_spawner(tag=f"lambdalet-snaptest-{os.getpid()}") as spawner:
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


def run(test: Any) -> None:
    async def main() -> None:
        async with lab() as the_lab:
            await test(the_lab)

    trio.run(main)


@pytest.fixture(autouse=True)
def _x86_64_only() -> None:
    if os.uname().machine != "x86_64":
        pytest.skip("the template's system-call injection is written for x86_64")


def test_each_environment_has_its_own_pid_view_uid_host_name_tmp_and_no_privileges() -> None:
    async def test(lab: Lab) -> None:
        template = await lab.template(CODE)
        await lab.spawner.template_request(template, {"op": "freeze"})
        one = await lab.restore(template, "env-a", 23002)
        two = await lab.restore(template, "env-b", 23003)
        a, b = await one.invoke({}), await two.invoke({})
        for env, seen, uid in ((one, a, 23002), (two, b, 23003)):
            assert seen["uid"] == uid
            assert seen["hostname"] == env.name
            assert seen["procs"] == [1, 2] and seen["pid"] == 2  # its shell's reaper and itself
            assert seen["tmp"] == []  # not the template's /tmp
            assert seen["cgroup"].endswith(":/")  # its own cgroup namespace
            assert seen["links"] == 1  # its own network namespace: loopback only
            status = seen["status"]
            for cap in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"):
                assert int(status[cap], 16) == 0, (cap, status)
            assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2"
            assert seen["setns"] == 1 and seen["unshare"] == 1  # EPERM, as any sandbox
            assert seen["pipe"] == "/dev/null"  # no descriptor shared with the template
            assert seen["hidden_proc"] == "Permission denied"
        assert a["uuid"] != b["uuid"]
        # /tmp: what one writes the other does not see (control: the writer does).
        assert await one.invoke({"op": "write_tmp", "name": "a-secret"}) == ["a-secret"]
        assert await two.invoke({"op": "write_tmp", "name": "b-secret"}) == ["b-secret"]

    run(test)


def test_an_environment_cannot_signal_another_or_the_template() -> None:
    async def test(lab: Lab) -> None:
        template = await lab.template(CODE)
        await lab.spawner.template_request(template, {"op": "freeze"})
        one = await lab.restore(template, "env-a", 23002)
        two = await lab.restore(template, "env-b", 23003)
        # Every pid the template's namespace uses (the template is 2; environments and
        # shells follow): none is another environment as seen from one.
        # (and the host's pids of the sibling and of the template's init).
        pids = [*range(1, 40), two.stem.pid, template.pid]
        seen = await one.invoke({"op": "signal", "pids": pids})
        assert seen.pop("2") == "ok"  # control: itself
        assert seen.pop("1") == "Operation not permitted"  # its shell's reaper, not its uid
        assert set(seen.values()) == {"No such process"}, seen
        assert await two.invoke({"op": "signal", "pids": [2]}) == {"2": "ok"}  # it lives

    run(test)


def test_an_ended_environment_is_reported_and_its_siblings_live_on() -> None:
    async def test(lab: Lab) -> None:
        template = await lab.template(CODE)
        await lab.spawner.template_request(template, {"op": "freeze"})
        one = await lab.restore(template, "env-a", 23002)
        two = await lab.restore(template, "env-b", 23003)
        await lab.spawner.kill(one.stem)
        with trio.fail_after(10):
            await one.stem.exited.wait()
        assert one.stem.exit_description() == "signal: killed"
        assert not lab.cgroups.pids("env-a")  # its shell went with it
        assert (await two.invoke({}))["uid"] == 23003
        three = await lab.restore(template, "env-c", 23004)  # the template still clones
        assert (await three.invoke({}))["uid"] == 23004

    run(test)


def test_memory_limits_are_per_environment() -> None:
    async def test(lab: Lab) -> None:
        template = await lab.template(CODE)
        await lab.spawner.template_request(template, {"op": "freeze"})
        small = await lab.restore(template, "env-small", 23002, memory_mb=64)
        large = await lab.restore(template, "env-large", 23003, memory_mb=512)
        assert await large.invoke({"op": "allocate", "mb": 128}) == 128  # control
        with pytest.raises(EOFError):  # the OOM killer ends the small one
            await small.invoke({"op": "allocate", "mb": 128})
        assert await large.invoke({"op": "allocate", "mb": 16}) == 16
        assert lab.cgroups.oom_kill_count("env-small") >= 1
        assert lab.cgroups.oom_kill_count("env-large") == 0

    run(test)


def test_a_template_whose_init_took_the_platforms_descriptor_is_refused() -> None:
    # Init could point descriptor 4 (where clones get theirs) at a socket of its own;
    # control: the same function without that line freezes (the tests above).
    code = "import os\nos.dup2(os.open('/dev/null', os.O_RDONLY), 4)\n" + CODE

    async def test(lab: Lab) -> None:
        template = await lab.template(code)
        with pytest.raises(SandboxError, match="descriptor 4"):
            await lab.spawner.template_request(template, {"op": "freeze"})

    run(test)


def test_a_template_whose_init_left_writable_shared_memory_is_refused() -> None:
    async def test(lab: Lab) -> None:
        template = await lab.template(SHARED_MEMORY_CODE)
        with pytest.raises(SandboxError, match="writable shared memory"):
            await lab.spawner.template_request(template, {"op": "freeze"})

    run(test)
