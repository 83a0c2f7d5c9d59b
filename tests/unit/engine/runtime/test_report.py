"""Lambda's platform log lines."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engine.runtime.report import (
    Report,
    billed_ms,
    end_line,
    log_tail,
    memory_used_mb,
    start_line,
    timeout_line,
)


def test_start_and_end_lines() -> None:
    assert start_line("id-1", "$LATEST") == "START RequestId: id-1 Version: $LATEST\n"
    assert end_line("id-1") == "END RequestId: id-1\n"


def test_report_line_cold_start_has_init_duration_last() -> None:
    line = Report(
        request_id="id-1",
        duration_ms=12.344,
        memory_size_mb=128,
        max_memory_used_bytes=38 * 1024 * 1024 + 1,
        init_duration_ms=120.333,
    ).line()
    # Lambda bills init on a cold start (every runtime since August 2025): rounded up together
    assert line == (
        "REPORT RequestId: id-1\tDuration: 12.34 ms\tBilled Duration: 133 ms\t"
        "Memory Size: 128 MB\tMax Memory Used: 39 MB\tInit Duration: 120.33 ms\t\n"
    )


def test_billed_duration_includes_init_rounded_up_once() -> None:
    cold = Report(
        request_id="r",
        duration_ms=12.344,
        memory_size_mb=128,
        max_memory_used_bytes=0,
        init_duration_ms=120.333,
    )
    assert cold.billed_duration_ms == 133  # ceil(132.677), not 13 + 121
    assert cold.init_billed_ms == 120  # what init added to the 13 ms of the invoke alone
    warm = Report(request_id="r", duration_ms=0.2, memory_size_mb=128, max_memory_used_bytes=0)
    assert (warm.billed_duration_ms, warm.init_billed_ms) == (1, 0)


def test_report_line_after_a_snapstart_restore_has_restore_durations_instead_of_init() -> None:
    # As Lambda writes it for SnapStart ("... Max Memory Used: 155 MB\tRestore Duration:
    # 511.25 ms\tBilled Restore Duration: 303 ms\t", Billed Duration 610 for Duration 306.34).
    restored = Report(
        request_id="id-1",
        duration_ms=306.34,
        memory_size_mb=3009,
        max_memory_used_bytes=155 * 1024 * 1024,
        restore_duration_ms=511.254,
        restore_runtime_ms=302.2,
    )
    assert restored.line() == (
        "REPORT RequestId: id-1\tDuration: 306.34 ms\tBilled Duration: 610 ms\t"
        "Memory Size: 3009 MB\tMax Memory Used: 155 MB\t"
        "Restore Duration: 511.25 ms\tBilled Restore Duration: 303 ms\t\n"
    )
    assert restored.billed_restore_duration_ms == 303
    assert restored.billed_duration_ms == 610  # ceil(306.34 + 303), the restore's billed part
    assert restored.init_billed_ms == 610 - 307  # what the restore added to the invoke alone


def test_a_restore_without_a_runtime_part_bills_all_of_it() -> None:
    r = Report(
        request_id="r",
        duration_ms=1.5,
        memory_size_mb=128,
        max_memory_used_bytes=0,
        restore_duration_ms=4.2,
    )
    assert (r.billed_restore_duration_ms, r.billed_duration_ms) == (5, 7)


def test_an_environment_is_initialized_or_restored_not_both() -> None:
    with pytest.raises(ValueError, match="not both"):
        Report(
            request_id="r",
            duration_ms=1.0,
            memory_size_mb=128,
            max_memory_used_bytes=0,
            init_duration_ms=1.0,
            restore_duration_ms=1.0,
        )


def test_report_line_warm_has_no_init_duration_and_can_carry_status() -> None:
    line = Report(
        request_id="x",
        duration_ms=3000.0,
        memory_size_mb=256,
        max_memory_used_bytes=0,
        status="timeout",
    ).line()
    assert "Init Duration" not in line
    assert "Restore Duration" not in line
    assert line.endswith("\tStatus: timeout\t\n")
    assert "Max Memory Used: 1 MB" in line


@pytest.mark.parametrize(("ms", "billed"), [(0.0, 1), (0.2, 1), (1.0, 1), (1.01, 2), (99.5, 100)])
def test_billed_duration_rounds_up_to_whole_ms(ms: float, billed: int) -> None:
    assert billed_ms(ms) == billed


def test_memory_used_rounds_up_to_mb() -> None:
    assert memory_used_mb(1) == 1
    assert memory_used_mb(1024 * 1024) == 1
    assert memory_used_mb(1024 * 1024 + 1) == 2


def test_timeout_line() -> None:
    now = datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    assert timeout_line("rid", 3, now) == (
        "2026-01-02T03:04:05.678Z rid Task timed out after 3.00 seconds\n"
    )


def test_log_tail_keeps_the_last_4_kb() -> None:
    data = b"a" * 5000 + b"END"
    assert log_tail(data) == data[-4096:]
    assert log_tail(b"short") == b"short"
