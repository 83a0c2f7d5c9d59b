"""Fakes for the event queue's tests: functions, an invoker that plays scripted answers, an
SQS-compatible sink that keeps what it was sent, and `open_world`, which wires them to a real
journal and a real `EventQueue` under trio's clock."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import trio
import trio.lowlevel

from engine.control.functions import FunctionService, Target
from engine.errors import ResourceNotFoundException, ServiceException, TooManyRequestsException
from engine.events import store
from engine.events.counters import AsyncCounters
from engine.events.outcomes import Outcomes
from engine.events.queue import EventQueue
from engine.invoke.concurrency import MSG_RATE_EXCEEDED, REASON_ACCOUNT, Concurrency
from engine.invoke.invoker import REQUEST_RESPONSE, Invoker, InvokeResult, Reservation
from engine.journal.journal import Journal
from engine.model.arns import ACCOUNT_ID, function_arn
from engine.model.event_invoke import AsyncSettings
from engine.model.function import LATEST, FunctionConfig
from engine.runtime.environment import InvokeOutcome
from engine.sqs.errors import QueueDoesNotExist

REGION: Final = "us-east-1"
# One of AWS's seconds is one millisecond of the tests' time: retries come 60 ms and 120 ms
# apart, and an event lives 21.6 s by default.
SCALE: Final = 0.001
EPOCH_MS: Final = 1_700_000_000_000
ON_SUCCESS: Final = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:on-success"
ON_FAILURE: Final = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:on-failure"
DEAD_LETTERS: Final = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:dead-letters"
# Every end sends a record somewhere, so a test can wait for it.
WITH_DESTINATIONS: Final = AsyncSettings(on_success=ON_SUCCESS, on_failure=ON_FAILURE)
REAL_TIME_LIMIT_S: Final = 5.0


def trio_clock_ms() -> int:
    """Wall-clock milliseconds for the queue, driven by trio's clock (autojump moves it)."""
    return EPOCH_MS + round(trio.current_time() * 1000)


def config(
    name: str, *, version: str = LATEST, dead_letter_arn: str | None = None
) -> FunctionConfig:
    return FunctionConfig(
        name=name,
        runtime="python3.12",
        handler="app.handler",
        role=f"arn:aws:iam::{ACCOUNT_ID}:role/r",
        code_digest="0" * 64,
        code_sha256="x",
        code_size=1,
        last_modified="2024-01-01T00:00:00.000+0000",
        revision_id="r1",
        version=version,
        dead_letter_arn=dead_letter_arn,
    )


class FakeFunctions(FunctionService):
    """Functions by name and version (a qualifier is a version here: no aliases)."""

    def __init__(self) -> None:  # not FunctionService's: there is no registry behind it
        self.region = REGION
        self.configs: dict[tuple[str, str], FunctionConfig] = {}

    def add(
        self, name: str, *, version: str = LATEST, dead_letter_arn: str | None = None
    ) -> FunctionConfig:
        made = config(name, version=version, dead_letter_arn=dead_letter_arn)
        self.configs[(name, version)] = made
        return made

    def remove(self, name: str) -> None:
        for key in [k for k in self.configs if k[0] == name]:
            del self.configs[key]

    def resolve(self, name: str, qualifier: str | None, *, draw: float | None = None) -> Target:
        found = self.configs.get((name, qualifier or LATEST))
        if found is None:
            arn = function_arn(REGION, name, qualifier or LATEST)
            raise ResourceNotFoundException(f"Function not found: {arn}")
        return Target(config=found, qualifier=qualifier)


# -- what a run answers ---------------------------------------------------------------------

Step = Callable[[], Awaitable[InvokeOutcome]]


def succeed(payload: bytes = b'{"ok": true}') -> Step:
    async def step() -> InvokeOutcome:
        await trio.lowlevel.checkpoint()
        return InvokeOutcome(payload=payload, function_error=None, log_tail=b"", reusable=True)

    return step


