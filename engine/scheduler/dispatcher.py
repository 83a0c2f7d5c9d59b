"""The timer that fires schedules, and what happens to each tick it fires.

One task sleeps until the earliest planned moment of any schedule (its next tick, or a random
moment in its flexible window) or waiting retry, and is woken when a change plans an earlier
one: idle schedules cost nothing. Entries in the heap are checked against the plan when they
come due, so a changed or deleted schedule's stale entry is passed over.

A tick, once due, is marked fired in memory and on disk (the commit is awaited) before the
function is asked to accept it: a restart never fires it again. A tick missed while the
daemon was down or the timer was late is *not* replayed:

- a recurring schedule fires a tick at most `CATCH_UP_S` (60 s, AWS's own precision: "it
  will invoke the target API between 1:00:00 and 1:00:59") after its planned moment, and
  otherwise resumes at its next tick; so a restart of a few seconds loses nothing and a
  daemon down for hours sends no burst;
- a one-time schedule fires once, at start, when its moment passed while the daemon was down
  and it never fired: it has exactly one event, so there is no burst to avoid, and dropping
  it would lose the only thing it exists for.

Each fire is its own task (a slow function or dead-letter queue holds up no other schedule).
A refusal is retried per the target's RetryPolicy (`engine.scheduler.delivery`); a waiting
retry is durable. Once a delivery has ended, its dead letter goes to the DeadLetterConfig
queue, or it is counted as dropped. Cleanup: the tasks live in the service's nursery.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import math
import random
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final, Protocol

import trio

from engine.errors import ApiError
from engine.journal.journal import Journal
from engine.scheduler import store
from engine.scheduler.catalog import Catalog, Key
from engine.scheduler.delivery import (
    Delivery,
    after_failure,
    dead_letter_attributes,
    retryable,
)
from engine.scheduler.schedule import Schedule

logger = logging.getLogger(__name__)

CATCH_UP_S: Final = 60.0

Fire = Callable[[str, str | None, bytes], Awaitable[str]]


class DeadLetterSink(Protocol):
    async def send_message(
        self, queue_arn: str, body: str, attributes: dict[str, dict[str, str]] | None = None
    ) -> str: ...


@dataclass(slots=True)
class SchedulerStats:
    fired: int = 0  # ticks fired (first attempts)
    delivered: int = 0  # attempts the function accepted
    retried: int = 0  # attempts after a refusal
    dead_lettered: int = 0
    dropped: int = 0  # ended without delivery and without a dead-letter queue taking it
    missed: int = 0  # ticks passed over: more than CATCH_UP_S late
    wakeups: int = 0  # the timer's turns (no polling: about one per fire)


@dataclass(frozen=True, slots=True, eq=False)
class _Plan:
    """A schedule's next tick and the moment it fires (later within a flexible window)."""

    tick: int
    at_s: float


