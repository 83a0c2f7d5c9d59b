"""One endpoint, several services: which service a request on the API listeners is for.

The Lambda REST API is addressed by path; the JSON-protocol services (SQS today; Kinesis and
the rest next) are all ``POST /`` with an ``X-Amz-Target: <prefix>.<Operation>`` header, and
their SigV4 credential scope names them ("sqs"). `Endpoint` sends each request to its
service's ASGI app; `signing_service` tells the TCP listener's SigV4 gate which service a
request must be signed for. A Lambda request costs one comparison of its path.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from starlette.types import ASGIApp, Receive, Scope, Send

# X-Amz-Target prefix → the SigV4 service name the request is signed for.
TARGET_SERVICES: Final = {b"AmazonSQS": "sqs"}
LAMBDA: Final = "lambda"


def target_prefix(headers: list[tuple[bytes, bytes]]) -> bytes | None:
    for name, value in headers:
        if name == b"x-amz-target":
            return value.partition(b".")[0]
    return None


class Endpoint:
    """An ASGI app: JSON-protocol requests to their service's app, the rest to Lambda's."""

    def __init__(self, lambda_app: ASGIApp, targets: Mapping[bytes, ASGIApp]) -> None:
        self.lambda_app = lambda_app
        self.targets = dict(targets)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == "/" and self.targets:
            prefix = target_prefix(scope["headers"])
            app = self.targets.get(prefix) if prefix is not None else None
            if app is not None:
                await app(scope, receive, send)
                return
        await self.lambda_app(scope, receive, send)


def signing_service(scope: Scope) -> str:
    """The SigV4 service a request on the API listener must be signed for."""
    if scope.get("path") == "/":
        prefix = target_prefix(scope["headers"])
        if prefix is not None:
            return TARGET_SERVICES.get(prefix, LAMBDA)
    return LAMBDA
