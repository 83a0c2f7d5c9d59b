"""The AWS Lambda REST API (and lambdalet's own `/lambdalet/v1/` network API) as one Starlette app.

Each resource's handlers live in their own module beside this one and hand over their routes;
handlers only translate (JSON and headers in, service calls, JSON and headers out), and errors
become AWS's shape in `engine.api.common.guard`. A path no route takes falls through to
`unknown`: an operation AWS has and lambdalet does not answers 501 naming it
(`engine.api.aws_routes`); anything else answers 404 UnknownOperationException. Every answer
carries a request id.
"""

from __future__ import annotations

import uuid
from typing import Final

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from engine.api.aws_routes import match_operation
from engine.api.common import error_response

_ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]
_REQUEST_ID: Final = b"x-amzn-requestid"


class RequestIdMiddleware:
    """Every answer carries ``x-amzn-RequestId``, as every AWS answer does (boto3 shows it as
    ``ResponseMetadata.RequestId``); a handler that already named its request (Invoke names
    the invocation) keeps its own."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = message.get("headers") or []
                if not any(name.lower() == _REQUEST_ID for name, _ in headers):
                    headers = [*headers, (_REQUEST_ID, str(uuid.uuid4()).encode())]
                    message = {**message, "headers": headers}
            await send(message)

        await self.app(scope, receive, send_with_id)


async def unknown(request: Request) -> Response:
    raw_path = request.scope.get("raw_path") or request.url.path.encode()
    operation = match_operation(request.method, raw_path.decode("latin-1"), request.url.query)
    if operation is not None:
        return error_response(
            501,
            "NotImplementedException",
            f"lambdalet does not implement the Lambda operation {operation.name} "
            f"({operation.method} {operation.uri}) yet",
        )
    return error_response(
        404,
        "UnknownOperationException",
        f"Unknown operation {request.method} {request.url.path}",
    )


def build_app(routes: list[Route], *, region: str = "us-east-1") -> Starlette:
    """The app serving `routes` in order (put the data plane first: it is matched on every
    invoke), then `unknown` for everything else. Handlers find `region` in the app's state."""
    app = Starlette(
        routes=[*routes, Route("/{path:path}", unknown, methods=_ALL_METHODS)],
        middleware=[Middleware(RequestIdMiddleware)],
    )
    app.state.region = region
    return app
