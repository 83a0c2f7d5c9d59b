"""Sequence numbers: 56 digits, increasing within a shard, parsed back to their parts."""

from __future__ import annotations

from engine.kinesis.sequence import (
    LENGTH,
    parse,
    sequence_number,
    starting_sequence_number,
)

EPOCH = 1_700_000_000_123


def test_shape() -> None:
    number = sequence_number(EPOCH, 3, 41)
    assert LENGTH == 56
    assert len(number) == 56 and number.isdigit() and number.startswith("49")
    assert len(starting_sequence_number(EPOCH, 3)) == 56


def test_increasing_within_a_shard_as_numbers_and_as_text() -> None:
    numbers = [sequence_number(EPOCH, 2, n) for n in (0, 1, 2, 9, 10, 99, 100, 10**9)]
    assert numbers == sorted(numbers)
    assert [int(n) for n in numbers] == sorted(int(n) for n in numbers)
    assert len(set(numbers)) == len(numbers)
    assert starting_sequence_number(EPOCH, 2) < numbers[0]


def test_a_stream_created_again_continues_above() -> None:
    # a later epoch (the stream deleted and created again) numbers above every earlier record
    assert sequence_number(EPOCH + 1, 0, 0) > sequence_number(EPOCH, 0, 10**12)


def test_parse_round_trip() -> None:
    parts = parse(sequence_number(EPOCH, 7, 12))
    assert parts is not None
    assert (parts.epoch_ms, parts.shard_index, parts.ordinal, parts.counter) == (EPOCH, 7, 12, 13)
    start = parse(starting_sequence_number(EPOCH, 7))
    assert start is not None and start.counter == 0 and start.ordinal == 0


def test_parse_refuses_other_numbers() -> None:
    assert parse("") is None
    assert parse("0") is None
    assert parse("49590338271490256608559692538361571095921575989136588898"[:-1]) is None
    assert parse("1" * 56) is None
    assert parse("49" + "x" * 54) is None
