"""A small HTTP client for the daemon's unix socket (used by the CLI and the tests)."""

from __future__ import annotations

import http.client
import json
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any


class ClientError(Exception):
    """The daemon could not be reached, or refused us; the message says what to do."""


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpResponse:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body) if self.body else None

    @property
    def error_type(self) -> str | None:
        return self.headers.get("x-amzn-errortype")


class _UnixConnection(http.client.HTTPConnection):
    def __init__(self, path: str, timeout: float) -> None:
        super().__init__("localhost", timeout=timeout)
        self._path = path

    def connect(self) -> None:
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(self.timeout)
        try:
            sock.connect(self._path)
        except BaseException:
            sock.close()
            raise
        self.sock = sock


class Client:
    """One keep-alive connection to the daemon; not thread-safe."""

    def __init__(self, socket_path: Path, *, timeout_s: float = 960.0) -> None:
        self.socket_path = socket_path
        self._conn = _UnixConnection(str(socket_path), timeout_s)

    def request(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> HttpResponse:
        reused = self._conn.sock is not None
        try:
            return self._request(method, path, body, headers)
        except (BrokenPipeError, ConnectionResetError, http.client.RemoteDisconnected):
            # A kept-alive connection the daemon had already closed: the request never got
            # a byte of answer, so it was not processed. Try once more on a new connection.
            self._conn.close()
            if not reused:
                raise
            return self._request(method, path, body, headers)

    def _request(
        self, method: str, path: str, body: bytes | None, headers: dict[str, str] | None
    ) -> HttpResponse:
        try:
            self._conn.request(method, path, body=body, headers=headers or {})
            resp = self._conn.getresponse()
            data = resp.read()
        except FileNotFoundError:
            self._conn.close()
            raise ClientError(
                f"no lambdalet daemon at {self.socket_path}: start it with `lambdalet serve` "
                "(or `systemctl start lambdalet`)"
            ) from None
        except ConnectionRefusedError:
            self._conn.close()
            raise ClientError(
                f"the lambdalet daemon is not running ({self.socket_path} refuses connections)"
            ) from None
        except PermissionError:
            self._conn.close()
            raise ClientError(
                f"permission denied on {self.socket_path}: run as root, or as a member of the "
                "daemon's socket_group"
            ) from None
        except (http.client.HTTPException, OSError):
            self._conn.close()
            raise
        return HttpResponse(
            status=resp.status,
            headers={k.lower(): v for k, v in resp.getheaders()},
            body=data,
        )

    def json_request(self, method: str, path: str, payload: Any = None) -> HttpResponse:
        body = None if payload is None else json.dumps(payload).encode()
        headers = {"Content-Type": "application/json"} if body is not None else {}
        return self.request(method, path, body, headers)

    def close(self) -> None:
        self._conn.close()
