"""HTTP/1.1 requests from bytes, sans I/O: `receive_data(bytes)` in, `next_event()` out.

`RequestParser` turns what a client sends into a `RequestHead`, `Data` pieces of its body and
an `EndOfMessage`, one request after another on one connection (`start_next()` between them;
pipelined bytes wait in the buffer). It is strict where laxness lets a request be read two
ways (request smuggling): Content-Length beside Transfer-Encoding, differing or malformed
Content-Lengths, a Transfer-Encoding other than `chunked`, obs-fold, whitespace before a
header's colon, bare CR or LF, control characters. Each refusal is a `RemoteProtocolError`
carrying the status to answer (400, 413, 431, 501, 505); the connection is then unusable.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass
from typing import Final

from engine.host.http1.errors import RemoteProtocolError


class Need(enum.Enum):
    DATA = "need data"  # nothing to return until more bytes (or the end) arrive
    PAUSED = "paused"  # the request is over; call start_next() for the next one


NEED_DATA: Final = Need.DATA
PAUSED: Final = Need.PAUSED


@dataclass(frozen=True, slots=True, kw_only=True)
class RequestHead:
    method: bytes
    target: bytes
    http_version: str  # "1.1" or "1.0"
    headers: list[tuple[bytes, bytes]]  # names lower-cased, values without surrounding OWS
    content_length: int | None  # None: chunked, or no body at all (then `chunked` is False)
    chunked: bool
    keep_alive: bool  # what the client asked for (Connection, and the version's default)
    expect_continue: bool


@dataclass(frozen=True, slots=True)
class Data:
    data: bytes


@dataclass(frozen=True, slots=True)
class EndOfMessage:
    pass


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
    """The client ended the connection between requests (the only clean end)."""


Event = RequestHead | Data | EndOfMessage | ConnectionClosed

END_OF_MESSAGE: Final = EndOfMessage()
CONNECTION_CLOSED: Final = ConnectionClosed()

MAX_HEAD_BYTES: Final = 64 * 1024
MAX_CHUNK_LINE_BYTES: Final = 1024

# Anything but HTAB among the controls, and a CR or LF that is not part of a CRLF.
_BAD_HEAD: Final = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n")
_NOT_TOKEN: Final = re.compile(rb"[^!#$%&'*+\-.^_`|~0-9A-Za-z]")
_NOT_TARGET: Final = re.compile(rb"[^\x21-\x7e]")
_HTTP_VERSION: Final = re.compile(rb"HTTP/[0-9]\.[0-9]")
_CHUNK_SIZE: Final = re.compile(rb"[0-9A-Fa-f]{1,16}")
_VERSIONS: Final = {b"HTTP/1.1": "1.1", b"HTTP/1.0": "1.0"}


class _State(enum.Enum):
    HEAD = enum.auto()
    BODY = enum.auto()  # by Content-Length
    CHUNK_SIZE = enum.auto()
    CHUNK_DATA = enum.auto()
    CHUNK_END = enum.auto()  # the CRLF after a chunk's data
    TRAILERS = enum.auto()
    END = enum.auto()  # the body is complete; EndOfMessage is next
    DONE = enum.auto()  # EndOfMessage returned; paused until start_next()
    BROKEN = enum.auto()


class RequestParser:
    """The requests of one connection. Not thread-safe; one instance per connection."""

    def __init__(
        self, *, max_head_bytes: int = MAX_HEAD_BYTES, max_body_bytes: int | None = None
    ) -> None:
        self.max_head_bytes = max_head_bytes
        self.max_body_bytes = max_body_bytes
        self._buf = bytearray()
        self._pos = 0  # bytes of _buf already consumed
        self._scanned = 0  # bytes after _pos known to hold no head end
        self._eof = False
        self._state = _State.HEAD
        self._remaining = 0  # of the Content-Length body or of the current chunk
        self._body_bytes = 0  # of a chunked body so far
        self._error: RemoteProtocolError | None = None

    # -- input ---------------------------------------------------------------------------------

    def receive_data(self, data: bytes | bytearray | memoryview) -> None:
        """Bytes from the client; empty means the client will send nothing more."""
        if not data:
            self._eof = True
            return
        if self._pos:
            if self._pos == len(self._buf):
                self._buf.clear()
            else:
                del self._buf[: self._pos]
            self._pos = 0
        self._buf += data

    @property
    def buffered(self) -> int:
        """Bytes received and not yet consumed (part of a head, or a pipelined request)."""
        return len(self._buf) - self._pos

    @property
    def body_complete(self) -> bool:
        """The current request's body has been returned whole (only EndOfMessage is left)."""
        return self._state in (_State.END, _State.DONE)

    @property
    def body_remaining(self) -> int | None:
        """Bytes of the current body not yet returned, when known (None: chunked)."""
        if self._state is _State.BODY:
            return self._remaining
        if self._state in (_State.END, _State.DONE):
            return 0
        return None

    def start_next(self) -> None:
        """Go on to the connection's next request (after `EndOfMessage`)."""
        if self._state is not _State.DONE:
            raise RuntimeError(f"start_next() while the request is in {self._state.name}")
        self._state = _State.HEAD
        self._scanned = 0

    # -- output --------------------------------------------------------------------------------

    def next_event(self) -> Event | Need:
        if self._error is not None:
            raise self._error
        try:
            return self._next()
        except RemoteProtocolError as exc:
            self._state = _State.BROKEN
            self._error = exc
            raise

    def _next(self) -> Event | Need:
        state = self._state
        if state is _State.HEAD:
            return self._head()
        if state is _State.BODY:
            return self._body_by_length()
        if state is _State.END:
            self._state = _State.DONE
            return END_OF_MESSAGE
        if state is _State.DONE:
            return PAUSED
        return self._chunked()

    def _head(self) -> Event | Need:
        buf, pos = self._buf, self._pos
        while buf.startswith(b"\r\n", pos):  # empty lines before a request line are allowed
            pos += 2
        self._pos = pos
        start = max(pos, pos + self._scanned - 3)
        end = buf.find(b"\r\n\r\n", start)
        if end < 0:
            pending = len(buf) - pos
            if buf.find(b"\n\n", start) >= 0:
                raise RemoteProtocolError(400, "a line of the request head ends without CR")
            if pending > self.max_head_bytes:
                raise RemoteProtocolError(431, "the request head is too large")
            if self._eof:
                if pending == 0 or buf[pos:] == b"\r":
                    return CONNECTION_CLOSED
                raise RemoteProtocolError(400, "the connection ended inside a request head")
            self._scanned = pending
            return NEED_DATA
        if end - pos > self.max_head_bytes:
            raise RemoteProtocolError(431, "the request head is too large")
        head = bytes(buf[pos:end])
        self._pos = end + 4
        self._scanned = 0
        request = parse_head(head, max_body_bytes=self.max_body_bytes)
        if request.chunked:
            self._state = _State.CHUNK_SIZE
            self._body_bytes = 0
        elif request.content_length:
            self._state = _State.BODY
            self._remaining = request.content_length
        else:
            self._state = _State.END
        return request

    def _body_by_length(self) -> Event | Need:
        available = len(self._buf) - self._pos
        if available == 0:
            if self._eof:
                raise RemoteProtocolError(400, "the connection ended inside a request body")
            return NEED_DATA
        take = min(available, self._remaining)
        data = bytes(self._buf[self._pos : self._pos + take])
        self._pos += take
        self._remaining -= take
        if self._remaining == 0:
            self._state = _State.END
        return Data(data)

    def _chunked(self) -> Event | Need:
        buf = self._buf
        while True:
            state = self._state
            pos = self._pos
            if state is _State.CHUNK_SIZE:
                end = buf.find(b"\r\n", pos, pos + MAX_CHUNK_LINE_BYTES)
                if end < 0:
                    if len(buf) - pos >= MAX_CHUNK_LINE_BYTES:
                        raise RemoteProtocolError(400, "a chunk-size line is too long")
                    return self._need("a chunk-size line")
                line = bytes(buf[pos:end])
                self._pos = end + 2
                self._state = self._chunk_size(line)
            elif state is _State.CHUNK_DATA:
                available = len(buf) - pos
                if available == 0:
                    return self._need("a chunk")
                take = min(available, self._remaining)
                data = bytes(buf[pos : pos + take])
                self._pos += take
                self._remaining -= take
                if self._remaining == 0:
                    self._state = _State.CHUNK_END
                return Data(data)
            elif state is _State.CHUNK_END:
                if len(buf) - pos < 2:
                    return self._need("a chunk's CRLF")
                if buf[pos : pos + 2] != b"\r\n":
                    raise RemoteProtocolError(400, "a chunk's data is not followed by CRLF")
                self._pos += 2
                self._state = _State.CHUNK_SIZE
            else:  # TRAILERS
                if buf.startswith(b"\r\n", pos):
                    self._pos += 2
                    self._state = _State.DONE
                    return END_OF_MESSAGE
                end = buf.find(b"\r\n\r\n", pos)
                if end < 0:
                    if len(buf) - pos > self.max_head_bytes:
                        raise RemoteProtocolError(431, "the request trailers are too large")
                    return self._need("the trailers")
                parse_fields(bytes(buf[pos:end]).split(b"\r\n"), check=True)  # checked, dropped
                self._pos = end + 4
                self._state = _State.DONE
                return END_OF_MESSAGE

    def _chunk_size(self, line: bytes) -> _State:
        if _BAD_HEAD.search(line):
            raise RemoteProtocolError(400, "a chunk-size line holds a control character")
        size_text = line.split(b";", 1)[0].rstrip(b" \t")
        if not _CHUNK_SIZE.fullmatch(size_text):
            raise RemoteProtocolError(400, "a chunk size is not a hexadecimal number")
        size = int(size_text, 16)
        if size == 0:
            return _State.TRAILERS
        self._body_bytes += size
        if self.max_body_bytes is not None and self._body_bytes > self.max_body_bytes:
            raise RemoteProtocolError(413, "the request body is too large")
        self._remaining = size
        return _State.CHUNK_DATA

    def _need(self, what: str) -> Need:
        if self._eof:
            raise RemoteProtocolError(400, f"the connection ended inside {what}")
        return NEED_DATA


