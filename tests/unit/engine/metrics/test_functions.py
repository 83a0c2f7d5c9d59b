"""Per-function series: what an invoke, a throttle and an async event count, the error types
kept apart, cardinality (series only for what exists, gone with a delete), and the families a
scrape reads."""

from __future__ import annotations

import dataclasses

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from engine.invoke.invoker import EVENT, Reservation
from engine.metrics.functions import FunctionMetrics
from engine.runtime.environment import InvokeOutcome
from tests.unit.engine.events.helpers import config

OUTCOME = InvokeOutcome(
    payload=b"{}",
    function_error=None,
    log_tail=b"",
    reusable=True,
    duration_ms=2.0,
    max_memory_used_bytes=5 << 20,
)


def scrape(metrics: FunctionMetrics) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    registry = CollectorRegistry()
    registry.register(metrics)
    text = generate_latest(registry).decode()
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def made(existing: set[tuple[str, str]]) -> FunctionMetrics:
    return FunctionMetrics(exists=lambda name, qualifier: (name, qualifier) in existing)


def test_an_invoke_counts_its_type_duration_init_and_memory() -> None:
    metrics = made({("fn", "$LATEST")})
    sync = Reservation(config=config("fn"), qualifier=None)
    series = metrics.series("fn", "$LATEST")
    series.invoked(dataclasses.replace(OUTCOME, init_duration_ms=30.0), sync, provisioned=False)
    series.invoked(OUTCOME, dataclasses.replace(sync, invocation_type=EVENT), provisioned=True)
    series.throttled()
    m = scrape(metrics)
    fq = {("function", "fn"), ("qualifier", "$LATEST")}

    def at(name: str, *more: tuple[str, str]) -> float:
        return m[(name, frozenset(fq | set(more)))]

    assert at("lambdalet_invocations_total", ("invocation_type", "RequestResponse")) == 1
    assert at("lambdalet_invocations_total", ("invocation_type", "Event")) == 1
    assert at("lambdalet_throttles_total") == 1
    assert at("lambdalet_provisioned_concurrency_invocations_total") == 1
    assert at("lambdalet_duration_seconds_count") == 2
    assert at("lambdalet_duration_seconds_sum") == 0.004
    assert at("lambdalet_duration_seconds_bucket", ("le", "0.0025")) == 2
    assert at("lambdalet_duration_seconds_bucket", ("le", "0.001")) == 0
    assert at("lambdalet_init_duration_seconds_count") == 1
    assert at("lambdalet_max_memory_used_bytes") == 5 << 20
    assert at("lambdalet_memory_size_bytes") == 128 << 20
    assert not [k for k in m if k[0] == "lambdalet_errors_total"]
    assert not [k for k in m if k[0].startswith("lambdalet_async")]  # no async activity


def test_errors_by_type_a_functions_own_exceptions_are_unhandled() -> None:
    metrics = made({("fn", "$LATEST")})
    sync = Reservation(config=config("fn"), qualifier=None)
    series = metrics.series("fn", "$LATEST")
    for error_type in ("ValueError", "MyOwnError", "Sandbox.Timedout", "Runtime.OutOfMemory"):
        failed = dataclasses.replace(OUTCOME, function_error="Unhandled", error_type=error_type)
        series.invoked(failed, sync, provisioned=False)
    errors = {
        dict(k[1])["error_type"]: v
        for k, v in scrape(metrics).items()
        if k[0].endswith("errors_total")
    }
    assert errors == {"Unhandled": 2, "Sandbox.Timedout": 1, "Runtime.OutOfMemory": 1}


def test_series_exist_only_for_what_exists_and_go_with_a_delete() -> None:
    existing = {("fn", "$LATEST"), ("fn", "1"), ("fn", "live"), ("other", "$LATEST")}
    metrics = made(existing)
    for name, qualifier in existing:
        metrics.series(name, qualifier).throttled()
    metrics.series("ghost", "$LATEST").throttled()  # counted nowhere
    assert metrics.series("fn", "1") is metrics.series("fn", "1")  # looked up, not made again

    def seen() -> set[tuple[str, str]]:
        return {
            (dict(k[1])["function"], dict(k[1])["qualifier"])
            for k in scrape(metrics)
            if k[0] == "lambdalet_throttles_total"
        }

    assert seen() == existing
    metrics.forget("fn", "1")
    assert seen() == existing - {("fn", "1")}
    held = metrics.series("fn", "live")
    metrics.forget("fn", None)
    assert seen() == {("other", "$LATEST")}
    held.throttled()  # an invoke that was under way when its function went: counted nowhere
    assert seen() == {("other", "$LATEST")}


def test_async_events_per_function() -> None:
    metrics = made({("fn", "$LATEST"), ("fn", "live")})
    metrics.received("fn", None)
    metrics.received("fn", "live")
    metrics.attempted("fn", None, 0.2)
    metrics.ended("fn", None, "Success")
    metrics.ended("fn", "live", "RetriesExhausted")
    metrics.delivery_failed("fn", "live", "dead-letter")
    metrics.delivery_failed("fn", "live", "destination")
    m = scrape(metrics)
    latest = frozenset({("function", "fn"), ("qualifier", "$LATEST")})
    live = frozenset({("function", "fn"), ("qualifier", "live")})
    assert m[("lambdalet_async_events_received_total", latest)] == 1
    assert m[("lambdalet_async_event_age_seconds_count", latest)] == 1
    assert m[("lambdalet_async_event_age_seconds_bucket", latest | {("le", "0.25")})] == 1
    assert m[("lambdalet_async_events_dropped_total", live | {("reason", "RetriesExhausted")})] == 1
    assert not [k for k in m if k[0] == "lambdalet_async_events_dropped_total" and k[1] >= latest]
    assert m[("lambdalet_dead_letter_errors_total", live)] == 1
    assert m[("lambdalet_destination_delivery_failures_total", live)] == 1
    assert m[("lambdalet_dead_letter_errors_total", latest)] == 0
