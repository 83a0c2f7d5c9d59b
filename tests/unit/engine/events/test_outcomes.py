"""How an ended event is handed on: the OnSuccess or OnFailure destination (a queue or a
function), the dead-letter queue of the version that ran, and the counters."""

from __future__ import annotations

import json

import pytest

from engine.errors import ResourceNotFoundException
from engine.events import policy
from engine.events.counters import AsyncCounters
from engine.events.outcomes import Outcomes, split_function_arn
from engine.events.record import LastResponse
from engine.events.store import Event
from engine.model.arns import ACCOUNT_ID, function_arn
from engine.model.event_invoke import AsyncSettings
from tests.unit.engine.events.helpers import (
    DEAD_LETTERS,
    ON_FAILURE,
    ON_SUCCESS,
    REGION,
    WITH_DESTINATIONS,
    FakeFunctions,
    FakeQueues,
)

NOW_S = 1_700_000_000.25
PAYLOAD = b'{"order": 42}'
OLD_DEAD_LETTERS = f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:old-dead-letters"
ERROR = LastResponse(
    payload=b'{"errorMessage": "asked to fail", "errorType": "ValueError"}',
    function_error="Unhandled",
    executed_version="2",
)
OK = LastResponse(payload=b'{"ok": true}', function_error=None, executed_version="$LATEST")


class Accepted:
    """A stand-in for the event queue's `accept` (Lambda destinations)."""

    def __init__(self, *, refuse: bool = False) -> None:
        self.events: list[tuple[str, str | None, bytes]] = []
        self.refuse = refuse

    async def __call__(self, name: str, qualifier: str | None, payload: bytes) -> str:
        if self.refuse:
            raise ResourceNotFoundException(f"Function not found: {name}")
        self.events.append((name, qualifier, payload))
        return "destination-request-id"


def make(functions: FakeFunctions | None = None) -> tuple[Outcomes, FakeQueues, AsyncCounters]:
    queues = FakeQueues()
    counters = AsyncCounters()
    outcomes = Outcomes(
        functions=functions or FakeFunctions(),
        counters=counters,
        region=REGION,
        queues=queues,
        clock_s=lambda: NOW_S,
    )
    return outcomes, queues, counters


def versions() -> FakeFunctions:
    """fn's $LATEST and version 2 have different dead-letter queues (DLQs go with versions)."""
    functions = FakeFunctions()
    functions.add("fn", dead_letter_arn=DEAD_LETTERS)
    functions.add("fn", version="2", dead_letter_arn=OLD_DEAD_LETTERS)
    return functions


def event(qualifier: str | None = None, attempts: int = 1) -> Event:
    return Event(
        request_id="req-1",
        function="fn",
        qualifier=qualifier,
        payload=PAYLOAD,
        received_ms=0,
        due_ms=0,
        attempts=attempts,
    )


async def test_a_success_goes_to_the_success_destination_only() -> None:
    outcomes, queues, counters = make(versions())
    await outcomes.ended(event(), policy.SUCCESS, OK, WITH_DESTINATIONS)
    [message] = queues.sent
    assert message.queue_arn == ON_SUCCESS and message.attributes is None
    assert message.record["timestamp"] == "2023-11-14T22:13:20.250Z"
    assert message.record["requestContext"] == {
        "requestId": "req-1",
        "functionArn": function_arn(REGION, "fn", "$LATEST"),
        "condition": "Success",
        "approximateInvokeCount": 1,
    }
    assert counters.succeeded == 1 and not counters.dropped


async def test_a_failure_goes_to_on_failure_and_to_the_run_version_s_dead_letters() -> None:
    outcomes, queues, counters = make(versions())
    # invoked through an alias ("live", unknown to the fake functions) that ran version 2
    await outcomes.ended(
        event("live", attempts=3), policy.RETRIES_EXHAUSTED, ERROR, WITH_DESTINATIONS
    )
    failure, dead = queues.sent
    assert failure.queue_arn == ON_FAILURE
    assert failure.record["requestContext"]["functionArn"] == function_arn(REGION, "fn", "live")
    assert failure.record["responseContext"]["executedVersion"] == "2"
    assert failure.record["requestContext"]["approximateInvokeCount"] == 3
    assert dead.queue_arn == OLD_DEAD_LETTERS  # version 2's, not $LATEST's
    assert dead.body == PAYLOAD.decode()
    assert dead.attributes == {
        "RequestID": {"DataType": "String", "StringValue": "req-1"},
        "ErrorCode": {"DataType": "Number", "StringValue": "200"},
        "ErrorMessage": {"DataType": "String", "StringValue": "asked to fail"},
    }
    assert counters.dropped == {"RetriesExhausted": 1} and counters.succeeded == 0


