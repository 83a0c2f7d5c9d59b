"""`Spawner.shell` against a fake spawner on a socketpair: the environment a template made is
tracked as a stem, and an end reported before the answer was read is not lost."""

from __future__ import annotations

import socket

import msgpack
import trio

from sandbox.control import decode_request
from sandbox.launcher import Spawner, Stem


def _reply(sock: socket.socket, msg: dict[str, object], fds: list[int] | None = None) -> None:
    socket.send_fds(sock, [msgpack.packb(msg, use_bin_type=True)], fds or [])


async def _run(*, exited_first: bool) -> tuple[bool, int | None, int]:
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
    control = trio.socket.from_stdlib_socket(ours)
    spawner = Spawner(control)
    async with trio.open_nursery() as nursery:
        await nursery.start(spawner._read_replies)  # the reader `open_spawner` runs

        async def fake_spawner() -> None:
            await trio.lowlevel.wait_readable(theirs)
            data, _fds, _flags, _addr = socket.recv_fds(theirs, 65536, 8)
            header, _payload = decode_request(memoryview(data))
            assert header["op"] == "template"
            assert header["request"]["env_id"] == "env-1"
            answer = {"op": "shell", "pid": 2, "host_pid": 4242}
            if exited_first:  # the environment died before its answer was read
                _reply(theirs, {"op": "exited", "id": "env-1", "pid": 2, "status": 9})
            _reply(theirs, {"op": "template_reply", "id": "tpl", "reply": answer})

        nursery.start_soon(fake_spawner)
        template = Stem(sandbox_id="tpl", pid=1)
        _answer, env = await spawner.shell(template, "env-1", {"op": "shell"}, [])
        if not exited_first:
            _reply(theirs, {"op": "exited", "id": "env-1", "pid": 2, "status": 9})
        with trio.fail_after(5):
            await env.exited.wait()
        theirs.close()  # the reader sees EOF and ends
    control.close()
    return env.exited.is_set(), env.exit_status, env.pid


def test_an_environment_made_by_a_template_is_tracked_until_its_end() -> None:
    assert trio.run(lambda: _run(exited_first=False)) == (True, 9, 4242)


def test_an_end_reported_before_the_answer_was_read_is_kept() -> None:
    assert trio.run(lambda: _run(exited_first=True)) == (True, 9, 4242)
