"""`RequestParser`: requests from bytes fed whole, a byte at a time and with trailing data;
framing, pipelining, chunked bodies with trailers, limits, and smuggling attempts refused."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from engine.host.http1.errors import RemoteProtocolError
from engine.host.http1.parser import (
    CONNECTION_CLOSED,
    END_OF_MESSAGE,
    NEED_DATA,
    PAUSED,
    Data,
    Event,
    RequestHead,
    RequestParser,
)

GET = b"GET /a?b=1 HTTP/1.1\r\nHost: x\r\nUser-Agent: t\r\n\r\n"


def events_of(parser: RequestParser) -> list[Event]:
    """Every event available now, body pieces joined into one Data, up to the end of a
    request (then the next one is started)."""
    out: list[Event] = []
    while True:
        event = parser.next_event()
        if event is NEED_DATA or event is PAUSED:
            return out
        if type(event) is Data and out and type(out[-1]) is Data:
            out[-1] = Data(out[-1].data + event.data)
        else:
            out.append(event)
        if event is END_OF_MESSAGE:
            parser.start_next()
        if event is CONNECTION_CLOSED:
            return out


def whole(data: bytes, *, eof: bool = False, **limits: int) -> list[Event]:
    parser = RequestParser(**limits)
    parser.receive_data(data)
    if eof:
        parser.receive_data(b"")
    return events_of(parser)


def bytewise(data: bytes, *, eof: bool = False, **limits: int) -> list[Event]:
    parser = RequestParser(**limits)
    out: list[Event] = []
    for i in range(len(data)):
        parser.receive_data(data[i : i + 1])
        for event in events_of(parser):
            if type(event) is Data and out and type(out[-1]) is Data:
                out[-1] = Data(out[-1].data + event.data)
            else:
                out.append(event)
    if eof:
        parser.receive_data(b"")
        out += events_of(parser)
    return out


FEEDERS: list[Callable[..., list[Event]]] = [whole, bytewise]


def refused(data: bytes, status: int = 400, **limits: int) -> None:
    for feed in FEEDERS:
        with pytest.raises(RemoteProtocolError) as info:
            feed(data, eof=True, **limits)
        assert info.value.status == status, (feed.__name__, info.value)


def head(events: list[Event]) -> RequestHead:
    first = events[0]
    assert isinstance(first, RequestHead)
    return first


@pytest.mark.parametrize("feed", FEEDERS)
def test_a_simple_get(feed: Callable[..., list[Event]]) -> None:
    events = feed(GET)
    request = head(events)
    assert request.method == b"GET" and request.target == b"/a?b=1"
    assert request.http_version == "1.1"
    assert request.headers == [(b"host", b"x"), (b"user-agent", b"t")]
    assert request.keep_alive and request.content_length is None and not request.chunked
    assert events[1:] == [END_OF_MESSAGE]


@pytest.mark.parametrize("feed", FEEDERS)
def test_a_body_by_content_length_and_pipelined_requests(feed: Callable[..., list[Event]]) -> None:
    post = b"POST /p HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
    events = feed(post + GET + post)
    assert [type(e).__name__ for e in events] == [
        "RequestHead", "Data", "EndOfMessage",
        "RequestHead", "EndOfMessage",
        "RequestHead", "Data", "EndOfMessage",
    ]  # fmt: skip
    assert events[1] == Data(b"hello") and events[6] == Data(b"hello")
    assert head(events[3:]).target == b"/a?b=1"


def test_the_next_request_waits_for_start_next() -> None:
    parser = RequestParser()
    parser.receive_data(GET + GET)
    assert isinstance(parser.next_event(), RequestHead)
    assert parser.next_event() is END_OF_MESSAGE
    assert parser.next_event() is PAUSED
    assert parser.buffered == len(GET)
    parser.start_next()
    assert isinstance(parser.next_event(), RequestHead)


def test_a_body_is_handed_out_as_it_arrives() -> None:
    parser = RequestParser()
    parser.receive_data(b"PUT / HTTP/1.1\r\nHost: x\r\nContent-Length: 6\r\n\r\nab")
    assert isinstance(parser.next_event(), RequestHead)
    assert parser.body_remaining == 6
    assert parser.next_event() == Data(b"ab")
    assert parser.next_event() is NEED_DATA
    assert parser.body_remaining == 4
    parser.receive_data(b"cdefGET")  # the rest, and the start of the next request
    assert parser.next_event() == Data(b"cdef")
    assert parser.body_complete
    assert parser.next_event() is END_OF_MESSAGE
    parser.start_next()
    assert parser.next_event() is NEED_DATA


@pytest.mark.parametrize("feed", FEEDERS)
def test_a_chunked_body_with_extensions_and_trailers(feed: Callable[..., list[Event]]) -> None:
    body = b"5;name=v\r\nhello\r\n1A \r\n" + b"z" * 26 + b"\r\n0\r\nX-Sum: 1\r\nX-Two: 2\r\n\r\n"
    events = feed(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + body + GET)
    assert head(events).chunked and head(events).content_length is None
    assert events[1] == Data(b"hello" + b"z" * 26)
    assert events[2] is END_OF_MESSAGE
    assert head(events[3:]).method == b"GET"


@pytest.mark.parametrize("feed", FEEDERS)
def test_a_chunked_body_without_trailers(feed: Callable[..., list[Event]]) -> None:
    events = feed(
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"
    )
    assert events[1:] == [Data(b"abc"), END_OF_MESSAGE]


@pytest.mark.parametrize(
    "bad",
    [
        b"3\r\nabcX\r\n0\r\n\r\n",  # no CRLF after the data
        b"g\r\n",  # not hexadecimal
        b"-1\r\n",
        b"\r\n",  # empty size
        b"3\rabc\r\n0\r\n\r\n",  # bare CR
        b"1" * 17 + b"\r\n",  # too many digits
        b"0\r\nX-Folded: a\r\n b\r\n\r\n",  # obs-fold in a trailer
        b"0\r\nbad trailer\r\n\r\n",
    ],
)
def test_malformed_chunks_are_refused(bad: bytes) -> None:
    refused(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" + bad)


def test_http_1_0_closes_unless_keep_alive() -> None:
    plain = head(whole(b"GET / HTTP/1.0\r\n\r\n"))
    assert plain.http_version == "1.0" and not plain.keep_alive
    kept = head(whole(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n"))
    assert kept.keep_alive


def test_connection_close_and_expect_continue() -> None:
    request = head(whole(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: foo, close\r\n\r\n"))
    assert not request.keep_alive
    post = b"POST / HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 1\r\n\r\n"
    assert head(whole(post)).expect_continue


def test_header_values_keep_inner_spaces_and_lose_outer_ones() -> None:
    request = head(whole(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: \t a  b \t\r\nX-B:\r\n\r\n"))
    assert request.headers[1:] == [(b"x-a", b"a  b"), (b"x-b", b"")]


def test_obs_text_in_values_is_allowed() -> None:
    request = head(whole(b"GET / HTTP/1.1\r\nHost: x\r\nX-A: caf\xc3\xa9\r\n\r\n"))
    assert request.headers[1] == (b"x-a", b"caf\xc3\xa9")


def test_empty_lines_before_a_request_are_skipped() -> None:
    assert head(whole(b"\r\n\r\n" + GET)).method == b"GET"


def test_the_end_of_the_connection_between_requests_is_clean() -> None:
    assert whole(GET, eof=True)[-1] is CONNECTION_CLOSED
    assert whole(b"", eof=True) == [CONNECTION_CLOSED]


@pytest.mark.parametrize(
    "data",
    [
        b"GET / HTTP/1.1\r\nHo",  # inside a head
        b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n\r\nab",  # inside a body
        b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n4\r\nab",
    ],
)
def test_the_end_of_the_connection_inside_a_request_is_an_error(data: bytes) -> None:
    refused(data)


# -- smuggling and malformed heads ---------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        b"Content-Length: 3\r\nTransfer-Encoding: chunked\r\n",  # CL.TE
        b"Transfer-Encoding: chunked\r\nContent-Length: 3\r\n",  # TE.CL
        b"Content-Length: 3\r\nContent-Length: 4\r\n",  # differing duplicates
        b"Content-Length: 3, 4\r\n",
        b"Content-Length: +3\r\n",
        b"Content-Length: -3\r\n",
        b"Content-Length: 0x3\r\n",
        b"Content-Length: 3 3\r\n",
        b"Content-Length:\r\n",
        b"Content-Length: 1234567890123456789\r\n",  # more than 18 digits
        b"Content-Length : 3\r\n",  # whitespace before the colon
        b"Transfer-Encoding : chunked\r\n",
        b" Transfer-Encoding: chunked\r\n",  # obs-fold (a continuation line)
        b"X-A: a\r\n\tTransfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: chunked\rX: y\r\n",  # bare CR
        b"X-A: a\nTransfer-Encoding: chunked\r\n",  # bare LF
        b"X-A: a\x00b\r\n",  # NUL
        b"X-\x7fA: b\r\n",
        b": no name\r\n",
        b"no colon\r\n",
        b"Host: y\r\n",  # a second Host
    ],
)
def test_ambiguous_framing_and_malformed_headers_are_refused(headers: bytes) -> None:
    refused(b"POST / HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\nabc")


@pytest.mark.parametrize(
    "coding", [b"gzip", b"chunked, gzip", b"gzip, chunked", b"chunked, chunked", b"identity"]
)
def test_transfer_codings_other_than_chunked_are_not_implemented(coding: bytes) -> None:
    refused(b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: " + coding + b"\r\n\r\n", 501)


def test_a_transfer_encoding_in_http_1_0_is_refused() -> None:
    refused(b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n")


def test_equal_duplicate_content_lengths_are_one() -> None:
    data = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 3\r\n\r\nabc"
    assert whole(data)[1:] == [Data(b"abc"), END_OF_MESSAGE]
    listed = b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3, 3\r\n\r\nabc"
    assert whole(listed)[1:] == [Data(b"abc"), END_OF_MESSAGE]


@pytest.mark.parametrize(
    "line",
    [
        b"GET  / HTTP/1.1",  # two spaces
        b"GET / HTTP/1.1 ",
        b"GET /",
        b"GET\t/ HTTP/1.1",
        b"G(T / HTTP/1.1",  # not a token
        b"GET /a\x80 HTTP/1.1",  # not ASCII
        b"GET / HTTP/1.x",
        b"GET / http/1.1",
    ],
)
def test_malformed_request_lines_are_refused(line: bytes) -> None:
    refused(line + b"\r\nHost: x\r\n\r\n")


def test_other_http_versions_are_505() -> None:
    refused(b"GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505)


def test_http_1_1_without_host_is_refused() -> None:
    refused(b"GET / HTTP/1.1\r\n\r\n")


def test_lf_only_line_ends_are_refused_at_once() -> None:
    parser = RequestParser()
    parser.receive_data(b"GET / HTTP/1.1\nHost: x\n\n")
    with pytest.raises(RemoteProtocolError):
        parser.next_event()


def test_an_error_sticks() -> None:
    parser = RequestParser()
    parser.receive_data(b"GET / HTTP/1.1\r\nX : y\r\n\r\n")
    for _ in range(2):
        with pytest.raises(RemoteProtocolError):
            parser.next_event()


# -- limits ------------------------------------------------------------------------------


def test_a_head_over_the_limit_is_431_even_before_it_ends() -> None:
    parser = RequestParser(max_head_bytes=100)
    parser.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100)
    with pytest.raises(RemoteProtocolError) as info:
        parser.next_event()
    assert info.value.status == 431
    refused(
        b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 100 + b"\r\n\r\n", 431, max_head_bytes=100
    )


def test_a_head_just_under_the_limit_is_read() -> None:
    data = b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: "
    data += b"a" * (100 - len(data))
    assert len(data) == 100
    assert head(whole(data + b"\r\n\r\n", max_head_bytes=100)).method == b"GET"


def test_a_declared_body_over_the_limit_is_413() -> None:
    refused(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\n", 413, max_body_bytes=10)
    assert whole(b"POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n", max_body_bytes=10)


def test_a_chunked_body_growing_over_the_limit_is_413() -> None:
    data = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
    data += b"6\r\nabcdef\r\n6\r\nabcdef\r\n0\r\n\r\n"
    refused(data, 413, max_body_bytes=10)
    assert whole(data, max_body_bytes=12)[-1] is END_OF_MESSAGE


def test_a_long_chunk_size_line_is_refused() -> None:
    data = b"POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1;" + b"e" * 2000
    refused(data)


def test_scanning_for_the_head_end_is_not_quadratic() -> None:
    parser = RequestParser()
    parser.receive_data(b"GET / HTTP/1.1\r\nHost: x\r\n")
    for _ in range(1000):
        parser.receive_data(b"X-A: b\r\n")
        assert parser.next_event() is NEED_DATA
    parser.receive_data(b"\r\n")
    request = parser.next_event()
    assert isinstance(request, RequestHead) and len(request.headers) == 1001
