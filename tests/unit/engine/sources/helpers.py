"""Fakes for the pollers' tests: an invoker that records each event and plays scripted
answers, mappings as the control plane stores them, the services' clock on trio's, and a
poller run inside a test with a bounded stop."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass
from typing import Any, Final, Protocol

import trio
import trio.lowlevel

from engine.errors import ResourceNotFoundException, TooManyRequestsException
from engine.invoke.concurrency import MSG_RATE_EXCEEDED, REASON_ACCOUNT
from engine.invoke.invoker import InvokeResult
from engine.model.arns import ACCOUNT_ID
from engine.model.event_source_mapping import (
    DELETING,
    KINESIS,
    SQS,
    EventSourceMapping,
    initial_state,
    updated_state,
)
from engine.runtime.environment import InvokeOutcome

REGION: Final = "us-east-1"
EPOCH_S: Final = 1_700_000_000.0
QUEUE_PREFIX: Final = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:"
STREAM_PREFIX: Final = f"arn:aws:kinesis:{REGION}:{ACCOUNT_ID}:stream/"
ROLE: Final = f"arn:aws:iam::{ACCOUNT_ID}:role/fn-role"


def trio_clock() -> float:
    """Wall time for the services and pollers, driven by trio's clock (autojump moves it)."""
    return EPOCH_S + trio.current_time()


def sqs_mapping(queue: str = "q", **changes: Any) -> EventSourceMapping:
    """An enabled queue mapping of `fn` with the Lambda API's defaults."""
    base = EventSourceMapping(
        uuid="11111111-2222-3333-4444-555555555555",
        function_name="fn",
        qualifier=None,
        source_arn=QUEUE_PREFIX + queue,
        source_kind=SQS,
        batch_size=10,
        max_batching_window_s=0,
        enabled=True,
        state="Enabled",
        state_reason="USER_INITIATED",
        last_modified=EPOCH_S,
        last_processing_result=None,
        starting_position=None,
        starting_position_timestamp=None,
    )
    return base.replace(**changes)


def kinesis_mapping(stream: str = "s", **changes: Any) -> EventSourceMapping:
    """An enabled stream mapping of `fn` from TRIM_HORIZON, batches of 100, no retry limit."""
    base = EventSourceMapping(
        uuid="66666666-7777-8888-9999-000000000000",
        function_name="fn",
        qualifier=None,
        source_arn=STREAM_PREFIX + stream,
        source_kind=KINESIS,
        batch_size=100,
        max_batching_window_s=0,
        enabled=True,
        state="Enabled",
        state_reason="User action",
        last_modified=EPOCH_S,
        last_processing_result="No records processed",
        starting_position="TRIM_HORIZON",
        starting_position_timestamp=None,
    )
    return base.replace(**changes)


# -- the control plane's side ----------------------------------------------------------------


class FakeMappings:
    """The control plane's side: changes answered with a transitional state, then the hooks;
    the runtime's calls (`set_state`, `finish_delete`, `forget`) logged."""

    def __init__(self, log: list[str], *stored: EventSourceMapping) -> None:
        self.log = log
        self.on_change: list[Callable[[str], None]] = []
        self.by_uuid = {m.uuid: m for m in stored}
        self.forgotten: list[str] = []
        self.results: dict[str, list[str]] = {}  # LastProcessingResult, as each was set

    # what the supervisor uses
    def mappings(self) -> list[EventSourceMapping]:
        return sorted(self.by_uuid.values(), key=lambda m: m.uuid)

    def find(self, uuid: str) -> EventSourceMapping | None:
        return self.by_uuid.get(uuid)

    def set_state(self, uuid: str, state: str, reason: str | None = None) -> None:
        self.log.append(f"{uuid} {state}")
        self.by_uuid[uuid] = self.by_uuid[uuid].replace(state=state)

    def finish_delete(self, uuid: str) -> None:
        self.log.append(f"{uuid} deleted")
        del self.by_uuid[uuid]

    def set_last_processing_result(self, uuid: str, text: str) -> None:
        self.results.setdefault(uuid, []).append(text)
        self.by_uuid[uuid] = self.by_uuid[uuid].replace(last_processing_result=text)

    def forget(self, uuid: str) -> None:
        self.log.append(f"{uuid} forgotten")
        self.forgotten.append(uuid)

    # what the API does
    def create(self, uuid: str, *, enabled: bool = True, **settings: Any) -> None:
        """A queue mapping `uuid` with `settings`, created."""
        self.add(sqs_mapping(uuid=uuid, enabled=enabled, **settings))

    def add(self, mapping: EventSourceMapping) -> None:
        """`mapping`, created: Creating (Disabled when created disabled), then the hooks."""
        self.by_uuid[mapping.uuid] = mapping.replace(state=initial_state(mapping.enabled))
        self._changed(mapping.uuid)

    def update(self, uuid: str, **changes: Any) -> None:
        current = self.by_uuid[uuid]
        state = updated_state(current, changes.get("enabled", current.enabled))
        self.by_uuid[uuid] = current.replace(state=state, **changes)
        self._changed(uuid)

    def delete(self, uuid: str) -> None:
        self.by_uuid[uuid] = self.by_uuid[uuid].replace(state=DELETING)
        self._changed(uuid)

    def state(self, uuid: str) -> str:
        return self.by_uuid[uuid].state

    def _changed(self, uuid: str) -> None:
        for hook in list(self.on_change):
            hook(uuid)


