"""The python3.11 runtime: loads ``module.function`` from /var/task and serves invokes.

It runs inside the sandbox as an unprivileged process forked from the spawner, so it imports
only the standard library and msgpack, and `preload()` (called in the spawner) imports
everything it will need before the host's paths disappear behind pivot_root.

Error shapes follow Lambda's Python runtime: ``Runtime.ImportModuleError``,
``Runtime.HandlerNotFound``, ``Runtime.MalformedHandlerName``, ``Runtime.UserCodeSyntaxError``,
``Runtime.MarshalError``, ``Function.ResponseSizeTooLarge``, and the exception's own class
name for errors raised by the handler.

With ``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start`` the runtime is a SnapStart template: after
init it runs the before-snapshot hooks, says `TemplateReady` and waits; each clone of it resumes
there, reads its `Restore`, runs the after-restore hooks and goes on as a cold start does
(`snapstart.py`; the protocol's text has the exchange).
"""

from __future__ import annotations

import gc
import importlib
import io
import json
import logging
import os
import socket
import sys
import threading
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from types import TracebackType
from typing import TYPE_CHECKING, Any, NoReturn

import sandbox.runtimes.python.snapshot_restore_py as snapshot_restore_py
from sandbox.protocol import (
    AFTER_RESTORE_ERROR,
    AFTER_RESTORE_TIMEOUT_S,
    BEFORE_SNAPSHOT_ERROR,
    EXIT_AFTER_RESTORE_ERROR,
    EXIT_BEFORE_SNAPSHOT_ERROR,
    INIT_TYPE_SNAP_START,
    Closed,
    Connection,
    ErrorInfo,
    FunctionError,
    InitError,
    Invoke,
    Log,
    Message,
    NeedData,
    Prepare,
    Prepared,
    Ready,
    RemoteProtocolError,
    Response,
    Restore,
    RestoreError,
    TemplateReady,
)
from sandbox.runtimes.python.json_logging import configure_logging

if TYPE_CHECKING:
    from types import ModuleType

MAX_RESPONSE_BYTES = 6 * 1024 * 1024 + 100  # AWS's limit on a function's response
TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"

Handler = Callable[[Any, "LambdaContext"], Any]

_interpreter = sys.executable
_stdlib_path: list[str] = []
_current_request_id = ""


def preload(*, snapstart: bool = True) -> None:
    """Import, in the spawner, everything the runtime uses later (host paths vanish). An
    exec'd interpreter leaves out SnapStart's module, which `_serve` imports for a template
    only (a cold start spares compiling it)."""
    global _interpreter
    import encodings.idna
    import encodings.latin_1  # noqa: F401
    import importlib.machinery
    import importlib.util  # noqa: F401
    import linecache  # noqa: F401
    import tokenize  # noqa: F401

    if snapstart:
        _import_snapstart()

    _interpreter = os.path.realpath(sys.executable)
    base = os.path.realpath(sys.base_prefix)
    _stdlib_path[:] = [
        p
        for p in sys.path
        if os.path.realpath(p).startswith(base + "/")
        and "site-packages" not in p
        and "dist-packages" not in p
    ]


class _Channel:
    """The Runtime API socket, blocking, shared by the main thread and print() callers."""

    def __init__(self, fd: int) -> None:
        self.sock = socket.socket(fileno=fd)
        self.conn = Connection()
        self.lock = threading.Lock()

    def send(self, msg: Message) -> None:
        data = self.conn.send(msg)
        with self.lock:
            self.sock.sendall(data)

    def recv(self) -> Message | Closed:
        while True:
            event = self.conn.next_event()
            if not isinstance(event, NeedData):
                return event
            self.conn.receive_data(self.sock.recv(65536))


class _LogSink(io.RawIOBase):
    """What print() and logging write to: each flushed chunk becomes one Log frame.

    Created in the stem, before there is a channel; output before specialization (there
    should be none: no user code runs then) is dropped.
    """

    channel: _Channel | None = None

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        if data and self.channel is not None:
            self.channel.send(Log(data=data))
        return len(data)


