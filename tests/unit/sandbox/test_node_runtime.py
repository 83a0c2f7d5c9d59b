"""The Node.js runtime's msgpack codec and loop, against Python's msgpack (no sandbox)."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.runtime.catalog import NODE_RUNTIME_DIR
from sandbox.protocol import (
    Closed,
    Connection,
    FunctionError,
    InitError,
    Invoke,
    Message,
    NeedData,
    Ready,
    Response,
)

NODE = shutil.which("node", path="/usr/local/bin:/usr/bin:/bin")
pytestmark = pytest.mark.skipif(NODE is None, reason="the host has no node")

APP = """
exports.echo = async (event, context) => ({ event, id: context.awsRequestId,
  left: context.getRemainingTimeInMillis() });
exports.boom = async () => { throw new Error("boom"); };
"""


class Peer:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.conn = Connection()

    def send(self, msg: Message) -> None:
        self.sock.sendall(self.conn.send(msg))

    def recv(self) -> Message | Closed:
        while True:
            event = self.conn.next_event()
            if not isinstance(event, NeedData):
                return event
            self.conn.receive_data(self.sock.recv(1 << 20))


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    (tmp_path / "index.js").write_text(APP)
    procs: list[tuple[int, socket.socket]] = []

    def run(handler: str) -> tuple[int, Peer]:
        ours, theirs = socket.socketpair()
        if theirs.fileno() == 3:  # dup2(3, 3) would leave it close-on-exec
            first, theirs = theirs, theirs.dup()
            first.close()
        ours.settimeout(30)
        env = {"_HANDLER": handler, "LAMBDA_TASK_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"}
        assert NODE is not None
        pid = os.posix_spawn(
            NODE,
            [NODE, str(NODE_RUNTIME_DIR / "bootstrap.js")],
            env,
            file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)],
        )
        theirs.close()
        procs.append((pid, ours))
        return pid, Peer(ours)

    yield run
    for pid, sock in procs:
        sock.close()
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass  # the test reaped it


def test_ready_invoke_response_and_exit_on_close(start: object) -> None:
    pid, peer = start("index.echo")  # type: ignore[operator]
    assert peer.recv() == Ready()
    big = "é" * 40_000  # past 64 KiB once encoded: the 32-bit length forms
    deadline = 4_102_444_800_000  # year 2100: needs a uint64
    payload = json.dumps({"big": big, "n": 1}).encode()
    peer.send(
        Invoke(request_id="r-1", deadline_ms=deadline, invoked_function_arn="arn", payload=payload)
    )
    answer = peer.recv()
    assert isinstance(answer, Response)
    assert answer.request_id == "r-1"
    out = json.loads(answer.payload)
    assert out["event"] == {"big": big, "n": 1}
    assert out["id"] == "r-1"
    assert out["left"] > 0
    peer.sock.shutdown(socket.SHUT_WR)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0


def test_function_error_carries_nodes_document(start: object) -> None:
    _, peer = start("index.boom")  # type: ignore[operator]
    assert peer.recv() == Ready()
    peer.send(Invoke(request_id="r-2", deadline_ms=0, invoked_function_arn="a", payload=b"{}"))
    answer = peer.recv()
    assert isinstance(answer, FunctionError)
    assert answer.error.error_type == "Error"
    assert answer.body is not None
    doc = json.loads(answer.body)
    assert doc["errorMessage"] == "boom"
    assert doc["trace"][0] == "Error: boom"


def test_init_error_then_exit(start: object) -> None:
    pid, peer = start("index.missing")  # type: ignore[operator]
    answer = peer.recv()
    assert isinstance(answer, InitError)
    assert answer.error.error_type == "Runtime.HandlerNotFound"
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 1
