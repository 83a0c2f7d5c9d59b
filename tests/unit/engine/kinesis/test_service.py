"""The service as the pollers use it, over time (trio's autojump clock drives its clock) and
across reopening."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
import trio
import trio.testing

from engine.kinesis.errors import InvalidArgumentException, ResourceNotFoundException
from engine.kinesis.hashing import hash_key
from engine.kinesis.records import Entry, StreamRecord
from engine.kinesis.service import StreamService, open_streams
from engine.kinesis.shard import Shard
from engine.kinesis.stream import Stream
from tests.unit.engine.kinesis.conftest import trio_clock

ARN = "arn:aws:kinesis:us-east-1:000000000000:stream/"
DAY_S = 24 * 3600


async def make(service: StreamService, name: str = "s", shards: int = 1) -> Stream:
    return await service.catalog.create(
        name, shard_count=shards, mode=None, tags={}, max_record_kib=None
    )


async def put(service: StreamService, stream: Stream, *keys: str) -> list[str]:
    placed = await service.put(stream, [Entry(k, k.encode(), hash_key(k)) for k in keys])
    return [p.sequence_number for p in placed]


def data(records: list[StreamRecord]) -> list[bytes]:
    return [r.data for r in records]


async def test_interface_on_a_stream(service: StreamService) -> None:
    assert not service.stream_exists(ARN + "s")
    stream = await make(service, shards=3)
    assert service.stream_exists(ARN + "s")
    assert service.shard_ids(ARN + "s") == [
        "shardId-000000000000",
        "shardId-000000000001",
        "shardId-000000000002",
    ]
    # "abc" hashes to 0x90…: the middle third
    await put(service, stream, "abc", "abc")
    records, after = service.read(ARN + "s", "shardId-000000000001", 0, 10)
    assert data(records) == [b"abc", b"abc"] and after == 2
    assert records[0].partition_key == "abc"
    assert service.read(ARN + "s", "shardId-000000000000", 0, 10) == ([], 0)


async def test_unknown_stream_or_shard(service: StreamService) -> None:
    for call in (
        lambda: service.shard_ids(ARN + "nope"),
        lambda: service.position(ARN + "nope", "shardId-000000000000", "LATEST"),
        lambda: service.read(ARN + "nope", "shardId-000000000000", 0, 1),
        lambda: service.millis_behind_latest(ARN + "nope", "shardId-000000000000", 0),
    ):
        with pytest.raises(ResourceNotFoundException) as raised:
            call()
        assert raised.value.message == "Stream nope under account 000000000000 not found."
    with pytest.raises(ResourceNotFoundException):
        await service.wait(ARN + "nope", "shardId-000000000000", 0, 1)
    await make(service)
    with pytest.raises(ResourceNotFoundException) as raised:
        service.position(ARN + "s", "shardId-000000000001", "LATEST")
    assert raised.value.message == (
        "Shard shardId-000000000001 in stream s under account 000000000000 does not exist"
    )


async def test_positions_of_every_kind(
    service: StreamService, autojump_clock: trio.testing.MockClock
) -> None:
    stream = await make(service)
    shard = "shardId-000000000000"
    assert service.position(ARN + "s", shard, "TRIM_HORIZON") == 0
    assert service.position(ARN + "s", shard, "LATEST") == 0
    first = await put(service, stream, "a", "b")
    await trio.sleep(10)
    middle = trio_clock()
    second = await put(service, stream, "c", "d")
    seqs = first + second
    assert seqs == sorted(seqs) and len(set(seqs)) == 4

    def at(kind: str, **given: object) -> list[bytes]:
        position = service.position(ARN + "s", shard, kind, **given)  # type: ignore[arg-type]
        return data(service.read(ARN + "s", shard, position, 10)[0])

    assert at("TRIM_HORIZON") == [b"a", b"b", b"c", b"d"]
    assert at("LATEST") == []
    assert at("AT_SEQUENCE_NUMBER", sequence_number=seqs[1]) == [b"b", b"c", b"d"]
    assert at("AFTER_SEQUENCE_NUMBER", sequence_number=seqs[1]) == [b"c", b"d"]
    assert at("AFTER_SEQUENCE_NUMBER", sequence_number=seqs[3]) == []
    assert at("AT_TIMESTAMP", timestamp=middle) == [b"c", b"d"]
    assert at("AT_TIMESTAMP", timestamp=middle - 60) == [b"a", b"b", b"c", b"d"]
    assert at("AT_TIMESTAMP", timestamp=middle + 60) == []
    # the shard's starting sequence number names the start
    start = stream.shards[0].starting_sequence_number
    assert at("AT_SEQUENCE_NUMBER", sequence_number=start) == [b"a", b"b", b"c", b"d"]
    assert at("AFTER_SEQUENCE_NUMBER", sequence_number=start) == [b"a", b"b", b"c", b"d"]
    # LATEST is after what is there now; a later put is read from it
    latest = service.position(ARN + "s", shard, "LATEST")
    await put(service, stream, "e")
    assert data(service.read(ARN + "s", shard, latest, 10)[0]) == [b"e"]


async def test_sequence_numbers_refused(service: StreamService) -> None:
    stream = await make(service, shards=2)
    other = await make(service, "other")
    (seq,) = await put(service, stream, "abc")  # shard 1
    (foreign,) = await put(service, other, "x")
    shard0 = "shardId-000000000000"
    cases = {
        "12345": (
            "StartingSequenceNumber 12345 used in GetShardIterator on shard shardId-000000000000 "
            "in stream s under account 000000000000 is invalid."
        ),
        seq: (
            "Invalid StartingSequenceNumber. It encodes shardId-000000000001, while it was "
            "used in a call to a shard with shardId-000000000000"
        ),
        foreign: (
            f"StartingSequenceNumber {foreign} used in GetShardIterator on shard "
            "shardId-000000000000 in stream s under account 000000000000 is invalid because it "
            "did not come from this stream."
        ),
        stream.shards[0].starting_sequence_number[:-1] + "5": (
            f"StartingSequenceNumber {stream.shards[0].starting_sequence_number[:-1]}5 used in "
            "GetShardIterator on shard shardId-000000000000 in stream s under account "
            "000000000000 is invalid."
        ),
    }
    for given, message in cases.items():
        with pytest.raises(InvalidArgumentException) as raised:
            service.position(ARN + "s", shard0, "AT_SEQUENCE_NUMBER", sequence_number=given)
        assert raised.value.message == message
    with pytest.raises(InvalidArgumentException) as raised:
        service.position(ARN + "s", shard0, "AT_SEQUENCE_NUMBER")
    assert raised.value.message.endswith(
        "Request specified AT_SEQUENCE_NUMBER and no StartingSequenceNumber."
    )
    with pytest.raises(InvalidArgumentException) as raised:
        service.position(ARN + "s", shard0, "LATEST", sequence_number=seq)
    assert raised.value.message.endswith(
        "Request specified LATEST and also a StartingSequenceNumber."
    )


async def test_order_kept_under_concurrent_puts(service: StreamService) -> None:
    stream = await make(service)
    async with trio.open_nursery() as nursery:
        for i in range(50):
            nursery.start_soon(put, service, stream, f"k{i:02d}")
    records, after = service.read(ARN + "s", "shardId-000000000000", 0, 100)
    assert after == 50 and len(records) == 50
    seqs = [r.sequence_number for r in records]
    assert seqs == sorted(seqs) and len(set(seqs)) == 50


class CountingShard:
    """Counts how often `wait` looks at the shard: a polling loop would look again and again."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.looks = 0
        real = Shard.has_record_from

        def counted(shard: Shard, position: int) -> bool:
            self.looks += 1
            return real(shard, position)

        monkeypatch.setattr(Shard, "has_record_from", counted)