def fail(message: str = "asked to fail") -> Step:
    """A function error (the handler raised)."""

    async def step() -> InvokeOutcome:
        await trio.lowlevel.checkpoint()
        payload = json.dumps({"errorMessage": message, "errorType": "ValueError"}).encode()
        return InvokeOutcome(
            payload=payload, function_error="Unhandled", log_tail=b"", reusable=True
        )

    return step


def throttle() -> Step:
    async def step() -> InvokeOutcome:
        await trio.lowlevel.checkpoint()
        raise TooManyRequestsException(MSG_RATE_EXCEEDED, reason=REASON_ACCOUNT)

    return step


def platform_error() -> Step:
    async def step() -> InvokeOutcome:
        await trio.lowlevel.checkpoint()
        raise ServiceException("lambdalet could not start an execution environment: no room")

    return step


def crash() -> Step:
    """A bug in the engine (not an ApiError)."""

    async def step() -> InvokeOutcome:
        await trio.lowlevel.checkpoint()
        raise RuntimeError("a bug in the engine")

    return step


def hold(gate: trio.Event, then: Step | None = None) -> Step:
    """Keep the concurrency unit until `gate` is set."""

    async def step() -> InvokeOutcome:
        await gate.wait()
        return await (then or succeed())()

    return step


@dataclass(frozen=True, slots=True, kw_only=True)
class Run:
    function: str
    qualifier: str | None
    request_id: str
    payload: bytes
    at_ms: int


class FakeInvoker(Invoker):
    """Invoker's own `check`, `reserve` and `release` (with its `on_release` hooks) over fake
    functions and a real `Concurrency`; `run` plays the function's script (then succeeds)
    instead of starting an environment, and releases the unit as the real one does."""

    def __init__(self, functions: FakeFunctions, *, account_limit: int = 1000) -> None:
        # Not Invoker.__init__: there is no pool (`run` is replaced).
        self.functions = functions
        self.region = REGION
        self.concurrency = Concurrency(account_limit=account_limit, unreserved_minimum=0)
        self.on_release = []
        self.scripts: dict[str, list[Step]] = {}
        self.runs: list[Run] = []
        self.reserve_calls = 0
        self.running = 0
        self.most_running = 0

    def script(self, name: str, *steps: Step) -> None:
        self.scripts.setdefault(name, []).extend(steps)

    def reserve(
        self, name: str, qualifier: str | None, *, invocation_type: str = REQUEST_RESPONSE
    ) -> Reservation:
        self.reserve_calls += 1
        return super().reserve(name, qualifier, invocation_type=invocation_type)

    async def run(
        self,
        reservation: Reservation,
        payload: bytes,
        *,
        request_id: str,
        client_context: str | None = None,
    ) -> InvokeResult:
        config = reservation.config
        self.runs.append(
            Run(
                function=config.name,
                qualifier=reservation.qualifier,
                request_id=request_id,
                payload=payload,
                at_ms=trio_clock_ms(),
            )
        )
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            steps = self.scripts.get(config.name)
            step = steps.pop(0) if steps else succeed()
            outcome = await step()
        finally:
            self.running -= 1
            self.release(reservation)
        return InvokeResult(
            outcome=outcome, executed_version=config.version, request_id=request_id, cold=False
        )

    def runs_of(self, name: str) -> list[Run]:
        return [r for r in self.runs if r.function == name]


# -- where records go -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Message:
    queue_arn: str
    body: str
    attributes: dict[str, dict[str, str]] | None

    @property
    def record(self) -> dict[str, Any]:
        parsed: dict[str, Any] = json.loads(self.body)
        return parsed

    @property
    def condition(self) -> str:
        condition: str = self.record["requestContext"]["condition"]
        return condition


