"""Response framing: the app's framing headers replaced, none duplicated, no header injection."""

from __future__ import annotations

import pytest

from engine.host.http1 import framing
from engine.host.http1.errors import LocalProtocolError


def lines(head: bytes) -> list[bytes]:
    assert head.endswith(b"\r\n\r\n")
    return head[:-4].split(b"\r\n")


def names(head: bytes) -> list[bytes]:
    return [line.split(b":")[0].lower() for line in lines(head)[1:]]


def test_the_app_framing_headers_are_replaced_by_the_servers() -> None:
    head = framing.response_head(
        "1.1",
        200,
        [(b"Content-Length", b"99"), (b"Transfer-Encoding", b"gzip"), (b"Connection", b"x")],
        content_length=3,
        chunked=False,
        keep_alive=True,
    )
    assert lines(head)[0] == b"HTTP/1.1 200 OK"
    assert sorted(names(head)) == [b"content-length", b"date"]
    assert b"content-length: 3" in lines(head)


def test_a_date_from_the_app_is_kept_and_not_doubled() -> None:
    head = framing.response_head(
        "1.1", 204, [(b"date", b"then")], content_length=None, chunked=False, keep_alive=True
    )
    assert names(head) == [b"date"] and b"date: then" in lines(head)


def test_connection_headers_follow_the_version_and_keep_alive() -> None:
    closing = framing.response_head(
        "1.1", 200, [], content_length=0, chunked=False, keep_alive=False
    )
    assert b"connection: close" in lines(closing)
    kept_1_0 = framing.response_head(
        "1.0", 200, [], content_length=0, chunked=False, keep_alive=True
    )
    assert lines(kept_1_0)[0] == b"HTTP/1.0 200 OK"
    assert b"connection: keep-alive" in lines(kept_1_0)
    chunked = framing.response_head(
        "1.1", 200, [], content_length=None, chunked=True, keep_alive=True
    )
    assert b"transfer-encoding: chunked" in lines(chunked) and b"connection" not in chunked


@pytest.mark.parametrize(
    "header",
    [(b"x-a", b"b\r\nSet-Cookie: c"), (b"x-a", b"b\nc"), (b"x\r\ny", b"v"), (b"x:y", b"v")],
)
def test_header_injection_from_the_app_is_refused(header: tuple[bytes, bytes]) -> None:
    with pytest.raises(LocalProtocolError):
        framing.response_head(
            "1.1", 200, [header], content_length=0, chunked=False, keep_alive=True
        )


def test_statuses_and_their_reasons() -> None:
    assert framing.status_line("1.1", 404) == b"HTTP/1.1 404 Not Found\r\n"
    assert framing.status_line("1.1", 599) == b"HTTP/1.1 599 \r\n"  # no reason known
    with pytest.raises(LocalProtocolError):
        framing.status_line("1.1", 42)


def test_chunks_and_bodies_allowed() -> None:
    assert framing.chunk(b"hello") == b"5\r\nhello\r\n"
    assert framing.chunk(b"") == b""  # an empty piece is not the last chunk
    assert framing.body_allowed(b"GET", 200)
    assert not framing.body_allowed(b"HEAD", 200)
    assert not any(framing.body_allowed(b"GET", s) for s in (101, 204, 304))


def test_the_servers_own_error_answer_closes() -> None:
    answer = framing.error_response(400, "bad")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close" in head.split(b"\r\n")
    assert b"content-length: %d" % len(body) in head.split(b"\r\n")
