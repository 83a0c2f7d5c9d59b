"""Lambda's rules for a ReportBatchItemFailures answer, one case each."""

from __future__ import annotations

import json

import pytest

from engine.sources.batch_response import AllFailed, AllSucceeded, SomeFailed, judge

BATCH = ("m1", "m2", "m3")


def answer(value: object) -> bytes:
    return json.dumps(value).encode()


@pytest.mark.parametrize(
    "payload",
    [
        b"",
        b"  ",
        answer(None),
        answer({}),
        answer({"batchItemFailures": []}),
        answer({"batchItemFailures": None}),
        answer("done"),  # JSON, but no list in it
        answer({"somethingElse": [{"itemIdentifier": "m1"}]}),
    ],
    ids=[
        "empty",
        "blank",
        "null",
        "empty object",
        "empty list",
        "null list",
        "a string",
        "other key",
    ],
)
def test_complete_success(payload: bytes) -> None:
    assert judge(payload, BATCH) == AllSucceeded()


@pytest.mark.parametrize(
    "payload",
    [
        b"{not json",
        answer({"batchItemFailures": "m1"}),
        answer({"batchItemFailures": [{"itemIdentifer": "m1"}]}),  # a bad key name
        answer({"batchItemFailures": [{"itemIdentifier": ""}]}),
        answer({"batchItemFailures": [{"itemIdentifier": None}]}),
        answer({"batchItemFailures": [{"itemIdentifier": "m9"}]}),  # not in the batch
        answer({"batchItemFailures": [{"itemIdentifier": "m1"}, {"itemIdentifier": "nope"}]}),
        answer({"batchItemFailures": ["m1"]}),
    ],
    ids=[
        "not json",
        "not a list",
        "bad key",
        "empty id",
        "null id",
        "unknown id",
        "one unknown",
        "bare id",
    ],
)
def test_complete_failure(payload: bytes) -> None:
    assert isinstance(judge(payload, BATCH), AllFailed)


def test_the_named_items_failed_in_the_order_named_without_repeats() -> None:
    payload = answer(
        {
            "batchItemFailures": [
                {"itemIdentifier": "m3"},
                {"itemIdentifier": "m1"},
                {"itemIdentifier": "m3"},
            ]
        }
    )
    assert judge(payload, BATCH) == SomeFailed(("m3", "m1"))
