"""The AWS Lambda REST API (and lambdalet's own `/lambdalet/v1/` network API) as one Starlette app.

Each resource's handlers live in their own module beside this one and hand over their routes;
handlers only translate (JSON and headers in, service calls, JSON and headers out), and errors
become AWS's shape in `engine.api.common.guard`. A path no route takes falls through to
`unknown`: an operation AWS has and lambdalet does not answers 501 naming it
(`engine.api.aws_routes`); anything else answers 404 UnknownOperationException. Every answer
carries a request id (`engine.api.common.guard`).

The data plane skips Starlette: a `FastRoute` (Invoke's) is matched by its path's prefix and
suffix before Starlette's middleware and router run, and its raw ASGI endpoint is called
directly. It is the route Starlette would have chosen (it comes first), so nothing changes but
the cost.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Receive, Scope, Send

from engine.api.aws_routes import match_operation
from engine.api.common import error_response, guard

_ALL_METHODS = ["GET", "POST", "PUT", "DELETE", "PATCH", "HEAD", "OPTIONS"]


class FastRoute(Route):
    """A route whose template is ``<prefix>{param}<suffix>`` (one path segment in between)
    and whose endpoint is a raw ASGI app: `LambdaApp` calls it without Starlette's router."""

    def __init__(self, path: str, endpoint: ASGIApp, *, methods: Collection[str]) -> None:
        super().__init__(path, endpoint, methods=list(methods))
        self.prefix, rest = path.split("{", 1)
        self.param, self.suffix = rest.split("}", 1)
        if "{" in self.suffix or not self.suffix.startswith("/") or not self.prefix.endswith("/"):
            raise ValueError(f"a FastRoute takes one whole segment as its parameter: {path}")
        self.endpoint_app = endpoint

    def fast_match(self, scope: Scope) -> dict[str, Any] | None:
        """The path parameters if `scope` is for this route, as Starlette would match it."""
        path: str = scope["path"]
        prefix, suffix = self.prefix, self.suffix
        if (
            len(path) > len(prefix) + len(suffix)
            and path.startswith(prefix)
            and path.endswith(suffix)
            and self.methods is not None
            and scope["method"] in self.methods
        ):
            value = path[len(prefix) : len(path) - len(suffix)]
            if "/" not in value:
                return {self.param: value}
        return None


class LambdaApp(Starlette):
    """Starlette with a shortcut for its `FastRoute`s (see the module's docstring)."""

    def __init__(self, routes: list[Route], *, region: str) -> None:
        super().__init__(routes=routes)
        self.state.region = region
        self.fast_routes = [r for r in routes if isinstance(r, FastRoute)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and not scope.get("root_path"):
            for route in self.fast_routes:
                params = route.fast_match(scope)
                if params is not None:
                    scope["app"] = self
                    scope["path_params"] = params
                    await route.endpoint_app(scope, receive, send)
                    return
        await super().__call__(scope, receive, send)


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
    invoke), then `unknown` for everything else. Handlers find `region` in the app's state.
    A `FastRoute` must come before any route that could match its paths."""
    catch_all = Route("/{path:path}", guard(unknown), methods=_ALL_METHODS)
    return LambdaApp([*routes, catch_all], region=region)
