"""Shard iterators: an opaque token naming a stream, a shard and a position, valid for five
minutes from when it was issued (as on Kinesis). Pure.

The token is base64 of a version header and ``issued_ms/epoch_ms/shard/position/stream``. It
is not encrypted: a client that forges one only moves itself within a shard it may read.
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass
from typing import Final

from engine.kinesis.errors import ExpiredIteratorException, InvalidArgumentException

LIFETIME_MS: Final = 300_000
_HEADER: Final = b"\x00\x00\x00\x00\x00\x00\x00\x01"


@dataclass(frozen=True, slots=True)
class ShardIterator:
    stream: str
    epoch_ms: int  # the stream's epoch: a stream created again under its name is another
    shard_index: int
    position: int
    issued_ms: int

    def encode(self) -> str:
        text = f"{self.issued_ms}/{self.epoch_ms}/{self.shard_index}/{self.position}/{self.stream}"
        return base64.b64encode(_HEADER + text.encode()).decode()


def decode(token: str) -> ShardIterator:
    """The iterator `token` stands for; InvalidArgumentException if it is not one of ours."""
    try:
        raw = base64.b64decode(token.encode(), validate=True)
        if not raw.startswith(_HEADER):
            raise ValueError(token)
        issued, epoch, shard, position, stream = raw[len(_HEADER) :].decode().split("/", 4)
        parsed = ShardIterator(stream, int(epoch), int(shard), int(position), int(issued))
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidArgumentException("Invalid ShardIterator.") from None
    if min(parsed.epoch_ms, parsed.shard_index, parsed.position, parsed.issued_ms) < 0:
        raise InvalidArgumentException("Invalid ShardIterator.")
    return parsed


def check_fresh(iterator: ShardIterator, now_ms: int) -> None:
    """ExpiredIteratorException, in AWS's words, once the iterator is five minutes old."""
    if now_ms - iterator.issued_ms > LIFETIME_MS:
        raise ExpiredIteratorException(
            f"Iterator expired. The iterator was created at time {_java_date(iterator.issued_ms)}"
            f" while right now it is {_java_date(now_ms)} which is further in the future than "
            f"the tolerated delay of {LIFETIME_MS} milliseconds."
        )


_DAYS: Final = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
_MONTHS: Final = (
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
)


def _java_date(ms: int) -> str:
    """Java's Date.toString in UTC (``Thu Jan 22 01:22:02 UTC 2015``), whatever the locale."""
    t = time.gmtime(ms // 1000)
    clock = f"{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}"
    return f"{_DAYS[t.tm_wday]} {_MONTHS[t.tm_mon - 1]} {t.tm_mday:02d} {clock} UTC {t.tm_year}"
