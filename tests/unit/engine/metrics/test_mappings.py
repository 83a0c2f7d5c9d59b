"""Event source mappings' records by outcome and iterator age; a deleted mapping's series go."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from engine.metrics.mappings import MappingMetrics


def text(metrics: MappingMetrics) -> str:
    registry = CollectorRegistry()
    registry.register(metrics)
    return generate_latest(registry).decode()


def test_records_add_up_and_go_with_their_mapping() -> None:
    metrics = MappingMetrics()
    metrics.events("u1", "fn", "polled", 3)
    metrics.events("u1", "fn", "polled", 2)
    metrics.events("u2", "fn", "invoked", 1)
    metrics.iterator_age("u1", "fn", 1.5)
    out = text(metrics)
    assert 'lambdalet_esm_events_total{esm="u1",function="fn",outcome="polled"} 5.0' in out
    assert 'lambdalet_esm_iterator_age_seconds{esm="u1",function="fn"} 1.5' in out
    metrics.forget("u1")
    out = text(metrics)
    assert 'esm="u1"' not in out
    assert 'lambdalet_esm_events_total{esm="u2",function="fn",outcome="invoked"} 1.0' in out
