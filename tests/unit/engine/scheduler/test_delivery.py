"""A tick's payload, its retry decisions and its dead-letter attributes (pure)."""

from __future__ import annotations

import json

import pytest

from engine.scheduler.delivery import (
    Delivery,
    after_failure,
    backoff_s,
    dead_letter_attributes,
    retryable,
)

TICK = 1_704_067_200  # 2024-01-01T00:00:00Z


def delivery(**changes: object) -> Delivery:
    fields: dict[str, object] = {
        "execution_id": "e-1",
        "schedule_arn": "arn:aws:scheduler:us-east-1:000000000000:schedule/default/s",
        "target_arn": "arn:aws:lambda:us-east-1:000000000000:function:fn",
        "function": "fn",
        "qualifier": None,
        "input": None,
        "region": "us-east-1",
        "scheduled_s": TICK,
        "max_age_s": 86_400,
        "max_retries": 185,
        "dead_letter_arn": None,
        **changes,
    }
    return Delivery(**fields)  # type: ignore[arg-type]


def test_context_attributes_are_replaced_and_the_rest_kept_byte_for_byte() -> None:
    text = (
        '{"arn":"<aws.scheduler.schedule-arn>","t":"<aws.scheduler.scheduled-time>",'
        '"id":"<aws.scheduler.execution-id>","n":<aws.scheduler.attempt-number>, "x": 1.0 }'
    )
    payload = delivery(input=text, retries=2).payload()
    assert payload == (
        b'{"arn":"arn:aws:scheduler:us-east-1:000000000000:schedule/default/s",'
        b'"t":"2024-01-01T00:00:00Z","id":"e-1","n":3, "x": 1.0 }'
    )
    assert delivery(input="not json at all").payload() == b"not json at all"


def test_the_default_notification() -> None:
    assert json.loads(delivery().payload()) == {
        "version": "0",
        "id": "e-1",
        "detail-type": "Scheduled Event",
        "source": "aws.scheduler",
        "account": "000000000000",
        "time": "2024-01-01T00:00:00Z",
        "region": "us-east-1",
        "resources": ["arn:aws:scheduler:us-east-1:000000000000:schedule/default/s"],
        "detail": "{}",
    }


@pytest.mark.parametrize(
    ("status", "expected"), [(400, False), (404, False), (429, True), (500, True), (502, True)]
)
def test_which_refusals_are_retried(status: int, expected: bool) -> None:
    assert retryable(status) is expected


def test_backoff_doubles_up_to_five_minutes() -> None:
    assert [backoff_s(n) for n in range(10)] == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300]


def test_retry_limits() -> None:
    assert after_failure(delivery(max_retries=0), TICK) == "MaximumRetryAttempts"
    assert after_failure(delivery(retries=3, max_retries=3), TICK + 10) == "MaximumRetryAttempts"
    assert after_failure(delivery(retries=2, max_retries=3), TICK + 10) == TICK + 14
    assert after_failure(delivery(max_age_s=60), TICK + 59.5) == "MaximumEventAgeInSeconds"
    assert after_failure(delivery(max_age_s=60), TICK + 59) == TICK + 60


def test_dead_letter_attributes() -> None:
    d = delivery(error_code="TooManyRequestsException", error_message="é" * 600, retries=4)
    attributes = dead_letter_attributes(d, "MaximumEventAgeInSeconds")
    assert list(attributes) == sorted(attributes)
    assert len(attributes["ERROR_MESSAGE"]["StringValue"].encode()) == 1024
    assert attributes["RETRY_ATTEMPTS"] == {"DataType": "String", "StringValue": "4"}
    assert "EXHAUSTED_RETRY_CONDITION" not in dead_letter_attributes(d, None)
