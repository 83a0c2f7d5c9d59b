"""`open_sources` as the daemon opens it, over real queue and stream services, fake mappings
and a fake invoker: a poller of the right kind per mapping, the stream mapping's
LastProcessingResult, and checkpoints committed to the state directory when it closes."""

from __future__ import annotations

import sqlite3
from contextlib import closing
from pathlib import Path

import trio
import trio.testing

from engine.errors import ResourceNotFoundException
from engine.kinesis.hashing import hash_key
from engine.kinesis.records import Entry
from engine.kinesis.service import StreamService
from engine.model.event_source_mapping import DISABLED, ENABLED
from engine.sources import checkpoints as checkpoint_store
from engine.sources.kinesis_poller import OK
from engine.sources.service import open_sources
from engine.sources.supervisor import Supervisor
from engine.sqs.sending import SendRequest
from engine.sqs.service import QueueService
from tests.unit.engine.sources.helpers import (
    REGION,
    ROLE,
    FakeInvoker,
    FakeMappings,
    kinesis_mapping,
    sqs_mapping,
    until,
)


async def test_each_mapping_polls_its_source_and_checkpoints_are_on_disk_after_closing(
    tmp_path: Path, queues: QueueService, streams: StreamService, invoker: FakeInvoker
) -> None:
    queue = await queues.catalog.create("q", {}, {})
    stream = await streams.catalog.create(
        "s", shard_count=1, mode=None, tags={}, max_record_kib=None
    )
    state_dir = tmp_path / "sources"
    state_dir.mkdir()
    mappings = FakeMappings([])
    roles: list[tuple[str, str | None]] = []

    def role_of(name: str, qualifier: str | None) -> str:
        roles.append((name, qualifier))
        return ROLE

    async with open_sources(
        state_dir,
        mappings=mappings,
        invoker=invoker,
        queues=queues,
        streams=streams,
        role_of=role_of,
        region=REGION,
    ) as supervisor:
        assert isinstance(supervisor, Supervisor)
        mappings.add(sqs_mapping(uuid="queue-mapping"))
        mappings.add(kinesis_mapping(uuid="stream-mapping", qualifier="7"))
        await queues.send(queue, [SendRequest(body="message")])
        (placed,) = await streams.put(stream, [Entry("k", b"record", hash_key("k"))])
        await invoker.wait_for_records(2)
        await until(lambda: mappings.results.get("stream-mapping") == [OK])
        assert mappings.state("queue-mapping") == mappings.state("stream-mapping") == ENABLED
    by_source = {c.records[0]["eventSource"]: c for c in invoker.calls}
    assert by_source["aws:sqs"].bodies == ["message"]
    assert by_source["aws:kinesis"].data == ["record"]
    assert by_source["aws:kinesis"].qualifier == "7"
    assert by_source["aws:kinesis"].records[0]["invokeIdentityArn"] == ROLE
    assert roles == [("fn", "7")]  # the stream mapping's function's role
    assert "queue-mapping" not in mappings.results  # queues show no LastProcessingResult
    with closing(sqlite3.connect(state_dir / checkpoint_store.DB_NAME)) as conn:
        rows = conn.execute("SELECT mapping, shard, after_sequence FROM checkpoints").fetchall()
    assert rows == [("stream-mapping", "shardId-000000000000", placed.sequence_number)]


async def test_a_stream_mapping_outlives_its_function_and_resumes_when_it_is_back(
    tmp_path: Path,
    queues: QueueService,
    streams: StreamService,
    invoker: FakeInvoker,
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = await streams.catalog.create(
        "s", shard_count=1, mode=None, tags={}, max_record_kib=None
    )
    state_dir = tmp_path / "sources"
    state_dir.mkdir()
    exists = False

    def role_of(name: str, qualifier: str | None) -> str:
        if not exists:
            raise ResourceNotFoundException(f"Function not found: {name}")
        return ROLE

    mappings = FakeMappings([], kinesis_mapping(uuid="stream-mapping", state=ENABLED))
    async with open_sources(
        state_dir,
        mappings=mappings,
        invoker=invoker,
        queues=queues,
        streams=streams,
        role_of=role_of,
        region=REGION,
    ):
        await trio.sleep(1)
        exists = True  # the function is created again
        await streams.put(stream, [Entry("k", b"record", hash_key("k"))])
        with trio.move_on_after(60):
            await invoker.wait_for(1)
        state = mappings.state("stream-mapping")
    assert [c.data for c in invoker.calls] == [["record"]]
    assert state != DISABLED
