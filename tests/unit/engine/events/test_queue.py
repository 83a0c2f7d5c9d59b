"""The dispatcher under trio's autojump clock: retries as Lambda spaces them (scaled by
SCALE: one AWS second is one millisecond here), one request id for every attempt, throttles
passed over until a unit is released, fairness across functions, and what is stored.

Every function has an OnSuccess and an OnFailure queue (helpers.WITH_DESTINATIONS), so a
test waits for the record of how its event ended.
"""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from itertools import pairwise
from pathlib import Path

import pytest
import trio
import trio.testing

from engine.errors import ResourceNotFoundException
from engine.events import policy, store
from engine.events.store import Event
from engine.model.arns import function_arn
from engine.model.event_invoke import AsyncSettings
from tests.unit.engine.events.helpers import (
    DEAD_LETTERS,
    EPOCH_MS,
    ON_FAILURE,
    ON_SUCCESS,
    REGION,
    Step,
    crash,
    fail,
    hold,
    open_world,
    platform_error,
    stored_after_close,
    throttle,
    trio_clock_ms,
)

PAYLOAD = b'{"order": 42}'
ARN_LATEST = function_arn(REGION, "fn", "$LATEST")


def gaps_ms(times: list[int]) -> list[int]:
    return [b - a for a, b in pairwise(times)]


# -- accepting ------------------------------------------------------------------------------


async def test_an_accepted_event_is_on_disk_when_accept_returns(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path, dispatching=False) as world:
        world.functions.add("fn")
        request_id = await world.queue.accept("fn", None, PAYLOAD)
        other = sqlite3.connect(tmp_path / store.DB_NAME)  # another reader: it is committed
        rows = other.execute("SELECT request_id, function, payload FROM events").fetchall()
        other.close()
        assert rows == [(request_id, "fn", PAYLOAD)]
        assert world.counters.received == 1 and world.queue.backlog == 1


