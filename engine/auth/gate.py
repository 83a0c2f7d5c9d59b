"""ASGI middleware: refuse every HTTP request that is not SigV4-signed by a known key.

A thin adapter around `engine.auth.sigv4`: it buffers the body (up to a limit), verifies, and
answers refusals itself in AWS's error shape; verified requests reach the app unchanged.
"""

from __future__ import annotations

import json
import logging
import re
import time
import uuid
from collections.abc import Callable, Collection
from datetime import UTC, datetime
from urllib.parse import quote

import trio
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.auth.credentials import CredentialsFile
from engine.auth.sigv4 import Headers, check_headers, claimed_access_key_id, verify_request
from engine.errors import ApiError, RequestEntityTooLargeException, RequestTimeoutException

logger = logging.getLogger(__name__)

ACCESS_KEY_SCOPE_KEY = "lambdalet.access_key_id"
BODY_TIMEOUT_S = 60.0  # a 70 MB upload over loopback takes about a second
_DIGITS = re.compile(r"[0-9]{1,20}")


class SigV4Middleware:
    """Verify each ``http`` request; other scopes (lifespan), and the requests `unsigned`
    accepts, pass through.

    On success the access key id is in ``scope["lambdalet.access_key_id"]`` and the app
    reads the body from a replay of the buffer.
    """

    def __init__(
        self,
        app: ASGIApp,
        *,
        credentials: CredentialsFile,
        hosts: Collection[str],
        region: str,
        max_body: int,
        clock: Callable[[], float] = time.time,
        service: str | Callable[[Scope], str] = "lambda",
        operation_of: Callable[[str, str, str], str | None] | None = None,
        unsigned: Callable[[Scope], bool] | None = None,
    ) -> None:
        self.app = app
        self.credentials = credentials
        self.hosts = frozenset(h.lower() for h in hosts)
        self.region = region
        self.max_body = max_body
        self.clock = clock
        # one service name, or a function telling each request's (one endpoint, many services)
        self.service = service
        # (method, raw path, query) -> the operation's name, for AWS's "too large" wording
        self.operation_of = operation_of
        # The requests that pass unsigned (a Prometheus scrape: scrapers do not sign).
        self.unsigned = unsigned

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or (self.unsigned is not None and self.unsigned(scope)):
            await self.app(scope, receive, send)
            return
        headers = _headers(scope)
        try:
            key_id, body = await self._authenticate(scope, headers, receive)
        except ApiError as exc:
            request_id = str(uuid.uuid4())
            logger.info(
                "refused %s %s from %s (key %s, request %s): %s: %s",
                scope["method"],
                scope["path"],
                _client(scope),
                claimed_access_key_id(headers) or "-",
                request_id,
                exc.error_type,
                exc.message,
            )
            # The JSON-protocol services (an X-Amz-Target) read the error's type from the body.
            json_protocol = any(name == "x-amz-target" for name, _ in headers)
            await send_error(send, exc, request_id, json_protocol=json_protocol)
            return
        if body is None:
            return  # the client went away while sending the body: nobody to answer
        await self.app({**scope, ACCESS_KEY_SCOPE_KEY: key_id}, _replay(body, receive), send)

    async def _authenticate(
        self, scope: Scope, headers: Headers, receive: Receive
    ) -> tuple[str, bytes | None]:
        """Checklist: headers before the body (no buffering for strangers), then signature."""
        now = datetime.fromtimestamp(self.clock(), UTC)
        secrets = self.credentials.secrets()
        service = self.service if isinstance(self.service, str) else self.service(scope)
        check_headers(
            headers=headers,
            secrets=secrets,
            now=now,
            hosts=self.hosts,
            region=self.region,
            service=service,
        )
        too_large = _too_large(self.max_body, self._operation(scope))
        _check_declared_length(headers, self.max_body, too_large)
        try:
            with trio.fail_after(BODY_TIMEOUT_S):  # a slow body must not hold a connection
                body = await read_body(receive, self.max_body, too_large)
        except trio.TooSlowError:
            raise RequestTimeoutException(
                f"The request body did not arrive within {BODY_TIMEOUT_S:.0f} seconds"
            ) from None
        if body is None:
            return "", None
        key_id = verify_request(
            method=scope["method"],
            raw_path=_raw_path(scope),
            query_string=_decode(scope.get("query_string", b"")),
            headers=headers,
            body=body,
            secrets=secrets,
            now=now,
            hosts=self.hosts,
            region=self.region,
            service=service,
        )
        return key_id, body

    def _operation(self, scope: Scope) -> str | None:
        if self.operation_of is None:
            return None
        query = _decode(scope.get("query_string", b""))
        return self.operation_of(scope["method"], _raw_path(scope), query)


def _headers(scope: Scope) -> Headers:
    return [(_decode(name).lower(), _decode(value)) for name, value in scope["headers"]]


def _decode(raw: bytes) -> str:
    # Reversible for any bytes: sigv4 encodes back with the same error handler.
    return raw.decode("utf-8", "surrogateescape")


def _raw_path(scope: Scope) -> str:
    raw: bytes | None = scope.get("raw_path")
    if raw:
        return _decode(raw)
    return quote(scope["path"], safe="/")


def _client(scope: Scope) -> str:
    client = scope.get("client")
    return f"{client[0]}:{client[1]}" if client else "-"


def _too_large(max_body: int, operation: str | None) -> ApiError:
    """AWS's answer to a request over the control plane's size limit."""
    if operation is None:
        return RequestEntityTooLargeException(f"Request must be smaller than {max_body} bytes")
    return RequestEntityTooLargeException(
        f"Request must be smaller than {max_body} bytes for the {operation} operation"
    )


def _check_declared_length(headers: Headers, max_body: int, too_large: ApiError) -> None:
    for name, value in headers:
        if name == "content-length" and _DIGITS.fullmatch(value) and int(value) > max_body:
            raise too_large


async def read_body(
    receive: Receive, max_body: int, too_large: ApiError | None = None
) -> bytes | None:
    """The whole request body, or None if the client disconnected first.

    Raises `too_large` (AWS's 413) as soon as it exceeds ``max_body``, without reading on.
    """
    body = bytearray()
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        body += message.get("body", b"")
        if len(body) > max_body:
            raise too_large or _too_large(max_body, None)
        if not message.get("more_body", False):
            return bytes(body)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A receive that yields the buffered body once, then waits on the real one."""
    replayed = False

    async def replay() -> Message:
        nonlocal replayed
        if replayed:
            return await receive()
        replayed = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


async def send_error(
    send: Send, exc: ApiError, request_id: str, *, json_protocol: bool = False
) -> None:
    """Answer an `ApiError` in AWS's shape: status, error type header, JSON body (for the
    JSON protocol's services, ``{"__type": …, "message": …}``)."""
    body = {"__type": exc.error_type, "message": exc.message} if json_protocol else exc.body()
    payload = json.dumps(body).encode()
    await send(
        {
            "type": "http.response.start",
            "status": exc.status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(payload)).encode()),
                (b"x-amzn-errortype", exc.error_type.encode()),
                (b"x-amzn-requestid", request_id.encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": payload, "more_body": False})


__all__ = ["ACCESS_KEY_SCOPE_KEY", "SigV4Middleware", "read_body", "send_error"]
