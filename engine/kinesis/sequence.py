"""Sequence numbers: 56 decimal digits that increase within a shard, as Kinesis's do. Pure.

Layout (fixed widths, so that comparing the strings compares the numbers)::

    49 | stream epoch (15 digits, ms) | shard index (6) | counter (33)

The stream epoch is the stream's creation time in ms, unique among the daemon's streams, so
a stream deleted and created again under the same name never repeats a sequence number. The
counter is the record's ordinal in its shard plus one; counter 0 is the shard's
``StartingSequenceNumber``, below every record's.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

_PREFIX: Final = "49"
_EPOCH_DIGITS: Final = 15
_SHARD_DIGITS: Final = 6
_COUNTER_DIGITS: Final = 33
LENGTH: Final = len(_PREFIX) + _EPOCH_DIGITS + _SHARD_DIGITS + _COUNTER_DIGITS  # 56
_FORM: Final = re.compile(r"49(\d{15})(\d{6})(\d{33})")


@dataclass(frozen=True, slots=True)
class SequenceParts:
    epoch_ms: int
    shard_index: int
    counter: int  # the ordinal + 1; 0 for the shard's starting sequence number

    @property
    def ordinal(self) -> int:
        """The ordinal of the record this number names (the starting number: 0, the first)."""
        return max(self.counter - 1, 0)


def sequence_number(epoch_ms: int, shard_index: int, ordinal: int) -> str:
    """The sequence number of the record at `ordinal` in its shard."""
    return _encode(epoch_ms, shard_index, ordinal + 1)


def starting_sequence_number(epoch_ms: int, shard_index: int) -> str:
    return _encode(epoch_ms, shard_index, 0)


def _encode(epoch_ms: int, shard_index: int, counter: int) -> str:
    return (
        f"{_PREFIX}{epoch_ms:0{_EPOCH_DIGITS}d}{shard_index:0{_SHARD_DIGITS}d}"
        f"{counter:0{_COUNTER_DIGITS}d}"
    )


def parse(text: str) -> SequenceParts | None:
    """The parts of a sequence number this engine issued; None for any other text."""
    match = _FORM.fullmatch(text)
    if match is None:
        return None
    epoch, shard, counter = match.groups()
    return SequenceParts(int(epoch), int(shard), int(counter))
