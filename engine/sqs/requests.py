"""Reading an SQS request's members past the model's types: SQS's ranges, batches. Pure."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final

from engine.shapes.json_input import problems
from engine.shapes.model import ServiceModel
from engine.sqs.errors import (
    BatchEntryIdsNotDistinct,
    EmptyBatchRequest,
    InvalidBatchEntryId,
    MissingParameter,
    SerializationException,
    TooManyEntriesInBatchRequest,
    invalid_value,
)

MAX_BATCH: Final = 10
_ENTRY_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,80}")


def check_input(model: ServiceModel, shape_name: str, body: Mapping[str, Any]) -> None:
    """The protocol's checks from the model: the first member missing or of the wrong type."""
    found = problems(model, shape_name, body)
    if not found:
        return
    first = found[0]
    if first.kind == "missing":
        raise MissingParameter(f"The request must contain the parameter {first.path}.")
    raise SerializationException(
        f"Value of {first.path} cannot be read as a JSON {first.expected}."
    )


def optional_int(
    body: Mapping[str, Any], name: str, low: int, high: int, reason: str
) -> int | None:
    value = body.get(name)
    if value is None:
        return None
    if not low <= value <= high:
        raise invalid_value(name, value, reason)
    assert isinstance(value, int)
    return value


def batch_entries(body: Mapping[str, Any], entry_shape: str) -> list[dict[str, Any]]:
    """A batch's entries (its ``Entries``): 1 to 10, ids distinct, of AWS's form.
    `entry_shape` names an entry in AWS's message ("SendMessageBatchRequestEntry")."""
    entries: list[dict[str, Any]] = body.get("Entries") or []
    if not entries:
        raise EmptyBatchRequest(f"There should be at least one {entry_shape} in the request.")
    if len(entries) > MAX_BATCH:
        raise TooManyEntriesInBatchRequest(
            f"Maximum number of entries per request are {MAX_BATCH}. You have sent {len(entries)}."
        )
    seen: set[str] = set()
    for entry in entries:
        entry_id = entry["Id"]
        if _ENTRY_ID.fullmatch(entry_id) is None:
            raise InvalidBatchEntryId(
                "A batch entry id can only contain alphanumeric characters, hyphens and "
                "underscores. It can be at most 80 letters long."
            )
        if entry_id in seen:
            raise BatchEntryIdsNotDistinct(f"Id {entry_id} repeated.")
        seen.add(entry_id)
    return entries
