"""The asynchronous event queue: accept durably, dispatch fairly, retry as Lambda does.

`accept` stores an event (flushed, group-committed) before its 202 and queues it in memory.
`run` dispatches: one ready event per function in turn (a backlog of one function does not
starve the others), each only when the function's concurrency has room (`Invoker.reserve`
takes the unit synchronously, so the dispatcher never over-commits a reservation), at most
`workers` attempts at once. A function without room is passed over until a unit is released
(`Invoker.on_release` wakes the dispatcher); a delayed retry waits in a heap ordered by due
time. Nothing polls: the dispatcher sleeps until an event arrives, an attempt ends, a unit is
released, or the next retry is due.

An attempt's result goes through `events.policy`; an ended event through `events.outcomes`.
Times: due times are wall-clock milliseconds (they survive restarts); delays and ages are
scaled by `time_scale` (1.0 = AWS's minutes and hours).
"""

from __future__ import annotations

import heapq
import logging
import time
import uuid
from collections import OrderedDict, deque
from collections.abc import Callable

import trio

from engine.errors import ApiError, ResourceNotFoundException, TooManyRequestsException
from engine.events import policy, store
from engine.events.counters import AsyncCounters
from engine.events.outcomes import Outcomes, Settings
from engine.events.record import LastResponse
from engine.events.store import Event
from engine.invoke.invoker import EVENT, Invoker, Reservation
from engine.journal.journal import Journal

