"""How an asynchronous event ends: counted, then handed to its destination and dead-letter queue.

Success → the OnSuccess destination. Any other end (retries exhausted, too old, reserved
concurrency 0) → the OnFailure destination *and* the function version's dead-letter queue,
and the event counts as dropped (Lambda counts AsyncEventsDropped after delivering to the
failure targets). A destination is a Lambda function (the record arrives as an asynchronous
invoke of it) or an SQS-compatible queue (the record is the message body); a dead-letter
queue receives the original event with Lambda's three attributes. A failed send is counted
(DestinationDeliveryFailures, DeadLetterErrors) and logged; the event still ends.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Protocol

from engine.control.functions import FunctionService
from engine.errors import ApiError
from engine.events import policy
from engine.events.counters import DEAD_LETTER, DESTINATION, AsyncCounters
from engine.events.record import LastResponse, dead_letter_attributes, invocation_record
from engine.events.store import Event
from engine.model.arns import function_arn
from engine.model.function import LATEST

logger = logging.getLogger(__name__)


class Settings(Protocol):
    """What applies to one asynchronous invoke (its qualifier's event invoke config)."""

    @property
    def max_retry_attempts(self) -> int: ...
    @property
    def max_event_age_s(self) -> int: ...
    @property
    def on_success(self) -> str | None: ...
    @property
    def on_failure(self) -> str | None: ...


class QueueSink(Protocol):
    """Where queue destinations are sent (the SQS-compatible service)."""

    async def send_message(
        self, queue_arn: str, body: str, attributes: dict[str, dict[str, str]] | None = None
    ) -> str: ...


Accept = Callable[[str, str | None, bytes], Awaitable[str]]


def split_function_arn(arn: str) -> tuple[str, str | None] | None:
    """`arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]` → (name, qualifier)."""
    parts = arn.split(":")
    if len(parts) not in (7, 8) or parts[2] != "lambda" or parts[5] != "function":
        return None
    return parts[6], (parts[7] if len(parts) == 8 else None)


class Outcomes:
    def __init__(
        self,
        *,
        functions: FunctionService,
        counters: AsyncCounters,
        region: str,
        queues: QueueSink | None,
        clock_s: Callable[[], float] = time.time,
    ) -> None:
        self._functions = functions
        self._counters = counters
        self._region = region
        self._queues = queues
        self._clock_s = clock_s
        self.accept: Accept | None = None  # the event queue's, for Lambda destinations

    async def ended(
        self, event: Event, condition: str, response: LastResponse | None, settings: Settings
    ) -> None:
        succeeded = condition == policy.SUCCESS
        self._counters.count_end(event.function, event.qualifier, condition)
        target = settings.on_success if succeeded else settings.on_failure
        if target:
            record = invocation_record(
                request_id=event.request_id,
                function_arn=function_arn(self._region, event.function, event.qualifier or LATEST),
                condition=condition,
                attempts=event.attempts,
                request_payload=event.payload or b"",
                response=response,
                now_s=self._clock_s(),
            )
            if not await self._send(target, record, None):
                self._counters.count_delivery_failure(event.function, event.qualifier, DESTINATION)
        if not succeeded:
            dead_letter = self._dead_letter_arn(event, response)
            if dead_letter:
                attributes = dead_letter_attributes(event.request_id, response, condition)
                body = (event.payload or b"").decode("utf-8", "replace")
                if not await self._send(dead_letter, body, attributes):
                    self._counters.count_delivery_failure(
                        event.function, event.qualifier, DEAD_LETTER
                    )

    async def dropped(self, event: Event, reason: str) -> None:
        """The event cannot be attempted at all (its function is gone): counted, not sent (and
        not per function: the function's series went with it)."""
        logger.info("async event %s of %s dropped: %s", event.request_id, event.function, reason)
        self._counters.dropped[reason] += 1

    def _dead_letter_arn(self, event: Event, response: LastResponse | None) -> str | None:
        """The DLQ of the version that ran (or that the qualifier names now)."""
        qualifier = response.executed_version if response is not None else event.qualifier
        try:
            config = self._functions.resolve(event.function, qualifier).config
        except ApiError:
            return None
        return config.dead_letter_arn

    async def _send(
        self, target: str, body: str, attributes: dict[str, dict[str, str]] | None
    ) -> bool:
        try:
            function = split_function_arn(target)
            if function is not None:
                if self.accept is None:
                    raise RuntimeError("no event queue to deliver to")
                await self.accept(function[0], function[1], body.encode())
            elif target.startswith("arn:aws:sqs:") and self._queues is not None:
                await self._queues.send_message(target, body, attributes)
            else:
                raise RuntimeError("lambdalet delivers only to Lambda functions and SQS queues")
        except (ApiError, RuntimeError) as exc:
            logger.warning("could not deliver to %s: %s", target, exc)
            return False
        return True
