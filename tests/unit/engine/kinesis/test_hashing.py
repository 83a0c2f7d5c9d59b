"""Partition keys to shards: MD5 as a 128-bit integer over AWS's hash key ranges."""

from __future__ import annotations

import itertools

import pytest

from engine.kinesis.errors import InvalidArgumentException
from engine.kinesis.hashing import (
    HASH_SPACE,
    explicit_hash_key,
    hash_key,
    hash_ranges,
    shard_index,
)

# RFC 1321's test vectors and well-known digests, read big-endian.
KNOWN_MD5 = {
    "": 0xD41D8CD98F00B204E9800998ECF8427E,
    "a": 0x0CC175B9C0F1B6A831C399E269772661,
    "abc": 0x900150983CD24FB0D6963F7D28E17F72,
    "message digest": 0xF96B697D7CB7938D525A2F31AAF161D0,
    "6": 0x1679091C5A880FAF6FB5E6087EB1B2DC,
    "9": 0x45C48CCE2E2D7FBDEA1AFC51C7C6AD26,
}


@pytest.mark.parametrize(("key", "digest"), KNOWN_MD5.items())
def test_hash_key_is_the_md5_as_an_integer(key: str, digest: int) -> None:
    assert hash_key(key) == digest


def test_hash_key_hashes_utf8() -> None:
    # md5 of "ü" encoded as UTF-8 (c3 bc), not as Latin-1 (fc)
    assert hash_key("ü") == 0xC03410A5204B21CD8229FF754688D743


def test_ranges_are_aws_ranges() -> None:
    # AWS's ranges of a 3-shard stream, as DescribeStream shows them
    assert hash_ranges(3) == [
        (0, 113427455640312821154458202477256070484),
        (113427455640312821154458202477256070485, 226854911280625642308916404954512140969),
        (226854911280625642308916404954512140970, 340282366920938463463374607431768211455),
    ]
    assert hash_ranges(1) == [(0, HASH_SPACE - 1)]
    four = hash_ranges(4)
    assert four[0] == (0, 85070591730234615865843651857942052863)
    assert four[3][1] == HASH_SPACE - 1


@pytest.mark.parametrize("count", [1, 2, 3, 4, 7, 500])
def test_ranges_cover_the_space_without_gaps(count: int) -> None:
    ranges = hash_ranges(count)
    assert ranges[0][0] == 0 and ranges[-1][1] == HASH_SPACE - 1
    for (_, end), (start, _) in itertools.pairwise(ranges):
        assert start == end + 1


def test_keys_land_in_the_shard_whose_range_holds_their_md5() -> None:
    starts = [start for start, _ in hash_ranges(4)]
    # with 4 shards the top two bits of the digest pick the shard
    assert shard_index(starts, hash_key("a")) == 0  # 0x0c…
    assert shard_index(starts, hash_key("6")) == 0  # 0x16…
    assert shard_index(starts, hash_key("9")) == 1  # 0x45…
    assert shard_index(starts, hash_key("abc")) == 2  # 0x90…
    assert shard_index(starts, hash_key("")) == 3  # 0xd4…
    assert shard_index(starts, hash_key("message digest")) == 3  # 0xf9…


def test_range_edges() -> None:
    ranges = hash_ranges(3)
    starts = [start for start, _ in ranges]
    assert shard_index(starts, 0) == 0
    assert shard_index(starts, ranges[0][1]) == 0
    assert shard_index(starts, ranges[1][0]) == 1
    assert shard_index(starts, HASH_SPACE - 1) == 2


def test_explicit_hash_key_range() -> None:
    assert explicit_hash_key("0") == 0
    assert explicit_hash_key(str(HASH_SPACE - 1)) == HASH_SPACE - 1
    with pytest.raises(InvalidArgumentException) as raised:
        explicit_hash_key(str(HASH_SPACE))
    assert raised.value.message == (
        "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
        f"Specified value was {HASH_SPACE}"
    )
