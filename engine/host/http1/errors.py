"""The HTTP/1.1 server's errors: what a client did wrong, as the status to answer it with."""

from __future__ import annotations


class HttpError(Exception):
    """Base of the HTTP/1.1 server's errors."""


class RemoteProtocolError(HttpError):
    """The client broke HTTP/1.1 (or a limit): answer `status` and close the connection."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(f"{status}: {reason}")
        self.status = status
        self.reason = reason


class LocalProtocolError(HttpError):
    """The app broke ASGI (a message out of order, a body longer than its Content-Length)."""
