"""The Node.js runtime's msgpack codec and loop, against Python's msgpack (no sandbox)."""

from __future__ import annotations

import json
import os
import shutil
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

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
exports.chatty = async () => {
  console.trace("t"); console.debug("d"); console.log("l %d", 1); console.info({ k: [1] });
  console.warn("w", new TypeError("bad")); console.error(new RangeError("r"));
  console.fatal("f");
  return 1;
};
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

    def run(
        handler: str, extra_env: dict[str, str] | None = None, stdout: Path | None = None
    ) -> tuple[int, Peer]:
        ours, theirs = socket.socketpair()
        if theirs.fileno() == 3:  # dup2(3, 3) would leave it close-on-exec
            first, theirs = theirs, theirs.dup()
            first.close()
        ours.settimeout(30)
        env = {"_HANDLER": handler, "LAMBDA_TASK_ROOT": str(tmp_path), "PATH": "/usr/bin:/bin"}
        env.update(extra_env or {})
        actions: list[tuple[Any, ...]] = [(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)]
        if stdout is not None:
            flags = os.O_WRONLY | os.O_CREAT | os.O_APPEND
            actions.append((os.POSIX_SPAWN_OPEN, 1, str(stdout), flags, 0o600))
        assert NODE is not None
        pid = os.posix_spawn(
            NODE, [NODE, str(NODE_RUNTIME_DIR / "bootstrap.js")], env, file_actions=actions
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


def run_chatty(start: object, tmp_path: Path, env: dict[str, str]) -> list[str]:
    out = tmp_path / "stdout"
    pid, peer = start("index.chatty", env, out)  # type: ignore[operator]
    assert peer.recv() == Ready()
    peer.send(Invoke(request_id="r-9", deadline_ms=0, invoked_function_arn="a", payload=b"{}"))
    assert isinstance(peer.recv(), Response)
    peer.sock.shutdown(socket.SHUT_WR)
    os.waitpid(pid, 0)
    return out.read_text().splitlines()


def test_json_format_one_object_a_line(start: object, tmp_path: Path) -> None:
    lines = run_chatty(start, tmp_path, {"AWS_LAMBDA_LOG_FORMAT": "JSON"})
    docs = [json.loads(line) for line in lines]
    assert [d["level"] for d in docs] == ["TRACE", "DEBUG", "INFO", "INFO", "WARN", "ERROR",
                                          "FATAL"]  # fmt: skip
    assert all(d["requestId"] == "r-9" and d["timestamp"].endswith("Z") for d in docs)
    assert list(docs[0]) == ["timestamp", "level", "requestId", "message"]
    assert docs[2]["message"] == "l 1"
    assert docs[3]["message"] == {"k": [1]}  # a lone argument is kept as it is
    assert docs[4]["message"].startswith("w TypeError: bad")  # several: one formatted message
    assert (docs[4]["errorType"], docs[4]["errorMessage"]) == ("TypeError", "bad")
    assert docs[4]["stackTrace"][0] == "TypeError: bad"
    error = docs[5]["message"]  # a lone Error: its fields
    assert (error["errorType"], error["errorMessage"]) == ("RangeError", "r")
    assert error["stackTrace"][0] == "RangeError: r"


def test_json_format_filtered_by_the_log_level(start: object, tmp_path: Path) -> None:
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "WARN"}
    lines = run_chatty(start, tmp_path, env)
    assert [json.loads(line)["level"] for line in lines] == ["WARN", "ERROR", "FATAL"]


def test_text_format_as_before(start: object, tmp_path: Path) -> None:
    lines = run_chatty(start, tmp_path, {})
    assert [line.split("\t")[1:3] for line in lines if "\t" in line][:3] == [
        ["r-9", "TRACE"], ["r-9", "DEBUG"], ["r-9", "INFO"],
    ]  # fmt: skip
    assert any(line.endswith("\tINFO\tl 1") for line in lines)


def test_json_invoke_error_record(start: object, tmp_path: Path) -> None:
    out = tmp_path / "stdout"
    pid, peer = start("index.boom", {"AWS_LAMBDA_LOG_FORMAT": "JSON"}, out)  # type: ignore[operator]
    assert peer.recv() == Ready()
    peer.send(Invoke(request_id="r-3", deadline_ms=0, invoked_function_arn="a", payload=b"{}"))
    assert isinstance(peer.recv(), FunctionError)
    peer.sock.shutdown(socket.SHUT_WR)
    os.waitpid(pid, 0)
    (doc,) = [json.loads(line) for line in out.read_text().splitlines()]
    assert (doc["level"], doc["requestId"]) == ("ERROR", "r-3")
    assert doc["message"]["errorType"] == "Error"
    assert doc["message"]["errorMessage"] == "boom"
