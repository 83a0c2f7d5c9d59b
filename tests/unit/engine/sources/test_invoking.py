"""What a poller learns from one invoke: the function's verdict on the batch, whether it was
throttled, and whether it ran at all."""

from __future__ import annotations

import json

from engine.sources.batch_response import AllFailed, AllSucceeded, SomeFailed
from engine.sources.invoking import Attempt, attempt
from tests.unit.engine.sources.helpers import (
    Answer,
    FakeInvoker,
    error,
    missing,
    ok,
    throttled,
)

EVENT = {"Records": [{"messageId": "m1"}, {"messageId": "m2"}]}
NAMES_M2 = ok(b'{"batchItemFailures": [{"itemIdentifier": "m2"}]}')


async def run(answer: Answer, *, report_failures: bool) -> tuple[FakeInvoker, Attempt]:
    invoker = FakeInvoker()
    invoker.script(answer)
    outcome = await attempt(
        invoker,
        function="fn",
        qualifier="live",
        event=EVENT,
        batch_ids=("m1", "m2"),
        report_failures=report_failures,
    )
    return invoker, outcome


async def test_the_event_is_sent_to_the_mappings_function_as_json() -> None:
    invoker, _ = await run(ok(), report_failures=False)
    (call,) = invoker.calls
    assert (call.function, call.qualifier, call.event) == ("fn", "live", EVENT)
    assert call.size == len(json.dumps(EVENT, separators=(",", ":")))


async def test_a_success_is_read_for_item_failures_only_when_the_mapping_asks() -> None:
    _, plain = await run(NAMES_M2, report_failures=False)
    _, reported = await run(NAMES_M2, report_failures=True)
    assert plain.verdict == AllSucceeded()
    assert reported.verdict == SomeFailed(("m2",))
    assert reported.result is not None and not reported.throttled


async def test_a_function_error_fails_the_batch_whatever_the_payload() -> None:
    _, outcome = await run(error(), report_failures=True)
    assert outcome.verdict == AllFailed("function error")
    assert outcome.result is not None  # the function ran
    assert outcome.result.outcome.function_error == "Unhandled"
    assert not outcome.throttled


async def test_a_throttle_fails_the_batch_as_throttled_without_a_result() -> None:
    _, outcome = await run(throttled(), report_failures=True)
    assert outcome.verdict == AllFailed("throttled")
    assert outcome.throttled and outcome.result is None


async def test_an_invoke_the_engine_refused_fails_the_batch_with_its_message() -> None:
    _, outcome = await run(missing(), report_failures=False)
    assert outcome.verdict == AllFailed("Function not found: fn")
    assert not outcome.throttled and outcome.result is None
