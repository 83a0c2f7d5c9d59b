"""AWS Lambda's HTTP Runtime API (2018-06-01) for one execution environment, as a sans-IO core.

A custom runtime (``bootstrap``), awslambdaric or any other unmodified client talks to it at
``http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/...``. This module owns the rules; the server in
`engine.runtime.http_server` only moves bytes. Everything the runtime tells us becomes one of
the msgpack protocol's messages (`Ready`, `InitError`, `Response`, `FunctionError`), so the
environment handles every runtime the same way.

Theory of operation (states named as AWS's emulator names them, which its 403s quote)::

    Started ──GET next──► Ready ──invoke offered──► Running ──POST response/error──► Sent
       │                    ▲                                                         │
       └─POST init/error─►  └────────────────────────GET next─────────────────────────┘
                 InitError

Answers follow AWS's emulator: 202 ``{"status":"OK"}``; 400 ``InvalidRequestID`` for an id
that is not the invocation in flight; 403 ``InvalidStateTransition`` for calls out of order;
413 ``RequestEntityTooLarge`` above 6 MiB + 100 bytes (the invocation then fails with
``Function.ResponseSizeTooLarge``).
"""

from __future__ import annotations

import enum
import json
import os
import re
import time
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Final

from sandbox.protocol import ErrorInfo, FunctionError, InitError, Invoke, Message, Ready, Response

PREFIX: Final = "/2018-06-01/runtime"
MAX_PAYLOAD_BYTES: Final = 6 * 1024 * 1024 + 100
ERROR_TYPE_HEADER: Final = "lambda-runtime-function-error-type"
_INVOCATION = re.compile(r"/2018-06-01/runtime/invocation/([^/?]+)/(response|error)")
_JSON: Final = [(b"content-type", b"application/json")]


class Phase(enum.Enum):
    STARTED = "Started"
    READY = "Ready"
    RUNNING = "Running"
    SENT = "RuntimeResponseSentState"
    INIT_ERROR = "InitError"


class Route(enum.Enum):
    NEXT = "next"
    RESPONSE = "response"
    ERROR = "error"
    INIT_ERROR = "init/error"


@dataclass(frozen=True, slots=True)
class Reply:
    status: int
    headers: list[tuple[bytes, bytes]] = field(default_factory=lambda: list(_JSON))
    body: bytes = b""


@dataclass(frozen=True, slots=True)
class Request:
    """A routed request: what it asks for and, for an invocation, which one."""

    route: Route
    request_id: str | None = None


@dataclass(frozen=True, slots=True)
class Delivery:
    """The answer to GET next: the invocation and the reply carrying it."""

    invoke: Invoke
    reply: Reply


WAIT: Final = None  # GET next has nothing to deliver yet: park the request


def _error(status: int, error_type: str, message: str) -> Reply:
    body = json.dumps({"errorMessage": message, "errorType": error_type}).encode()
    return Reply(status, body=body)


ACCEPTED: Final = Reply(202, body=b'{"status":"OK"}\n')


def route(method: str, target: str) -> Request | Reply:
    """Map a request line to a route, or to the 404/405 answer."""
    path = target.split("?", 1)[0]
    expected = "POST"
    if path == f"{PREFIX}/invocation/next":
        found: Request = Request(Route.NEXT)
        expected = "GET"
    elif path == f"{PREFIX}/init/error":
        found = Request(Route.INIT_ERROR)
    elif m := _INVOCATION.fullmatch(path):
        found = Request(Route(m.group(2)), request_id=m.group(1))
    else:
        return _error(404, "NotFound", f"no Runtime API route for {path}")
    if method != expected:
        return _error(405, "MethodNotAllowed", f"{path} accepts {expected}, not {method}")
    return found


def new_trace_id(now: float | None = None) -> str:
    """An X-Ray style trace header value (Root, Parent, Sampled), as Lambda sends."""
    epoch = int(time.time() if now is None else now)
    return f"Root=1-{epoch:08x}-{os.urandom(12).hex()};Parent={os.urandom(8).hex()};Sampled=0"


def _header_json(text: str) -> bytes:
    """Client context / identity as one header line: compact JSON, never a raw newline."""
    try:
        value = json.dumps(json.loads(text), separators=(",", ":"))
    except ValueError:
        value = text.replace("\r", " ").replace("\n", " ")
    return value.encode("ascii", "backslashreplace")


def next_reply(inv: Invoke, *, trace_id: str) -> Reply:
    headers = [
        (b"content-type", b"application/json"),
        (b"lambda-runtime-aws-request-id", inv.request_id.encode()),
        (b"lambda-runtime-deadline-ms", str(inv.deadline_ms).encode()),
        (b"lambda-runtime-invoked-function-arn", inv.invoked_function_arn.encode()),
        (b"lambda-runtime-trace-id", trace_id.encode()),
    ]
    if inv.client_context:
        headers.append((b"lambda-runtime-client-context", _header_json(inv.client_context)))
    if inv.identity:
        headers.append((b"lambda-runtime-cognito-identity", _header_json(inv.identity)))
    return Reply(200, headers=headers, body=inv.payload)