# -- what the function answers ----------------------------------------------------------------

Answer = Callable[[dict[str, Any]], Awaitable[InvokeOutcome]]


def outcome(payload: bytes = b"", function_error: str | None = None) -> InvokeOutcome:
    return InvokeOutcome(
        payload=payload, function_error=function_error, log_tail=b"", reusable=True
    )


def ok(payload: bytes = b"null") -> Answer:
    async def answer(event: dict[str, Any]) -> InvokeOutcome:
        await trio.lowlevel.checkpoint()
        return outcome(payload)

    return answer


def error(message: str = "asked to fail") -> Answer:
    """A function error: the handler raised."""

    async def answer(event: dict[str, Any]) -> InvokeOutcome:
        await trio.lowlevel.checkpoint()
        body = json.dumps({"errorMessage": message, "errorType": "ValueError"}).encode()
        return outcome(body, "Unhandled")

    return answer


def throttled() -> Answer:
    """The invoke was refused for concurrency: the function did not run."""

    async def answer(event: dict[str, Any]) -> InvokeOutcome:
        await trio.lowlevel.checkpoint()
        raise TooManyRequestsException(MSG_RATE_EXCEEDED, reason=REASON_ACCOUNT)

    return answer


def missing() -> Answer:
    """The function does not exist (any ApiError but a throttle)."""

    async def answer(event: dict[str, Any]) -> InvokeOutcome:
        await trio.lowlevel.checkpoint()
        raise ResourceNotFoundException("Function not found: fn")

    return answer


def failing_if(bad: Callable[[dict[str, Any]], bool]) -> Answer:
    """A function error when any record of the event is `bad`, else success."""

    async def answer(event: dict[str, Any]) -> InvokeOutcome:
        if any(bad(record) for record in event["Records"]):
            return await error()(event)
        return await ok()(event)

    return answer


def reporting(failed: Callable[[dict[str, Any]], bool], id_of: Callable[[Any], str]) -> Answer:
    """A ReportBatchItemFailures answer naming the records that are `failed`."""

    async def answer(event: dict[str, Any]) -> InvokeOutcome:
        ids = [id_of(r) for r in event["Records"] if failed(r)]
        body = {"batchItemFailures": [{"itemIdentifier": i} for i in ids]}
        return await ok(json.dumps(body).encode())(event)

    return answer


def after(seconds: float, then: Answer | None = None) -> Answer:
    """Takes `seconds` of trio's time, then answers as `then` (success by default)."""

    async def answer(event: dict[str, Any]) -> InvokeOutcome:
        await trio.sleep(seconds)
        return await (then or ok())(event)

    return answer


def held(gate: trio.Event, then: Answer | None = None) -> Answer:
    """Runs until `gate` is set, then answers as `then` (success by default)."""

    async def answer(event: dict[str, Any]) -> InvokeOutcome:
        await gate.wait()
        return await (then or ok())(event)

    return answer


def message_id(record: dict[str, Any]) -> str:
    value: str = record["messageId"]
    return value


