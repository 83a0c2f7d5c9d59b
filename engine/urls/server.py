"""The function URL listener: HTTP requests in, payload-2.0 events to Invoke, responses out.

A request is routed by its Host (`<url-id>.lambda-url.<region>.localhost:<port>`). AuthType
AWS_IAM URLs need a SigV4 signature (service `lambda`) by a key in the credentials file; CORS
preflights are answered here without invoking; everything else becomes one synchronous
invoke of the URL's function or alias, counted against its concurrency as any invoke.
"""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Final

import trio
from starlette.requests import Request
from starlette.types import Receive, Scope, Send

from engine.api.body import read_body
from engine.auth.credentials import CredentialsFile
from engine.auth.sigv4 import verify_request
from engine.errors import ApiError, TooManyRequestsException
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
        if config is None:
            return _message(404, "Not Found")
        headers = [(k.decode("latin-1"), v.decode("latin-1")) for k, v in request.scope["headers"]]
        try:
            with trio.fail_after(BODY_TIMEOUT_S):  # a slow body must not hold a connection
                body = await read_body(request, MAX_SYNC_PAYLOAD_BYTES, "Invoke")
        except ApiError:
            return _message(413, "Request Entity Too Large")
        except trio.TooSlowError:
            return _message(408, "Request Timeout")
        iam = None
        if config.auth_type == AUTH_IAM:
            key_id = self._authenticate(request, headers, body, host)
            if key_id is None:
                return _message(403, "Forbidden")
            iam = iam_identity(key_id, ACCOUNT_ID)
        early = preflight(config.cors, headers, method=request.method)
        if early is not None:
            return early
        request_id = str(uuid.uuid4())
        raw_path = request.scope.get("raw_path") or request.url.path.encode()
        event = build_event(
            method=request.method,
            raw_path=raw_path.decode("latin-1"),
            raw_query=request.scope.get("query_string", b"").decode("latin-1"),
            headers=headers,
            body=body,
            source_ip=request.client.host if request.client else "127.0.0.1",
            url_id=config.url_id,
            region=self.region,
            account_id=ACCOUNT_ID,
            request_id=request_id,
            now=self.clock(),
            domain=host.rsplit(":", 1)[0],
            iam=iam,
        )
        try:
            result = await self.invoker.invoke(
                config.function_name, config.qualifier, json.dumps(event).encode()
            )
        except TooManyRequestsException:
            return _message(429, "Rate Exceeded.")
        except ApiError as exc:
            logger.info("function URL %s: invoke refused: %s", config.url_id, exc.message)
            return _message(exc.status if exc.status < 500 else 502, exc.message)
        outcome = result.outcome
        answer = build_response(outcome.payload, function_error=bool(outcome.function_error))
        return apply_cors(answer, config.cors, headers)

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


def _message(status: int, message: str) -> HttpAnswer:
    body = json.dumps({"Message": message}).encode()
    return HttpAnswer(status=status, headers=(("content-type", "application/json"),), body=body)
