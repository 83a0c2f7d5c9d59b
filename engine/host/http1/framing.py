"""HTTP/1.1 responses as bytes, sans I/O: the status line and headers with the framing added
(Content-Length, chunked, Connection, Date), chunks, and the server's own error answers."""

from __future__ import annotations

import http
import time
from collections.abc import Iterable
from email.utils import formatdate
from typing import Final

from engine.host.http1.errors import LocalProtocolError

_REASONS: Final = {s.value: s.phrase.encode("ascii") for s in http.HTTPStatus}
_STATUS_LINES: dict[tuple[str, int], bytes] = {}
_FRAMING_NAMES: Final = frozenset({b"content-length", b"transfer-encoding", b"connection"})
CONTINUE: Final = b"HTTP/1.1 100 Continue\r\n\r\n"
LAST_CHUNK: Final = b"0\r\n\r\n"


class _Clock:
    """The Date header's value, formatted once a second."""

    def __init__(self) -> None:
        self.second = -1
        self.value = b""

    def date(self) -> bytes:
        now = int(time.time())
        if now != self.second:
            self.second = now
            self.value = formatdate(now, usegmt=True).encode("ascii")
        return self.value


_CLOCK: Final = _Clock()


def status_line(version: str, status: int) -> bytes:
    key = (version, status)
    line = _STATUS_LINES.get(key)
    if line is None:
        if not 100 <= status <= 999:
            raise LocalProtocolError(f"the status {status} is not a 3-digit HTTP status")
        reason = _REASONS.get(status, b"")
        line = b"HTTP/%s %d %s\r\n" % (version.encode("ascii"), status, reason)
        _STATUS_LINES[key] = line
    return line


def body_allowed(method: bytes, status: int) -> bool:
    return method != b"HEAD" and status >= 200 and status not in (204, 304)


def declared_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The app's own Content-Length, if it set one."""
    for name, value in headers:
        if len(name) == 14 and name.lower() == b"content-length":
            try:
                return int(value)
            except ValueError:
                raise LocalProtocolError(f"the app's Content-Length {value!r}") from None
    return None


def response_head(
    version: str,
    status: int,
    headers: Iterable[tuple[bytes, bytes]],
    *,
    content_length: int | None,
    chunked: bool,
    keep_alive: bool,
) -> bytes:
    """The response head. The app's Content-Length, Transfer-Encoding and Connection headers
    are replaced by the framing given here (`content_length` None and `chunked` False: none,
    as for 204, 304 and a close-delimited body); a Date is added unless the app set one."""
    out = [status_line(version, status)]
    has_date = False
    for name, value in headers:
        lower = bytes(name).lower()
        if lower in _FRAMING_NAMES:
            continue
        if lower == b"date":
            has_date = True
        if b"\r" in value or b"\n" in value or b"\r" in name or b"\n" in name or b":" in name:
            raise LocalProtocolError(f"the app's header {name!r} holds CR, LF or a colon")
        out += (name, b": ", value, b"\r\n")
    if content_length is not None:
        out.append(b"content-length: %d\r\n" % content_length)
    elif chunked:
        out.append(b"transfer-encoding: chunked\r\n")
    if not keep_alive:
        out.append(b"connection: close\r\n")
    elif version == "1.0":
        out.append(b"connection: keep-alive\r\n")
    if not has_date:
        out += (b"date: ", _CLOCK.date(), b"\r\n")
    out.append(b"\r\n")
    return b"".join(out)


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data) if data else b""


def error_response(status: int, reason: str) -> bytes:
    """The server's own answer to a request it cannot serve; the connection closes after it."""
    body = f"{status} {_REASONS.get(status, b'').decode()}: {reason}\n".encode()
    head = response_head(
        "1.1",
        status,
        [(b"content-type", b"text/plain; charset=utf-8")],
        content_length=len(body),
        chunked=False,
        keep_alive=False,
    )
    return head + body
