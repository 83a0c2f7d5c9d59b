"""The schedules: their catalog, durable on a journal, and the one timer task that fires them.

`open_schedules` opens ``schedules.sqlite3`` in the state directory, loads every schedule and
runs the journal's writer and the timer in its nursery. Cleanup: leaving `open_schedules`
cancels both; the writer commits what is queued before it closes the file.
"""

from __future__ import annotations

import random
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Protocol

import trio

Fire = Callable[[str, str | None, bytes], Awaitable[str]]
"""The daemon's asynchronous-invoke acceptance: (function name, qualifier or None, payload) →
the request id. Raises `engine.errors.ApiError` when the event cannot be accepted."""


class DeadLetterSink(Protocol):
    """Where an event that could not be delivered goes (the SQS service)."""

    async def send_message(
        self, queue_arn: str, body: str, attributes: dict[str, dict[str, str]] | None = None
    ) -> str: ...


class ScheduleService:
    def __init__(
        self,
        *,
        region: str,
        fire: Fire,
        dead_letters: DeadLetterSink | None,
        clock: Callable[[], float] = time.time,
        rng: random.Random | None = None,
    ) -> None:
        self.region = region
        self.fire = fire
        self.dead_letters = dead_letters
        self.clock = clock
        self.rng = rng or random.Random()


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
    """The service over ``state_dir / "schedules.sqlite3"``, loaded, with its writer and timer."""
    service = ScheduleService(
        region=region, fire=fire, dead_letters=dead_letters, clock=clock, rng=rng
    )
    async with trio.open_nursery() as nursery:
        try:
            yield service
        finally:
            nursery.cancel_scope.cancel()
