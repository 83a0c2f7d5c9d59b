"""The Kinesis poller against a real stream service, real checkpoints on a journal and, for
OnFailure, a real queue service, all in a temporary directory: order per shard, checkpoints
across pollers and reopening, starting positions, retries, bisect, partial failures, record
age, parallelization, throttles, filters and stopping. Timing tests run under trio's autojump
clock (conftest: the services' and the poller's clock follow it)."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime
from itertools import pairwise
from pathlib import Path
from typing import Any

import pytest
import trio
import trio.testing

from engine.kinesis.hashing import hash_key
from engine.kinesis.records import Entry
from engine.kinesis.service import StreamService
from engine.kinesis.stream import Stream
from engine.model.event_source_mapping import EventSourceMapping
from engine.runtime.environment import InvokeOutcome
from engine.sources.checkpoints import Checkpoint, Checkpoints
from engine.sources.kinesis_poller import OK, PROBLEM, KinesisPoller
from engine.sqs.queue import Queue
from engine.sqs.service import QueueService
from tests.unit.engine.sources.conftest import open_checkpoints
from tests.unit.engine.sources.helpers import (
    EPOCH_S,
    QUEUE_PREFIX,
    REGION,
    ROLE,
    STREAM_PREFIX,
    Answer,
    FakeInvoker,
    after,
    bounded,
    data,
    error,
    failing_if,
    held,
    kinesis_mapping,
    ok,
    running,
    sequence_number,
    throttled,
    trio_clock,
    until,
)

UUID = kinesis_mapping().uuid
SHARD0 = "shardId-000000000000"
FAILURES = QUEUE_PREFIX + "failures"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"


async def make_stream(streams: StreamService, name: str = "s", shards: int = 1) -> Stream:
    return await streams.catalog.create(
        name, shard_count=shards, mode=None, tags={}, max_record_kib=None
    )


async def put(streams: StreamService, stream: Stream, *items: str, key: str = "k") -> list[str]:
    """Put each item as a record's data under `key`; their sequence numbers."""
    entries = [Entry(key, item.encode(), hash_key(key)) for item in items]
    return [p.sequence_number for p in await streams.put(stream, entries)]


def make_poller(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    mapping: EventSourceMapping,
    *,
    queues: QueueService | None = None,
    reports: list[str] | None = None,
    time_scale: float = 1.0,
) -> KinesisPoller:
    return KinesisPoller(
        mapping,
        streams=streams,
        invoker=invoker,
        queues=queues,
        checkpoints=checkpoints,
        region=REGION,
        identity_arn=ROLE,
        report=(reports if reports is not None else []).append,
        time_scale=time_scale,
        clock=trio_clock,
    )


def delivered(invoker: FakeInvoker) -> list[str]:
    return [d for call in invoker.calls for d in call.data]


async def failure_queue(queues: QueueService) -> Queue:
    return await queues.catalog.create("failures", {}, {})


async def failure_records(queues: QueueService, queue: Queue, count: int) -> list[dict[str, Any]]:
    """The first `count` records the OnFailure queue receives (waiting for them)."""
    got: list[dict[str, Any]] = []
    with bounded():
        while len(got) < count:
            messages = await queues.receive(queue, count=10, visibility_s=None, wait_s=20)
            got.extend(json.loads(m.body) for m in messages)
    return got


