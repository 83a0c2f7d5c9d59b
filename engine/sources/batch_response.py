"""What a function's answer says about its batch, when its mapping reports batch item failures.

Pure. Lambda's rules (Developer Guide, "Handling errors for an SQS event source" and the
Kinesis counterpart), for a function whose mapping has
``FunctionResponseTypes: ["ReportBatchItemFailures"]``:

- complete success: an empty or null answer, or ``batchItemFailures`` empty or null (an
  answer that is JSON but not an object carries no list either: success);
- complete failure: an answer that is not JSON, ``batchItemFailures`` that is not a list, an
  entry without ``itemIdentifier`` (a bad key name), an empty or null identifier, or one that
  names no record of the batch;
- otherwise the named records failed and the others succeeded.

Identifiers are SQS message ids, or Kinesis sequence numbers.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True)
class AllSucceeded:
    pass


@dataclass(frozen=True, slots=True)
class SomeFailed:
    ids: tuple[str, ...]  # in the order the function named them, without repeats


@dataclass(frozen=True, slots=True)
class AllFailed:
    reason: str


Verdict = AllSucceeded | SomeFailed | AllFailed


def judge(payload: bytes, batch_ids: Collection[str]) -> Verdict:
    """The verdict on a batch whose invocation returned `payload` without a function error."""
    if not payload.strip():
        return AllSucceeded()
    try:
        answer: Any = json.loads(payload)
    except ValueError:
        return AllFailed("the function's answer is not JSON")
    if not isinstance(answer, dict):
        return AllSucceeded()
    failures = answer.get("batchItemFailures")
    if failures is None:
        return AllSucceeded()
    if not isinstance(failures, list):
        return AllFailed("batchItemFailures is not a list")
    ids: list[str] = []
    for entry in failures:
        if not isinstance(entry, dict) or "itemIdentifier" not in entry:
            return AllFailed("a batchItemFailures entry has no itemIdentifier")
        identifier = entry["itemIdentifier"]
        if not isinstance(identifier, str) or not identifier:
            return AllFailed("an itemIdentifier is empty or null")
        if identifier not in batch_ids:
            return AllFailed(f"itemIdentifier {identifier!r} is not in the batch")
        if identifier not in ids:
            ids.append(identifier)
    return SomeFailed(tuple(ids)) if ids else AllSucceeded()
