"""Shard iterators: opaque, round-trip, refused when forged badly, expired after 5 minutes."""

from __future__ import annotations

import base64

import pytest

from engine.kinesis.errors import ExpiredIteratorException, InvalidArgumentException
from engine.kinesis.iterators import LIFETIME_MS, ShardIterator, check_fresh, decode

ISSUED_MS = 1_421_889_722_000  # Thu Jan 22 01:22:02 UTC 2015


def test_round_trip_and_opaque() -> None:
    iterator = ShardIterator("my.stream-1", 1_700_000_000_000, 3, 42, ISSUED_MS)
    token = iterator.encode()
    assert decode(token) == iterator
    assert "my.stream" not in token
    assert len(token) <= 512  # the model's bound, even for a 128-character name
    assert len(ShardIterator("s" * 128, 1, 999, 10**15, ISSUED_MS).encode()) <= 512


@pytest.mark.parametrize(
    "token",
    [
        "",
        "not base64!",
        base64.b64encode(b"hello").decode(),
        base64.b64encode(b"\x00" * 7 + b"\x01" + b"1/2/3").decode(),
        base64.b64encode(b"\x00" * 7 + b"\x01" + b"1/2/x/4/s").decode(),
        base64.b64encode(b"\x00" * 7 + b"\x01" + b"1/2/-3/4/s").decode(),
    ],
)
def test_garbage_is_invalid(token: str) -> None:
    with pytest.raises(InvalidArgumentException) as raised:
        decode(token)
    assert raised.value.message == "Invalid ShardIterator."


def test_expiry_in_aws_words() -> None:
    iterator = ShardIterator("s", 1, 0, 0, ISSUED_MS)
    check_fresh(iterator, ISSUED_MS + LIFETIME_MS)  # five minutes exactly: still fresh
    with pytest.raises(ExpiredIteratorException) as raised:
        check_fresh(iterator, ISSUED_MS + LIFETIME_MS + 1001)
    assert raised.value.message == (
        "Iterator expired. The iterator was created at time Thu Jan 22 01:22:02 UTC 2015 while "
        "right now it is Thu Jan 22 01:27:03 UTC 2015 which is further in the future than the "
        "tolerated delay of 300000 milliseconds."
    )
