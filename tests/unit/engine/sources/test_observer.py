"""What the pollers tell their observer (the metrics): records polled, filtered out, invoked,
failed, deleted and dropped, and a stream batch's iterator age, counted as Lambda counts its
event source mapping metrics."""

from __future__ import annotations

import json
from collections import Counter

import trio
import trio.testing

from engine.kinesis.hashing import hash_key
from engine.kinesis.records import Entry
from engine.kinesis.service import StreamService
from engine.sources.checkpoints import Checkpoints
from engine.sources.kinesis_poller import KinesisPoller
from engine.sources.sqs_poller import SqsPoller
from engine.sqs.sending import SendRequest
from engine.sqs.service import QueueService
from tests.unit.engine.sources.helpers import (
    REGION,
    FakeInvoker,
    body,
    error,
    kinesis_mapping,
    message_id,
    reporting,
    running,
    sqs_mapping,
    trio_clock,
    until,
)


class Recorder:
    def __init__(self) -> None:
        self.counts: Counter[str] = Counter()
        self.labels: set[tuple[str, str]] = set()
        self.ages: list[float] = []

    def events(self, uuid: str, function: str, outcome: str, count: int) -> None:
        self.labels.add((uuid, function))
        self.counts[outcome] += count

    def iterator_age(self, uuid: str, function: str, age_s: float) -> None:
        self.ages.append(age_s)

    def forget(self, uuid: str) -> None:
        pass


async def test_sqs_records_by_outcome(queues: QueueService, invoker: FakeInvoker) -> None:
    queue = await queues.catalog.create("q", {"VisibilityTimeout": "0"}, {})
    bodies = [json.dumps({"kind": k, "n": n}) for n, k in enumerate(["a", "a", "b", "a"])]
    await queues.send(queue, [SendRequest(body=b) for b in bodies])
    # The first batch's function fails once: its three records are failed, then polled again.
    invoker.script(error())
    observer = Recorder()
    mapping = sqs_mapping(batch_size=10, filters=('{"body": {"kind": ["a"]}}',))
    poller = SqsPoller(mapping, queues=queues, invoker=invoker, region=REGION, observer=observer)
    async with running(poller):
        await until(lambda: not queue.messages)
    assert observer.labels == {(mapping.uuid, "fn")}
    assert observer.counts == {
        "polled": 4 + 3,  # the failed three came back
        "filtered": 1,
        "invoked": 3 + 3,
        "failed": 3,
        "deleted": 3,
    }


async def test_sqs_batch_item_failures_count_only_the_named(
    queues: QueueService, invoker: FakeInvoker
) -> None:
    queue = await queues.catalog.create("q", {"VisibilityTimeout": "300"}, {})
    await queues.send(queue, [SendRequest(body=b) for b in ("good", "bad", "good2")])
    invoker.script(reporting(lambda r: body(r) == "bad", message_id))
    observer = Recorder()
    mapping = sqs_mapping(batch_size=10, function_response_types=("ReportBatchItemFailures",))
    poller = SqsPoller(mapping, queues=queues, invoker=invoker, region=REGION, observer=observer)
    async with running(poller):
        await until(lambda: len(queue.messages) == 1)
    assert observer.counts == {"polled": 3, "invoked": 3, "failed": 1, "deleted": 2}


async def test_kinesis_records_given_up_are_dropped_and_ages_reported(
    streams: StreamService,
    invoker: FakeInvoker,
    checkpoints: Checkpoints,
    autojump_clock: trio.testing.MockClock,
) -> None:
    stream = await streams.catalog.create(
        "s", shard_count=1, mode=None, tags={}, max_record_kib=None
    )
    entries = [Entry("k", str(i).encode(), hash_key("k")) for i in range(3)]
    await streams.put(stream, entries)
    await trio.sleep(5)  # the records are 5 s old when first sent
    invoker.script(error(), error())
    observer = Recorder()
    mapping = kinesis_mapping(batch_size=10, max_retry_attempts=1)
    poller = KinesisPoller(
        mapping,
        streams=streams,
        invoker=invoker,
        queues=None,
        checkpoints=checkpoints,
        region=REGION,
        identity_arn="arn:aws:iam::000000000000:role/r",
        report=lambda text: None,
        clock=trio_clock,
        observer=observer,
    )
    async with running(poller):
        await invoker.wait_for(2)
        await until(lambda: observer.counts["dropped"] == 3)
    assert observer.counts == {"polled": 3, "invoked": 6, "failed": 6, "dropped": 3}
    assert observer.ages and 5 <= observer.ages[0] < 5.1