async def test_an_event_that_never_ran_goes_to_the_dead_letter_queue_its_qualifier_names() -> None:
    outcomes, queues, _ = make(versions())
    await outcomes.ended(event(None, attempts=0), policy.EVENT_AGE_EXCEEDED, None, AsyncSettings())
    [dead] = queues.sent
    assert dead.queue_arn == DEAD_LETTERS
    assert dead.attributes is not None
    assert dead.attributes["ErrorMessage"]["StringValue"] == "EventAgeExceeded"


async def test_without_targets_an_ended_event_is_only_counted() -> None:
    functions = FakeFunctions()
    functions.add("fn")
    outcomes, queues, counters = make(functions)
    await outcomes.ended(event(), policy.SUCCESS, OK, AsyncSettings())
    await outcomes.ended(event(), policy.RETRIES_EXHAUSTED, ERROR, AsyncSettings())
    assert queues.sent == []
    assert counters.succeeded == 1 and counters.dropped == {"RetriesExhausted": 1}


async def test_failed_sends_are_counted_and_the_event_still_ends() -> None:
    outcomes, queues, counters = make(versions())
    queues.missing = {ON_FAILURE, DEAD_LETTERS}
    await outcomes.ended(event(), policy.EVENT_AGE_EXCEEDED, None, WITH_DESTINATIONS)
    assert queues.sent == []
    assert counters.destination_delivery_failures == 1
    assert counters.dead_letter_errors == 1
    assert counters.dropped == {"EventAgeExceeded": 1}


@pytest.mark.parametrize(
    "target",
    [
        f"arn:aws:sns:{REGION}:{ACCOUNT_ID}:topic",  # no SNS here
        f"arn:aws:events:{REGION}:{ACCOUNT_ID}:event-bus/default",
    ],
)
async def test_a_destination_of_a_service_lambdalet_lacks_counts_as_a_delivery_failure(
    target: str,
) -> None:
    outcomes, queues, counters = make(versions())
    await outcomes.ended(event(), policy.SUCCESS, OK, AsyncSettings(on_success=target))
    assert queues.sent == [] and counters.destination_delivery_failures == 1


async def test_a_function_destination_is_invoked_asynchronously_with_the_record() -> None:
    outcomes, _, counters = make(versions())
    accepted = Accepted()
    outcomes.accept = accepted
    target = function_arn(REGION, "audit", "live")
    await outcomes.ended(event(), policy.SUCCESS, OK, AsyncSettings(on_success=target))
    [(name, qualifier, payload)] = accepted.events
    assert (name, qualifier) == ("audit", "live")
    record = json.loads(payload)
    assert record["requestContext"]["condition"] == "Success"
    assert record["responsePayload"] == {"ok": True}
    assert counters.destination_delivery_failures == 0


async def test_a_missing_function_destination_counts_as_a_delivery_failure() -> None:
    outcomes, _, counters = make(versions())
    outcomes.accept = Accepted(refuse=True)
    target = function_arn(REGION, "gone", None)
    await outcomes.ended(event(), policy.RETRIES_EXHAUSTED, ERROR, AsyncSettings(on_failure=target))
    assert counters.destination_delivery_failures == 1


async def test_a_dropped_event_is_counted_by_reason_and_sent_nowhere() -> None:
    outcomes, queues, counters = make(versions())
    await outcomes.dropped(event(), "FunctionNotFound")
    assert counters.dropped == {"FunctionNotFound": 1} and queues.sent == []


@pytest.mark.parametrize(
    ("arn", "expected"),
    [
        (f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:f", ("f", None)),
        (f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:f:$LATEST", ("f", "$LATEST")),
        (f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:function:f:live", ("f", "live")),
        (f"arn:aws:sqs:{REGION}:{ACCOUNT_ID}:q", None),
        (f"arn:aws:lambda:{REGION}:{ACCOUNT_ID}:layer:l:1", None),
    ],
)
def test_split_function_arn(arn: str, expected: tuple[str, str | None] | None) -> None:
    assert split_function_arn(arn) == expected