logger = logging.getLogger(__name__)


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class EventQueue:
    def __init__(
        self,
        *,
        journal: Journal,
        invoker: Invoker,
        settings: Callable[[str, str | None], Settings],
        outcomes: Outcomes,
        counters: AsyncCounters,
        workers: int,
        time_scale: float,
        clock_ms: Callable[[], int] = now_ms,
    ) -> None:
        self._journal = journal
        self._invoker = invoker
        self._settings = settings
        self._outcomes = outcomes
        self.counters = counters
        self._workers = workers
        self._scale = time_scale
        self._clock_ms = clock_ms
        self._ready: OrderedDict[str, deque[Event]] = OrderedDict()
        self._delayed: list[tuple[int, int, Event]] = []
        self._order = 0  # ties in the heap: first queued, first due
        self._busy = 0
        self._wake = trio.Event()
        # Stopping: no attempt starts any more; events wait, stored, for the next start.
        self.draining = False
        self._idle: trio.Event | None = None  # set when the last attempt under way ends
        invoker.on_release.append(self.wake)

    # -- accepting -------------------------------------------------------------------------

    async def accept(self, name: str, qualifier: str | None, payload: bytes) -> str:
        """Store an event for `name`/`qualifier` and return its request id once it is on disk.
        Raises the 404 Invoke answers for a missing function or qualifier."""
        self._invoker.check(name, qualifier)
        now = self._clock_ms()
        event = Event(
            request_id=str(uuid.uuid4()),
            function=name,
            qualifier=qualifier,
            payload=payload,
            received_ms=now,
            due_ms=now,
        )
        await self._journal.commit(store.insert(event))
        if len(payload) > store.INLINE_PAYLOAD_BYTES:
            event.payload = None  # read back from the file for its attempt
        self.counters.count_received(name, qualifier)
        self._push(event)
        return event.request_id

    def restore(self, events: list[Event]) -> None:
        """Queue the events a previous daemon left unfinished (before `run`)."""
        for event in events:
            if event.running:  # its attempt was cut short: it runs again
                self.counters.redelivered += 1
                event.running = False
            self._push(event)

    def _push(self, event: Event) -> None:
        if event.due_ms > self._clock_ms():
            self._order += 1
            heapq.heappush(self._delayed, (event.due_ms, self._order, event))
        else:
            self._ready.setdefault(event.function, deque()).append(event)
        self._wake.set()

    def wake(self) -> None:
        self._wake.set()

    def set_workers(self, workers: int) -> None:
        """A reloaded `events.workers`: attempts at once from now on (those under way go on)."""
        self._workers = workers
        self._wake.set()

    def drain(self) -> None:
        """The daemon is stopping: start no more attempts (accepting goes on: an accepted
        event is stored and runs after the next start). Attempts under way go on; see
        `wait_idle`."""
        self.draining = True
        self._wake.set()

    async def wait_idle(self) -> None:
        """Return once no attempt is under way."""
        while self._busy:
            self._idle = trio.Event()
            await self._idle.wait()

    @property
    def backlog(self) -> int:
        return sum(len(q) for q in self._ready.values()) + len(self._delayed)

    @property
    def in_flight(self) -> int:
        return self._busy

    # -- dispatching -----------------------------------------------------------------------

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            while True:
                self._wake = trio.Event()
                now = self._clock_ms()
                while self._delayed and self._delayed[0][0] <= now:
                    _, _, event = heapq.heappop(self._delayed)
                    self._ready.setdefault(event.function, deque()).append(event)
                if not self.draining:
                    self._dispatch(nursery)
                if self._delayed:
                    wait_s = (self._delayed[0][0] - self._clock_ms()) / 1000
                    with trio.move_on_after(max(wait_s, 0.0)):
                        await self._wake.wait()
                else:
                    await self._wake.wait()

    def _dispatch(self, nursery: trio.Nursery) -> None:
        """Start attempts, one event per function in turn, while workers are free."""
        progressed = True
        while progressed and self._ready and self._busy < self._workers:
            progressed = False
            for name in list(self._ready):
                if self._busy >= self._workers:
                    return
                queue = self._ready[name]
                event = queue[0]
                if self._invoker.concurrency.reserved.get(name) == 0:
                    reservation = None  # reserved concurrency 0: no attempt, failure targets
                else:
                    try:
                        reservation = self._invoker.reserve(
                            name, event.qualifier, invocation_type=EVENT
                        )
                    except TooManyRequestsException:
                        continue  # no room: passed over until a unit is released
                    except ResourceNotFoundException:
                        reservation = None
                queue.popleft()
                if queue:
                    self._ready.move_to_end(name)
                else:
                    del self._ready[name]
                self._busy += 1
                nursery.start_soon(self._attempt, event, reservation)
                progressed = True

    async def _attempt(self, event: Event, reservation: Reservation | None) -> None:
        holder = [reservation]  # `_attempt_one` empties it once the unit is run or released
        spilled = event.payload is None
        try:
            if spilled:
                event.payload = await trio.to_thread.run_sync(
                    self._journal.read, store.payload_of(event.request_id)
                )
            await self._attempt_one(event, holder)
        except Exception:
            # Never lose the event to a bug here: it stays stored and is retried later, and
            # a unit taken for it and not yet run is given back.
            logger.exception("async event %s: attempt failed", event.request_id)
            if holder[0] is not None:
                self._invoker.release(holder[0])
            event.running = False
            event.backoffs += 1
            self._retry_later(event, policy.BACKOFF_CAP_S)
        finally:
            if spilled:
                event.payload = None
            self._busy -= 1
            self._wake.set()
            if not self._busy and self._idle is not None:
                self._idle.set()

    async def _attempt_one(self, event: Event, holder: list[Reservation | None]) -> None:
        reservation = holder[0]
        now = self._clock_ms()
        age_s = (now - event.received_ms) / 1000 / self._scale
        if reservation is None:
            try:
                self._invoker.check(event.function, event.qualifier)
            except ResourceNotFoundException:
                await self._outcomes.dropped(event, "FunctionNotFound")
                self._forget(event)
                return
            settings = self._settings(event.function, event.qualifier)
            await self._finish(event, policy.ZERO_RESERVED_CONCURRENCY, None, settings)
            return
        settings = self._settings(event.function, event.qualifier)
        if policy.too_old(age_s, settings.max_event_age_s):
            holder[0] = None
            self._invoker.release(reservation)
            await self._finish(event, policy.EVENT_AGE_EXCEEDED, None, settings)
            return
        self.counters.observe_age(now - event.received_ms, event.function, event.qualifier)
        event.running = True
        self._journal.defer(store.update(event))
        response: LastResponse | None = None
        holder[0] = None  # `run` releases the unit, whatever happens
        try:
            result = await self._invoker.run(
                reservation, event.payload or b"", request_id=event.request_id
            )
        except TooManyRequestsException:
            outcome = policy.Attempt.THROTTLED
        except ApiError as exc:
            logger.warning("async event %s: %s", event.request_id, exc.message)
            outcome = policy.Attempt.PLATFORM_ERROR
        else:
            event.attempts += 1
            response = LastResponse(
                payload=result.outcome.payload,
                function_error=result.outcome.function_error,
                executed_version=result.executed_version,
            )
            failed = bool(result.outcome.function_error)
            outcome = policy.Attempt.FUNCTION_ERROR if failed else policy.Attempt.SUCCEEDED
        event.running = False
        if outcome in (policy.Attempt.THROTTLED, policy.Attempt.PLATFORM_ERROR):
            event.backoffs += 1
        age_s = (self._clock_ms() - event.received_ms) / 1000 / self._scale
        step = policy.after_attempt(
            outcome,
            attempts=event.attempts,
            backoffs=event.backoffs,
            age_s=age_s,
            max_retry_attempts=settings.max_retry_attempts,
            max_event_age_s=settings.max_event_age_s,
        )
        if isinstance(step, policy.Retry):
            self._retry_later(event, step.delay_s)
        else:
            await self._finish(event, step.condition, response, settings)

    def _retry_later(self, event: Event, delay_s: float) -> None:
        event.due_ms = self._clock_ms() + int(delay_s * self._scale * 1000)
        self._journal.defer(store.update(event))
        self._push(event)

    async def _finish(
        self, event: Event, condition: str, response: LastResponse | None, settings: Settings
    ) -> None:
        await self._outcomes.ended(event, condition, response, settings)
        self._forget(event)

    def _forget(self, event: Event) -> None:
        self._journal.defer(store.delete(event.request_id))
