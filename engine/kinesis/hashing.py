"""Which shard a record goes to: the MD5 of its partition key as a 128-bit integer, placed in
the shards' hash key ranges, as Kinesis places it. Pure.

A stream of N shards splits the hash space [0, 2^128) evenly: shard i starts at
i * floor(2^128 / N) and the last shard ends at 2^128 - 1 (AWS's own ranges for N = 3:
0..113427455640312821154458202477256070484, …).
"""

from __future__ import annotations

import bisect
import hashlib
from collections.abc import Sequence
from typing import Final

from engine.kinesis.errors import InvalidArgumentException

HASH_SPACE: Final = 2**128


def hash_key(partition_key: str) -> int:
    """The partition key's MD5 (of its UTF-8 bytes), read big-endian."""
    return int.from_bytes(hashlib.md5(partition_key.encode()).digest(), "big")


def hash_ranges(count: int) -> list[tuple[int, int]]:
    """The (starting, ending) hash keys of `count` shards, inclusive, in shard order."""
    step = HASH_SPACE // count
    return [
        (i * step, (i + 1) * step - 1 if i < count - 1 else HASH_SPACE - 1) for i in range(count)
    ]


def explicit_hash_key(text: str) -> int:
    """An ExplicitHashKey (the model's pattern has checked it is a decimal), within range."""
    value = int(text)
    if value >= HASH_SPACE:
        raise InvalidArgumentException(
            "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. "
            f"Specified value was {text}"
        )
    return value


def shard_index(starts: Sequence[int], key: int) -> int:
    """The index of the shard whose range holds `key`, given the ranges' starting keys."""
    return bisect.bisect_right(starts, key) - 1
