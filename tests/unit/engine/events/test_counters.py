"""The async-invocation counters as the daemon publishes them."""

from __future__ import annotations

from engine.events import policy
from engine.events.counters import DEAD_LETTER, DESTINATION, AsyncCounters


def test_fresh_counters_are_all_zero() -> None:
    assert AsyncCounters().as_json(backlog=0, in_flight=0) == {
        "AsyncEventsReceived": 0,
        "AsyncEventsSucceeded": 0,
        "AsyncEventsDropped": 0,
        "AsyncEventsDroppedByReason": {},
        "DeadLetterErrors": 0,
        "DestinationDeliveryFailures": 0,
        "AsyncEventsRedelivered": 0,
        "AsyncEventAge": {"Count": 0, "SumMs": 0, "MaxMs": 0},
        "Backlog": 0,
        "InFlight": 0,
    }


def test_counters_add_up_drops_by_reason_and_event_ages() -> None:
    counters = AsyncCounters(received=5, succeeded=1, redelivered=1)
    counters.dropped[policy.RETRIES_EXHAUSTED] += 2
    counters.dropped[policy.EVENT_AGE_EXCEEDED] += 1
    counters.dead_letter_errors += 1
    counters.destination_delivery_failures += 3
    for age_ms in (120, 0, 60_000, 45):
        counters.observe_age(age_ms, "fn", None)
    published = counters.as_json(backlog=7, in_flight=2)
    assert published["AsyncEventsReceived"] == 5
    assert published["AsyncEventsSucceeded"] == 1
    assert published["AsyncEventsDropped"] == 3
    assert published["AsyncEventsDroppedByReason"] == {"RetriesExhausted": 2, "EventAgeExceeded": 1}
    assert published["DeadLetterErrors"] == 1
    assert published["DestinationDeliveryFailures"] == 3
    assert published["AsyncEventsRedelivered"] == 1
    assert published["AsyncEventAge"] == {"Count": 4, "SumMs": 60_165, "MaxMs": 60_000}
    assert (published["Backlog"], published["InFlight"]) == (7, 2)


def test_the_published_drops_are_a_copy() -> None:
    counters = AsyncCounters()
    counters.dropped[policy.RETRIES_EXHAUSTED] += 1
    published = counters.as_json(backlog=0, in_flight=0)
    counters.dropped[policy.RETRIES_EXHAUSTED] += 1
    assert published["AsyncEventsDroppedByReason"] == {"RetriesExhausted": 1}


class Recorder:
    def __init__(self) -> None:
        self.calls: list[tuple[object, ...]] = []

    def received(self, function: str, qualifier: str | None) -> None:
        self.calls.append(("received", function, qualifier))

    def attempted(self, function: str, qualifier: str | None, age_s: float) -> None:
        self.calls.append(("attempted", function, qualifier, age_s))

    def ended(self, function: str, qualifier: str | None, condition: str) -> None:
        self.calls.append(("ended", function, qualifier, condition))

    def delivery_failed(self, function: str, qualifier: str | None, target: str) -> None:
        self.calls.append(("delivery_failed", function, qualifier, target))


def test_an_observer_hears_each_count_with_its_function() -> None:
    recorder = Recorder()
    counters = AsyncCounters(observer=recorder)
    counters.count_received("fn", "live")
    counters.observe_age(1500, "fn", "live")
    counters.count_end("fn", "live", policy.SUCCESS)
    counters.count_end("fn", None, policy.RETRIES_EXHAUSTED)
    counters.count_delivery_failure("fn", None, DEAD_LETTER)
    counters.count_delivery_failure("fn", None, DESTINATION)
    assert recorder.calls == [
        ("received", "fn", "live"),
        ("attempted", "fn", "live", 1.5),
        ("ended", "fn", "live", "Success"),
        ("ended", "fn", None, "RetriesExhausted"),
        ("delivery_failed", "fn", None, "dead-letter"),
        ("delivery_failed", "fn", None, "destination"),
    ]
    body = counters.as_json(backlog=0, in_flight=0)  # the account-wide counts as before
    assert body["AsyncEventsReceived"] == 1 and body["AsyncEventsSucceeded"] == 1
    assert body["AsyncEventsDroppedByReason"] == {"RetriesExhausted": 1}
    assert body["DeadLetterErrors"] == 1 and body["DestinationDeliveryFailures"] == 1