async def test_an_event_for_a_missing_function_is_refused_and_not_stored(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn")
        with pytest.raises(ResourceNotFoundException, match="function:ghost:\\$LATEST"):
            await world.queue.accept("ghost", None, PAYLOAD)
        with pytest.raises(ResourceNotFoundException, match="function:fn:7"):
            await world.queue.accept("fn", "7", PAYLOAD)
    assert world.counters.received == 0
    assert stored_after_close(tmp_path) == []


# -- retries ---------------------------------------------------------------------------------


async def test_an_event_that_fails_twice_is_retried_after_one_then_two_minutes(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn")
        world.invoker.script("fn", fail(), fail())
        request_id = await world.queue.accept("fn", None, PAYLOAD)
        [message] = await world.queues.wait_for(ON_SUCCESS)
    runs = world.invoker.runs
    assert [(r.request_id, r.payload) for r in runs] == [(request_id, PAYLOAD)] * 3
    assert gaps_ms([r.at_ms for r in runs]) == [60, 120]
    assert message.record["requestContext"] == {
        "requestId": request_id,
        "functionArn": ARN_LATEST,
        "condition": "Success",
        "approximateInvokeCount": 3,
    }
    assert message.record["requestPayload"] == {"order": 42}
    assert message.record["responsePayload"] == {"ok": True}
    assert world.queues.to(ON_FAILURE) == []
    assert world.counters.succeeded == 1 and not world.counters.dropped
    assert stored_after_close(tmp_path) == []  # an ended event leaves the file


async def test_exhausted_retries_end_the_event_once_with_its_last_error(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn", dead_letter_arn=DEAD_LETTERS)
        world.settings["fn"] = AsyncSettings(
            max_retry_attempts=1, on_success=ON_SUCCESS, on_failure=ON_FAILURE
        )
        world.invoker.script("fn", *[fail(f"failure {n}") for n in range(1, 6)])
        request_id = await world.queue.accept("fn", None, PAYLOAD)
        [message] = await world.queues.wait_for(ON_FAILURE)
        await trio.sleep(3600)  # nothing more happens to it
    assert len(world.invoker.runs) == 2
    assert message.condition == "RetriesExhausted"
    assert message.record["requestContext"]["approximateInvokeCount"] == 2
    assert message.record["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "$LATEST",
        "functionError": "Unhandled",
    }
    assert message.record["responsePayload"]["errorMessage"] == "failure 2"
    [dead] = world.queues.to(DEAD_LETTERS)
    assert dead.body == PAYLOAD.decode()  # the original event, unchanged
    assert dead.attributes is not None
    assert dead.attributes["RequestID"]["StringValue"] == request_id
    assert dead.attributes["ErrorMessage"]["StringValue"] == "failure 2"
    assert len(world.queues.to(ON_FAILURE)) == 1 and world.queues.to(ON_SUCCESS) == []
    assert world.counters.dropped == {"RetriesExhausted": 1}
    assert world.counters.succeeded == 0
    assert stored_after_close(tmp_path) == []


async def test_with_no_retries_a_function_error_ends_the_event_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn")
        world.settings["fn"] = AsyncSettings(
            max_retry_attempts=0, on_success=ON_SUCCESS, on_failure=ON_FAILURE
        )
        world.invoker.script("fn", fail(), fail())
        await world.queue.accept("fn", None, PAYLOAD)
        [message] = await world.queues.wait_for(ON_FAILURE)
    assert len(world.invoker.runs) == 1
    assert message.record["requestContext"]["approximateInvokeCount"] == 1


@pytest.mark.parametrize("answer", [throttle, platform_error], ids=["throttle", "platform"])
async def test_throttles_and_platform_errors_back_off_exponentially(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, answer: Callable[[], Step]
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn")
        world.invoker.script("fn", answer(), answer(), answer(), answer())
        request_id = await world.queue.accept("fn", None, PAYLOAD)
        [message] = await world.queues.wait_for(ON_SUCCESS)
    runs = world.invoker.runs
    assert {r.request_id for r in runs} == {request_id}
    assert gaps_ms([r.at_ms for r in runs]) == [1, 2, 4, 8]
    # only the invocation that ran counts; throttles do not use up MaximumRetryAttempts
    assert message.record["requestContext"]["approximateInvokeCount"] == 1


async def test_a_throttled_event_ends_when_its_next_retry_would_be_too_old(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn", dead_letter_arn=DEAD_LETTERS)
        world.settings["fn"] = AsyncSettings(
            max_event_age_s=60, on_success=ON_SUCCESS, on_failure=ON_FAILURE
        )
        world.invoker.script("fn", *[throttle() for _ in range(20)])
        await world.queue.accept("fn", None, PAYLOAD)
        [message] = await world.queues.wait_for(ON_FAILURE)
        ended_ms = trio_clock_ms()
        [dead] = await world.queues.wait_for(DEAD_LETTERS)
    # attempts at 0, 1, 3, 7, 15, 31 s: the next, 32 s later, would start after 60 s
    assert [r.at_ms - EPOCH_MS for r in world.invoker.runs] == [0, 1, 3, 7, 15, 31]
    assert ended_ms - EPOCH_MS == 31
    assert message.condition == "EventAgeExceeded"
    assert message.record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in message.record
    assert dead.attributes is not None
    assert dead.attributes["ErrorMessage"]["StringValue"] == "EventAgeExceeded"
    assert world.counters.dropped == {"EventAgeExceeded": 1}


async def test_a_function_error_retry_past_the_maximum_age_ends_the_event(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn")
        world.settings["fn"] = AsyncSettings(
            max_event_age_s=100, on_success=ON_SUCCESS, on_failure=ON_FAILURE
        )
        world.invoker.script("fn", fail(), fail("second"), fail())
        await world.queue.accept("fn", None, PAYLOAD)
        [message] = await world.queues.wait_for(ON_FAILURE)
    # the first retry (at 60 s) fits in 100 s; the second (at 60 + 120 s) does not
    assert [r.at_ms - EPOCH_MS for r in world.invoker.runs] == [0, 60]
    assert message.condition == "EventAgeExceeded"
    assert message.record["requestContext"]["approximateInvokeCount"] == 2
    assert message.record["responseContext"]["functionError"] == "Unhandled"
    assert message.record["responsePayload"]["errorMessage"] == "second"


# -- concurrency -----------------------------------------------------------------------------


async def test_a_throttled_event_waits_without_polling_and_runs_when_a_unit_is_released(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn")
        world.invoker.concurrency.set_reserved("fn", 1)
        held = world.invoker.reserve("fn", None)  # a synchronous invoke holds the only unit
        await world.queue.accept("fn", None, PAYLOAD)
        await trio.sleep(10)  # 10,000 AWS seconds: no attempt, and no polling meanwhile
        assert world.invoker.runs == []
        assert world.invoker.reserve_calls <= 3
        assert world.queue.backlog == 1 and world.queue.in_flight == 0
        released_ms = trio_clock_ms()
        world.invoker.release(held)  # the synchronous invoke ends
        [message] = await world.queues.wait_for(ON_SUCCESS)
    [run] = world.invoker.runs
    assert run.at_ms == released_ms  # at once: a throttle at reserve is not a backoff
    assert message.record["requestContext"]["approximateInvokeCount"] == 1


async def test_a_throttled_function_does_not_hold_up_another(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("a")
        world.functions.add("b")
        world.invoker.concurrency.set_reserved("a", 1)
        held = world.invoker.reserve("a", None)
        await world.queue.accept("a", None, PAYLOAD)
        await world.queue.accept("b", None, PAYLOAD)
        [message] = await world.queues.wait_for(ON_SUCCESS)
        assert message.record["requestContext"]["functionArn"] == function_arn(
            REGION, "b", "$LATEST"
        )
        world.invoker.release(held)
        await world.queues.wait_for(ON_SUCCESS, 2)
    assert [r.function for r in world.invoker.runs] == ["b", "a"]


async def test_an_event_that_waited_for_room_past_its_maximum_age_is_not_attempted(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn")
        world.settings["fn"] = AsyncSettings(
            max_event_age_s=60, on_success=ON_SUCCESS, on_failure=ON_FAILURE
        )
        world.invoker.concurrency.set_reserved("fn", 1)
        held = world.invoker.reserve("fn", None)
        await world.queue.accept("fn", None, PAYLOAD)
        await trio.sleep(0.061)  # 61 AWS seconds
        world.invoker.release(held)
        [message] = await world.queues.wait_for(ON_FAILURE)
        assert world.invoker.concurrency.in_flight["fn"] == 0  # its unit was given back
    assert world.invoker.runs == []
    assert message.condition == "EventAgeExceeded"
    assert "responseContext" not in message.record


async def test_a_backlog_of_one_function_does_not_delay_another(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path, workers=1, dispatching=False) as world:
        world.functions.add("a")
        world.functions.add("b")
        for n in range(50):
            await world.queue.accept("a", None, b'{"n": %d}' % n)
        await world.queue.accept("b", None, PAYLOAD)
        world.start_dispatching()
        await world.queues.wait_for(ON_SUCCESS, 51)
    functions = [r.function for r in world.invoker.runs]
    assert functions.index("b") <= 1
    assert functions.count("a") == 50
    # a's own events keep their order
    assert [r.payload for r in world.invoker.runs_of("a")] == [b'{"n": %d}' % n for n in range(50)]
    assert world.invoker.most_running == 1


async def test_an_event_that_arrives_behind_a_running_backlog_does_not_wait_for_it(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    gate = trio.Event()
    async with open_world(tmp_path, workers=1) as world:
        world.functions.add("a")
        world.functions.add("b")
        world.invoker.script("a", hold(gate))  # a's first event keeps the only worker
        for n in range(50):
            await world.queue.accept("a", None, b'{"n": %d}' % n)
        await world.queue.accept("b", None, PAYLOAD)
        assert len(world.invoker.runs) == 1 and world.queue.backlog == 50
        gate.set()
        await world.queues.wait_for(ON_SUCCESS, 51)
    # b's event runs among the first three: at most one more of a's goes before it
    assert [r.function for r in world.invoker.runs].index("b") <= 2


async def test_at_most_workers_attempts_run_at_once(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    gate = trio.Event()
    async with open_world(tmp_path, workers=2) as world:
        for name in "abcde":
            world.functions.add(name)
            world.invoker.script(name, hold(gate))
            await world.queue.accept(name, None, PAYLOAD)
        await trio.sleep(1)
        assert world.invoker.running == 2
        assert world.queue.in_flight == 2 and world.queue.backlog == 3
        gate.set()
        await world.queues.wait_for(ON_SUCCESS, 5)
    assert world.invoker.most_running == 2
    assert world.queue.in_flight == 0 and world.queue.backlog == 0


async def test_with_reserved_concurrency_zero_an_event_goes_to_the_failure_targets_unattempted(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn", dead_letter_arn=DEAD_LETTERS)
        world.invoker.concurrency.set_reserved("fn", 0)
        request_id = await world.queue.accept("fn", None, PAYLOAD)
        [message] = await world.queues.wait_for(ON_FAILURE)
        [dead] = await world.queues.wait_for(DEAD_LETTERS)
    assert world.invoker.runs == []
    assert message.condition == policy.ZERO_RESERVED_CONCURRENCY
    assert message.record["requestContext"]["requestId"] == request_id
    assert message.record["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in message.record
    assert dead.body == PAYLOAD.decode()
    assert world.counters.dropped == {"ZeroReservedConcurrency": 1}
    assert stored_after_close(tmp_path) == []


# -- what goes wrong -------------------------------------------------------------------------


async def test_a_bug_in_an_attempt_does_not_lose_the_event(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn")
        world.invoker.script("fn", crash())
        request_id = await world.queue.accept("fn", None, PAYLOAD)
        [message] = await world.queues.wait_for(ON_SUCCESS)
    runs = world.invoker.runs
    assert [r.request_id for r in runs] == [request_id] * 2
    assert gaps_ms([r.at_ms for r in runs]) == [300]  # the longest backoff
    assert message.condition == "Success"
    assert not world.invoker.concurrency.in_flight
    assert stored_after_close(tmp_path) == []


async def test_a_bug_before_the_run_gives_the_concurrency_unit_back(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn")
        world.invoker.concurrency.set_reserved("fn", 1)
        world.settings_fault = OSError("the registry could not be read")
        await world.queue.accept("fn", None, PAYLOAD)
        await trio.sleep(1)  # the retry is due 0.3 s later
        assert world.invoker.concurrency.in_flight["fn"] == 0
        assert len(world.invoker.runs) == 1
        assert world.queues.to(ON_SUCCESS)


async def test_an_event_waiting_after_a_bug_is_not_stored_as_running(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn")
        world.invoker.script("fn", crash())
        await world.queue.accept("fn", None, PAYLOAD)
        await trio.sleep(0.1)  # the retry is due at 0.3 s
        assert len(world.invoker.runs) == 1
    [left] = stored_after_close(tmp_path)
    assert not left.running


async def test_an_event_whose_function_was_deleted_is_dropped(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path, dispatching=False) as world:
        world.functions.add("fn")
        await world.queue.accept("fn", None, PAYLOAD)
        world.functions.remove("fn")
        world.start_dispatching()
        await trio.sleep(1)
    assert world.invoker.runs == [] and world.queues.sent == []
    assert world.counters.dropped == {"FunctionNotFound": 1}
    assert stored_after_close(tmp_path) == []


# -- restarting ------------------------------------------------------------------------------


def left_behind(request_id: str, **changes: object) -> Event:
    fields: dict[str, object] = {
        "request_id": request_id,
        "function": "fn",
        "qualifier": None,
        "payload": PAYLOAD,
        "received_ms": EPOCH_MS,
        "due_ms": EPOCH_MS,
    }
    fields.update(changes)
    return Event(**fields)  # type: ignore[arg-type]


async def test_restored_events_run_again_and_cut_short_attempts_count_as_redelivered(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path, dispatching=False) as world:
        world.functions.add("fn")
        # what a previous daemon left: one attempt under way, one waiting for its retry
        for event in (
            left_behind("cut-short", attempts=1, running=True),
            left_behind("waiting", attempts=1, due_ms=EPOCH_MS + 60),
        ):
            await world.journal.commit(store.insert(event))
            await world.journal.commit(store.update(event))
        world.queue.restore(world.stored())
        assert world.counters.redelivered == 1
        world.start_dispatching()
        messages = await world.queues.wait_for(ON_SUCCESS, 2)
    runs = {r.request_id: r.at_ms - EPOCH_MS for r in world.invoker.runs}
    assert runs == {"cut-short": 0, "waiting": 60}  # each when it was due, once
    counts = {
        m.record["requestContext"]["requestId"]: m.record["requestContext"][
            "approximateInvokeCount"
        ]
        for m in messages
    }
    assert counts == {"cut-short": 2, "waiting": 2}
    assert world.counters.redelivered == 1
    assert stored_after_close(tmp_path) == []


async def test_a_running_attempt_is_stored_as_running(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    gate = trio.Event()
    async with open_world(tmp_path) as world:
        world.functions.add("fn")
        world.invoker.script("fn", hold(gate))
        request_id = await world.queue.accept("fn", None, PAYLOAD)
        await trio.sleep(1)
        assert world.invoker.running == 1
        # the daemon stops here: the attempt is cut short
    [left] = stored_after_close(tmp_path)
    assert (left.request_id, left.running, left.attempts) == (request_id, True, 0)


# -- destinations ----------------------------------------------------------------------------


async def test_a_function_destination_receives_the_record_as_an_event(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    async with open_world(tmp_path) as world:
        world.functions.add("fn")
        world.functions.add("audit")
        audit_arn = function_arn(REGION, "audit", None)
        world.settings["fn"] = AsyncSettings(on_success=audit_arn)
        request_id = await world.queue.accept("fn", None, PAYLOAD)
        [message] = await world.queues.wait_for(ON_SUCCESS)  # audit's own success
    _, audit_run = world.invoker.runs
    assert audit_run.function == "audit" and audit_run.request_id != request_id
    record = json.loads(audit_run.payload)  # the payload audit was invoked with
    assert record["requestContext"] == {
        "requestId": request_id,
        "functionArn": ARN_LATEST,
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert record["requestPayload"] == {"order": 42}
    assert record["responsePayload"] == {"ok": True}
    assert message.record["requestPayload"] == record
    assert world.counters.received == 2 and world.counters.succeeded == 2


async def test_a_big_payload_waits_in_the_file_and_reaches_every_attempt_and_target_whole(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    big = json.dumps({"blob": "x" * (store.INLINE_PAYLOAD_BYTES * 4)}).encode()
    async with open_world(tmp_path) as world:
        world.functions.add("fn", dead_letter_arn=DEAD_LETTERS)
        world.settings["fn"] = AsyncSettings(max_retry_attempts=1, on_failure=ON_FAILURE)
        world.invoker.script("fn", fail(), fail())
        await world.queue.accept("fn", None, big)
        [waiting] = [e for q in world.queue._ready.values() for e in q]
        assert waiting.payload is None  # not held in memory while it waits
        [message] = await world.queues.wait_for(ON_FAILURE)
        await trio.sleep(3600)  # the dead-letter send follows the destination's
    assert [run.payload for run in world.invoker.runs] == [big, big]
    assert message.record["requestPayload"] == json.loads(big)
    [dead] = world.queues.to(DEAD_LETTERS)
    assert dead.body == big.decode()


async def test_big_payloads_left_by_a_previous_daemon_stay_in_the_file(tmp_path: Path) -> None:
    journal_path = tmp_path / store.DB_NAME
    conn = sqlite3.connect(journal_path)
    conn.executescript(store.SCHEMA)
    for request_id, size in (("small", 10), ("big", store.INLINE_PAYLOAD_BYTES + 1)):
        event = Event(
            request_id=request_id,
            function="fn",
            qualifier=None,
            payload=b"x" * size,
            received_ms=EPOCH_MS,
            due_ms=EPOCH_MS,
        )
        store.insert(event)(conn)
    conn.commit()
    loaded = {event.request_id: event.payload for event in store.load(conn)}
    assert loaded == {"small": b"x" * 10, "big": None}
    assert store.payload_of("big")(conn) == b"x" * (store.INLINE_PAYLOAD_BYTES + 1)
    conn.close()
