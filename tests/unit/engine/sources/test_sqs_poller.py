"""The SQS poller against a real queue service in a temporary directory: batches, windows,
what is deleted after each kind of answer, filters, throttles, FIFO groups, stopping, scaling
and the 6 MB cut. Timing tests run under trio's autojump clock (conftest: the services' clock
follows it)."""

from __future__ import annotations

import json
import uuid
from collections import Counter
from itertools import pairwise
from typing import Any

import pytest
import trio
import trio.testing

from engine.model.event_source_mapping import EventSourceMapping
from engine.runtime.environment import InvokeOutcome
from engine.sources.sqs_poller import MAX_EVENT_BYTES, SqsPoller
from engine.sqs.errors import SqsError
from engine.sqs.queue import Queue
from engine.sqs.sending import SendRequest
from engine.sqs.service import QueueService
from tests.unit.engine.sources.helpers import (
    QUEUE_PREFIX,
    REGION,
    Answer,
    FakeInvoker,
    after,
    body,
    error,
    failing_if,
    held,
    message_id,
    missing,
    ok,
    reporting,
    running,
    sqs_mapping,
    throttled,
    until,
)

REPORT = ("ReportBatchItemFailures",)


async def make_queue(queues: QueueService, name: str = "q", **attributes: str) -> Queue:
    return await queues.catalog.create(name, attributes, {})


async def send(queues: QueueService, queue: Queue, *bodies: str, group: str | None = None) -> None:
    requests = [
        SendRequest(body=b, group_id=group, dedup_id=uuid.uuid4().hex if group else None)
        for b in bodies
    ]
    results = await queues.send(queue, requests)
    assert not [r for r in results if isinstance(r, SqsError)]


def left(queue: Queue) -> list[str]:
    """The bodies still in the queue (in flight or not), sorted."""
    return sorted(m.body for m in queue.messages.values())


def make_poller(
    queues: QueueService, invoker: FakeInvoker, mapping: EventSourceMapping
) -> SqsPoller:
    return SqsPoller(mapping, queues=queues, invoker=invoker, region=REGION)


def delivered(invoker: FakeInvoker) -> list[str]:
    return [b for call in invoker.calls for b in call.bodies]


# -- batches and what is deleted ---------------------------------------------------------------


async def test_batches_hold_at_most_batch_size_and_a_success_deletes_them(
    queues: QueueService, invoker: FakeInvoker
) -> None:
    queue = await make_queue(queues)
    bodies = [f"m{i}" for i in range(7)]
    await send(queues, queue, *bodies)
    mapping = sqs_mapping(batch_size=3, qualifier="live")
    async with running(make_poller(queues, invoker, mapping)):
        await until(lambda: not queue.messages)
    assert sorted(len(c.records) for c in invoker.calls) == [1, 3, 3]
    assert sorted(delivered(invoker)) == bodies  # each once
    assert {(c.function, c.qualifier) for c in invoker.calls} == {("fn", "live")}
    record = invoker.calls[0].records[0]
    assert record["eventSource"] == "aws:sqs"
    assert record["eventSourceARN"] == QUEUE_PREFIX + "q"
    assert record["awsRegion"] == REGION