_sink = _LogSink()


class CognitoIdentity:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.cognito_identity_id = raw.get("cognitoIdentityId")
        self.cognito_identity_pool_id = raw.get("cognitoIdentityPoolId")


class ClientContext:
    def __init__(self, raw: dict[str, Any]) -> None:
        self.client = raw.get("client")
        self.custom = raw.get("custom")
        self.env = raw.get("env")


def _parse_json_object(text: str | None) -> dict[str, Any] | None:
    if not text:
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


class LambdaContext:
    """The ``context`` argument, with the attributes Lambda's Python runtime provides."""

    def __init__(self, invoke: Invoke) -> None:
        env = os.environ
        self.function_name = env.get("AWS_LAMBDA_FUNCTION_NAME", "")
        self.function_version = env.get("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        self.memory_limit_in_mb = env.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "")
        self.log_group_name = env.get("AWS_LAMBDA_LOG_GROUP_NAME", "")
        self.log_stream_name = env.get("AWS_LAMBDA_LOG_STREAM_NAME", "")
        self.invoked_function_arn = invoke.invoked_function_arn
        self.aws_request_id = invoke.request_id
        self._deadline_ms = invoke.deadline_ms
        cc = _parse_json_object(invoke.client_context)
        self.client_context = ClientContext(cc) if cc is not None else None
        ident = _parse_json_object(invoke.identity)
        self.identity = CognitoIdentity(ident) if ident is not None else None

    def get_remaining_time_in_millis(self) -> int:
        return max(self._deadline_ms - int(time.time() * 1000), 0)

    def __repr__(self) -> str:
        return (
            f"LambdaContext(function_name={self.function_name!r}, "
            f"aws_request_id={self.aws_request_id!r})"
        )


class _InitFailure(Exception):
    def __init__(self, info: ErrorInfo) -> None:
        super().__init__(info.error_message)
        self.info = info


def _user_frames(tb: TracebackType | None) -> list[str]:
    """Format a traceback without the runtime's own frames, as Lambda's stackTrace does."""
    frames = traceback.extract_tb(tb)
    kept = [f for f in frames if not f.filename.startswith(os.path.dirname(__file__))]
    return traceback.format_list(kept)


def _error_from(exc: BaseException) -> ErrorInfo:
    return ErrorInfo(
        error_type=type(exc).__name__,
        error_message=str(exc),
        stack_trace=_user_frames(exc.__traceback__),
    )


def load_handler(handler: str) -> Handler:
    """Import the handler's module and return the function, or raise `_InitFailure`."""
    try:
        modname, fname = handler.rsplit(".", 1)
    except ValueError as exc:
        raise _InitFailure(
            ErrorInfo(
                error_type="Runtime.MalformedHandlerName",
                error_message=f"Bad handler '{handler}': {exc}",
            )
        ) from None
    modname = modname.replace("/", ".")
    try:
        module = importlib.import_module(modname)
    except ImportError as exc:
        raise _InitFailure(
            ErrorInfo(
                error_type="Runtime.ImportModuleError",
                error_message=f"Unable to import module '{modname}': {exc}",
            )
        ) from None
    except SyntaxError as exc:
        raise _InitFailure(
            ErrorInfo(
                error_type="Runtime.UserCodeSyntaxError",
                error_message=f"Syntax error in module '{modname}': {exc}",
                stack_trace=_user_frames(exc.__traceback__),
            )
        ) from None
    except Exception as exc:  # user code failing at import time is the user's init error
        raise _InitFailure(_error_from(exc)) from None
    fn = getattr(module, fname, None)
    if fn is None or not callable(fn):
        raise _InitFailure(
            ErrorInfo(
                error_type="Runtime.HandlerNotFound",
                error_message=f"Handler '{fname}' missing on module '{modname}'",
            )
        )
    return fn  # type: ignore[no-any-return]


class _RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = _current_request_id
        return True


_log_handler: logging.Handler | None = None


def _install_logging() -> None:
    """Lambda's root handler: ``[LEVEL]\\t<UTC time>\\t<request id>\\t<message>``, until
    `configure_logging` has read the function's LogFormat."""
    global _log_handler
    handler = logging.StreamHandler(sys.stdout)
    formatter = logging.Formatter(
        "[%(levelname)s]\t%(asctime)s.%(msecs)03dZ\t%(aws_request_id)s\t%(message)s",
        "%Y-%m-%dT%H:%M:%S",
    )
    formatter.converter = time.gmtime
    handler.setFormatter(formatter)
    handler.addFilter(_RequestIdFilter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    _log_handler = handler


_SANDBOX_PATH = [
    TASK_ROOT,
    f"/opt/python/lib/python{sys.version_info[0]}.{sys.version_info[1]}/site-packages",
    "/opt/python",
    RUNTIME_DIR,
]
EXEC_RUNTIME_FD = 3  # where an exec'd interpreter finds its socket (sandbox.spec.RUNTIME_FD)


def prepare_stem() -> None:
    """Everything that does not depend on the function, done in the stem ahead of demand."""
    sys.executable = _interpreter
    sys.argv = [os.path.join(RUNTIME_DIR, "bootstrap.py")]
    sys.dont_write_bytecode = True
    for name in ("stdout", "stderr"):
        stream = io.TextIOWrapper(
            io.BufferedWriter(_sink),
            encoding="utf-8",
            errors="backslashreplace",
            line_buffering=True,
        )
        setattr(sys, name, stream)
    _install_logging()


def _enter_sandbox_paths() -> None:
    sys.path[:] = [*_SANDBOX_PATH, *_stdlib_path]
    for path in _SANDBOX_PATH:  # forget what the stem may have cached about them
        sys.path_importer_cache.pop(path, None)


def _flush_output() -> None:
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def _invoke(fn: Handler, msg: Invoke) -> Message:
    global _current_request_id
    _current_request_id = msg.request_id
    try:
        event = json.loads(msg.payload) if msg.payload else {}
        result = fn(event, LambdaContext(msg))
    except Exception as exc:  # the handler's failure is the invoke's result
        return FunctionError(request_id=msg.request_id, error=_error_from(exc))
    finally:
        _flush_output()
    try:
        payload = json.dumps(result).encode()
    except (TypeError, ValueError) as exc:
        info = ErrorInfo(
            error_type="Runtime.MarshalError", error_message=f"Unable to marshal response: {exc}"
        )
        return FunctionError(request_id=msg.request_id, error=info)
    if len(payload) > MAX_RESPONSE_BYTES:
        info = ErrorInfo(
            error_type="Function.ResponseSizeTooLarge",
            error_message=(
                "Response payload size exceeded maximum allowed payload size "
                f"({MAX_RESPONSE_BYTES} bytes)."
            ),
        )
        return FunctionError(request_id=msg.request_id, error=info)
    return Response(request_id=msg.request_id, payload=payload)


def run(fd: int, *, handler: str) -> NoReturn:
    """Init, report Ready (or the init error), then serve invokes until the socket closes.

    `prepare_stem()` must have run first in this process. A handler (or module) that calls
    ``sys.exit(n)`` ends the runtime with status n, as on Lambda ("Runtime exited with
    error: exit status n"); any other escape (KeyboardInterrupt, ...) ends it with 1.
    """
    try:
        _serve(fd, handler=handler)
    except SystemExit as exc:
        _flush_output()
        code = exc.code
        os._exit(code if isinstance(code, int) else (0 if code is None else 1))
    except BaseException:
        traceback.print_exc()
        _flush_output()
        os._exit(1)
    os._exit(0)


def main_exec() -> NoReturn:
    """Entry point when another interpreter (python3.12, ...) runs this runtime: exec'd in
    the sandbox, already unprivileged, with its socket on fd 3."""
    preload(snapstart=False)
    prepare_stem()
    run(EXEC_RUNTIME_FD, handler=os.environ.get("_HANDLER", ""))


def _import_snapstart() -> ModuleType:
    import sandbox.runtimes.python.snapstart as snapstart

    return snapstart


def _serve(fd: int, *, handler: str) -> None:
    # A template's module is imported while sys.path still finds the runtime (an exec'd
    # interpreter's /var/runtime/lib); anything else never needs it.
    template = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE") == INIT_TYPE_SNAP_START
    snapstart = _import_snapstart() if template else None
    channel = _Channel(fd)
    _sink.channel = channel
    _enter_sandbox_paths()
    # The function's `import snapshot_restore_py` is the runtime's own (the hooks it registers
    # are those `snapstart` runs), whatever /var/task holds: Lambda's runtime imports it first.
    sys.modules["snapshot_restore_py"] = snapshot_restore_py
    if _log_handler is not None:
        configure_logging(_log_handler, os.environ)
    try:
        fn = load_handler(handler)
    except _InitFailure as failure:
        _flush_output()
        channel.send(InitError(error=failure.info))
        os._exit(1)
    _flush_output()
    msg: Message | Closed | None = None
    if snapstart is not None:
        msg = _snapshot_then_restore(channel, snapstart)
    if msg is None:
        channel.send(Ready())
        msg = channel.recv()
    while True:
        if isinstance(msg, Closed):
            return
        if isinstance(msg, Invoke):
            channel.send(_invoke(fn, msg))
        msg = channel.recv()


# -- SnapStart --------------------------------------------------------------------------------


def _snapshot_then_restore(channel: _Channel, snapstart: ModuleType) -> Invoke | None:
    """The template's part (before-snapshot hooks, `TemplateReady`, the wait), then, in a clone,
    the restore's (`Prepare` ahead, `Restore`, the after-restore hooks); returns when the clone
    may say Ready, or with its first Invoke when it was prepared with no hook to run (it then
    says nothing: `Prepared` told it was ready).

    A failing hook ends the process as awslambdaric does: exit 64 after an init error typed
    Runtime.BeforeSnapshotError, exit 65 after a `RestoreError` typed Runtime.AfterRestoreError.
    """
    try:
        snapstart.run_before_snapshot()
    except BaseException as exc:  # awslambdaric reports any escape, exit included
        info, body = _hook_failure(exc, BEFORE_SNAPSHOT_ERROR)
        channel.send(InitError(error=info, body=body))
        raise SystemExit(EXIT_BEFORE_SNAPSHOT_ERROR) from None
    _flush_output()
    # What init built stays shared between the clones, page for page, if the collector never
    # touches it again: collect once, then move every survivor out of its reach.
    gc.collect()
    gc.freeze()
    channel.send(TemplateReady(threads=threading.active_count()))
    msg = channel.recv()  # a clone resumes here, reading its own stream
    prepared = isinstance(msg, Prepare)
    if isinstance(msg, Prepare | Restore):
        _become_unique(channel, snapstart, msg)
    if prepared:  # ahead of demand: what is left for the restore is the hooks
        _rehearse()
        hooks = bool(snapshot_restore_py.get_after_restore())
        channel.send(Prepared(ready=not hooks))
        msg = channel.recv()
        if isinstance(msg, Invoke) and not hooks:
            return msg
    if isinstance(msg, Closed):  # the template (or this clone, unused) is discarded
        raise SystemExit(0)
    if not isinstance(msg, Restore):
        raise RemoteProtocolError(f"expected Restore after TemplateReady, got {type(msg).__name__}")
    started = time.monotonic()
    if prepared and (msg.env or msg.unset_env):
        snapstart.apply_environment(msg.env, msg.unset_env)
    remaining_s = AFTER_RESTORE_TIMEOUT_S - (time.monotonic() - started)
    try:
        snapstart.run_after_restore(remaining_s)
    except snapstart.AfterRestoreTimeout as exc:
        info, _ = _hook_failure(exc, AFTER_RESTORE_ERROR)
        channel.send(RestoreError(error=info, timed_out=True))
        raise SystemExit(EXIT_AFTER_RESTORE_ERROR) from None
    except BaseException as exc:  # as above
        info, body = _hook_failure(exc, AFTER_RESTORE_ERROR)
        channel.send(RestoreError(error=info, body=body))
        raise SystemExit(EXIT_AFTER_RESTORE_ERROR) from None
    _flush_output()
    return None


def _become_unique(channel: _Channel, snapstart: ModuleType, msg: Prepare | Restore) -> None:
    """What a clone does first: renew what it shares with its template, take its variables."""
    channel.lock = threading.Lock()  # a thread of the template's may have held it
    snapstart.make_unique_again()
    snapstart.apply_environment(msg.env, msg.unset_env)


REHEARSALS = 12  # past the interpreter's warm-up (it specializes a function after 8 calls)


def _rehearse() -> None:
    """Go through the invoke path (a channel's receive and send on a socket of its own, frames,
    the context, JSON, the response), without the function's code, a few times: a clone shares
    its memory with its template, and the pages this path writes (objects' reference counts,
    allocator pools, the interpreter's specializations) are copied here, ahead of the restore,
    instead of on the first invoke. Nothing reaches the supervisor."""
    global _current_request_id
    invoke = Invoke(
        request_id="rehearsal",
        deadline_ms=int(time.time() * 1000) + 1000,
        invoked_function_arn="",
        payload=b"{}",
        client_context=None,
        identity=None,
    )
    try:  # what init left may deny it (descriptors used up): the restore goes on without
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
    except OSError:
        return
    channel = _Channel(ours.detach())
    supervisor = Connection()
    try:
        for _ in range(REHEARSALS):
            theirs.sendall(supervisor.send(invoke))
            msg = channel.recv()
            if isinstance(msg, Invoke):
                channel.send(_invoke(_rehearsal_handler, msg))
            theirs.recv(65536)
    except OSError:
        pass
    finally:
        channel.sock.close()
        theirs.close()
        _current_request_id = ""


def _rehearsal_handler(event: Any, context: LambdaContext) -> Any:
    context.get_remaining_time_in_millis()
    return None


def _hook_failure(exc: BaseException, error_type: str) -> tuple[ErrorInfo, bytes]:
    """What a failing hook is reported as, the way awslambdaric reports it: the error document
    names the exception (its class, message and the user's frames), the report's type is
    `error_type` (the Lambda-Runtime-Function-Error-Type header there). The runtime logs the
    document's record itself, since the daemon does not for a runtime's own documents."""
    info = _error_from(exc)
    doc = {**info.to_aws(), "requestId": ""}
    _log_error_record(info)
    return ErrorInfo(
        error_type=error_type, error_message=info.error_message, stack_trace=info.stack_trace
    ), json.dumps(doc).encode()


def _log_error_record(error: ErrorInfo) -> None:
    """The ``[ERROR]`` record Lambda's Python runtime logs for an error, in the function's
    LogFormat."""
    if os.environ.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON":
        record = {
            "timestamp": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"),
            "log_level": "ERROR",
            "errorMessage": error.error_message,
            "errorType": error.error_type,
            "requestId": "",
            "stackTrace": list(error.stack_trace),
        }
        text = json.dumps(record, ensure_ascii=False) + "\n"
    else:
        head = f"[ERROR] {error.error_type}: {error.error_message}"
        trace = "".join(error.stack_trace)
        text = head + ("\nTraceback (most recent call last):\n" + trace if trace else "\n")
    sys.stdout.write(text)
    _flush_output()
