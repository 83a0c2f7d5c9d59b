"""SnapStart templates at the sandbox layer: environments cloned from one initialised runtime,
driven through the real spawner (no daemon yet), each checked for the isolation a normal
sandbox has, with the attack performed and a control that shows it would be seen."""

from __future__ import annotations

import os
from typing import Any

import pytest
import trio

from sandbox.errors import SandboxError
from tests.integration.snaplab import Lab, lab

pytestmark = pytest.mark.privileged

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
        one = await lab.environment(template, "env-a", 23002)
        two = await lab.environment(template, "env-b", 23003)
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
        one = await lab.environment(template, "env-a", 23002)
        two = await lab.environment(template, "env-b", 23003)
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
        one = await lab.environment(template, "env-a", 23002)
        two = await lab.environment(template, "env-b", 23003)
        await lab.spawner.kill(one.stem)
        with trio.fail_after(10):
            await one.stem.exited.wait()
        assert one.stem.exit_description() == "signal: killed"
        assert not lab.cgroups.pids("env-a")  # its shell went with it
        assert (await two.invoke({}))["uid"] == 23003
        three = await lab.environment(template, "env-c", 23004)  # the template still clones
        assert (await three.invoke({}))["uid"] == 23004

    run(test)


def test_memory_limits_are_per_environment() -> None:
    async def test(lab: Lab) -> None:
        template = await lab.template(CODE)
        await lab.spawner.template_request(template, {"op": "freeze"})
        small = await lab.environment(template, "env-small", 23002, memory_mb=64)
        large = await lab.environment(template, "env-large", 23003, memory_mb=512)
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
