"""The function URL listener: HTTP requests in, payload-2.0 events to Invoke, responses out.

A request is routed by its Host (`<url-id>.lambda-url.<region>.localhost:<port>`). AuthType
AWS_IAM URLs need a SigV4 signature (service `lambda`) by a key in the credentials file; CORS
preflights are answered here without invoking; everything else becomes one synchronous
invoke of the URL's function or alias, counted against its concurrency as any invoke.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import trio
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from engine.api.body import read_asgi_body
from engine.auth.credentials import CredentialsFile
from engine.auth.sigv4 import verify_request
from engine.errors import ApiError, ResourceNotFoundException, TooManyRequestsException
from engine.invoke.invoker import Invoker
from engine.model.arns import ACCOUNT_ID
from engine.model.limits import MAX_SYNC_PAYLOAD_BYTES
from engine.urls.config import url_id_from_host
from engine.urls.payload import (
    HttpAnswer,
    apply_cors,
    build_event,
    build_response,
    iam_identity,
    preflight,
)
from engine.urls.service import UrlService

logger = logging.getLogger(__name__)

AUTH_IAM: Final = "AWS_IAM"
BODY_TIMEOUT_S: Final = 30.0  # a 6 MB payload over loopback takes milliseconds
MSG_FORBIDDEN: Final = (
    "Forbidden. For troubleshooting Function URL authorization issues, see: "
    "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
)
# Hop-by-hop headers AWS's front end does not pass on to the function.
_DROPPED_HEADERS: Final = frozenset({"connection", "keep-alive"})


class UrlServer:
    def __init__(
        self,
        urls: UrlService,
        invoker: Invoker,
        *,
        credentials: CredentialsFile | None,
        region: str,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.urls = urls
        self.invoker = invoker
        self.credentials = credentials
        self.region = region
        self.clock = clock

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        answer = await self.handle(Request(scope, receive))
        headers = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in answer.headers]
        headers.append((b"content-length", str(len(answer.body)).encode()))
        await send({"type": "http.response.start", "status": answer.status, "headers": headers})
        await send({"type": "http.response.body", "body": answer.body})

    async def handle(self, request: Request) -> HttpAnswer:
        host = request.headers.get("host", "")
        url_id = url_id_from_host(host, region=self.region)
        config = self.urls.by_id.get(url_id or "")
        if config is None:  # AWS answers an unknown URL as a forbidden one
            return _denied(MSG_FORBIDDEN if url_id in self.urls.orphans else None)
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]]
        # A slow body must not hold a connection (trio.fail_after, without its generator).
        body = b""
        with trio.CancelScope(deadline=trio.current_time() + BODY_TIMEOUT_S) as scope:
            try:
                body = await read_asgi_body(
                    request.receive,
                    _first_header(request.scope, b"content-length"),
                    MAX_SYNC_PAYLOAD_BYTES,
                    "Invoke",
                )
            except ApiError:
                return _message(413, "Request Entity Too Large")
        if scope.cancelled_caught:
            return _message(408, "Request Timeout")
        iam = None
        if config.auth_type == AUTH_IAM:
            key_id = self._authenticate(request, headers, body, host)
            if key_id is None:
                return _message(403, "Forbidden")
            iam = iam_identity(key_id, ACCOUNT_ID)
        elif not self.urls.allows_public_invoke(config):
            return _denied(MSG_FORBIDDEN)  # no resource policy lets everyone invoke the URL
        early = preflight(config.cors, headers, method=request.method)
        if early is not None:
            return early
        request_id = str(uuid.uuid4())
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        domain = host.rsplit(":", 1)[0]
        source_ip = request.client.host if request.client else "127.0.0.1"
        server = request.scope.get("server") or ("", 0)
        event = build_event(
            method=request.method,
            raw_path=raw_path.decode("latin-1"),
            raw_query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=_forwarded(headers, domain=domain, source_ip=source_ip, port=server[1]),
            body=body,
            source_ip=source_ip,
            url_id=config.url_id,
            region=self.region,
            account_id=ACCOUNT_ID,
            request_id=request_id,
            now=self.clock(),
            domain=domain,
            iam=iam,
        )
        try:
            result = await self.invoker.invoke(
                config.function_name, config.qualifier, json.dumps(event).encode()
            )
        except TooManyRequestsException:
            return _message(429, "Rate Exceeded.")
        except ResourceNotFoundException:
            return _denied(MSG_FORBIDDEN)  # the URL's alias is gone: AWS forbids, not 404
        except ApiError as exc:
            logger.info("function URL %s: invoke refused: %s", config.url_id, exc.message)
            return _message(exc.status if exc.status < 500 else 502, exc.message)
        outcome = result.outcome
        answer = build_response(outcome.payload, function_error=bool(outcome.function_error))
        answer = apply_cors(answer, config.cors, headers)
        return dataclasses.replace(
            answer, headers=(*answer.headers, ("x-amzn-RequestId", result.request_id))
        )

    def _authenticate(
        self, request: Request, headers: list[tuple[str, str]], body: bytes, host: str
    ) -> str | None:
        if self.credentials is None:
            return None  # no credentials file: nobody can sign, so AWS_IAM URLs refuse all
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        try:
            return verify_request(
                method=request.method,
                raw_path=raw_path.decode("latin-1"),
                query_string=request.scope.get("query_string", b"").decode("latin-1"),
                headers=headers,
                body=body,
                secrets=self.credentials.secrets(),
                now=self.clock(),
                hosts=(host,),
                region=self.region,
            )
        except ApiError as exc:
            logger.info("function URL request refused: %s", exc.message)
            return None


def _forwarded(
    headers: list[tuple[str, str]], *, domain: str, source_ip: str, port: int
) -> list[tuple[str, str]]:
    """The headers a function sees, as AWS's front end passes them: no hop-by-hop ones, the
    Host without a port (as `requestContext.domainName`), the X-Forwarded-* set and a trace
    id. (The x-amzn-tls-* pair is left out: this listener speaks plain HTTP.)"""
    out = [
        (name, value)
        for name, value in headers
        if name.lower() not in _DROPPED_HEADERS and name.lower() != "host"
    ]
    trace = f"Root=1-{int(time.time()):08x}-{secrets.token_hex(12)}"
    out += [
        ("host", domain),
        ("x-amzn-trace-id", trace),
        ("x-forwarded-for", source_ip),
        ("x-forwarded-port", str(port)),
        ("x-forwarded-proto", "http"),
    ]
    return out


def _first_header(scope: Scope, name: bytes) -> str | None:
    """The first `name` header, as Starlette's ``Headers.get`` gives it."""
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def _denied(message: str | None) -> HttpAnswer:
    """AWS's 403 for a URL that may not be invoked (or does not exist: message null)."""
    body = json.dumps({"Message": message}).encode()
    headers = (("content-type", "application/json"), ("x-amzn-ErrorType", "AccessDeniedException"))
    return HttpAnswer(status=403, headers=headers, body=body)


def _message(status: int, message: str) -> HttpAnswer:
    body = json.dumps({"Message": message}).encode()
    return HttpAnswer(status=status, headers=(("content-type", "application/json"),), body=body)
