"""`lambdalet top`'s view: figures read from /metrics text, rates and percentiles between two
readings, the busiest first, and a table that always fits the terminal."""

from __future__ import annotations

from datetime import datetime

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from engine.cli.top_view import frame, parse, rows, table
from engine.invoke.invoker import Reservation
from engine.metrics.functions import FunctionMetrics
from engine.runtime.environment import InvokeOutcome
from tests.unit.engine.events.helpers import config

HOST = """\
lambdalet_environments{function="busy",state="idle"} 2.0
lambdalet_environments{function="busy",state="busy"} 1.0
lambdalet_environments{function="quiet",state="frozen"} 3.0
lambdalet_concurrent_executions{function="busy"} 1.0
lambdalet_provisioned_environments{function="busy",qualifier="live"} 2.0
lambdalet_stems_ready 4.0
lambdalet_uids_available 4000.0
"""


def exposition(metrics: FunctionMetrics, extra: str = "") -> str:
    registry = CollectorRegistry()
    registry.register(metrics)
    return generate_latest(registry).decode() + extra


def invoke(
    metrics: FunctionMetrics, name: str, times: int, *, ms: float, failed: bool = False
) -> None:
    outcome = InvokeOutcome(
        payload=b"{}",
        function_error="Unhandled" if failed else None,
        error_type="ValueError" if failed else None,
        log_tail=b"",
        reusable=True,
        duration_ms=ms,
        max_memory_used_bytes=20 << 20,
    )
    reservation = Reservation(config=config(name), qualifier=None)
    for _ in range(times):
        metrics.series(name, "$LATEST").invoked(outcome, reservation, provisioned=False)


@pytest.fixture
def metrics() -> FunctionMetrics:
    return FunctionMetrics(exists=lambda name, qualifier: True)


def test_figures_are_read_per_function_and_host(metrics: FunctionMetrics) -> None:
    invoke(metrics, "busy", 4, ms=2)
    invoke(metrics, "busy", 1, ms=2, failed=True)
    metrics.series("quiet", "$LATEST").throttled()
    reading = parse(exposition(metrics, HOST))
    busy = reading.functions["busy"]
    assert (busy.invocations, busy.errors, busy.concurrency, busy.provisioned) == (5, 1, 1, 2)
    assert busy.environments == {"idle": 2, "busy": 1}
    assert busy.memory_used_bytes == 20 << 20 and busy.memory_size_bytes == 128 << 20
    assert reading.functions["quiet"].throttles == 1
    assert reading.environments == {"idle": 2, "busy": 1, "frozen": 3}
    assert (reading.stems_ready, reading.uids_available) == (4, 4000)


def test_rates_and_percentiles_cover_the_time_between_readings(metrics: FunctionMetrics) -> None:
    invoke(metrics, "busy", 100, ms=200)  # slow, before the first reading
    before = parse(exposition(metrics))
    invoke(metrics, "busy", 20, ms=0.7)  # fast, between the readings
    invoke(metrics, "other", 10, ms=0.7)
    invoke(metrics, "other", 5, ms=0.7, failed=True)
    (first, second) = rows(before, parse(exposition(metrics)), elapsed_s=2.0)
    assert first.function == "busy"  # 10 invokes/s before 7.5
    assert first.invocations_per_s == 10 and first.errors_per_s == 0
    assert first.invocations == 120
    # Only the 20 fast ones: 0.7 ms sits in the (0.5, 1] ms bucket.
    assert first.p50_s is not None and 0.0005 < first.p50_s <= 0.001
    assert first.p99_s is not None and first.p99_s <= 0.001
    assert second.function == "other" and second.invocations_per_s == 7.5
    assert second.errors_per_s == 2.5


def test_without_an_earlier_reading_rates_are_unknown(metrics: FunctionMetrics) -> None:
    invoke(metrics, "a", 3, ms=1)
    (row,) = rows(None, parse(exposition(metrics)), elapsed_s=1.0)
    assert row.invocations_per_s is None and row.invocations == 3
    assert row.p50_s is not None  # since the daemon started


@pytest.mark.parametrize("width", [40, 60, 80, 100, 160])
def test_the_table_fits_the_width(metrics: FunctionMetrics, width: int) -> None:
    invoke(metrics, "a-function-with-a-very-long-name-indeed-" + "x" * 40, 2, ms=1)
    invoke(metrics, "short", 1, ms=1)
    lines = table(rows(None, parse(exposition(metrics, HOST)), 1.0), width)
    assert all(len(line) <= width for line in lines)
    heading = lines[0].split()
    assert heading[0] == "FUNCTION" and "INV/S" in heading  # the rate is the last to go
    if width >= 112:  # every column, and the name its minimum
        assert heading[1:] == [
            "INV/S", "ERR/S", "THR/S", "INVOKES", "ERRORS", "P50(ms)", "P99(ms)", "CONC",
            "WARM", "FROZEN", "PROV", "MEM(MB)",
        ]  # fmt: skip
    long_row = next(line for line in lines if line.startswith("a-function"))
    assert "~" in long_row  # cut, and says so


def test_a_frame_has_the_summary_then_the_table(metrics: FunctionMetrics) -> None:
    invoke(metrics, "busy", 1, ms=1)
    now = parse(exposition(metrics, HOST))
    lines = frame(None, now, elapsed_s=1, at=datetime(2026, 1, 2, 3, 4, 5), interval_s=1, width=120)
    assert lines[0].startswith("lambdalet top  03:04:05  every 1 s")
    assert "environments 6 (busy 1, idle 2, frozen 3, initializing 0)" in lines[1]
    assert "stems ready 4" in lines[1] and "uids left 4000" in lines[1]
    assert lines[2] == "" and lines[3].startswith("FUNCTION")
    assert [line.split()[0] for line in lines[4:]] == ["busy", "quiet"]
    assert (
        len(frame(None, now, elapsed_s=1, at=datetime.now(), interval_s=1, width=80, height=5)) == 5
    )