def parse_head(head: bytes, *, max_body_bytes: int | None = None) -> RequestHead:
    """A request head without its final blank line, checked; the framing worked out."""
    if _BAD_HEAD.search(head):
        raise RemoteProtocolError(400, "the request head holds a control character or bare CR/LF")
    lines = head.split(b"\r\n")
    parts = lines[0].split(b" ")
    if len(parts) != 3:
        raise RemoteProtocolError(400, "the request line is not 'method target version'")
    method, target, version_text = parts
    if not method or _NOT_TOKEN.search(method):
        raise RemoteProtocolError(400, "the method is not a token")
    if not target or _NOT_TARGET.search(target):
        raise RemoteProtocolError(400, "the request target is empty or not visible ASCII")
    version = _VERSIONS.get(version_text)
    if version is None:
        if _HTTP_VERSION.fullmatch(version_text):
            raise RemoteProtocolError(505, "only HTTP/1.1 and HTTP/1.0 are served")
        raise RemoteProtocolError(400, "the HTTP version is malformed")
    headers = parse_fields(lines[1:], check=False)  # the whole head was checked above
    return _framed(method, target, version, headers, max_body_bytes)


def parse_fields(lines: list[bytes], *, check: bool) -> list[tuple[bytes, bytes]]:
    fields: list[tuple[bytes, bytes]] = []
    for line in lines:
        if line[:1] in (b" ", b"\t"):
            raise RemoteProtocolError(400, "obsolete line folding in a header")
        name, colon, value = line.partition(b":")
        if not colon or not name or _NOT_TOKEN.search(name):
            raise RemoteProtocolError(400, "a header line is not 'name: value'")
        if check and _BAD_HEAD.search(value):
            raise RemoteProtocolError(400, "a header value holds a control character")
        fields.append((name.lower(), value.strip(b" \t")))
    return fields


