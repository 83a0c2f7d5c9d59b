"""Fakes for the schedule service's seams (the async invoke, the dead-letter queues) and a
wall clock driven by trio's, so the autojump clock runs days of schedules in milliseconds."""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import trio
import trio.testing

from engine.errors import ApiError, ResourceNotFoundException
from engine.scheduler.service import ScheduleService, open_schedules

REGION = "us-east-1"
ROLE = "arn:aws:iam::000000000000:role/scheduler"
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:fn"
QUEUE_ARN = "arn:aws:sqs:us-east-1:000000000000:dlq"
EPOCH_S = 1_704_067_200.0  # 2024-01-01T00:00:00Z, a Monday


@dataclass
class FakeFire:
    """The async-invoke acceptance: records each call (wall time, function, qualifier,
    payload); raises the queued errors first."""

    clock: Callable[[], float]
    calls: list[tuple[float, str, str | None, bytes]] = field(default_factory=list)
    errors: list[ApiError] = field(default_factory=list)
    always: ApiError | None = None

    async def __call__(self, name: str, qualifier: str | None, payload: bytes) -> str:
        self.calls.append((self.clock(), name, qualifier, payload))
        if self.errors:
            raise self.errors.pop(0)
        if self.always is not None:
            raise self.always
        return f"request-{len(self.calls)}"

    def times(self) -> list[float]:
        return [call[0] - EPOCH_S for call in self.calls]


@dataclass
class FakeQueues:
    """The SQS service's send_message: records messages; a queue not in `known` is missing."""

    known: set[str] = field(default_factory=lambda: {QUEUE_ARN})
    sent: list[tuple[str, str, dict[str, dict[str, str]]]] = field(default_factory=list)

    async def send_message(
        self, queue_arn: str, body: str, attributes: dict[str, dict[str, str]] | None = None
    ) -> str:
        if queue_arn not in self.known:
            raise ResourceNotFoundException("The specified queue does not exist.")
        self.sent.append((queue_arn, body, attributes or {}))
        return f"message-{len(self.sent)}"


class Clock:
    """Wall time = EPOCH_S + trio's time + `offset_s` (a restart "later" moves the offset)."""

    def __init__(self) -> None:
        self.offset_s = 0.0

    def __call__(self) -> float:
        return EPOCH_S + trio.current_time() + self.offset_s


@dataclass
class Harness:
    tmp_path: Path
    clock: Clock
    fire: FakeFire
    queues: FakeQueues
    seed: int = 7

    @asynccontextmanager
    async def open(self) -> AsyncIterator[ScheduleService]:
        async with open_schedules(
            self.tmp_path,
            region=REGION,
            fire=self.fire,
            dead_letters=self.queues,
            clock=self.clock,
            rng=random.Random(self.seed),
        ) as service:
            yield service


@pytest.fixture
def harness(tmp_path: Path) -> Harness:
    clock = Clock()
    return Harness(tmp_path, clock, FakeFire(clock), FakeQueues())


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Autojump only after 250 ms of real idleness: journal commits run in a thread (a few ms
    each, but an fsync on a busy host can take far longer), and a zero threshold would jump
    the clock to the timer's next deadline during them."""
    return trio.testing.MockClock(autojump_threshold=0.25)


def schedule_params(name: str, expression: str, **extra: object) -> dict[str, object]:
    """CreateSchedule's members for a schedule on FUNCTION_ARN."""
    target = {"Arn": FUNCTION_ARN, "RoleArn": ROLE, **dict(extra.pop("Target", {}))}  # type: ignore[call-overload]
    return {
        "Name": name,
        "ScheduleExpression": expression,
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": target,
        **extra,
    }
