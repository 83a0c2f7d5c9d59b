"""One execution environment: a sandbox running one function version's runtime.

The environment turns Runtime API messages into invocation outcomes. A function that fails
(raises, times out, runs out of memory, exits) is an `InvokeOutcome` with an AWS-shaped
error payload, never an exception; the outcome also says whether the environment may be
reused.

The runtime is reached through a `RuntimeChannel` (`engine.runtime.channels`): lambdalet's msgpack
stream, or AWS's HTTP Runtime API for runtimes that speak it. Every path below (init, invoke,
timeout, crash, REPORT) is the same for both.

Resource handling: the environment owns its `SandboxProcess` (Runtime API stream, log pipe),
its channel, its `LogStream` and the memory peak file it opens; `close()` releases them. Its
sandbox (processes, cgroup, uid, ENI) is the pool's to tear down (`engine.invoke.teardown`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
from dataclasses import dataclass
from typing import Any, Final, Protocol

import trio

from engine.errors import SnapStartException, SnapStartTimeoutException
from engine.model.function import FunctionConfig
from engine.runtime.channels import MsgpackChannel, RuntimeChannel, open_http_channel
from engine.runtime.lifecycle import EnvState, advance
from engine.runtime.logs import LogStream
from engine.runtime.platform_log import PlatformLog
from engine.runtime.report import Report, timeout_message
from sandbox.errors import SandboxError
from sandbox.launcher import SandboxProcess
from sandbox.protocol import (
    Closed,
    ErrorInfo,
    FunctionError,
    InitError,
    Invoke,
    Message,
    Ready,
    RemoteProtocolError,
    Response,
    Restore,
    RestoreError,
    SetupFailed,
)
from sandbox.spec import API_HTTP

logger = logging.getLogger(__name__)

EXIT_GRACE_S = 2.0  # how long to wait for a dead runtime's exit status


# Errors the platform reports (not the function's code): AWS's document for them is only
# errorType and errorMessage.
PLATFORM_ERRORS: Final = frozenset({
    "Runtime.ExitError", "Runtime.OutOfMemory", "Sandbox.Timedout",
    "Function.ResponseSizeTooLarge", "Runtime.InvalidResponse",
})  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class InvokeOutcome:
    payload: bytes
    function_error: str | None  # "Unhandled" when the payload is an error object
    log_tail: bytes  # this invocation's log (START .. REPORT), for X-Amz-Log-Result
    reusable: bool  # False: the environment must be destroyed
    error_type: str | None = None
    billed_ms: int = 0  # REPORT's Billed Duration (init included on a cold start)
    init_billed_ms: int = 0  # of which init (0 on a warm invoke)
    # As the REPORT line says them (for the metrics): the invoke's duration, the environment's
    # Init Duration on its first invoke (None otherwise), the cgroup's peak memory.
    duration_ms: float = 0.0
    init_duration_ms: float | None = None
    max_memory_used_bytes: int = 0
    restored: bool = False  # the first invoke of an environment restored from a snapshot


class CgroupReader(Protocol):
    """What an environment reads from its cgroup (`sandbox.cgroups.Cgroups` provides it)."""

    def oom_kill_count(self, name: str) -> int: ...
    def open_memory_peak(self, name: str) -> int: ...
    def read_memory_peak(self, fd: int) -> int: ...


class PlatformError(Exception):
    """The sandbox could not be built (not the function's fault): a 5xx for the caller."""


@dataclass(frozen=True, slots=True, kw_only=True)
class _RunResult:
    error: ErrorInfo | None = None
    error_body: bytes | None = None  # the runtime's own error document, passed on as is
    payload: bytes | None = None
    reusable: bool = False
    status: str | None = None  # REPORT's Status: error | timeout
    init: bool = False  # the error is the environment's init error


class Environment:
    def __init__(
        self,
        *,
        env_id: str,
        function: FunctionConfig,
        proc: SandboxProcess,
        cgroups: CgroupReader,
        cgroup_name: str,
        log: LogStream,
        uid: int,
        api: str,
        nursery: trio.Nursery,
    ) -> None:
        self.env_id = env_id
        self.function = function
        self.proc = proc
        self.cgroups = cgroups
        self.cgroup_name = cgroup_name
        self.log = log
        self.platform = PlatformLog.for_function(function)  # its lines, in its LogFormat
        self.uid = uid
        self.state = EnvState.CREATING
        self.api = api
        self.nursery = nursery
        self.channel: RuntimeChannel | None = None  # opened by wait_ready()
        self.idle_since = 0.0
        self.init_duration_ms: float | None = None  # reported once, on the first invoke
        # A SnapStart clone's instead (`restore`): the whole restore, and the runtime's part.
        self.restore_duration_ms: float | None = None
        self.restore_runtime_ms: float | None = None
        self.init_error: InitError | None = None  # why init failed, for the first invoke
        self.retired = False  # its function changed or went away: destroy on release
        self.provisioned_for: tuple[str, str] | None = None  # (function, qualifier) it serves
        self._peak_fd = -1  # memory peak file of the cgroup, opened on first use

    def set_state(self, new: EnvState) -> None:
        self.state = advance(self.state, new)

    @property
    def key(self) -> tuple[str, str]:
        """Environments are only ever reused for the same function version."""
        return (self.function.name, self.function.revision_id)

    # -- output -------------------------------------------------------------------------

    async def pump_log_pipe(self) -> None:
        """Copy the runtime's raw stdout/stderr (subprocesses, C code) into the log."""
        fd = self.proc.log_fd
        while True:
            try:
                await trio.lowlevel.wait_readable(fd)
            except (trio.ClosedResourceError, OSError):
                return
            if not self.drain_log_pipe():
                return

    def drain_log_pipe(self) -> bool:
        """Read what the pipe holds now; False once every writer has gone (EOF)."""
        while True:
            try:
                data = os.read(self.proc.log_fd, 65536)
            except BlockingIOError:
                return True
            except OSError:
                return False
            if not data:
                return False
            self.log.write(data)

    async def _next_message(self) -> Message | Closed:
        assert self.channel is not None
        return await self.channel.receive()

    async def _open_channel(self) -> Message | Closed | None:
        """Connect to the runtime; a message instead if the sandbox reported one first."""
        if self.api != API_HTTP:
            self.channel = MsgpackChannel(self.proc.stream, self.log)
            return None
        opened = await open_http_channel(self.proc, self.nursery)
        if isinstance(opened, Message | Closed):
            return opened
        self.channel = opened
        return None

    # -- init ---------------------------------------------------------------------------

    async def wait_ready(self, *, timeout_s: float, started: float) -> None:
        """Wait for the runtime's first message. Init errors are kept for the first invoke.

        `started` (trio clock) is when the platform began building this environment: Init
        Duration counts from there. Raises `PlatformError` if the sandbox itself could not be
        built.
        """
        self.set_state(EnvState.INITIALIZING)
        with trio.move_on_after(timeout_s) as scope:
            try:
                msg = await self._open_channel() or await self._next_message()
            except RemoteProtocolError as exc:
                msg = InitError(
                    error=ErrorInfo(error_type="Runtime.InvalidResponse", error_message=str(exc))
                )
        self.init_duration_ms = (trio.current_time() - started) * 1000
        if scope.cancelled_caught:
            timed_out = ErrorInfo(
                error_type="Sandbox.Timedout",
                error_message=f"Init phase timed out after {timeout_s:.2f} seconds",
            )
            self.init_error = InitError(error=timed_out)
            return
        match msg:
            case Ready():
                return
            case InitError():
                self.init_error = msg
            case SetupFailed():
                raise PlatformError(f"sandbox set-up failed at step '{msg.step}': {msg.message}")
            case Closed():
                self.init_error = InitError(error=await self._exit_error())
                if self.proc.stem.setup_failed:
                    raise PlatformError("sandbox set-up failed (the daemon's log says why)")
            case _:
                unexpected = ErrorInfo(
                    error_type="Runtime.InvalidResponse",
                    error_message=f"unexpected message during init: {type(msg).__name__}",
                )
                self.init_error = InitError(error=unexpected)

    async def restore(self, msg: Restore, *, timeout_s: float, started: float) -> None:
        """A clone of a SnapStart template: hand it its `Restore` and wait for Ready (its
        after-restore hooks done). Restore Duration counts from `started` (trio clock: when
        the platform began making it), its billed part from the Restore. A failed hook is
        `SnapStartException`, a slow one `SnapStartTimeoutException` (Invoke's errors)."""
        self.set_state(EnvState.INITIALIZING)
        channel = MsgpackChannel(self.proc.stream, self.log)
        self.channel = channel
        sent = trio.current_time()
        reply: Message | Closed | None = None
        with trio.move_on_after(timeout_s):
            try:
                await channel.send(msg)
                reply = await self._next_message()
            except (RemoteProtocolError, trio.BrokenResourceError) as exc:
                raise SnapStartException(f"Restore failed: {exc}") from exc
        now = trio.current_time()
        match reply:
            case Ready():
                self.restore_duration_ms = (now - started) * 1000
                self.restore_runtime_ms = (now - sent) * 1000
            case None:
                raise SnapStartTimeoutException(
                    "Lambda couldn't restore the snapshot within the timeout limit."
                )
            case RestoreError() if reply.timed_out:  # the runtime stopped its hook at the limit
                self._log_error(reply.error, "")
                raise SnapStartTimeoutException(
                    "Lambda couldn't restore the snapshot within the timeout limit."
                )
            case RestoreError():
                self._log_error(reply.error, "")
                info = reply.error
                raise SnapStartException(f"{info.error_type}: {info.error_message}")
            case Closed():
                error = await self._exit_error()
                raise SnapStartException(f"Restore failed: {error.error_message}")
            case _:
                raise SnapStartException(f"Restore failed: unexpected {type(reply).__name__}")

    def resume_prepared(self, *, started: float) -> None:
        """A SnapStart clone prepared ahead with nothing left to run before its first invoke
        (`Prepared` said ready: no after-restore hook): restored as it stands, its first
        Invoke the first message it gets. Restore Duration counts from `started`."""
        self.set_state(EnvState.INITIALIZING)
        self.channel = MsgpackChannel(self.proc.stream, self.log)
        self.restore_duration_ms = (trio.current_time() - started) * 1000
        self.restore_runtime_ms = 0.0

    # -- invoke -------------------------------------------------------------------------

    async def invoke(self, inv: Invoke, *, timeout_s: float) -> InvokeOutcome:
        """Run one invocation, logging START/END/REPORT around it."""
        self.set_state(EnvState.BUSY)
        log = self.log
        log.begin_capture()
        if line := self.platform.start(inv.request_id):
            log.write_line(line)
        init_ms, self.init_duration_ms = self.init_duration_ms, None
        restore_ms, self.restore_duration_ms = self.restore_duration_ms, None
        started = trio.current_time()
        if (failed := self.init_error) is not None:
            init_error = failed.error
            if init_error.error_type == "Runtime.ExitError":  # told as this invoke's exit
                message = f"RequestId: {inv.request_id} Error: {init_error.error_message}"
                init_error = dataclasses.replace(init_error, error_message=message)
            result = _RunResult(error=init_error, error_body=failed.body, status="error", init=True)
            if failed.body is None:  # a runtime with its own error documents logs them
                self._log_error(failed.error, "")
        else:
            result = await self._run(inv, timeout_s=timeout_s)
        duration_ms = (trio.current_time() - started) * 1000
        self.drain_log_pipe()
        peak = self._peak_memory()
        report = Report(
            request_id=inv.request_id,
            duration_ms=duration_ms,
            memory_size_mb=self.function.memory_mb,
            max_memory_used_bytes=peak,
            init_duration_ms=init_ms,
            restore_duration_ms=restore_ms,
            restore_runtime_ms=self.restore_runtime_ms if restore_ms is not None else None,
            status=result.status,
        )
        ended = self.platform.end(
            report,
            produced_bytes=len(result.payload or b""),
            error_type=result.error.error_type if result.error is not None else None,
        )
        if ended:
            log.write_line(ended)  # END and REPORT in one write
        tail = log.end_capture()
        error = result.error
        if error is not None:
            if error.error_type in PLATFORM_ERRORS:  # Lambda's own: type and message only
                body: dict[str, Any] = {
                    "errorMessage": error.error_message,
                    "errorType": error.error_type,
                }
                payload = json.dumps(body).encode()
            elif result.error_body is not None:
                payload = result.error_body
            else:
                # An init error is no invocation's: AWS's document names no request.
                request_id = "" if result.init else inv.request_id
                body = {**error.to_aws(), "requestId": request_id}
                payload = json.dumps(body).encode()
            return InvokeOutcome(
                payload=payload,
                function_error="Unhandled",
                log_tail=tail,
                reusable=result.reusable,
                error_type=error.error_type,
                billed_ms=report.billed_duration_ms,
                init_billed_ms=report.init_billed_ms,
                duration_ms=duration_ms,
                init_duration_ms=init_ms,
                max_memory_used_bytes=peak,
                restored=restore_ms is not None,
            )
        assert result.payload is not None
        return InvokeOutcome(
            payload=result.payload,
            function_error=None,
            log_tail=tail,
            reusable=True,
            billed_ms=report.billed_duration_ms,
            init_billed_ms=report.init_billed_ms,
            duration_ms=duration_ms,
            init_duration_ms=init_ms,
            max_memory_used_bytes=peak,
            restored=restore_ms is not None,
        )

    async def _run(self, inv: Invoke, *, timeout_s: float) -> _RunResult:
        assert self.channel is not None
        try:
            await self.channel.send_invoke(inv)
        except (trio.BrokenResourceError, trio.ClosedResourceError):
            return _RunResult(error=await self._exit_error(inv.request_id), status="error")
        msg: Message | Closed | None = None
        with trio.move_on_after(timeout_s):
            try:
                msg = await self._next_message()
            except RemoteProtocolError as exc:
                err = ErrorInfo(
                    error_type="Runtime.InvalidResponse",
                    error_message=f"RequestId: {inv.request_id} Error: {exc}",
                )
                return _RunResult(error=err, status="error")
        match msg:
            case None:
                if line := self.platform.timeout(inv.request_id, timeout_s):
                    self.log.write_line(line)
                message = f"RequestId: {inv.request_id} Error: {timeout_message(timeout_s)}"
                err = ErrorInfo(error_type="Sandbox.Timedout", error_message=message)
                return _RunResult(error=err, status="timeout")
            case Response() if msg.request_id == inv.request_id:
                return _RunResult(payload=msg.payload, reusable=True)
            case FunctionError() if msg.request_id == inv.request_id:
                if msg.body is None:  # a runtime with its own error documents logs them
                    self._log_error(msg.error, inv.request_id)
                return _RunResult(error=msg.error, error_body=msg.body, reusable=True)
            case Closed():
                return _RunResult(error=await self._exit_error(inv.request_id), status="error")
        err = ErrorInfo(
            error_type="Runtime.InvalidResponse",
            error_message=f"RequestId: {inv.request_id} Error: unexpected {type(msg).__name__}",
        )
        return _RunResult(error=err, status="error")

    async def _exit_error(self, request_id: str | None = None) -> ErrorInfo:
        """Why the runtime went away: out of memory, or an exit/signal."""
        with trio.move_on_after(EXIT_GRACE_S):
            await self.proc.exited.wait()
        prefix = f"RequestId: {request_id} Error: " if request_id else ""
        try:
            oom = self.cgroups.oom_kill_count(self.cgroup_name) > 0
        except OSError:
            oom = False
        if oom:
            return ErrorInfo(
                error_type="Runtime.OutOfMemory",
                error_message=f"{prefix}Runtime exited with error: signal: killed",
            )
        description = self.proc.exit_description()
        if description == "exit status 0":  # AWS's words for a runtime that just stopped
            reason = "Runtime exited without providing a reason"
        else:
            reason = f"Runtime exited with error: {description}"
        return ErrorInfo(error_type="Runtime.ExitError", error_message=f"{prefix}{reason}")

    def _log_error(self, error: ErrorInfo, request_id: str) -> None:
        self.log.write(self.platform.runtime_error(error, request_id).encode())

    def _peak_memory(self) -> int:
        try:
            if self._peak_fd < 0:
                self._peak_fd = self.cgroups.open_memory_peak(self.cgroup_name)
            return self.cgroups.read_memory_peak(self._peak_fd)
        except (OSError, ValueError, SandboxError):
            return 0

    def close(self) -> None:
        """Release what the environment holds open: its channel, log, memory peak file, and
        its `SandboxProcess`'s Runtime API socket and log pipe. Called once the sandbox is
        dead (its cgroup and processes are the pool's teardown to remove)."""
        if self.channel is not None:
            self.channel.close()
        self.log.close()
        if self._peak_fd >= 0:
            os.close(self._peak_fd)
            self._peak_fd = -1
        self.proc.stream.socket.close()
        trio.lowlevel.notify_closing(self.proc.log_fd)  # wakes pump_log_pipe
        os.close(self.proc.log_fd)
