"""The msgpack Runtime API between the supervisor and a sandbox's runtime, as a sans-IO core.

Wire format: every message is one frame, a 4-byte big-endian length followed by a msgpack
array ``[tag, field, ...]``. `Connection` does no I/O (in the manner of h11): feed it bytes
with `receive_data()`, pull messages with `next_event()`, and turn messages into bytes with
`send()`. The same class runs in the Trio supervisor and in the blocking in-sandbox runtime,
so this module imports only the standard library and msgpack.

Theory of operation (one environment, one invocation at a time)::

    runtime -> supervisor   Ready | InitError | SetupFailed   (once, after start)
    supervisor -> runtime   Invoke
    runtime -> supervisor   Log* then Response | FunctionError

SnapStart (Python only): a template's runtime, started with
``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``, runs init and the before-snapshot hooks, then::

    runtime -> supervisor   TemplateReady | InitError (Runtime.BeforeSnapshotError; exit 64)

and waits. Each clone of it resumes in that wait on its own fresh stream, and is made ready
ahead of demand (no function code runs: the runtime makes what it can unique again, takes the
variables it is given, if any, and rehearses its own invoke path, so that the pages that path
writes are copied now, not on the first invoke)::

    supervisor -> runtime   Prepare
    runtime -> supervisor   Prepared

then, when an invoke needs a new environment (the restore)::

    supervisor -> runtime   Restore
    runtime -> supervisor   Log* then Ready | RestoreError (exit 65)

after which it serves invokes as above. `Prepare` is optional (a Restore may come first, with
the variables). When no after-restore hook is registered (`Prepared` says ``ready``), the
Restore is optional too: the restore is then the first Invoke, and no Ready is sent. The
supervisor measures Restore Duration from its decision to restore to the Ready (or to the
first Invoke), and answers SnapStartTimeoutException once `AFTER_RESTORE_TIMEOUT_S` has
passed without one (the runtime interrupts its hooks at that limit and says so:
`RestoreError` with ``timed_out``).

A runtime that speaks AWS's HTTP Runtime API instead sends only `Listening` (with the
listening socket attached as SCM_RIGHTS), then `InitError` or `SetupFailed` if it could not
be started; its stream closes when it is exec'd.

`FunctionError` and `InitError` may carry `body`: the exact error document the caller gets
(a runtime that formats its own errors, as Node's and custom runtimes do). Without it the
supervisor renders `error` in the Python runtime's shape.
"""

from __future__ import annotations

import enum
import struct
from dataclasses import dataclass, field
from typing import Any, Final

import msgpack

__all__ = [
    "AFTER_RESTORE_ERROR",
    "AFTER_RESTORE_TIMEOUT_S",
    "BEFORE_SNAPSHOT_ERROR",
    "DEFAULT_MAX_FRAME_BYTES",
    "EXIT_AFTER_RESTORE_ERROR",
    "EXIT_BEFORE_SNAPSHOT_ERROR",
    "INIT_TYPE_SNAP_START",
    "NEED_DATA",
    "Closed",
    "Connection",
    "ErrorInfo",
    "FunctionError",
    "InitError",
    "Invoke",
    "Listening",
    "LocalProtocolError",
    "Log",
    "Message",
    "NeedData",
    "Prepare",
    "Prepared",
    "ProtocolError",
    "Ready",
    "RemoteProtocolError",
    "Response",
    "Restore",
    "RestoreError",
    "SetupFailed",
    "TemplateReady",
]

# Lambda's synchronous payload cap is 6 MiB each way; a frame also carries ids and headers.
DEFAULT_MAX_FRAME_BYTES: Final = 6 * 1024 * 1024 + 64 * 1024
_HEADER = struct.Struct(">I")

# SnapStart, as Lambda's Python runtime (awslambdaric) does it: the value of
# AWS_LAMBDA_INITIALIZATION_TYPE that makes a runtime a template, the error types it reports
# (the Lambda-Runtime-Function-Error-Type of its init/error and restore/error calls) and the
# statuses it exits with after them.
INIT_TYPE_SNAP_START: Final = "snap-start"
BEFORE_SNAPSHOT_ERROR: Final = "Runtime.BeforeSnapshotError"
AFTER_RESTORE_ERROR: Final = "Runtime.AfterRestoreError"
EXIT_BEFORE_SNAPSHOT_ERROR: Final = 64
EXIT_AFTER_RESTORE_ERROR: Final = 65
# Lambda's limit on loading the runtime and running the after-restore hooks, from the Restore
# on: past it, the invoke fails with SnapStartTimeoutException. The runtime interrupts its
# hooks at this limit; the supervisor enforces it (by killing) whatever the runtime does.
AFTER_RESTORE_TIMEOUT_S: Final = 10.0


