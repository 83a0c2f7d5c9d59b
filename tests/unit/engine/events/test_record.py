"""What destinations and dead-letter queues receive: Lambda's invocation record and the three
message attributes of a dead-letter message."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.events import policy
from engine.events.record import (
    ERROR_MESSAGE_LIMIT,
    LastResponse,
    dead_letter_attributes,
    invocation_record,
)

REQUEST_ID = "c7a5a6a2-2a5e-4d4c-9c55-0a2b3f8a9e01"
ARN = "arn:aws:lambda:us-east-2:123456789012:function:my-function:$LATEST"
NOW_S = 1573755365.568  # 2019-11-14T18:16:05.568Z, the record AWS documents
ERROR_PAYLOAD = json.dumps(
    {
        "errorMessage": "asked to fail",
        "errorType": "ValueError",
        "requestId": REQUEST_ID,
        "stackTrace": ['  File "/var/task/app.py", line 3, in handler\n'],
    }
).encode()


def record(**overrides: Any) -> dict[str, Any]:
    arguments: dict[str, Any] = {
        "request_id": REQUEST_ID,
        "function_arn": ARN,
        "condition": policy.SUCCESS,
        "attempts": 1,
        "request_payload": b'{"order": 42}',
        "response": LastResponse(
            payload=b'{"ok": true}', function_error=None, executed_version="$LATEST"
        ),
        "now_s": NOW_S,
    }
    arguments.update(overrides)
    parsed: dict[str, Any] = json.loads(invocation_record(**arguments))
    return parsed


def test_the_record_of_a_success() -> None:
    assert record() == {
        "version": "1.0",
        "timestamp": "2019-11-14T18:16:05.568Z",
        "requestContext": {
            "requestId": REQUEST_ID,
            "functionArn": ARN,
            "condition": "Success",
            "approximateInvokeCount": 1,
        },
        "requestPayload": {"order": 42},
        "responseContext": {"statusCode": 200, "executedVersion": "$LATEST"},
        "responsePayload": {"ok": True},
    }


def test_the_record_of_exhausted_retries_carries_the_function_error() -> None:
    response = LastResponse(payload=ERROR_PAYLOAD, function_error="Unhandled", executed_version="3")
    got = record(
        condition=policy.RETRIES_EXHAUSTED,
        attempts=3,
        function_arn=ARN.replace("$LATEST", "live"),
        response=response,
    )
    assert got["requestContext"] == {
        "requestId": REQUEST_ID,
        "functionArn": "arn:aws:lambda:us-east-2:123456789012:function:my-function:live",
        "condition": "RetriesExhausted",
        "approximateInvokeCount": 3,
    }
    assert got["responseContext"] == {
        "statusCode": 200,
        "executedVersion": "3",
        "functionError": "Unhandled",
    }
    assert got["responsePayload"] == json.loads(ERROR_PAYLOAD)
    assert got["requestPayload"] == {"order": 42}


def test_the_record_of_an_event_that_aged_out_unattempted_has_no_response() -> None:
    got = record(condition=policy.EVENT_AGE_EXCEEDED, attempts=0, response=None)
    assert got["requestContext"]["condition"] == "EventAgeExceeded"
    assert got["requestContext"]["approximateInvokeCount"] == 0
    assert "responseContext" not in got and "responsePayload" not in got
    assert got["version"] == "1.0" and got["requestPayload"] == {"order": 42}


@pytest.mark.parametrize(
    ("now_s", "stamp"),
    [
        (1573755365.0, "2019-11-14T18:16:05.000Z"),
        (1573755365.0419, "2019-11-14T18:16:05.041Z"),
        (0.0, "1970-01-01T00:00:00.000Z"),
    ],
)
def test_the_timestamp_is_utc_with_milliseconds_and_a_z(now_s: float, stamp: str) -> None:
    assert record(now_s=now_s)["timestamp"] == stamp


@pytest.mark.parametrize(
    ("payload", "expected"),
    [
        (b"[1, 2, 3]", [1, 2, 3]),
        (b'"just a string"', "just a string"),
        (b"7", 7),
        (b"not json at all", "not json at all"),
    ],
)
def test_the_request_and_response_payloads_are_embedded_as_json_when_they_are(
    payload: bytes, expected: Any
) -> None:
    response = LastResponse(payload=payload, function_error=None, executed_version="$LATEST")
    got = record(request_payload=payload, response=response)
    assert got["requestPayload"] == expected
    assert got["responsePayload"] == expected


def test_a_function_that_returned_nothing_has_a_null_response_payload() -> None:
    response = LastResponse(payload=b"null", function_error=None, executed_version="$LATEST")
    got = record(response=response)
    assert "responsePayload" in got and got["responsePayload"] is None


def test_dead_letter_attributes_carry_the_request_id_and_the_function_error_message() -> None:
    response = LastResponse(payload=ERROR_PAYLOAD, function_error="Unhandled", executed_version="1")
    attributes = dead_letter_attributes(REQUEST_ID, response, policy.RETRIES_EXHAUSTED)
    assert attributes == {
        "RequestID": {"DataType": "String", "StringValue": REQUEST_ID},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "asked to fail"},
    }


@pytest.mark.parametrize("condition", [policy.EVENT_AGE_EXCEEDED, policy.ZERO_RESERVED_CONCURRENCY])
def test_without_a_function_error_the_dead_letter_message_says_why_the_event_ended(
    condition: str,
) -> None:
    attributes = dead_letter_attributes(REQUEST_ID, None, condition)
    assert attributes["ErrorMessage"]["StringValue"] == condition
    assert attributes["RequestID"]["StringValue"] == REQUEST_ID


def test_a_response_without_an_error_message_falls_back_to_the_condition() -> None:
    response = LastResponse(
        payload=b"Task timed out", function_error="Unhandled", executed_version="1"
    )
    attributes = dead_letter_attributes(REQUEST_ID, response, policy.RETRIES_EXHAUSTED)
    assert attributes["ErrorMessage"]["StringValue"] == "RetriesExhausted"


@pytest.mark.parametrize("character", ["x", "é", "€", "😀"])
def test_the_dead_letter_error_message_is_the_first_kilobyte(character: str) -> None:
    message = character * 2000
    payload = json.dumps({"errorMessage": message}, ensure_ascii=False).encode()
    response = LastResponse(payload=payload, function_error="Unhandled", executed_version="1")
    value = dead_letter_attributes(REQUEST_ID, response, policy.RETRIES_EXHAUSTED)["ErrorMessage"][
        "StringValue"
    ]
    encoded = value.encode()
    # at most 1 KB of UTF-8, cut on a character boundary, as long as it can be
    assert len(encoded) <= ERROR_MESSAGE_LIMIT
    assert len(encoded) > ERROR_MESSAGE_LIMIT - len(character.encode())
    assert message.startswith(value)


def test_an_error_message_with_a_lone_surrogate_still_makes_a_dead_letter_message() -> None:
    payload = b'{"errorMessage": "bad \\ud800 half"}'  # valid JSON, not encodable as UTF-8
    response = LastResponse(payload=payload, function_error="Unhandled", executed_version="1")
    value = dead_letter_attributes(REQUEST_ID, response, policy.RETRIES_EXHAUSTED)["ErrorMessage"][
        "StringValue"
    ]
    assert value == "bad ? half"
