"""The AWS Lambda REST API (and lambdalet's own `/lambdalet/v1/` network API) as one Starlette app.

Each resource's handlers live in their own module beside this one and hand over their routes;
handlers only translate (JSON and headers in, service calls, JSON and headers out), and errors
become AWS's shape in `engine.api.common.guard`. A path no route takes falls through to
`unknown`: an operation AWS has and lambdalet does not answers 501 naming it
(`engine.api.aws_routes`); anything else answers 404 UnknownOperationException. Every answer
carries a request id (`engine.api.common.guard`).
"""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from engine.api.aws_routes import match_operation
from engine.api.common import error_response, guard

_ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


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
    app = Starlette(routes=[*routes, Route("/{path:path}", guard(unknown), methods=_ALL_METHODS)])
    app.state.region = region
    return app