class ProtocolError(Exception):
    """Base of protocol errors; never raised directly."""

    def __init__(self, msg: str) -> None:
        if type(self) is ProtocolError:
            raise TypeError("raise LocalProtocolError or RemoteProtocolError")
        super().__init__(msg)


class LocalProtocolError(ProtocolError):
    """We tried to send something the protocol does not allow (our bug or our limit)."""


class RemoteProtocolError(ProtocolError):
    """The peer sent something the protocol does not allow."""


class _Tag(enum.IntEnum):
    READY = 1
    INIT_ERROR = 2
    INVOKE = 3
    RESPONSE = 4
    FUNCTION_ERROR = 5
    LOG = 6
    SETUP_FAILED = 7
    LISTENING = 8
    TEMPLATE_READY = 9
    RESTORE = 10
    RESTORE_ERROR = 11
    PREPARE = 12
    PREPARED = 13


@dataclass(frozen=True, slots=True, kw_only=True)
class ErrorInfo:
    """A function or init error in Lambda's shape: errorType, errorMessage, stackTrace."""

    error_type: str
    error_message: str
    stack_trace: list[str] = field(default_factory=list)

    def to_aws(self) -> dict[str, Any]:
        return {
            "errorMessage": self.error_message,
            "errorType": self.error_type,
            "stackTrace": list(self.stack_trace),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Ready:
    """Init finished: the handler is loaded and the runtime waits for an Invoke."""


@dataclass(frozen=True, slots=True, kw_only=True)
class InitError:
    """Init failed (import error, missing handler, exception at module level)."""

    error: ErrorInfo
    body: bytes | None = None  # the error document as the runtime wrote it


@dataclass(frozen=True, slots=True, kw_only=True)
class SetupFailed:
    """The platform could not build the sandbox (a kernel step failed before user code)."""

    step: str
    message: str


@dataclass(frozen=True, slots=True, kw_only=True)
class Listening:
    """The HTTP Runtime API listener rides with this message (SCM_RIGHTS)."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Invoke:
    request_id: str
    deadline_ms: int  # epoch milliseconds, like Lambda-Runtime-Deadline-Ms
    invoked_function_arn: str
    payload: bytes
    client_context: str | None = None  # JSON text, already base64-decoded
    identity: str | None = None  # JSON text (Cognito identity)


@dataclass(frozen=True, slots=True, kw_only=True)
class Response:
    request_id: str
    payload: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class FunctionError:
    request_id: str
    error: ErrorInfo
    body: bytes | None = None  # the error document as the runtime wrote it


@dataclass(frozen=True, slots=True, kw_only=True)
class Log:
    """Output the runtime captured (print, logging) in order with the other messages."""

    data: bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class TemplateReady:
    """SnapStart: init and the before-snapshot hooks are done; the runtime now blocks reading
    its stream and may be cloned. It sends nothing more on this stream: each clone reads its
    own, starting with a `Restore`."""

    threads: int = 1  # threads alive (the main one included); only the main one is cloned


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepare:
    """SnapStart: a clone of a template made ready ahead of its restore. The runtime makes what
    it can unique again (reseeds), takes these variables (lambdalet's daemon sends none: a
    clone keeps the template's environment) and rehearses its own invoke path (no function
    code runs), then answers `Prepared`."""

    env: dict[str, str] = field(default_factory=dict)  # set in os.environ (this environment's)
    unset_env: list[str] = field(default_factory=list)  # removed from os.environ


@dataclass(frozen=True, slots=True, kw_only=True)
class Prepared:
    """SnapStart: the answer to `Prepare`; the runtime now waits for its `Restore`. With
    ``ready`` (no after-restore hook is registered: a Restore would run nothing), it takes an
    `Invoke` instead as well, and then sends no Ready: the restore is the first invoke."""

    ready: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class Restore:
    """SnapStart: a clone of a template starts. Unless a `Prepare` came first, the runtime makes
    what it can unique again and takes these variables; it runs the after-restore hooks, then
    answers `Ready` (or `RestoreError`)."""

    env: dict[str, str] = field(default_factory=dict)  # set in os.environ (this environment's)
    unset_env: list[str] = field(default_factory=list)  # removed from os.environ


@dataclass(frozen=True, slots=True, kw_only=True)
class RestoreError:
    """SnapStart: an after-restore hook raised (``error.error_type`` is
    `AFTER_RESTORE_ERROR`), or ran past `AFTER_RESTORE_TIMEOUT_S` (``timed_out``). The runtime
    exits with `EXIT_AFTER_RESTORE_ERROR` after sending it."""

    error: ErrorInfo
    body: bytes | None = None  # the error document as the runtime wrote it
    timed_out: bool = False


Message = (
    Ready
    | InitError
    | SetupFailed
    | Listening
    | Invoke
    | Response
    | FunctionError
    | Log
    | TemplateReady
    | Restore
    | RestoreError
    | Prepare
    | Prepared
)


class NeedData:
    """Sentinel: `next_event()` needs more bytes."""

    def __repr__(self) -> str:
        return "NEED_DATA"


NEED_DATA: Final = NeedData()


@dataclass(frozen=True, slots=True)
class Closed:
    """The peer closed the stream cleanly, at a frame boundary."""


def _encode(msg: Message) -> list[Any]:
    match msg:
        case Invoke():
            return [
                _Tag.INVOKE,
                msg.request_id,
                msg.deadline_ms,
                msg.invoked_function_arn,
                msg.payload,
                msg.client_context,
                msg.identity,
            ]
        case Response():
            return [_Tag.RESPONSE, msg.request_id, msg.payload]
        case Log():
            return [_Tag.LOG, msg.data]
        case FunctionError():
            e = msg.error
            return [
                _Tag.FUNCTION_ERROR,
                msg.request_id,
                e.error_type,
                e.error_message,
                e.stack_trace,
                msg.body,
            ]
        case Ready():
            return [_Tag.READY]
        case InitError():
            e = msg.error
            return [_Tag.INIT_ERROR, e.error_type, e.error_message, e.stack_trace, msg.body]
        case SetupFailed():
            return [_Tag.SETUP_FAILED, msg.step, msg.message]
        case Listening():
            return [_Tag.LISTENING]
        case TemplateReady():
            return [_Tag.TEMPLATE_READY, msg.threads]
        case Restore():
            return [_Tag.RESTORE, msg.env, msg.unset_env]
        case Prepare():
            return [_Tag.PREPARE, msg.env, msg.unset_env]
        case Prepared():
            return [_Tag.PREPARED, msg.ready]
        case RestoreError():
            e = msg.error
            return [
                _Tag.RESTORE_ERROR,
                e.error_type,
                e.error_message,
                e.stack_trace,
                msg.body,
                msg.timed_out,
            ]
    raise LocalProtocolError(f"not a protocol message: {msg!r}")


def _str(v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError("expected str")
    return v


def _opt_str(v: Any) -> str | None:
    return None if v is None else _str(v)


def _bytes(v: Any) -> bytes:
    if not isinstance(v, bytes):
        raise TypeError("expected bytes")
    return v


def _opt_bytes(v: Any) -> bytes | None:
    return None if v is None else _bytes(v)


def _str_list(v: Any) -> list[str]:
    if not isinstance(v, list):
        raise TypeError("expected list")
    return [_str(x) for x in v]


def _int(v: Any) -> int:
    if not isinstance(v, int) or isinstance(v, bool):
        raise TypeError("expected int")
    return v


def _bool(v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError("expected bool")
    return v


def _str_dict(v: Any) -> dict[str, str]:
    if not isinstance(v, dict):
        raise TypeError("expected map")
    return {_str(k): _str(x) for k, x in v.items()}


def _decode(obj: Any) -> Message:
    if not isinstance(obj, list) or not obj or not isinstance(obj[0], int):
        raise RemoteProtocolError("frame is not a tagged msgpack array")
    tag, args = obj[0], obj[1:]
    try:
        match (tag, len(args)):
            case (_Tag.INVOKE, 6):
                deadline = args[1]
                if not isinstance(deadline, int):
                    raise TypeError("deadline_ms must be an int")
                return Invoke(
                    request_id=_str(args[0]),
                    deadline_ms=deadline,
                    invoked_function_arn=_str(args[2]),
                    payload=_bytes(args[3]),
                    client_context=_opt_str(args[4]),
                    identity=_opt_str(args[5]),
                )
            case (_Tag.RESPONSE, 2):
                return Response(request_id=_str(args[0]), payload=_bytes(args[1]))
            case (_Tag.LOG, 1):
                return Log(data=_bytes(args[0]))
            case (_Tag.FUNCTION_ERROR, 5):
                info = ErrorInfo(
                    error_type=_str(args[1]),
                    error_message=_str(args[2]),
                    stack_trace=_str_list(args[3]),
                )
                return FunctionError(request_id=_str(args[0]), error=info, body=_opt_bytes(args[4]))
            case (_Tag.READY, 0):
                return Ready()
            case (_Tag.INIT_ERROR, 4):
                info = ErrorInfo(
                    error_type=_str(args[0]),
                    error_message=_str(args[1]),
                    stack_trace=_str_list(args[2]),
                )
                return InitError(error=info, body=_opt_bytes(args[3]))
            case (_Tag.SETUP_FAILED, 2):
                return SetupFailed(step=_str(args[0]), message=_str(args[1]))
            case (_Tag.LISTENING, 0):
                return Listening()
            case (_Tag.TEMPLATE_READY, 1):
                return TemplateReady(threads=_int(args[0]))
            case (_Tag.RESTORE, 2):
                return Restore(env=_str_dict(args[0]), unset_env=_str_list(args[1]))
            case (_Tag.PREPARE, 2):
                return Prepare(env=_str_dict(args[0]), unset_env=_str_list(args[1]))
            case (_Tag.PREPARED, 1):
                return Prepared(ready=_bool(args[0]))
            case (_Tag.RESTORE_ERROR, 5):
                info = ErrorInfo(
                    error_type=_str(args[0]),
                    error_message=_str(args[1]),
                    stack_trace=_str_list(args[2]),
                )
                return RestoreError(error=info, body=_opt_bytes(args[3]), timed_out=_bool(args[4]))
    except TypeError as exc:
        raise RemoteProtocolError(f"malformed message with tag {tag}: {exc}") from None
    raise RemoteProtocolError(f"unknown message tag {tag} with {len(args)} fields")


class Connection:
    """One side of a Runtime API stream. Not thread-safe; does no I/O.

    Args:
        max_frame_bytes: the largest frame either side may send; larger frames are a
            `LocalProtocolError` when sending and a `RemoteProtocolError` when received.
    """

    def __init__(self, *, max_frame_bytes: int = DEFAULT_MAX_FRAME_BYTES) -> None:
        self.max_frame_bytes = max_frame_bytes
        self._buf = bytearray()
        self._eof = False

    def send(self, msg: Message) -> bytes:
        """Return the bytes of one frame carrying `msg`."""
        body: bytes = msgpack.packb(_encode(msg), use_bin_type=True)
        if len(body) > self.max_frame_bytes:
            raise LocalProtocolError(
                f"message of {len(body)} bytes exceeds the {self.max_frame_bytes}-byte frame limit"
            )
        return _HEADER.pack(len(body)) + body

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Buffer bytes from the peer (copied: the caller may reuse `data`); ``b""`` means
        the peer closed the stream."""
        if self._eof and data:
            raise LocalProtocolError("received data after end of stream")
        if data:
            self._buf += data
        else:
            self._eof = True

    def next_event(self) -> Message | NeedData | Closed:
        """Return the next complete message, `NEED_DATA`, or `Closed` at a clean EOF."""
        buf = self._buf
        if len(buf) >= _HEADER.size:
            (size,) = _HEADER.unpack_from(buf)
            if size > self.max_frame_bytes:
                raise RemoteProtocolError(
                    f"peer announced a {size}-byte frame; the limit is {self.max_frame_bytes}"
                )
            end = _HEADER.size + size
            if len(buf) >= end:
                body = bytes(buf[_HEADER.size : end])
                del buf[:end]
                try:
                    obj = msgpack.unpackb(body, raw=False, strict_map_key=True)
                except (ValueError, msgpack.ExtraData, msgpack.FormatError) as exc:
                    raise RemoteProtocolError(f"undecodable frame: {exc}") from None
                return _decode(obj)
        if self._eof:
            if buf:
                raise RemoteProtocolError(f"stream ended inside a frame ({len(buf)} bytes left)")
            return Closed()
        return NEED_DATA

    @property
    def buffered_bytes(self) -> int:
        return len(self._buf)
