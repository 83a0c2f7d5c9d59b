"""`RequestParser` reads what h11 reads: seeded random valid requests (lengths, chunked bodies,
pipelining), cut at random points, give the same heads and bodies in both."""

from __future__ import annotations

import random

import h11

from engine.host.http1.parser import (
    END_OF_MESSAGE,
    NEED_DATA,
    PAUSED,
    Data,
    RequestHead,
    RequestParser,
)

Request = tuple[bytes, bytes, list[tuple[bytes, bytes]], bytes]  # method, target, headers, body


def random_request(rng: random.Random) -> tuple[bytes, Request]:
    method = rng.choice([b"GET", b"POST", b"PUT", b"DELETE", b"PATCH", b"X-CUSTOM"])
    target = b"/" + bytes(rng.choice(b"abc/%20-_.~?=&") for _ in range(rng.randint(0, 30)))
    headers = [(b"Host", b"h%d" % rng.randint(0, 9))]
    for i in range(rng.randint(0, 8)):
        value = bytes(rng.choice(b"abc xyz\t,;=\"'") for _ in range(rng.randint(0, 20)))
        headers.append((b"X-H%d" % i, value.strip(b" \t")))
    body = bytes(rng.getrandbits(8) for _ in range(rng.choice([0, 0, 1, 10, 1000, 70000])))
    wire = b"%s %s HTTP/1.1\r\n" % (method, target)
    wire += b"".join(b"%s: %s\r\n" % h for h in headers)
    if body and rng.random() < 0.5:
        wire += b"Transfer-Encoding: chunked\r\n\r\n"
        rest = body
        while rest:
            size = rng.randint(1, len(rest))
            wire += b"%x\r\n%s\r\n" % (size, rest[:size])
            rest = rest[size:]
        wire += b"0\r\n\r\n"
    else:
        wire += b"Content-Length: %d\r\n\r\n%s" % (len(body), body)
    lowered = [(n.lower(), v) for n, v in headers]
    return wire, (method, target, lowered, body)


def ours(wire: bytes, cuts: list[int]) -> list[Request]:
    parser = RequestParser()
    out: list[Request] = []
    current: list[bytes] = []
    head: RequestHead | None = None
    start = 0
    for cut in [*cuts, len(wire)]:
        if cut == start:
            continue  # an empty piece would mean the end of the connection
        parser.receive_data(wire[start:cut])
        start = cut
        while True:
            event = parser.next_event()
            if event is NEED_DATA or event is PAUSED:
                break
            if isinstance(event, RequestHead):
                head, current = event, []
            elif isinstance(event, Data):
                current.append(event.data)
            elif event is END_OF_MESSAGE:
                assert head is not None
                framing = {b"content-length", b"transfer-encoding"}
                headers = [(n, v) for n, v in head.headers if n not in framing]
                out.append((head.method, head.target, headers, b"".join(current)))
                parser.start_next()
    return out


def theirs(wire: bytes) -> list[Request]:
    conn = h11.Connection(h11.SERVER)
    conn.receive_data(wire)
    out: list[Request] = []
    current: list[bytes] = []
    request: h11.Request | None = None
    while True:
        event = conn.next_event()
        if event is h11.NEED_DATA or event is h11.PAUSED:
            if event is h11.PAUSED and conn.our_state is h11.SEND_RESPONSE:
                conn.send(h11.Response(status_code=204, headers=[]))
                conn.send(h11.EndOfMessage())
                conn.start_next_cycle()
                continue
            return out
        if isinstance(event, h11.Request):
            request, current = event, []
        elif isinstance(event, h11.Data):
            current.append(bytes(event.data))
        elif isinstance(event, h11.EndOfMessage):
            assert request is not None
            framing = {b"content-length", b"transfer-encoding"}
            headers = [(bytes(n), bytes(v)) for n, v in request.headers if n not in framing]
            out.append((request.method, request.target, headers, b"".join(current)))


def test_random_pipelined_requests_read_alike() -> None:
    rng = random.Random(15)
    for _ in range(200):  # bounded
        pieces = [random_request(rng) for _ in range(rng.randint(1, 4))]
        wire = b"".join(w for w, _ in pieces)
        cuts = sorted(rng.sample(range(len(wire)), min(len(wire), rng.randint(0, 12))))
        expected = [r for _, r in pieces]
        assert ours(wire, cuts) == expected
        assert theirs(wire) == expected
