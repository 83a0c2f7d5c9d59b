"""What destinations and dead-letter queues receive (pure).

A destination gets Lambda's *invocation record* (JSON): the original request, what the last
attempt answered, and why the event ended. A dead-letter queue gets the original event
unchanged, with three message attributes. Formats: AWS Lambda Developer Guide,
"Capturing records of Lambda asynchronous invocations" and "Dead-letter queues".
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

ERROR_MESSAGE_LIMIT: Final = 1024  # a DLQ's ErrorMessage attribute: the first 1 KB (of UTF-8)


@dataclass(frozen=True, slots=True, kw_only=True)
class LastResponse:
    """What the last attempt that ran answered."""

    payload: bytes
    function_error: str | None
    executed_version: str


def _json_or_text(raw: bytes) -> Any:
    if not raw.strip():
        return None
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode("utf-8", "replace")


def invocation_record(
    *,
    request_id: str,
    function_arn: str,
    condition: str,
    attempts: int,
    request_payload: bytes,
    response: LastResponse | None,
    now_s: float,
) -> str:
    """The record a destination receives; `function_arn` is qualified as invoked. Without a
    response (no attempt ran: the event aged out in the queue, or reserved concurrency is 0)
    the response fields are left out, as Lambda leaves them out."""
    stamp = datetime.fromtimestamp(now_s, UTC).isoformat(timespec="milliseconds")
    record: dict[str, Any] = {
        "version": "1.0",
        "timestamp": stamp.replace("+00:00", "Z"),
        "requestContext": {
            "requestId": request_id,
            "functionArn": function_arn,
            "condition": condition,
            "approximateInvokeCount": attempts,
        },
        "requestPayload": _json_or_text(request_payload),
    }
    if response is not None:
        context: dict[str, Any] = {"statusCode": 200, "executedVersion": response.executed_version}
        if response.function_error:
            context["functionError"] = response.function_error
        record["responseContext"] = context
        record["responsePayload"] = _json_or_text(response.payload)
    return json.dumps(record, separators=(",", ":"))


def _first_kilobyte(text: str) -> str:
    """The longest prefix of `text` that fits in ERROR_MESSAGE_LIMIT bytes of UTF-8 (a
    character is never cut in half; a lone surrogate, which UTF-8 cannot carry, becomes "?")."""
    return text.encode("utf-8", "replace")[:ERROR_MESSAGE_LIMIT].decode("utf-8", "ignore")


def error_message(response: LastResponse | None, condition: str) -> str:
    """The ErrorMessage a dead-letter queue's message carries: the function's error message,
    or why no attempt ran."""
    if response is not None:
        document = _json_or_text(response.payload)
        if isinstance(document, dict) and isinstance(document.get("errorMessage"), str):
            return _first_kilobyte(str(document["errorMessage"]))
    return condition


def dead_letter_attributes(
    request_id: str, response: LastResponse | None, condition: str
) -> dict[str, dict[str, str]]:
    """The message attributes of a dead-letter message (SQS's JSON shape)."""
    return {
        "RequestID": {"DataType": "String", "StringValue": request_id},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {
            "DataType": "String",
            "StringValue": error_message(response, condition),
        },
    }
