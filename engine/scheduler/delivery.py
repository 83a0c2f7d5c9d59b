"""One tick's delivery to its function: the payload, the retry policy, the dead letter. Pure.

What the function receives (Scheduler's API reference, ``Target.Input``): the schedule's
Input, or when it has none "a default notification" — an EventBridge-shaped event from
``aws.scheduler`` whose ``detail`` is the *string* ``"{}"`` (as recorded from AWS in
powertools-lambda-python's ``tests/events/eventBridgeSchedulerEvent.json``). In an Input, the
context attributes ``<aws.scheduler.schedule-arn>``, ``<aws.scheduler.scheduled-time>``,
``<aws.scheduler.execution-id>`` and ``<aws.scheduler.attempt-number>`` are replaced by their
values (managing-schedule-context-attributes.html); the rest is sent byte for byte.

Retries: "retry attempts with exponential backoff continue until either the maximum number of
attempts is made or until the duration of the MaximumEventAgeInSeconds is reached"
(RetryPolicy). AWS does not publish its backoff; here it doubles from 1 s up to 5 min (so 185
retries span about 15 h, inside the default day). An error the target reports as the
caller's (a 4xx other than 429: the function is gone, the payload is refused) is not retried.

The dead letter is the payload, with the message attributes EventBridge Scheduler documents
for its dead-letter events (configuring-schedule-dlq.html): ERROR_CODE, ERROR_MESSAGE,
EXECUTION_ID, EXHAUSTED_RETRY_CONDITION (only when a retry limit ended the delivery),
IS_PAYLOAD_TRUNCATED, RETRY_ATTEMPTS, SCHEDULED_TIME, SCHEDULE_ARN, TARGET_ARN, all Strings.
"""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import asdict, dataclass
from typing import Any, Final

from engine.model.arns import ACCOUNT_ID

MAX_BACKOFF_S: Final = 300.0
MAX_ERROR_MESSAGE_BYTES: Final = 1024


@dataclass(slots=True, kw_only=True)
class Delivery:
    """A tick on its way to the function; durable while it waits for a retry."""

    execution_id: str  # one per tick, the same on every attempt
    schedule_arn: str
    target_arn: str
    function: str
    qualifier: str | None
    input: str | None
    region: str
    scheduled_s: int  # the tick
    max_age_s: int
    max_retries: int
    dead_letter_arn: str | None
    retries: int = 0  # attempts made after the first
    next_at_s: float = 0.0
    error_code: str = ""
    error_message: str = ""

    def payload(self) -> bytes:
        """What this attempt sends to the function."""
        if self.input is None:
            return json.dumps(
                {
                    "version": "0",
                    "id": self.execution_id,
                    "detail-type": "Scheduled Event",
                    "source": "aws.scheduler",
                    "account": ACCOUNT_ID,
                    "time": scheduled_time(self.scheduled_s),
                    "region": self.region,
                    "resources": [self.schedule_arn],
                    "detail": "{}",
                }
            ).encode()
        text = self.input
        for name, value in (
            ("schedule-arn", self.schedule_arn),
            ("scheduled-time", scheduled_time(self.scheduled_s)),
            ("execution-id", self.execution_id),
            ("attempt-number", str(self.retries + 1)),
        ):
            text = text.replace(f"<aws.scheduler.{name}>", value)
        return text.encode()

    def document(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_document(cls, doc: dict[str, Any]) -> Delivery:
        return cls(**doc)


def scheduled_time(tick_s: int) -> str:
    return dt.datetime.fromtimestamp(tick_s, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def retryable(status: int) -> bool:
    """Whether a refusal with this HTTP status may pass if tried again."""
    return status == 429 or status >= 500


def backoff_s(retries: int) -> float:
    """The wait before retry number `retries` + 1."""
    return min(2.0**retries, MAX_BACKOFF_S)


def after_failure(delivery: Delivery, now_s: float) -> float | str:
    """When to try again, or which limit ends the delivery ("MaximumRetryAttempts",
    "MaximumEventAgeInSeconds")."""
    if delivery.retries >= delivery.max_retries:
        return "MaximumRetryAttempts"
    at = now_s + backoff_s(delivery.retries)
    if at - delivery.scheduled_s > delivery.max_age_s:
        return "MaximumEventAgeInSeconds"
    return at


def dead_letter_attributes(delivery: Delivery, exhausted: str | None) -> dict[str, dict[str, str]]:
    values = {
        "ERROR_CODE": delivery.error_code,
        "ERROR_MESSAGE": _cut(delivery.error_message, MAX_ERROR_MESSAGE_BYTES),
        "EXECUTION_ID": delivery.execution_id,
        "IS_PAYLOAD_TRUNCATED": "false",
        "RETRY_ATTEMPTS": str(delivery.retries),
        "SCHEDULED_TIME": scheduled_time(delivery.scheduled_s),
        "SCHEDULE_ARN": delivery.schedule_arn,
        "TARGET_ARN": delivery.target_arn,
    }
    if exhausted is not None:
        values["EXHAUSTED_RETRY_CONDITION"] = exhausted
    # SQS refuses an empty String attribute.
    return {k: {"DataType": "String", "StringValue": v} for k, v in sorted(values.items()) if v}


def _cut(text: str, max_bytes: int) -> str:
    raw = text.encode()
    return text if len(raw) <= max_bytes else raw[:max_bytes].decode(errors="ignore")
