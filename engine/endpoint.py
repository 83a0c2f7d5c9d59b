"""One endpoint, several services: which service a request on the API listeners is for.

The Lambda REST API is addressed by path under ``/20xx-xx-xx/`` (and lambdalet's own under
``/lambdalet/``). The JSON-protocol services (SQS, Kinesis, CloudWatch Logs) are all
``POST /`` with an ``X-Amz-Target: <prefix>.<Operation>`` header; EventBridge Scheduler is
REST-JSON under paths of its own (``/schedules``, ``/schedule-groups``, ``/tags/``). The SigV4
credential scope of each request names its service ("sqs", "kinesis", "logs", "scheduler").
`Endpoint` sends each request to its service's ASGI app; `signing_service` tells the TCP
listener's SigV4 gate which service a request must be signed for. A Lambda request costs a
comparison or two of its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

# X-Amz-Target prefix → the SigV4 service name the request is signed for.
TARGET_SERVICES: Final = {
    b"AmazonSQS": "sqs",
    b"Kinesis_20131202": "kinesis",
    b"Logs_20140328": "logs",
}
# Path prefix → the SigV4 service name (REST-JSON services beside Lambda's paths).
PATH_SERVICES: Final = (
    ("/schedules", "scheduler"),
    ("/schedule-groups", "scheduler"),
    ("/tags/", "scheduler"),
)
LAMBDA: Final = "lambda"


def target_prefix(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"x-amz-target":
            return value.partition(b".")[0]
    return None


def path_service(path: str) -> str | None:
    if path.startswith("/20") or path.startswith("/lambdalet/"):
        return None  # Lambda's (the common case first)
    for prefix, service in PATH_SERVICES:
        if path.startswith(prefix):
            return service
    return None


class Endpoint:
    """An ASGI app: each request to its service's app, the rest to Lambda's.

    `targets` maps X-Amz-Target prefixes, `services` maps the services of `PATH_SERVICES` to
    their apps."""

    def __init__(
        self,
        lambda_app: ASGIApp,
        targets: Mapping[bytes, ASGIApp],
        services: Mapping[str, ASGIApp] | None = None,
    ) -> None:
        self.lambda_app = lambda_app
        self.targets = dict(targets)
        self.services = dict(services or {})

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            path = scope["path"]
            if path == "/" and self.targets:
                prefix = target_prefix(scope["headers"])
                app = self.targets.get(prefix) if prefix is not None else None
                if app is not None:
                    await app(scope, receive, send)
                    return
            elif self.services:
                service = path_service(path)
                app = self.services.get(service) if service is not None else None
                if app is not None:
                    await app(scope, receive, send)
                    return
        await self.lambda_app(scope, receive, send)


def signing_service(scope: Scope) -> str:
    """The SigV4 service a request on the API listener must be signed for."""
    path = scope.get("path", "")
    if path == "/":
        prefix = target_prefix(scope["headers"])
        if prefix is not None:
            return TARGET_SERVICES.get(prefix, LAMBDA)
        return LAMBDA
    return path_service(path) or LAMBDA
