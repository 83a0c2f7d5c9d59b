"""The schedules service: its catalog, durable on a journal, and the timer that fires them.

`open_schedules` opens ``schedules.sqlite3`` in the state directory, loads every group,
schedule and waiting retry, and runs the journal's writer and the dispatcher's timer in its
nursery. What the service needs from the rest of the daemon is handed to it: `Fire` (the
asynchronous-invoke acceptance, so Lambda's async retries and destinations apply to every
fire) and a `DeadLetterSink` (the SQS service). `clock` is the wall clock (epoch seconds):
tests pass one tied to trio's clock, so an autojump clock drives whole days of schedules in
milliseconds. Cleanup: leaving `open_schedules` cancels both tasks and every fire in flight;
the writer commits what is queued before it closes the file.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from engine.journal.journal import Journal
from engine.scheduler import store
from engine.scheduler.catalog import Catalog
from engine.scheduler.delivery import Delivery
from engine.scheduler.dispatcher import DeadLetterSink, Dispatcher, Fire, SchedulerStats

__all__ = ["DeadLetterSink", "Fire", "ScheduleService", "open_schedules"]


class ScheduleService:
    def __init__(
        self,
        journal: Journal,
        *,
        region: str,
        fire: Fire,
        dead_letters: DeadLetterSink | None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.journal = journal
        self.region = region
        self.clock = clock
        self.catalog = Catalog(journal, region=region, now_s=clock)
        self.dispatcher = Dispatcher(
            self.catalog,
            journal,
            region=region,
            fire=fire,
            dead_letters=dead_letters,
            clock=clock,
            rng=rng or random.Random(),
        )
        self.catalog.on_change = self.dispatcher.plan

    @property
    def stats(self) -> SchedulerStats:
        return self.dispatcher.stats

    def load(self, snapshot: store.Snapshot) -> None:
        self.catalog.load(snapshot)
        self.catalog.ensure_default_group()
        self.dispatcher.restore([Delivery.from_document(d) for d in snapshot.deliveries])


@asynccontextmanager
async def open_schedules(
    state_dir: Path,
    *,
    region: str,
    fire: Fire,
    dead_letters: DeadLetterSink | None,
    clock: Callable[[], float] = time.time,
    rng: random.Random | None = None,
) -> AsyncIterator[ScheduleService]:
    """The service over ``state_dir / "schedules.sqlite3"``, loaded, with its writer and timer.
    `rng` picks the moment within a flexible time window (tests pass a seeded one)."""
    journal = Journal(state_dir / "schedules.sqlite3", store.SCHEMA)
    service = ScheduleService(
        journal, region=region, fire=fire, dead_letters=dead_letters, clock=clock, rng=rng
    )
    try:
        service.load(journal.read(store.load))
    except BaseException:
        journal.close()
        raise
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        await nursery.start(service.dispatcher.run)
        try:
            yield service
        finally:
            nursery.cancel_scope.cancel()
