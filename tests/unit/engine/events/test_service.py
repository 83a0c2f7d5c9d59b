"""The service the daemon opens: an event whose attempt a shutdown cut short is run again, under
the same request id, by the next daemon; an event that ended is not."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from pathlib import Path

import trio
import trio.testing

from engine.events.queue import EventQueue
from engine.events.service import open_events
from engine.model.event_invoke import AsyncSettings
from tests.unit.engine.events.helpers import (
    ON_FAILURE,
    ON_SUCCESS,
    REAL_TIME_LIMIT_S,
    REGION,
    WITH_DESTINATIONS,
    FakeFunctions,
    FakeInvoker,
    FakeQueues,
    hold,
    real_time_limit,
    stored_after_close,
)


def settings(name: str, qualifier: str | None) -> AsyncSettings:
    return WITH_DESTINATIONS


def daemon_events(
    path: Path, invoker: FakeInvoker, queues: FakeQueues
) -> AbstractAsyncContextManager[EventQueue]:
    """What one daemon opens (each daemon has its own invoker and queue service)."""
    return open_events(
        path,
        invoker=invoker,
        functions=invoker.functions,
        settings=settings,
        queues=queues,
        region=REGION,
        workers=2,
        time_scale=0.001,
    )


async def test_an_attempt_cut_short_by_a_shutdown_runs_again_after_the_restart(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    functions = FakeFunctions()
    functions.add("fn")
    first, second = FakeInvoker(functions), FakeInvoker(functions)
    first.script("fn", hold(trio.Event()))  # never answers
    first_queues, second_queues = FakeQueues(), FakeQueues()
    with real_time_limit(REAL_TIME_LIMIT_S):
        async with daemon_events(tmp_path, first, first_queues) as events:
            request_id = await events.accept("fn", None, b'{"n": 1}')
            await trio.sleep(1)
            assert len(first.runs) == 1
        # stopped: the event is still in the file, marked as under way
        [left] = stored_after_close(tmp_path)
        assert (left.request_id, left.running) == (request_id, True)

        async with daemon_events(tmp_path, second, second_queues) as events:
            [message] = await second_queues.wait_for(ON_SUCCESS)
            assert events.counters.redelivered == 1
    [run] = second.runs
    assert run.request_id == request_id and run.payload == b'{"n": 1}'
    assert message.record["requestContext"]["requestId"] == request_id
    assert first_queues.sent == [] and second_queues.to(ON_FAILURE) == []
    assert stored_after_close(tmp_path) == []


async def test_a_finished_event_is_not_run_again_after_a_restart(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    functions = FakeFunctions()
    functions.add("fn")
    first, second = FakeInvoker(functions), FakeInvoker(functions)
    queues = FakeQueues()
    with real_time_limit(REAL_TIME_LIMIT_S):
        async with daemon_events(tmp_path, first, queues) as events:
            await events.accept("fn", None, b"{}")
            await queues.wait_for(ON_SUCCESS)
        async with daemon_events(tmp_path, second, queues) as events:
            await trio.sleep(1)
            assert events.backlog == 0 and events.counters.redelivered == 0
    assert len(first.runs) == 1 and second.runs == []