def _framed(
    method: bytes,
    target: bytes,
    version: str,
    headers: list[tuple[bytes, bytes]],
    max_body_bytes: int | None,
) -> RequestHead:
    lengths: list[bytes] = []
    codings: list[bytes] = []
    connection: list[bytes] = []
    hosts = 0
    expect_continue = False
    for name, value in headers:
        if name == b"content-length":
            lengths += value.split(b",")
        elif name == b"transfer-encoding":
            codings += value.split(b",")
        elif name == b"connection":
            connection += value.lower().split(b",")
        elif name == b"host":
            hosts += 1
        elif name == b"expect":
            expect_continue = value.lower() == b"100-continue" and version == "1.1"
    if version == "1.1" and hosts != 1:
        raise RemoteProtocolError(400, "an HTTP/1.1 request needs exactly one Host header")
    tokens = {t.strip(b" \t") for t in connection}
    keep_alive = b"close" not in tokens if version == "1.1" else b"keep-alive" in tokens
    content_length: int | None = None
    chunked = False
    if codings:
        if lengths:
            raise RemoteProtocolError(400, "both Content-Length and Transfer-Encoding")
        if version != "1.1":
            raise RemoteProtocolError(400, "Transfer-Encoding in an HTTP/1.0 request")
        if [c.strip(b" \t").lower() for c in codings] != [b"chunked"]:
            raise RemoteProtocolError(501, "only the chunked transfer coding is supported")
        chunked = True
    elif lengths:
        values = {v.strip(b" \t") for v in lengths}
        if len(values) != 1:
            raise RemoteProtocolError(400, "differing Content-Length values")
        text = values.pop()
        if not text.isdigit() or len(text) > 18:
            raise RemoteProtocolError(400, "the Content-Length is not a decimal number")
        content_length = int(text)
        if max_body_bytes is not None and content_length > max_body_bytes:
            raise RemoteProtocolError(413, "the request body is too large")
    return RequestHead(
        method=method,
        target=target,
        http_version=version,
        headers=headers,
        content_length=content_length,
        chunked=chunked,
        keep_alive=keep_alive,
        expect_continue=expect_continue,
    )
