"""The async-invocation service the daemon opens: the queue's file, its writer and dispatcher.

    async with open_events(...) as events:   # loads what a previous daemon left unfinished
        request_id = await events.accept(name, qualifier, payload)

Cleanup: leaving the block cancels the dispatcher (attempts under way are cut short; their
events stay stored and run again at the next start), commits what is queued and closes the
file.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import trio

from engine.control.functions import FunctionService
from engine.events import store
from engine.events.counters import AsyncCounters
from engine.events.outcomes import Outcomes, QueueSink, Settings
from engine.events.queue import EventQueue
from engine.invoke.invoker import Invoker
from engine.journal.journal import Journal

logger = logging.getLogger(__name__)


@contextlib.asynccontextmanager
async def open_events(
    state_dir: Path,
    *,
    invoker: Invoker,
    functions: FunctionService,
    settings: Callable[[str, str | None], Settings],
    queues: QueueSink | None,
    region: str,
    workers: int,
    time_scale: float,
) -> AsyncIterator[EventQueue]:
    journal = Journal(state_dir / store.DB_NAME, store.SCHEMA)
    counters = AsyncCounters()
    outcomes = Outcomes(functions=functions, counters=counters, region=region, queues=queues)
    queue = EventQueue(
        journal=journal,
        invoker=invoker,
        settings=settings,
        outcomes=outcomes,
        counters=counters,
        workers=workers,
        time_scale=time_scale,
    )
    outcomes.accept = queue.accept
    left = journal.read(store.load)
    if left:
        logger.info("async events: %d left unfinished by the previous daemon", len(left))
    queue.restore(left)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(journal.run)
            nursery.start_soon(queue.run)
            yield queue
            nursery.cancel_scope.cancel()
    finally:
        journal.close()