class FakeQueues:
    """An SQS-compatible sink (`outcomes.QueueSink`) that keeps what it was sent; a queue in
    `missing` answers QueueDoesNotExist, as the SQS service does."""

    def __init__(self) -> None:
        self.sent: list[Message] = []
        self.missing: set[str] = set()
        self._arrived = trio.Event()

    async def send_message(
        self, queue_arn: str, body: str, attributes: dict[str, dict[str, str]] | None = None
    ) -> str:
        await trio.lowlevel.checkpoint()
        if queue_arn in self.missing:
            raise QueueDoesNotExist()
        self.sent.append(Message(queue_arn=queue_arn, body=body, attributes=attributes))
        self._arrived.set()
        self._arrived = trio.Event()
        return str(uuid.uuid4())

    def to(self, queue_arn: str) -> list[Message]:
        return [m for m in self.sent if m.queue_arn == queue_arn]

    async def wait_for(self, queue_arn: str, count: int = 1) -> list[Message]:
        """The first `count` messages sent to `queue_arn`, once they are there."""
        while len(self.to(queue_arn)) < count:
            await self._arrived.wait()
        return self.to(queue_arn)[:count]


# -- the queue under test -------------------------------------------------------------------


@contextmanager
def real_time_limit(seconds: float) -> Iterator[None]:
    """Fail the block if it takes `seconds` of real time. Under the autojump clock a trio
    deadline cannot bound a test: the clock jumps to it whenever trio waits, a journal
    commit in its thread included."""
    token = trio.lowlevel.current_trio_token()
    with trio.CancelScope() as scope:
        timer = threading.Timer(seconds, token.run_sync_soon, (scope.cancel,))
        timer.start()
        try:
            yield
        finally:
            timer.cancel()
    if scope.cancelled_caught:
        raise AssertionError(f"not done within {seconds} s of real time")


class World:
    """An `EventQueue` with a real journal in `path`, real `Outcomes`, fake functions, a fake
    invoker and a fake queue service. Every function has both destinations unless
    `settings` says otherwise."""

    def __init__(self, path: Path, *, workers: int) -> None:
        self.path = path
        self.functions = FakeFunctions()
        self.invoker = FakeInvoker(self.functions)
        self.queues = FakeQueues()
        self.counters = AsyncCounters()
        self.settings: dict[str, AsyncSettings] = {}
        self.settings_fault: Exception | None = None  # raised by the next settings lookup
        self.outcomes = Outcomes(
            functions=self.functions,
            counters=self.counters,
            region=REGION,
            queues=self.queues,
            clock_s=lambda: trio_clock_ms() / 1000,
        )
        self.journal = Journal(path / store.DB_NAME, store.SCHEMA)
        self.queue = EventQueue(
            journal=self.journal,
            invoker=self.invoker,
            settings=self.settings_of,
            outcomes=self.outcomes,
            counters=self.counters,
            workers=workers,
            time_scale=SCALE,
            clock_ms=trio_clock_ms,
        )
        self.outcomes.accept = self.queue.accept
        self._nursery: trio.Nursery | None = None

    def settings_of(self, name: str, qualifier: str | None) -> AsyncSettings:
        fault, self.settings_fault = self.settings_fault, None
        if fault is not None:
            raise fault
        return self.settings.get(name, WITH_DESTINATIONS)

    def start_dispatching(self) -> None:
        assert self._nursery is not None
        self._nursery.start_soon(self.queue.run)

    def stored(self) -> list[store.Event]:
        """What the queue's file holds now (committed changes)."""
        return self.journal.read(store.load)


@asynccontextmanager
async def open_world(
    path: Path, *, workers: int = 4, dispatching: bool = True
) -> AsyncIterator[World]:
    """A running world (its journal writer, and the dispatcher unless `dispatching` is False),
    bounded in real time. Leaving it stops both and commits what was deferred."""
    world = World(path, workers=workers)
    with real_time_limit(REAL_TIME_LIMIT_S):
        async with trio.open_nursery() as nursery:
            world._nursery = nursery
            nursery.start_soon(world.journal.run)
            if dispatching:
                world.start_dispatching()
            yield world
            nursery.cancel_scope.cancel()


def stored_after_close(path: Path) -> list[store.Event]:
    """The queue's file as the next daemon finds it."""
    journal = Journal(path / store.DB_NAME, store.SCHEMA)
    try:
        return journal.read(store.load)
    finally:
        journal.close()
