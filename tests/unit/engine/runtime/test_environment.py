"""An environment's invoke outcomes, against a fake runtime on a socketpair (no root).

The fake runtime speaks the real protocol (`sandbox.protocol.Connection`); timeouts run on
trio's autojump clock, so a 3-second timeout takes no time.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
import trio.testing

from engine.model.function import FunctionConfig
from engine.runtime.environment import Environment, PlatformError
from engine.runtime.log_store import LogStore
from sandbox.launcher import SandboxProcess, Stem
from sandbox.protocol import (
    Closed,
    Connection,
    ErrorInfo,
    FunctionError,
    InitError,
    Invoke,
    Log,
    Message,
    NeedData,
    Ready,
    Response,
    SetupFailed,
)
from sandbox.spec import API_MSGPACK

FUNCTION = FunctionConfig(
    name="fn",
    runtime="python3.11",
    handler="app.handler",
    role="arn:aws:iam::000000000000:role/r",
    memory_mb=256,
    code_digest="ab" * 32,
    code_sha256="x",
    code_size=1,
    last_modified="2026-01-01T00:00:00.000+0000",
    revision_id="rev",
)
MIB = 1024 * 1024


@dataclass
class FakeCgroups:
    oom_kills: int = 0
    peak_bytes: int = 37 * MIB
    fds: list[int] = field(default_factory=list)

    def oom_kill_count(self, name: str) -> int:
        return self.oom_kills

    def open_memory_peak(self, name: str) -> int:
        fd = os.open(os.devnull, os.O_RDONLY)
        self.fds.append(fd)
        return fd

    def read_memory_peak(self, fd: int) -> int:
        return self.peak_bytes


class FakeRuntime:
    """The other end of the Runtime API socket."""

    def __init__(self, sock: socket.socket) -> None:
        self.stream = trio.SocketStream(trio.socket.from_stdlib_socket(sock))
        self.conn = Connection()

    async def send(self, *msgs: Message) -> None:
        await self.stream.send_all(b"".join(self.conn.send(m) for m in msgs))

    async def receive(self) -> Message | Closed:
        while True:
            event = self.conn.next_event()
            if not isinstance(event, NeedData):
                return event
            self.conn.receive_data(await self.stream.receive_some(65536))


Scenario = Callable[[FakeRuntime, Stem], Awaitable[None]]


@pytest.fixture
async def make_env(
    tmp_path: Path, nursery: trio.Nursery
) -> AsyncIterator[Callable[..., Awaitable[Environment]]]:
    envs: list[Environment] = []
    runtimes: list[FakeRuntime] = []

    async def make(
        scenario: Scenario, cgroups: FakeCgroups, function: FunctionConfig = FUNCTION
    ) -> Environment:
        ours, theirs = socket.socketpair()
        log_r, log_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        os.close(log_w)
        stem = Stem(sandbox_id="abc", pid=12345)
        proc = SandboxProcess(
            stem=stem, stream=trio.SocketStream(trio.socket.from_stdlib_socket(ours)), log_fd=log_r
        )
        env = Environment(
            env_id="abc",
            function=function,
            proc=proc,
            cgroups=cgroups,
            cgroup_name="sb-abc",
            log=LogStore(tmp_path).open_stream(function),
            uid=200001,
            api=API_MSGPACK,
            nursery=nursery,
        )
        envs.append(env)
        runtime = FakeRuntime(theirs)
        runtimes.append(runtime)
        nursery.start_soon(scenario, runtime, stem)
        await env.wait_ready(timeout_s=10, started=trio.current_time())
        return env

    yield make
    nursery.cancel_scope.cancel()
    for env in envs:
        env.close()  # the environment closes its own socket and log pipe
    for runtime in runtimes:
        runtime.stream.socket.close()


def invoke_msg(request_id: str = "rid-1") -> Invoke:
    return Invoke(request_id=request_id, deadline_ms=0, invoked_function_arn="arn", payload=b"{}")


async def test_response_with_logs_and_report(make_env) -> None:  # type: ignore[no-untyped-def]
    async def runtime(rt: FakeRuntime, stem: Stem) -> None:
        await rt.send(Ready())
        msg = await rt.receive()
        assert isinstance(msg, Invoke)
        await rt.send(Log(data=b"hello\n"), Response(request_id=msg.request_id, payload=b"42"))

    env = await make_env(runtime, FakeCgroups())
    outcome = await env.invoke(invoke_msg(), timeout_s=3)
    assert outcome.payload == b"42"
    assert outcome.function_error is None and outcome.reusable
    log = outcome.log_tail.decode()
    lines = log.splitlines()
    assert lines[0] == "START RequestId: rid-1 Version: $LATEST"
    assert lines[1] == "hello"
    assert lines[2] == "END RequestId: rid-1"
    assert lines[3].startswith("REPORT RequestId: rid-1\tDuration: ")
    assert "\tMemory Size: 256 MB\tMax Memory Used: 37 MB\tInit Duration: " in lines[3]
    # The outcome carries what the REPORT line bills (the usage ledger counts it)
    billed = re.search(r"\tBilled Duration: (\d+) ms\t", lines[3])
    assert billed is not None and outcome.billed_ms == int(billed[1]) >= 1
    assert 0 <= outcome.init_billed_ms <= outcome.billed_ms


async def test_function_error_keeps_the_environment(make_env) -> None:  # type: ignore[no-untyped-def]
    async def runtime(rt: FakeRuntime, stem: Stem) -> None:
        await rt.send(Ready())
        for _ in range(2):
            msg = await rt.receive()
            assert isinstance(msg, Invoke)
            info = ErrorInfo(error_type="ValueError", error_message="boom", stack_trace=["  at\n"])
            await rt.send(FunctionError(request_id=msg.request_id, error=info))

    env = await make_env(runtime, FakeCgroups())
    first = await env.invoke(invoke_msg("r1"), timeout_s=3)
    assert first.function_error == "Unhandled" and first.reusable
    body = json.loads(first.payload)
    assert body == {
        "errorMessage": "boom",
        "errorType": "ValueError",
        "stackTrace": ["  at\n"],
        "requestId": "r1",
    }
    assert "[ERROR] ValueError: boom" in first.log_tail.decode()
    env.set_state(env.state.IDLE)
    second = await env.invoke(invoke_msg("r2"), timeout_s=3)
    assert "Init Duration" not in second.log_tail.decode()  # only on the cold invoke
    assert second.init_billed_ms == 0 and second.billed_ms >= 1  # errors are billed too


JSON_FUNCTION = FUNCTION.replace(
    log_format="JSON", application_log_level="INFO", system_log_level="INFO"
)


async def test_json_format_writes_platform_events_and_a_json_error_record(make_env) -> None:  # type: ignore[no-untyped-def]
    async def runtime(rt: FakeRuntime, stem: Stem) -> None:
        await rt.send(Ready())
        msg = await rt.receive()
        assert isinstance(msg, Invoke)
        info = ErrorInfo(error_type="ValueError", error_message="boom", stack_trace=["  at\n"])
        await rt.send(Log(data=b"printed\n"), FunctionError(request_id=msg.request_id, error=info))

    env = await make_env(runtime, FakeCgroups(), JSON_FUNCTION)
    outcome = await env.invoke(invoke_msg("r1"), timeout_s=3)
    lines = outcome.log_tail.decode().splitlines()
    assert lines[1] == "printed"  # the function's own output stays as it was written
    start, error, report = (json.loads(lines[i]) for i in (0, 2, 3))
    assert len(lines) == 4
    assert (start["type"], start["record"]) == (
        "platform.start",
        {"requestId": "r1", "version": "$LATEST"},
    )
    assert error["log_level"] == "ERROR" and error["requestId"] == "r1"
    assert (error["errorType"], error["errorMessage"]) == ("ValueError", "boom")
    assert report["type"] == "platform.report"
    assert report["record"]["requestId"] == "r1"
    assert report["record"]["metrics"]["memorySizeMB"] == 256
    assert report["record"]["metrics"]["maxMemoryUsedMB"] == 37
    assert "initDurationMs" in report["record"]["metrics"]


async def test_json_with_system_level_warn_writes_only_the_functions_output(  # type: ignore[no-untyped-def]
    make_env, autojump_clock: trio.testing.MockClock
) -> None:
    async def runtime(rt: FakeRuntime, stem: Stem) -> None:
        await rt.send(Ready())
        await rt.receive()
        await rt.send(Log(data=b'{"level":"INFO"}\n'))
        await trio.sleep_forever()

    function = JSON_FUNCTION.replace(system_log_level="WARN")
    env = await make_env(runtime, FakeCgroups(), function)
    outcome = await env.invoke(invoke_msg(), timeout_s=3)
    assert json.loads(outcome.payload)["errorType"] == "Sandbox.Timedout"
    assert outcome.log_tail.decode() == '{"level":"INFO"}\n'  # no start, no timeout, no report


async def test_timeout(make_env, autojump_clock: trio.testing.MockClock) -> None:  # type: ignore[no-untyped-def]
    async def runtime(rt: FakeRuntime, stem: Stem) -> None:
        await rt.send(Ready())
        await rt.receive()
        await trio.sleep_forever()

    env = await make_env(runtime, FakeCgroups())
    outcome = await env.invoke(invoke_msg(), timeout_s=3)
    assert not outcome.reusable
    body = json.loads(outcome.payload)
    assert body["errorType"] == "Sandbox.Timedout"
    assert body["errorMessage"] == "RequestId: rid-1 Error: Task timed out after 3.00 seconds"
    log = outcome.log_tail.decode()
    assert "rid-1 Task timed out after 3.00 seconds\n" in log
    assert "\tStatus: timeout\t\n" in log


async def test_runtime_exit_reports_its_status(make_env) -> None:  # type: ignore[no-untyped-def]
    async def runtime(rt: FakeRuntime, stem: Stem) -> None:
        await rt.send(Ready())
        await rt.receive()
        await rt.stream.aclose()
        stem.exit_status = 3 << 8  # init exits with the runtime's status, 3
        stem.exited.set()

    env = await make_env(runtime, FakeCgroups())
    outcome = await env.invoke(invoke_msg(), timeout_s=3)
    body = json.loads(outcome.payload)
    assert body["errorType"] == "Runtime.ExitError"
    assert (
        body["errorMessage"] == "RequestId: rid-1 Error: Runtime exited with error: exit status 3"
    )
    assert not outcome.reusable


async def test_out_of_memory_is_told_by_the_cgroup(make_env) -> None:  # type: ignore[no-untyped-def]
    cgroups = FakeCgroups()

    async def runtime(rt: FakeRuntime, stem: Stem) -> None:
        await rt.send(Ready())
        await rt.receive()
        cgroups.oom_kills = 1
        await rt.stream.aclose()
        stem.exit_status = 9  # killed by SIGKILL
        stem.exited.set()

    env = await make_env(runtime, cgroups)
    body = json.loads((await env.invoke(invoke_msg(), timeout_s=3)).payload)
    assert body["errorType"] == "Runtime.OutOfMemory"
    assert body["errorMessage"].endswith("Runtime exited with error: signal: killed")


async def test_init_error_answers_the_first_invoke(make_env) -> None:  # type: ignore[no-untyped-def]
    async def runtime(rt: FakeRuntime, stem: Stem) -> None:
        info = ErrorInfo(error_type="Runtime.ImportModuleError", error_message="no module")
        await rt.send(InitError(error=info))

    env = await make_env(runtime, FakeCgroups())
    outcome = await env.invoke(invoke_msg(), timeout_s=3)
    body = json.loads(outcome.payload)
    assert body["errorType"] == "Runtime.ImportModuleError"
    assert outcome.function_error == "Unhandled" and not outcome.reusable
    assert "Init Duration" in outcome.log_tail.decode()


async def test_setup_failure_is_the_platforms_error(make_env) -> None:  # type: ignore[no-untyped-def]
    async def runtime(rt: FakeRuntime, stem: Stem) -> None:
        await rt.send(SetupFailed(step="attach the function's code", message="ENOENT"))

    with pytest.raises(PlatformError, match="attach the function's code"):
        await make_env(runtime, FakeCgroups())


async def test_garbage_from_the_runtime_is_not_trusted(make_env) -> None:  # type: ignore[no-untyped-def]
    async def runtime(rt: FakeRuntime, stem: Stem) -> None:
        await rt.send(Ready())
        await rt.receive()
        await rt.stream.send_all(b"\x00\x00\x00\x01\xc1")  # a frame msgpack cannot decode

    env = await make_env(runtime, FakeCgroups())
    outcome = await env.invoke(invoke_msg(), timeout_s=3)
    assert json.loads(outcome.payload)["errorType"] == "Runtime.InvalidResponse"
    assert not outcome.reusable


async def test_response_for_another_request_is_not_accepted(make_env) -> None:  # type: ignore[no-untyped-def]
    async def runtime(rt: FakeRuntime, stem: Stem) -> None:
        await rt.send(Ready())
        await rt.receive()
        await rt.send(Response(request_id="someone-else", payload=b"1"))

    env = await make_env(runtime, FakeCgroups())
    outcome = await env.invoke(invoke_msg(), timeout_s=3)
    assert json.loads(outcome.payload)["errorType"] == "Runtime.InvalidResponse"
    assert not outcome.reusable


async def test_a_runtime_flooding_its_output_still_times_out(make_env) -> None:  # type: ignore[no-untyped-def]
    """The channel reads only after a wait, so a stream that always has data cannot starve the
    event loop and the invoke's timeout fires (a thread floods the socket with Log frames)."""
    stop = threading.Event()
    frame = Connection().send(Log(data=b"x" * 200 + b"\n")) * 50

    def flood(fd: int) -> None:
        view = memoryview(b"")
        while not stop.is_set():
            if not view:
                view = memoryview(frame)
            select.select([], [fd], [], 0.05)
            try:
                view = view[os.write(fd, view) :]
            except BlockingIOError:
                pass
            except OSError:
                return

    async def runtime(rt: FakeRuntime, stem: Stem) -> None:
        await rt.send(Ready())
        await rt.receive()
        await trio.to_thread.run_sync(flood, rt.stream.socket.fileno(), abandon_on_cancel=True)

    env = await make_env(runtime, FakeCgroups())
    try:
        started = trio.current_time()
        outcome = await env.invoke(invoke_msg(), timeout_s=0.3)
        assert trio.current_time() - started < 5
    finally:
        stop.set()
    assert json.loads(outcome.payload)["errorType"] == "Sandbox.Timedout"
    assert b"x" * 200 in outcome.log_tail
