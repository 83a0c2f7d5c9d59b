"""The stream header, event ids and GetLogEvents tokens."""

from __future__ import annotations

import pytest

from engine.runtime.log_format import (
    decode_header,
    decode_token,
    encode_header,
    encode_token,
    event_id,
    stream_uid,
)


def test_header_round_trip_and_alignment() -> None:
    raw = encode_header("2026/01/02/[$LATEST]abc", 1234)
    assert len(raw) % 8 == 0
    header = decode_header(raw + b"records follow")
    assert header is not None
    assert (header.name, header.created_ms, header.flags, header.size) == (
        "2026/01/02/[$LATEST]abc",
        1234,
        0,
        len(raw),
    )
    assert decode_header(b"not a stream at all, just text") is None
    assert decode_header(raw[:10]) is None


def test_tokens_and_event_ids() -> None:
    uid = stream_uid("s", 1)
    assert uid != stream_uid("s", 2) and uid != stream_uid("t", 1)
    token = encode_token("f", uid, 42)
    assert token.startswith("f/") and len(token) == 58
    assert decode_token(token) == ("f", uid, 42)
    assert decode_token(encode_token("b", uid, 0)) == ("b", uid, 0)
    assert len(event_id(uid, 7)) == 56 and event_id(uid, 7).isdigit()


@pytest.mark.parametrize("bad", ["", "f/", "x/" + "1" * 56, "f/" + "1" * 55, "f/" + "a" * 56, "f1"])
def test_bad_tokens(bad: str) -> None:
    assert decode_token(bad) is None