async def test_wait_wakes_on_put_without_polling(
    service: StreamService,
    autojump_clock: trio.testing.MockClock,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    stream = await make(service)
    counter = CountingShard(monkeypatch)
    woke_at: list[float] = []
    start = trio.current_time()

    async def waiter() -> None:
        await service.wait(ARN + "s", "shardId-000000000000", 0, 600)
        woke_at.append(trio.current_time() - start)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(waiter)
        await trio.sleep(100)
        assert woke_at == [] and counter.looks == 1  # 100 s asleep, one look
        await put(service, stream, "x")
    assert woke_at == [pytest.approx(100, abs=0.5)]
    assert counter.looks == 2


async def test_wait_returns_at_once_or_after_its_timeout(
    service: StreamService, autojump_clock: trio.testing.MockClock
) -> None:
    stream = await make(service)
    await put(service, stream, "x")
    start = trio.current_time()
    await service.wait(ARN + "s", "shardId-000000000000", 0, 60)  # a record is there
    assert trio.current_time() == start
    await service.wait(ARN + "s", "shardId-000000000000", 1, 60)  # nothing after it
    assert trio.current_time() - start == pytest.approx(60)


async def test_wait_raises_when_the_stream_is_deleted(
    service: StreamService, autojump_clock: trio.testing.MockClock
) -> None:
    stream = await make(service)

    async def delete_later() -> None:
        await trio.sleep(5)
        await service.catalog.delete(stream)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(delete_later)
        start = trio.current_time()
        with pytest.raises(ResourceNotFoundException):
            await service.wait(ARN + "s", "shardId-000000000000", 0, 600)
        assert trio.current_time() - start == pytest.approx(5, abs=0.5)


async def test_millis_behind_latest(
    service: StreamService, autojump_clock: trio.testing.MockClock
) -> None:
    stream = await make(service)
    shard = "shardId-000000000000"
    assert service.millis_behind_latest(ARN + "s", shard, 0) == 0
    await put(service, stream, "a")
    await trio.sleep(3)
    await put(service, stream, "b")
    await trio.sleep(2)
    assert service.millis_behind_latest(ARN + "s", shard, 0) == pytest.approx(5000, abs=50)
    assert service.millis_behind_latest(ARN + "s", shard, 1) == pytest.approx(2000, abs=50)
    assert service.millis_behind_latest(ARN + "s", shard, 2) == 0


async def test_records_past_retention_are_trimmed(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    shard = "shardId-000000000000"
    async with open_streams(tmp_path, region="us-east-1", clock=trio_clock) as service:
        stream = await make(service)
        await put(service, stream, "old")
        await trio.sleep(DAY_S - 60)
        await put(service, stream, "new")
        await trio.sleep(59)
        assert data(service.read(ARN + "s", shard, 0, 10)[0]) == [b"old", b"new"]
        await trio.sleep(2)  # "old" is a day old: the trimmer drops it
        assert stream.shards[0].horizon == 1
        records, after = service.read(ARN + "s", shard, 0, 10)
        assert data(records) == [b"new"] and after == 2
        assert service.position(ARN + "s", shard, "TRIM_HORIZON") == 1
        await service.catalog.set_retention(stream, 48, increase=True)
        await trio.sleep(DAY_S)  # "new" is a day old, kept for 48 h now
        assert data(service.read(ARN + "s", shard, 0, 10)[0]) == [b"new"]
        await service.catalog.set_retention(stream, 24, increase=False)
        await trio.sleep(0.1)  # the trimmer is woken by the shorter retention
        assert stream.shards[0].visible_count() == 0
    with sqlite3.connect(tmp_path / "streams.sqlite3") as conn:
        assert conn.execute("SELECT count(*) FROM records").fetchone() == (0,)
    async with open_streams(tmp_path, region="us-east-1", clock=trio_clock) as service:
        stream = service.catalog.get("s")
        assert stream.retention_hours == 24
        # ordinals are never reused, even with every record trimmed before the restart
        (seq,) = await put(service, stream, "after")
        records, after = service.read(ARN + "s", shard, 0, 10)
        assert data(records) == [b"after"] and after == 3
        assert records[0].sequence_number == seq


async def test_the_trimmer_sleeps_while_idle(
    service: StreamService, autojump_clock: trio.testing.MockClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs: list[float] = []
    real = service._trim_all

    def counted(now: float) -> float:
        runs.append(now)
        return real(now)

    monkeypatch.setattr(service, "_trim_all", counted)
    stream = await make(service)
    await trio.sleep(10 * DAY_S)
    assert runs == []  # no record, no deadline: never woken
    await put(service, stream, "x")
    await trio.sleep(DAY_S + 1)
    assert len(runs) == 2  # woken once for the new deadline, once at it


async def test_reopen_keeps_streams_records_and_order(tmp_path: Path) -> None:
    async with open_streams(tmp_path, region="us-east-1", clock=trio_clock) as service:
        stream = await make(service, shards=2)
        await service.catalog.tag(stream, {"team": "a"})
        before = await put(service, stream, *[f"k{i}" for i in range(20)])
        gone = await make(service, "gone")
        await put(service, gone, "x")
        await service.catalog.delete(gone)
    async with open_streams(tmp_path, region="us-east-1", clock=trio_clock) as service:
        assert service.catalog.names() == ["s"]
        stream = service.catalog.get("s")
        assert stream.tags == {"team": "a"} and len(stream.shards) == 2
        read = []
        for shard in service.shard_ids(ARN + "s"):
            read += [r.sequence_number for r in service.read(ARN + "s", shard, 0, 100)[0]]
        assert sorted(read) == sorted(before)
        again = await put(service, stream, "k0")
        same_shard = [
            r.sequence_number
            for r in service.read(ARN + "s", stream.shard_for(hash_key("k0")).shard_id, 0, 100)[0]
        ]
        assert same_shard[-1] == again[0] and same_shard == sorted(same_shard)
        created = await make(service, "gone")  # the name again: nothing of the old stream
        assert service.read(ARN + "gone", "shardId-000000000000", 0, 10) == ([], 0)
        assert created.epoch_ms > stream.epoch_ms