def sequence_number(record: dict[str, Any]) -> str:
    value: str = record["kinesis"]["sequenceNumber"]
    return value


def body(record: dict[str, Any]) -> str:
    value: str = record["body"]
    return value


def data(record: dict[str, Any]) -> str:
    """A Kinesis event record's data, decoded."""
    return base64.b64decode(record["kinesis"]["data"]).decode()


# -- the invoker ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Call:
    at: float  # trio's time when the invoke began
    function: str
    qualifier: str | None
    event: dict[str, Any]
    size: int  # the payload's bytes

    @property
    def records(self) -> list[dict[str, Any]]:
        records: list[dict[str, Any]] = self.event["Records"]
        return records

    @property
    def bodies(self) -> list[str]:
        return [body(r) for r in self.records]

    @property
    def data(self) -> list[str]:
        return [data(r) for r in self.records]


class FakeInvoker:
    """Records each invoke's event and plays the scripted answers in order, then `otherwise`
    (success unless changed)."""

    def __init__(self) -> None:
        self.calls: list[Call] = []
        self.answers: list[Answer] = []
        self.otherwise: Answer = ok()
        self.running = 0
        self.most_running = 0
        self._called = trio.Event()

    def script(self, *answers: Answer) -> None:
        self.answers.extend(answers)

    async def invoke(
        self,
        name: str,
        qualifier: str | None,
        payload: bytes,
        *,
        client_context: str | None = None,
    ) -> InvokeResult:
        event: dict[str, Any] = json.loads(payload)
        self.calls.append(
            Call(
                at=trio.current_time(),
                function=name,
                qualifier=qualifier,
                event=event,
                size=len(payload),
            )
        )
        self._called.set()
        self._called = trio.Event()
        answer = self.answers.pop(0) if self.answers else self.otherwise
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            result = await answer(event)
        finally:
            self.running -= 1
        return InvokeResult(
            outcome=result, executed_version="$LATEST", request_id=str(uuid.uuid4()), cold=False
        )

    async def wait_for(self, count: int) -> list[Call]:
        """The first `count` calls, once they have begun."""
        with bounded():
            while len(self.calls) < count:
                await self._called.wait()
        return self.calls[:count]

    async def wait_for_records(self, count: int) -> None:
        """Until the calls begun have carried `count` records in all."""
        with bounded():
            while sum(len(c.records) for c in self.calls) < count:
                await self._called.wait()


# -- running a poller -------------------------------------------------------------------------


class Poller(Protocol):
    async def run(self) -> None: ...
    def stop(self) -> None: ...


@dataclass(slots=True)
class Stopped:
    """How long `run` took to return after `stop`, in trio's time."""

    after_s: float = -1.0


@contextmanager
def real_time_limit(seconds: float) -> Iterator[None]:
    """Fail the block if it takes `seconds` of real time. Under the autojump clock a trio
    deadline cannot bound a wait for the engine: the clock jumps to it whenever trio waits
    long enough, for a journal commit in its thread too."""
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


@contextmanager
def bounded(trio_s: float = 600.0, real_s: float = 20.0) -> Iterator[None]:
    """Fail a wait that lasts `trio_s` of trio's time (the autojump clock gets there fast
    when nothing happens) or `real_s` of real time (a poller that never idles)."""
    with trio.fail_after(trio_s), real_time_limit(real_s):
        yield


@asynccontextmanager
async def running(poller: Poller) -> AsyncIterator[Stopped]:
    """Run `poller` for the block; then stop it and wait (bounded) for `run` to return."""
    stopped = Stopped()
    ended = trio.Event()

    async def run() -> None:
        try:
            await poller.run()
        finally:
            ended.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run)
        yield stopped
        start = trio.current_time()
        poller.stop()
        with bounded(real_s=10):
            await ended.wait()
        stopped.after_s = trio.current_time() - start


async def until(predicate: Callable[[], bool], *, timeout_s: float = 10.0) -> None:
    """Wait until `predicate()` holds, looking every millisecond (real-clock tests only: the
    services offer no event for what the tests look at, and the fakes stay out of them)."""
    with bounded(real_s=timeout_s):
        while not predicate():  # noqa: ASYNC110
            await trio.sleep(0.001)