async def test_a_window_gathers_messages_until_it_passes(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    queue = await make_queue(queues)
    mapping = sqs_mapping(batch_size=10, max_batching_window_s=2)
    async with running(make_poller(queues, invoker, mapping)):
        await trio.sleep(1)
        start = trio.current_time()
        await send(queues, queue, "a")
        await trio.sleep(0.5)
        await send(queues, queue, "b")
        await trio.sleep(2)  # past the window: the next message starts another batch
        await send(queues, queue, "c")
        await trio.sleep(1)
        await send(queues, queue, "d")
        first, second = await invoker.wait_for(2)
    assert first.bodies == ["a", "b"]
    assert first.at - start == pytest.approx(2, abs=0.01)
    assert second.bodies == ["c", "d"]
    assert second.at - start == pytest.approx(2.5 + 2, abs=0.01)
    assert left(queue) == []


async def test_a_full_batch_does_not_wait_for_its_window(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    queue = await make_queue(queues, VisibilityTimeout="300")
    mapping = sqs_mapping(batch_size=25, max_batching_window_s=60)
    async with running(make_poller(queues, invoker, mapping)):
        start = trio.current_time()
        await send(queues, queue, *[f"m{i}" for i in range(30)])
        first, second = await invoker.wait_for(2)
    assert len(first.records) == 25
    assert first.at - start < 0.01
    assert len(second.records) == 5  # the rest waited for its own window
    assert second.at - start == pytest.approx(60, abs=0.01)


async def test_a_window_longer_than_the_visibility_timeout_never_repeats_a_message_in_an_event(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    queue = await make_queue(queues, VisibilityTimeout="10")
    mapping = sqs_mapping(batch_size=20, max_batching_window_s=30)
    async with running(make_poller(queues, invoker, mapping)):
        await send(queues, queue, "a")
        (call,) = await invoker.wait_for(1)
    assert call.bodies == ["a"]


async def test_a_function_error_deletes_nothing_and_the_batch_returns_after_the_visibility_timeout(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    queue = await make_queue(queues, VisibilityTimeout="30")
    await send(queues, queue, "a", "b")
    invoker.script(error())
    async with running(make_poller(queues, invoker, sqs_mapping())):
        await invoker.wait_for(1)
        await trio.sleep(20)
        assert left(queue) == ["a", "b"]
        first, second = await invoker.wait_for(2)
    assert second.at - first.at == pytest.approx(30, abs=0.01)
    assert [message_id(r) for r in second.records] == [message_id(r) for r in first.records]
    assert [r["attributes"]["ApproximateReceiveCount"] for r in second.records] == ["2", "2"]
    assert left(queue) == []


async def test_an_invoke_error_of_the_engine_deletes_nothing(
    queues: QueueService, invoker: FakeInvoker
) -> None:
    queue = await make_queue(queues)
    await send(queues, queue, "a")
    invoker.script(missing())
    async with running(make_poller(queues, invoker, sqs_mapping())):
        await invoker.wait_for(1)
    assert left(queue) == ["a"]


def bad(record: dict[str, Any]) -> bool:
    return body(record).startswith("bad")


@pytest.mark.parametrize(
    ("types", "answer", "expected"),
    [
        (REPORT, reporting(bad, message_id), ["bad"]),
        (REPORT, ok(b'{"batchItemFailures": []}'), []),
        (REPORT, ok(b""), []),
        (REPORT, ok(b'{"batchItemFailures": [{"itemIdentifier": "not-in-batch"}]}'), None),
        (REPORT, ok(b'{"batchItemFailures": [{"itemIdentifier": ""}]}'), None),
        (REPORT, ok(b'{"batchItemFailures": [{"id": "x"}]}'), None),
        (REPORT, ok(b"not json"), None),
        ((), reporting(bad, message_id), []),  # not asked for: the answer is not read
    ],
    ids=[
        "named",
        "empty list",
        "empty answer",
        "unknown id",
        "empty id",
        "bad key",
        "not json",
        "not enabled",
    ],
)
async def test_report_batch_item_failures_deletes_all_but_the_named(
    queues: QueueService,
    invoker: FakeInvoker,
    types: tuple[str, ...],
    answer: Answer,
    expected: list[str] | None,
) -> None:
    queue = await make_queue(queues)
    await send(queues, queue, "ok-1", "bad", "ok-2")
    invoker.script(answer)
    async with running(make_poller(queues, invoker, sqs_mapping(function_response_types=types))):
        (call,) = await invoker.wait_for(1)
    assert call.bodies == ["ok-1", "bad", "ok-2"]
    everything = ["bad", "ok-1", "ok-2"]
    assert left(queue) == (everything if expected is None else expected)


async def test_filters_delete_what_matches_none_without_invoking_it(
    queues: QueueService, invoker: FakeInvoker
) -> None:
    queue = await make_queue(queues)
    orders = [json.dumps({"kind": "order", "n": n}) for n in (1, 2)]
    await send(queues, queue, orders[0], '{"kind": "refund"}', "plain text", orders[1])
    mapping = sqs_mapping(filters=('{"body": {"kind": ["order"]}}',))
    async with running(make_poller(queues, invoker, mapping)):
        await until(lambda: not queue.messages)
    assert [c.bodies for c in invoker.calls] == [orders]


async def test_a_batch_filtered_out_entirely_is_deleted_without_an_invoke(
    queues: QueueService, invoker: FakeInvoker
) -> None:
    queue = await make_queue(queues)
    await send(queues, queue, '{"kind": "refund"}', "plain text")
    mapping = sqs_mapping(filters=('{"body": {"kind": ["order"]}}',))
    async with running(make_poller(queues, invoker, mapping)):
        await until(lambda: not queue.messages)
    assert invoker.calls == []


async def test_a_plain_pattern_on_the_body_matches_text_messages(
    queues: QueueService, invoker: FakeInvoker
) -> None:
    queue = await make_queue(queues)
    await send(queues, queue, "ERROR disk full", "INFO fine", '{"level": "ERROR"}')
    mapping = sqs_mapping(filters=('{"body": [{"prefix": "ERROR"}]}',))
    async with running(make_poller(queues, invoker, mapping)):
        await until(lambda: not queue.messages)
    assert [c.bodies for c in invoker.calls] == [["ERROR disk full"]]


# -- throttles, poison messages, a missing queue -----------------------------------------------


async def test_throttles_back_off_one_two_then_five_seconds_and_reset_after_a_success(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    # a visibility timeout of 0: the message is back at once, so the gaps are the backoff's
    queue = await make_queue(queues, VisibilityTimeout="0")
    await send(queues, queue, "a")
    invoker.script(throttled(), throttled(), throttled(), throttled(), ok(), throttled())
    async with running(make_poller(queues, invoker, sqs_mapping())):
        await invoker.wait_for(5)
        await send(queues, queue, "b")
        calls = await invoker.wait_for(7)
    gaps = [round(b.at - a.at, 3) for a, b in pairwise(calls[:5])]
    assert gaps == [1, 2, 5, 5]
    assert calls[5].bodies == calls[6].bodies == ["b"]
    assert calls[6].at - calls[5].at == pytest.approx(1, abs=0.01)  # backoff reset
    assert left(queue) == []


async def test_the_queues_redrive_policy_moves_a_poison_message(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    dead = await make_queue(queues, "dead")
    policy = json.dumps({"deadLetterTargetArn": QUEUE_PREFIX + "dead", "maxReceiveCount": 2})
    queue = await make_queue(queues, VisibilityTimeout="1", RedrivePolicy=policy)
    await send(queues, queue, "poison")
    invoker.otherwise = error()
    async with running(make_poller(queues, invoker, sqs_mapping())):
        await invoker.wait_for(2)
        await trio.sleep(10)
    assert [c.bodies for c in invoker.calls] == [["poison"], ["poison"]]
    assert left(queue) == [] and left(dead) == ["poison"]


async def test_a_queue_created_after_its_mapping_is_polled_once_it_exists(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    async with running(make_poller(queues, invoker, sqs_mapping("later"))):
        await trio.sleep(2)
        queue = await make_queue(queues, "later")
        await send(queues, queue, "x")
        (call,) = await invoker.wait_for(1)
    assert call.bodies == ["x"]
    assert call.at == pytest.approx(5, abs=0.01)  # the missing queue's backoff


# -- FIFO ---------------------------------------------------------------------------------------


async def test_fifo_groups_are_processed_in_order_one_batch_at_a_time(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    queue = await make_queue(queues, "q.fifo", FifoQueue="true")
    await send(queues, queue, "a1", "a2", "a3", "a4", "a5", group="A")
    await send(queues, queue, "b1", "b2", group="B")
    busy: Counter[str] = Counter()
    overlaps: list[str] = []

    async def one_second(event: dict[str, Any]) -> InvokeOutcome:
        groups = {r["attributes"]["MessageGroupId"] for r in event["Records"]}
        overlaps.extend(g for g in groups if busy[g])
        busy.update(groups)
        try:
            return await after(1)(event)
        finally:
            busy.subtract(groups)

    invoker.otherwise = one_second
    mapping = sqs_mapping("q.fifo", batch_size=2)
    async with running(make_poller(queues, invoker, mapping)):
        await invoker.wait_for(4)
    assert overlaps == []
    by_time = sorted((round(c.at), c.bodies) for c in invoker.calls)
    assert by_time == [(0, ["a1", "a2"]), (0, ["b1", "b2"]), (1, ["a3", "a4"]), (2, ["a5"])]
    assert left(queue) == []


async def test_a_failed_fifo_batch_holds_its_group_until_it_succeeds(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    queue = await make_queue(queues, "q.fifo", FifoQueue="true", VisibilityTimeout="10")
    await send(queues, queue, "a1", "a2", "a3", group="A")
    await send(queues, queue, "b1", group="B")
    invoker.otherwise = failing_if(
        lambda r: body(r) == "a1" and r["attributes"]["ApproximateReceiveCount"] == "1"
    )
    mapping = sqs_mapping("q.fifo", batch_size=2)
    async with running(make_poller(queues, invoker, mapping)):
        await invoker.wait_for(4)
    group_a = [
        (round(c.at), c.bodies) for c in invoker.calls if "a1" in c.bodies or "a3" in c.bodies
    ]
    assert group_a == [(0, ["a1", "a2"]), (10, ["a1", "a2"]), (10, ["a3"])]
    assert [c.bodies for c in invoker.calls if c.bodies == ["b1"]] == [["b1"]]
    assert left(queue) == []


# -- stopping -----------------------------------------------------------------------------------


async def test_stop_ends_an_idle_poller_at_once(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    queue = await make_queue(queues)
    async with running(make_poller(queues, invoker, sqs_mapping())) as stopped:
        await trio.sleep(45)  # idle across two long polls
    assert stopped.after_s < 0.01  # the long poll was cancelled, not waited out
    await send(queues, queue, "late")
    assert [m.receive_count for m in queue.messages.values()] == [0]  # nothing polls it
    assert invoker.calls == []


async def test_stop_lets_the_batch_under_way_finish(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    queue = await make_queue(queues)
    await send(queues, queue, "a")
    gate = trio.Event()
    invoker.script(held(gate))
    poller = make_poller(queues, invoker, sqs_mapping())
    ended = trio.Event()

    async def run() -> None:
        await poller.run()
        ended.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        await invoker.wait_for(1)
        poller.stop()
        await trio.sleep(3)
        assert not ended.is_set()
        gate.set()
        await ended.wait()
    assert left(queue) == []  # deleted: its invoke succeeded
    assert len(invoker.calls) == 1


async def test_stop_during_a_throttled_invoke_does_not_wait_out_the_backoff(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    queue = await make_queue(queues, VisibilityTimeout="0")
    await send(queues, queue, "a")
    gate = trio.Event()
    invoker.script(throttled(), throttled(), held(gate, throttled()))
    poller = make_poller(queues, invoker, sqs_mapping())
    async with trio.open_nursery() as nursery:
        nursery.start_soon(poller.run)
        await invoker.wait_for(3)
        poller.stop()
        stopped_at = trio.current_time()
        gate.set()
    assert trio.current_time() - stopped_at < 1


# -- scaling and the invoke limit ---------------------------------------------------------------


@pytest.mark.parametrize(("maximum", "expected"), [(None, 6), (2, 2), (3, 3)])
async def test_full_batches_add_workers_up_to_the_maximum_concurrency(
    queues: QueueService,
    invoker: FakeInvoker,
    autojump_clock: trio.testing.MockClock,
    maximum: int | None,
    expected: int,
) -> None:
    queue = await make_queue(queues)
    bodies = [f"m{i:02}" for i in range(60)]
    await send(queues, queue, *bodies)
    invoker.otherwise = after(1)
    mapping = sqs_mapping(max_concurrency=maximum)
    async with running(make_poller(queues, invoker, mapping)):
        await invoker.wait_for(6)
    assert invoker.most_running == expected
    assert sorted(delivered(invoker)) == bodies
    assert left(queue) == []


async def test_a_batch_that_is_not_full_keeps_one_worker(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    queue = await make_queue(queues)
    invoker.otherwise = after(1)
    async with running(make_poller(queues, invoker, sqs_mapping())):
        await send(queues, queue, *[f"a{i}" for i in range(9)])
        await invoker.wait_for(1)
        await send(queues, queue, *[f"b{i}" for i in range(9)])  # waits for the one worker
        first, second = await invoker.wait_for(2)
    assert invoker.most_running == 1
    assert second.at - first.at == pytest.approx(1, abs=0.01)
    assert len(second.records) == 9


async def test_messages_past_the_6_mb_invoke_limit_go_back_to_the_queue_at_once(
    queues: QueueService, invoker: FakeInvoker, autojump_clock: trio.testing.MockClock
) -> None:
    queue = await make_queue(queues, VisibilityTimeout="300")
    bodies = [f"{i:02}" + "x" * 250_000 for i in range(30)]  # 7.5 MB in all
    await send(queues, queue, *bodies)
    mapping = sqs_mapping(batch_size=100, max_batching_window_s=1)
    async with running(make_poller(queues, invoker, mapping)):
        first, second = await invoker.wait_for(2)
    assert first.size <= MAX_EVENT_BYTES < first.size + 250_000
    assert len(first.records) + len(second.records) == 30
    assert sorted(delivered(invoker)) == bodies  # each once: the rest were not held back
    assert second.at - first.at < 5  # well before the 300 s visibility timeout
    assert [r["attributes"]["ApproximateReceiveCount"] for r in second.records] == ["2"] * len(
        second.records
    )
    assert left(queue) == []