class Dispatcher:
    def __init__(
        self,
        catalog: Catalog,
        journal: Journal,
        *,
        region: str,
        fire: Fire,
        dead_letters: DeadLetterSink | None,
        clock: Callable[[], float],
        rng: random.Random,
    ) -> None:
        self.catalog = catalog
        self.journal = journal
        self.region = region
        self.fire = fire
        self.dead_letters = dead_letters
        self.clock = clock
        self.rng = rng
        self.stats = SchedulerStats()
        self._plans: dict[Key, _Plan] = {}
        self._waiting: dict[str, Delivery] = {}
        self._heap: list[tuple[float, int, Key | str, _Plan | None]] = []
        self._seq = itertools.count()
        self._wake = trio.Event()
        self._nursery: trio.Nursery | None = None

    # --- planning ---------------------------------------------------------------------------

    def plan(self, key: Key, schedule: Schedule | None, *, catch_up_s: float = 1.0) -> None:
        """(Re)plan `schedule`'s next fire: ticks from `catch_up_s` ago on, never one already
        fired. None (deleted) or disabled: nothing planned."""
        self._plans.pop(key, None)
        if schedule is None or not schedule.enabled:
            return
        fired = -math.inf if schedule.last_fired is None else schedule.last_fired
        tick = schedule.next_tick(after_s=max(fired, self.clock() - catch_up_s))
        if tick is None:
            return
        window = schedule.window_s
        plan = _Plan(tick, tick + self.rng.uniform(0, window) if window else float(tick))
        self._plans[key] = plan
        self._push(plan.at_s, key, plan)

    def _push(self, at_s: float, key: Key | str, plan: _Plan | None) -> None:
        if not self._heap or at_s < self._heap[0][0]:
            self._wake.set()
        heapq.heappush(self._heap, (at_s, next(self._seq), key, plan))

    def _current(self, key: Key | str, plan: _Plan | None) -> bool:
        if isinstance(key, str):
            return key in self._waiting
        return self._plans.get(key) is plan

    def restore(self, deliveries: list[Delivery]) -> None:
        """At start: plan every schedule (catching up at most `CATCH_UP_S`) and the waiting
        retries."""
        for key, schedule in self.catalog.schedules.items():
            self.plan(key, schedule, catch_up_s=CATCH_UP_S)
        for delivery in deliveries:
            self._waiting[delivery.execution_id] = delivery
            self._push(delivery.next_at_s, delivery.execution_id, None)

    def completed(self) -> list[Schedule]:
        """Schedules whose last tick fired before a restart and that delete themselves."""
        return [
            s
            for s in self.catalog.schedules.values()
            if s.last_fired is not None
            and s.request["ActionAfterCompletion"] == "DELETE"
            and s.next_tick(after_s=s.last_fired) is None
        ]

    # --- the timer --------------------------------------------------------------------------

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            for schedule in self.completed():
                nursery.start_soon(self._guarded, self.catalog.remove(schedule))
            task_status.started()
            while True:
                self.stats.wakeups += 1
                now = self.clock()
                while self._heap and self._heap[0][0] <= now:
                    _, _, key, plan = heapq.heappop(self._heap)
                    if self._current(key, plan):
                        self._due(key, plan, now)
                while self._heap and not self._current(self._heap[0][2], self._heap[0][3]):
                    heapq.heappop(self._heap)  # stale: not worth waking for
                self._wake = trio.Event()
                if not self._heap:
                    await self._wake.wait()
                    continue
                with trio.move_on_after(max(0.0, self._heap[0][0] - now)):
                    await self._wake.wait()

    def _due(self, key: Key | str, plan: _Plan | None, now: float) -> None:
        assert self._nursery is not None
        if isinstance(key, str):
            delivery = self._waiting.pop(key)
            self.stats.retried += 1
            self._nursery.start_soon(self._guarded, self._attempt(delivery))
            return
        assert plan is not None
        schedule = self.catalog.schedules[key]
        del self._plans[key]
        if not schedule.one_time and now - plan.at_s > CATCH_UP_S:
            self.stats.missed += 1
            logger.warning(
                "schedule %s missed its tick %d (%.0f s late)", key, plan.tick, now - plan.at_s
            )
            self.plan(key, schedule, catch_up_s=CATCH_UP_S)
            return
        schedule.last_fired = plan.tick
        self.plan(key, schedule)
        self.stats.fired += 1
        self._nursery.start_soon(self._guarded, self._fire_tick(schedule, plan.tick))

    async def _guarded(self, work: Awaitable[None]) -> None:
        """A fire's boundary: a failure is logged once and ends only its own work."""
        try:
            await work
        except Exception:
            logger.exception("scheduler: a fire failed")

    # --- one tick ---------------------------------------------------------------------------

    async def _fire_tick(self, schedule: Schedule, tick: int) -> None:
        try:
            await self.journal.commit(store.set_last_fired(schedule.group, schedule.name, tick))
        except Exception:
            logger.exception(
                "schedule %s: tick %d not fired (its mark did not commit)", schedule.name, tick
            )
            return
        target = schedule.target
        dead_letter = target.get("DeadLetterConfig") or {}
        delivery = Delivery(
            execution_id=str(uuid.uuid4()),
            schedule_arn=schedule.arn(self.region),
            target_arn=target["Arn"],
            function=schedule.function,
            qualifier=schedule.qualifier,
            input=target.get("Input"),
            region=self.region,
            scheduled_s=tick,
            max_age_s=target["RetryPolicy"]["MaximumEventAgeInSeconds"],
            max_retries=target["RetryPolicy"]["MaximumRetryAttempts"],
            dead_letter_arn=dead_letter.get("Arn"),
        )
        await self._attempt(delivery)
        if (
            schedule.request["ActionAfterCompletion"] == "DELETE"
            and schedule.next_tick(after_s=tick) is None
        ):
            await self.catalog.remove(schedule)

    async def _attempt(self, delivery: Delivery) -> None:
        try:
            await self.fire(delivery.function, delivery.qualifier, delivery.payload())
        except ApiError as exc:
            await self._failed(delivery, exc.error_type, exc.message, retryable(exc.status))
            return
        except Exception as exc:  # the attempt's boundary: a fault here, retried as AWS's own
            logger.exception("schedule %s: attempt failed", delivery.schedule_arn)
            await self._failed(delivery, "InternalServerException", repr(exc), True)
            return
        self.stats.delivered += 1
        if delivery.retries:
            self.journal.defer(store.delete_delivery(delivery.execution_id))

    async def _failed(self, delivery: Delivery, code: str, message: str, can_retry: bool) -> None:
        delivery.error_code, delivery.error_message = code, message
        decision = after_failure(delivery, self.clock()) if can_retry else None
        if not isinstance(decision, float):
            await self._dead_letter(delivery, decision)
            return
        delivery.retries += 1
        delivery.next_at_s = decision
        await self.journal.commit(store.put_delivery(delivery.execution_id, delivery.document()))
        self._waiting[delivery.execution_id] = delivery
        self._push(decision, delivery.execution_id, None)

    async def _dead_letter(self, delivery: Delivery, exhausted: str | None) -> None:
        logger.warning(
            "schedule %s: tick %d not delivered (%s: %s, %d retries)",
            delivery.schedule_arn,
            delivery.scheduled_s,
            delivery.error_code,
            delivery.error_message,
            delivery.retries,
        )
        queue = delivery.dead_letter_arn
        try:
            if queue is None or self.dead_letters is None:
                self.stats.dropped += 1
                return
            body = delivery.payload().decode(errors="replace")
            attributes = dead_letter_attributes(delivery, exhausted)
            try:
                await self.dead_letters.send_message(queue, body, attributes)
            except ApiError as exc:
                self.stats.dropped += 1
                logger.warning(
                    "schedule %s: dead-letter queue %s refused: %s",
                    delivery.schedule_arn,
                    queue,
                    exc.message,
                )
                return
            self.stats.dead_lettered += 1
        finally:
            if delivery.retries:
                self.journal.defer(store.delete_delivery(delivery.execution_id))
