"""One shard: order, pending records invisible until on disk, gaps, limits, trimming."""

from __future__ import annotations

from engine.kinesis.records import StreamRecord
from engine.kinesis.shard import Shard

EPOCH = 1_700_000_000_000


def shard() -> Shard:
    return Shard(index=1, epoch_ms=EPOCH, starting_hash=0, ending_hash=99)


def keys(records: list[StreamRecord]) -> list[str]:
    return [r.partition_key for r in records]


def test_appended_records_are_readable_once_settled_in_order() -> None:
    s = shard()
    a = s.append("a", b"1", 10.0)
    b = s.append("b", b"2", 11.0)
    assert s.read(0, 10, 1 << 20) == ([], 0)
    assert not s.has_record_from(0)
    assert s.tip == 0
    s.settle([b])  # b's commit came back first: still hidden behind a
    assert s.read(0, 10, 1 << 20) == ([], 0)
    s.settle([a])
    records, after = s.read(0, 10, 1 << 20)
    assert keys(records) == ["a", "b"] and after == 2
    assert records[0].sequence_number < records[1].sequence_number
    assert s.tip == 2 and s.horizon == 0


def test_a_discarded_record_leaves_a_gap_readers_step_over() -> None:
    s = shard()
    a, b, c = (s.append(k, b"", 1.0) for k in "abc")
    s.discard([b])
    s.settle([a, c])
    records, after = s.read(0, 10, 1 << 20)
    assert keys(records) == ["a", "c"] and after == 3
    assert keys(s.read(1, 10, 1 << 20)[0]) == ["c"]
    assert not s.has_record_from(3)
    assert s.has_record_from(1)


def test_limit_and_bytes() -> None:
    s = shard()
    s.settle([s.append(str(i), b"x" * 100, 1.0) for i in range(5)])
    records, after = s.read(0, 2, 1 << 20)
    assert keys(records) == ["0", "1"] and after == 2
    records, after = s.read(after, 10, 250)  # 101 bytes each: two fit
    assert keys(records) == ["2", "3"] and after == 4
    records, after = s.read(after, 10, 1)  # one record always, even past the bound
    assert keys(records) == ["4"] and after == 5
    assert s.read(after, 10, 1 << 20) == ([], 5)


def test_arrival_never_goes_back_and_at_timestamp() -> None:
    s = shard()
    s.settle([s.append("a", b"", 10.0), s.append("b", b"", 8.0), s.append("c", b"", 20.0)])
    arrivals = [r.arrival_s for r in s.read(0, 10, 1 << 20)[0]]
    assert arrivals == [10.0, 10.0, 20.0]
    assert s.at_timestamp(5.0) == 0
    assert s.at_timestamp(10.0) == 0
    assert s.at_timestamp(10.5) == 2
    assert s.at_timestamp(99.0) == 3


def test_trim_moves_the_horizon_and_reads_start_there() -> None:
    s = shard()
    s.settle([s.append(str(i), b"", float(i)) for i in range(6)])
    assert s.oldest_arrival() == 0.0
    assert s.trim(2.0)  # arrived at or before 2.0
    assert s.horizon == 3
    assert not s.trim(2.0)
    records, after = s.read(0, 10, 1 << 20)  # below the horizon: from the horizon
    assert keys(records) == ["3", "4", "5"] and after == 6
    assert s.arrival_from(0) == 3.0
    assert s.trim(100.0)
    assert s.horizon == 6 == s.tip
    assert s.read(0, 10, 1 << 20) == ([], 6)
    assert s.oldest_arrival() is None


def test_trim_stops_at_a_pending_record_and_compacts() -> None:
    s = shard()
    s.settle([s.append(str(i), b"", 1.0) for i in range(3000)])
    pending = s.append("late", b"", 1.0)
    assert s.trim(5.0)
    assert s.horizon == 3000 and s.visible_count() == 0
    s.settle([pending])
    assert keys(s.read(0, 10, 1 << 20)[0]) == ["late"]
    s.settle([s.append("next", b"", 9.0)])
    assert s.trim(5.0)
    assert keys(s.read(0, 10, 1 << 20)[0]) == ["next"]


def test_restore_and_skip_to() -> None:
    s = shard()
    s.restore(4, "a", b"x", 1.0)
    s.restore(7, "b", b"y", 2.0)
    s.skip_to(5)
    assert s.next_ordinal == 8
    fresh = s.append("c", b"", 3.0)
    assert fresh.ordinal == 8
    empty = shard()
    empty.skip_to(12)
    assert empty.append("d", b"", 0.0).ordinal == 12
    assert empty.horizon == 12