def stamp(at_s: float) -> str:
    """An epoch time as KinesisBatchInfo writes it."""
    return datetime.fromtimestamp(at_s, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


# -- order and checkpoints ------------------------------------------------------------------------


async def test_each_shard_is_read_in_order_in_batches_of_at_most_batch_size(
    streams: StreamService, invoker: FakeInvoker, checkpoints: Checkpoints
) -> None:
    stream = await make_stream(streams, shards=2)
    keys = {stream.shard_for(hash_key(k)).shard_id: k for k in (f"key{i}" for i in range(20))}
    assert len(keys) == 2
    expected: dict[str, list[str]] = defaultdict(list)
    for i in range(6):
        for shard, key in keys.items():
            item = f"{key}-{i}"
            await put(streams, stream, item, key=key)
            expected[shard].append(item)
    mapping = kinesis_mapping(batch_size=4)
    async with running(make_poller(streams, invoker, checkpoints, mapping)):
        await until(lambda: len(delivered(invoker)) == 12)
    seen: dict[str, list[str]] = defaultdict(list)
    for call in invoker.calls:
        assert 1 <= len(call.records) <= 4
        shards = {r["eventID"].split(":")[0] for r in call.records}
        assert len(shards) == 1  # a batch comes from one shard
        seen[shards.pop()].extend(call.data)
    assert seen == expected  # in order, each once
    record = invoker.calls[0].records[0]
    assert record["eventSourceARN"] == STREAM_PREFIX + "s"
    assert record["invokeIdentityArn"] == ROLE
    assert record["awsRegion"] == REGION


async def test_a_new_poller_resumes_after_the_checkpoint_also_after_reopening_the_file(
    tmp_path: Path, streams: StreamService, invoker: FakeInvoker
) -> None:
    stream = await make_stream(streams)
    mapping = kinesis_mapping(batch_size=2)
    state = tmp_path / "checkpoints"
    state.mkdir()
    async with open_checkpoints(state) as checkpoints:
        await put(streams, stream, "r1", "r2", "r3", "r4", "r5")
        async with running(make_poller(streams, invoker, checkpoints, mapping)):
            await until(lambda: len(delivered(invoker)) == 5)
        assert [c.data for c in invoker.calls] == [["r1", "r2"], ["r3", "r4"], ["r5"]]
        await put(streams, stream, "r6", "r7")
        async with running(make_poller(streams, invoker, checkpoints, mapping)):
            await until(lambda: len(delivered(invoker)) == 7)
        assert invoker.calls[-1].data == ["r6", "r7"]
    async with (
        open_checkpoints(state) as checkpoints,  # as after a restart
        running(make_poller(streams, invoker, checkpoints, mapping)),
    ):
        await put(streams, stream, "r8")
        await until(lambda: len(delivered(invoker)) >= 8)
    assert invoker.calls[-1].data == ["r8"]
    assert delivered(invoker) == [f"r{i}" for i in range(1, 9)]  # nothing twice


async def test_a_poller_stopped_while_a_batch_fails_resumes_at_that_batch(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = await make_stream(streams)
    await put(streams, stream, "r1", "r2", "r3", "r4", "r5")
    mapping = kinesis_mapping(batch_size=2)
    invoker.otherwise = failing_if(lambda r: data(r) == "r3")
    async with running(make_poller(streams, invoker, checkpoints, mapping)):
        await invoker.wait_for(4)  # [r1 r2], then [r3 r4] failing, retried
        await trio.sleep(1)
    assert [c.data for c in invoker.calls[:3]] == [["r1", "r2"], ["r3", "r4"], ["r3", "r4"]]
    invoker.otherwise = ok()
    before = len(invoker.calls)
    async with running(make_poller(streams, invoker, checkpoints, mapping)):
        await invoker.wait_for(before + 2)
    assert [c.data for c in invoker.calls[before:]] == [["r3", "r4"], ["r5"]]


# -- where a shard starts -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "timestamp", "expected"),
    [
        ("TRIM_HORIZON", None, [["old1", "old2"], ["new"]]),
        ("LATEST", None, [["new"]]),
        ("AT_TIMESTAMP", EPOCH_S + 4, [["old2"], ["new"]]),
    ],
)
async def test_starting_positions(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
    position: str,
    timestamp: float | None,
    expected: list[list[str]],
) -> None:
    stream = await make_stream(streams)
    await put(streams, stream, "old1")  # at 0 s
    await trio.sleep(5)
    await put(streams, stream, "old2")  # at 5 s
    await trio.sleep(5)
    mapping = kinesis_mapping(starting_position=position, starting_position_timestamp=timestamp)
    async with running(make_poller(streams, invoker, checkpoints, mapping)):
        await trio.sleep(2)
        await put(streams, stream, "new")
        await invoker.wait_for(len(expected))
        await trio.sleep(5)
    assert [c.data for c in invoker.calls] == expected


async def test_latest_keeps_its_place_across_a_restart_before_any_record(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = await make_stream(streams)
    await put(streams, stream, "before")
    await trio.sleep(10)
    mapping = kinesis_mapping(starting_position="LATEST")
    async with running(make_poller(streams, invoker, checkpoints, mapping)):
        await trio.sleep(10)
    await put(streams, stream, "while stopped")
    await trio.sleep(10)
    async with running(make_poller(streams, invoker, checkpoints, mapping)):
        await put(streams, stream, "after")
        await invoker.wait_for(1)
        await trio.sleep(1)
    assert delivered(invoker) == ["while stopped", "after"]


# -- failures -----------------------------------------------------------------------------------


async def test_exhausted_retries_send_kinesis_batch_info_to_on_failure_and_the_shard_moves_on(
    streams: StreamService,
    queues: QueueService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    failures = await failure_queue(queues)
    stream = await make_stream(streams)
    await trio.sleep(3)
    sequences = await put(streams, stream, "r1", "r2")
    invoker.script(error(), error(), error())
    mapping = kinesis_mapping(max_retry_attempts=2, on_failure=FAILURES)
    reports: list[str] = []
    poller = make_poller(streams, invoker, checkpoints, mapping, queues=queues, reports=reports)
    async with running(poller):
        (record,) = await failure_records(queues, failures, 1)
        await put(streams, stream, "r3")
        await invoker.wait_for(4)
    assert [c.data for c in invoker.calls] == [["r1", "r2"]] * 3 + [["r3"]]
    assert [round(b.at - a.at, 3) for a, b in pairwise(invoker.calls[:3])] == [0.4, 0.8]
    assert record["requestContext"]["requestId"]
    assert record == {
        "requestContext": {
            "requestId": record["requestContext"]["requestId"],
            "functionArn": FUNCTION_ARN,
            "condition": "RetryAttemptsExhausted",
            "approximateInvokeCount": 3,
        },
        "version": "1.0",
        "timestamp": record["timestamp"],
        "KinesisBatchInfo": {
            "shardId": SHARD0,
            "startSequenceNumber": sequences[0],
            "endSequenceNumber": sequences[1],
            "approximateArrivalOfFirstRecord": stamp(EPOCH_S + 3),
            "approximateArrivalOfLastRecord": stamp(EPOCH_S + 3),
            "batchSize": 2,
            "streamArn": STREAM_PREFIX + "s",
        },
        "responseContext": {
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": "Unhandled",
        },
    }
    assert record["timestamp"] == stamp(EPOCH_S + 3 + 1.2)  # when it was given up
    assert reports == [PROBLEM, OK]  # LastProcessingResult
    last = sequence_number(invoker.calls[3].records[0])
    assert checkpoints.get(UUID, SHARD0) == Checkpoint(after_sequence=last)


def bad(record: dict[str, Any]) -> bool:
    return data(record) == "bad"


@pytest.mark.parametrize(
    ("bisect", "expected_calls", "given_up"),
    [
        (
            True,
            [["r1", "r2", "bad", "r4"], ["r1", "r2"], ["bad", "r4"], ["bad"], ["r4"]],
            ["bad"],
        ),
        (False, [["r1", "r2", "bad", "r4"]], ["r1", "r2", "bad", "r4"]),
    ],
    ids=["bisect", "whole batch"],
)
async def test_bisect_isolates_the_bad_record(
    streams: StreamService,
    queues: QueueService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
    bisect: bool,
    expected_calls: list[list[str]],
    given_up: list[str],
) -> None:
    failures = await failure_queue(queues)
    stream = await make_stream(streams)
    items = ["r1", "r2", "bad", "r4"]
    sequences = dict(zip(items, await put(streams, stream, *items), strict=True))
    invoker.otherwise = failing_if(bad)
    mapping = kinesis_mapping(max_retry_attempts=0, bisect_on_error=bisect, on_failure=FAILURES)
    async with running(make_poller(streams, invoker, checkpoints, mapping, queues=queues)):
        (record,) = await failure_records(queues, failures, 1)
        await invoker.wait_for(len(expected_calls))
        await put(streams, stream, "next")
        await invoker.wait_for(len(expected_calls) + 1)
    assert [c.data for c in invoker.calls] == [*expected_calls, ["next"]]
    info = record["KinesisBatchInfo"]
    assert info["batchSize"] == len(given_up)
    assert info["startSequenceNumber"] == sequences[given_up[0]]
    assert info["endSequenceNumber"] == sequences[given_up[-1]]
    assert record["requestContext"]["approximateInvokeCount"] == 1


def report_failed(*items: str) -> Answer:
    """A ReportBatchItemFailures answer naming the records whose data is in `items`, in the
    order of `items`."""

    async def answer(event: dict[str, Any]) -> InvokeOutcome:
        by_data = {data(r): sequence_number(r) for r in event["Records"]}
        ids = [by_data[i] for i in items if i in by_data]
        body = {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}
        return await ok(json.dumps(body).encode())(event)

    return answer


async def test_reported_failures_are_retried_from_the_lowest_sequence_number(
    streams: StreamService,
    queues: QueueService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    failures = await failure_queue(queues)
    stream = await make_stream(streams)
    sequences = await put(streams, stream, "r1", "r2", "r3", "r4")
    invoker.script(report_failed("r4", "r3"), report_failed("r3"))
    mapping = kinesis_mapping(
        function_response_types=("ReportBatchItemFailures",),
        max_retry_attempts=1,
        on_failure=FAILURES,
    )
    async with running(make_poller(streams, invoker, checkpoints, mapping, queues=queues)):
        (record,) = await failure_records(queues, failures, 1)
        await put(streams, stream, "r5")
        await invoker.wait_for(3)
    assert [c.data for c in invoker.calls] == [["r1", "r2", "r3", "r4"], ["r3", "r4"], ["r5"]]
    info = record["KinesisBatchInfo"]
    assert (info["startSequenceNumber"], info["endSequenceNumber"]) == (sequences[2], sequences[3])
    assert info["batchSize"] == 2
    assert record["requestContext"]["approximateInvokeCount"] == 2
    # the function answered (no function error): the response context says so
    assert record["responseContext"] == {"statusCode": 200, "executedVersion": "$LATEST"}


async def test_a_restart_after_a_reported_failure_resumes_at_the_lowest_failed_record(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = await make_stream(streams)
    await put(streams, stream, "r1", "r2", "r3", "r4")
    mapping = kinesis_mapping(function_response_types=("ReportBatchItemFailures",))
    invoker.otherwise = report_failed("r4", "r3")
    async with running(make_poller(streams, invoker, checkpoints, mapping)):
        await invoker.wait_for(2)
    invoker.otherwise = ok()
    before = len(invoker.calls)
    async with running(make_poller(streams, invoker, checkpoints, mapping)):
        await invoker.wait_for(before + 1)
        await trio.sleep(1)
    assert [c.data for c in invoker.calls[before:]] == [["r3", "r4"]]


async def test_records_already_too_old_are_given_up_without_an_invoke(
    streams: StreamService,
    queues: QueueService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    failures = await failure_queue(queues)
    stream = await make_stream(streams)
    await put(streams, stream, "stale")
    await trio.sleep(100)
    mapping = kinesis_mapping(max_record_age_s=60, on_failure=FAILURES)
    async with running(make_poller(streams, invoker, checkpoints, mapping, queues=queues)):
        (record,) = await failure_records(queues, failures, 1)
        await put(streams, stream, "fresh")
        await invoker.wait_for(1)
    assert [c.data for c in invoker.calls] == [["fresh"]]
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 0
    assert record["requestContext"]["requestId"] == ""
    assert "responseContext" not in record  # the function never ran


async def test_record_age_counts_in_scaled_seconds(
    streams: StreamService,
    queues: QueueService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    failures = await failure_queue(queues)
    stream = await make_stream(streams)
    await put(streams, stream, "r1")
    invoker.otherwise = error()
    # 60 AWS seconds are 0.6 s here: retried at 0.4 s, too old by the next retry (1.2 s)
    mapping = kinesis_mapping(max_record_age_s=60, on_failure=FAILURES)
    poller = make_poller(streams, invoker, checkpoints, mapping, queues=queues, time_scale=0.01)
    async with running(poller):
        (record,) = await failure_records(queues, failures, 1)
    assert [c.at for c in invoker.calls] == [0, pytest.approx(0.4)]
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert record["requestContext"]["approximateInvokeCount"] == 2
    assert record["responseContext"]["functionError"] == "Unhandled"


async def test_throttles_are_retried_without_counting_as_retries(
    streams: StreamService,
    queues: QueueService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    failures = await failure_queue(queues)
    stream = await make_stream(streams)
    await put(streams, stream, "r1")
    invoker.script(throttled(), throttled(), throttled())
    mapping = kinesis_mapping(max_retry_attempts=0, on_failure=FAILURES)
    async with running(make_poller(streams, invoker, checkpoints, mapping, queues=queues)):
        await invoker.wait_for(4)
        await put(streams, stream, "r2")
        await invoker.wait_for(5)
    assert [c.data for c in invoker.calls] == [["r1"]] * 4 + [["r2"]]
    assert await queues.receive(failures, count=10, visibility_s=None, wait_s=0) == []


# -- parallelization and filters ----------------------------------------------------------------


async def test_parallelization_runs_lanes_at_once_and_keeps_each_keys_order(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = await make_stream(streams)
    keys = [f"key{i}" for i in range(8)]
    for n in range(4):
        for key in keys:
            await put(streams, stream, f"{key}/{n}", key=key)
    busy: Counter[str] = Counter()
    overlaps: list[str] = []

    async def one_second(event: dict[str, Any]) -> InvokeOutcome:
        batch_keys = {r["kinesis"]["partitionKey"] for r in event["Records"]}
        overlaps.extend(k for k in batch_keys if busy[k])
        busy.update(batch_keys)
        try:
            return await after(1)(event)
        finally:
            busy.subtract(batch_keys)

    invoker.otherwise = one_second
    mapping = kinesis_mapping(batch_size=3, parallelization_factor=4)
    async with running(make_poller(streams, invoker, checkpoints, mapping)):
        await invoker.wait_for_records(32)
        await trio.sleep(2)
    assert overlaps == []
    per_key: dict[str, list[str]] = defaultdict(list)
    for item in delivered(invoker):
        per_key[item.split("/")[0]].append(item)
    assert per_key == {key: [f"{key}/{n}" for n in range(4)] for key in keys}
    assert all(len(c.records) <= 3 for c in invoker.calls)
    assert 1 < invoker.most_running <= 4  # lanes of one shard at once, at most the factor


async def test_filters_skip_records_and_the_checkpoint_moves_past_them(
    streams: StreamService, invoker: FakeInvoker, checkpoints: Checkpoints
) -> None:
    stream = await make_stream(streams)
    order = json.dumps({"kind": "order", "n": 1})
    await put(streams, stream, order, json.dumps({"kind": "refund"}), "not json")
    mapping = kinesis_mapping(filters=('{"data": {"kind": ["order"]}}',))
    async with running(make_poller(streams, invoker, checkpoints, mapping)):
        await until(lambda: len(invoker.calls) == 1)
        (skipped,) = await put(streams, stream, json.dumps({"kind": "refund", "n": 2}))
        await until(lambda: checkpoints.get(UUID, SHARD0) == Checkpoint(after_sequence=skipped))
    assert [c.data for c in invoker.calls] == [[order]]
    later = json.dumps({"kind": "order", "n": 3})
    async with running(make_poller(streams, invoker, checkpoints, mapping)):
        await put(streams, stream, later)
        await until(lambda: len(invoker.calls) == 2)
    assert invoker.calls[1].data == [later]  # nothing filtered out came back


async def test_a_window_gathers_records_until_it_passes(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = await make_stream(streams)
    mapping = kinesis_mapping(max_batching_window_s=2)
    async with running(make_poller(streams, invoker, checkpoints, mapping)):
        await trio.sleep(1)
        start = trio.current_time()
        await put(streams, stream, "a")
        await trio.sleep(0.5)
        await put(streams, stream, "b")
        await trio.sleep(2)
        await put(streams, stream, "c")
        first, second = await invoker.wait_for(2)
    assert first.data == ["a", "b"]
    assert first.at - start == pytest.approx(2, abs=0.01)
    assert second.data == ["c"]
    assert second.at - start == pytest.approx(4.5, abs=0.01)


# -- the stream coming and going; stopping --------------------------------------------------------


async def test_a_stream_created_after_its_mapping_is_read_once_it_exists(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    async with running(make_poller(streams, invoker, checkpoints, kinesis_mapping())):
        await trio.sleep(2)
        stream = await make_stream(streams)
        await put(streams, stream, "x")
        (call,) = await invoker.wait_for(1)
    assert call.data == ["x"]
    assert call.at == pytest.approx(5, abs=0.01)  # the missing stream's backoff


async def test_a_stream_deleted_while_read_is_read_again_once_re_created(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = await make_stream(streams)
    poller = make_poller(streams, invoker, checkpoints, kinesis_mapping())
    failed: list[BaseException] = []

    async def run() -> None:
        try:
            await poller.run()
        except Exception as exc:
            failed.append(exc)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await trio.sleep(1)
        await streams.catalog.delete(stream)
        await trio.sleep(1)
        stream = await make_stream(streams)
        await put(streams, stream, "again")
        with trio.move_on_after(30):
            await invoker.wait_for(1)
        poller.stop()
    assert failed == []
    assert [c.data for c in invoker.calls] == [["again"]]


async def test_stop_ends_an_idle_poller_at_once(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = await make_stream(streams, shards=3)
    poller = make_poller(streams, invoker, checkpoints, kinesis_mapping(max_batching_window_s=5))
    async with running(poller) as stopped:
        await trio.sleep(45)  # idle across two of the readers' waits
    assert stopped.after_s < 0.01
    await put(streams, stream, "late")
    await trio.sleep(1)
    assert invoker.calls == []


async def test_stop_cancels_the_wait_between_retries(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = await make_stream(streams)
    await put(streams, stream, "r1")
    invoker.otherwise = error()
    async with running(make_poller(streams, invoker, checkpoints, kinesis_mapping())) as stopped:
        await invoker.wait_for(5)  # the next retry waits 0.2 * 2**5 = 5 s
        await trio.sleep(1)
    assert stopped.after_s < 0.01
    assert checkpoints.get(UUID, SHARD0) == Checkpoint()  # nothing handled: read again


async def test_stop_during_a_failing_invoke_does_not_wait_out_the_retry_backoff(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = await make_stream(streams)
    await put(streams, stream, "r1")
    gate = trio.Event()
    invoker.script(error(), error(), held(gate, error()))
    poller = make_poller(streams, invoker, checkpoints, kinesis_mapping())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller.run)
        await invoker.wait_for(3)
        poller.stop()
        stopped_at = trio.current_time()
        gate.set()
    assert trio.current_time() - stopped_at < 1