def error_document(body: bytes, header_type: str | None) -> tuple[ErrorInfo, bytes]:
    """What the runtime reported: its error (for our log) and the document the caller gets.

    A JSON object body is passed on as it is; its ``errorType`` counts when the
    ``Lambda-Runtime-Function-Error-Type`` header is absent. Anything else becomes
    ``{"errorMessage", "errorType"}``.
    """
    doc: Any = None
    try:
        doc = json.loads(body) if body.strip() else None
    except ValueError:
        doc = None
    if isinstance(doc, dict):
        body_type = doc.get("errorType")
        error_type = header_type or (body_type if isinstance(body_type, str) else None)
        message = doc.get("errorMessage")
        trace = doc.get("stackTrace", doc.get("trace"))
        info = ErrorInfo(
            error_type=error_type or "Unhandled",
            error_message=message if isinstance(message, str) else "",
            stack_trace=[str(t) for t in trace] if isinstance(trace, list) else [],
        )
        return info, body
    text = body.decode("utf-8", "replace")
    info = ErrorInfo(error_type=header_type or "Unhandled", error_message=text)
    return info, json.dumps(info.to_aws()).encode()


def _transition_refused(phase: Phase, to: str) -> Reply:
    return _error(
        403,
        "InvalidStateTransition",
        f"State transition from {phase.value} to {to} failed for runtime."
        " Error: State transition is not allowed",
    )


class RuntimeApi:
    """One environment's Runtime API state. Not thread-safe; does no I/O.

    The daemon `offer()`s one invocation at a time; GET next takes it with `next()`. What
    the runtime reports accumulates in `events` for the environment to read.
    """

    def __init__(self) -> None:
        self.phase = Phase.STARTED
        self.pending: Invoke | None = None  # offered, not yet handed to the runtime
        self.current: Invoke | None = None  # handed to the runtime, not yet answered
        self.events: deque[Message] = deque()

    # -- the daemon's side ---------------------------------------------------------------

    def offer(self, inv: Invoke) -> None:
        if self.pending is not None or self.phase is Phase.RUNNING:
            raise RuntimeError("one invocation at a time per environment")
        self.pending = inv

    # -- the runtime's side --------------------------------------------------------------

    def next(self, *, trace_id: str) -> Delivery | Reply | None:
        """GET next: the invocation, a refusal, or `WAIT` (park until `offer()`)."""
        if self.phase is Phase.INIT_ERROR:
            return _transition_refused(self.phase, Phase.READY.value)
        if self.phase is Phase.STARTED:
            self.events.append(Ready())  # the first GET next ends init
            self.phase = Phase.READY
        elif self.phase is Phase.SENT:
            self.phase = Phase.READY
        if self.phase is not Phase.READY or self.pending is None:
            return WAIT  # (also while Running: the unanswered invocation stays in flight)
        inv, self.pending = self.pending, None
        self.current = inv
        self.phase = Phase.RUNNING
        return Delivery(invoke=inv, reply=next_reply(inv, trace_id=trace_id))

    def undeliver(self, inv: Invoke) -> None:
        """Writing GET next's reply failed (the runtime hung up): offer it again."""
        if self.current is inv and self.phase is Phase.RUNNING:
            self.current = None
            self.pending = inv
            self.phase = Phase.READY

    def _check_answer(self, request_id: str | None, to: str) -> Reply | None:
        if self.current is None or request_id != self.current.request_id:
            return _error(400, "InvalidRequestID", "Invalid request ID")
        if self.phase is not Phase.RUNNING:
            return _transition_refused(self.phase, to)
        return None

    def respond(self, request_id: str | None, body: bytes, *, too_large: bool) -> Reply:
        """POST invocation/{id}/response. `too_large`: the body passed MAX_PAYLOAD_BYTES."""
        refused = self._check_answer(request_id, "InvocationResponse")
        if refused is not None:
            return refused
        assert request_id is not None
        self.phase = Phase.SENT
        if too_large:
            info = ErrorInfo(
                error_type="Function.ResponseSizeTooLarge",
                error_message="Response payload size exceeded maximum allowed payload size"
                f" ({MAX_PAYLOAD_BYTES} bytes).",
            )
            self.events.append(FunctionError(request_id=request_id, error=info))
            return _error(
                413,
                "RequestEntityTooLarge",
                f"Exceeded maximum allowed payload size ({MAX_PAYLOAD_BYTES} bytes).",
            )
        self.events.append(Response(request_id=request_id, payload=body))
        return ACCEPTED

    def fail(
        self, request_id: str | None, body: bytes, *, error_type: str | None, too_large: bool
    ) -> Reply:
        """POST invocation/{id}/error."""
        refused = self._check_answer(request_id, "InvocationErrorResponse")
        if refused is not None:
            return refused
        assert request_id is not None
        if too_large:
            return self.respond(request_id, b"", too_large=True)
        info, doc = error_document(body, error_type)
        self.phase = Phase.SENT
        self.events.append(FunctionError(request_id=request_id, error=info, body=doc))
        return ACCEPTED

    def init_failed(self, body: bytes, *, error_type: str | None, too_large: bool) -> Reply:
        """POST init/error: allowed once, before the first GET next."""
        if self.phase is not Phase.STARTED:
            return _transition_refused(self.phase, Phase.INIT_ERROR.value)
        info, doc = error_document(b"" if too_large else body, error_type)
        self.phase = Phase.INIT_ERROR
        self.events.append(InitError(error=info, body=doc))
        return ACCEPTED
