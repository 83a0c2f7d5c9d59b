"""The platform's lines in a function's LogFormat: Lambda's text lines, or its JSON platform
events filtered by SystemLogLevel."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.model.function import FunctionConfig
from engine.runtime.platform_log import PlatformLog
from engine.runtime.report import Report
from sandbox.protocol import ErrorInfo

NOW = datetime(2026, 3, 4, 5, 6, 7, 891_234, tzinfo=UTC)
MIB = 1024 * 1024


def function(**logging: str) -> FunctionConfig:
    base = FunctionConfig(
        name="fn",
        runtime="python3.11",
        handler="app.handler",
        role="arn:aws:iam::000000000000:role/r",
        code_digest="ab" * 32,
        code_sha256="x",
        code_size=1,
        last_modified="2026-01-01T00:00:00.000+0000",
        revision_id="rev",
        version="7",
    )
    return base.replace(**logging)


def json_function(system: str = "INFO") -> FunctionConfig:
    return function(log_format="JSON", application_log_level="INFO", system_log_level=system)


def report(**changes: Any) -> Report:
    fields: dict[str, Any] = dict(
        request_id="rid",
        duration_ms=12.3456,
        memory_size_mb=128,
        max_memory_used_bytes=38 * MIB + 1,
        init_duration_ms=120.331,
    )
    fields.update(changes)
    return Report(**fields)


def events(text: str) -> list[dict[str, Any]]:
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def test_text_is_lambdas_lines_as_before() -> None:
    log = PlatformLog.for_function(function())
    assert log.start("rid") == "START RequestId: rid Version: 7\n"
    assert log.end(report()) == "END RequestId: rid\n" + report().line()
    assert log.timeout("rid", 3, now=NOW) == (
        "2026-03-04T05:06:07.891Z rid Task timed out after 3.00 seconds\n"
    )


def test_json_start_and_report_events() -> None:
    log = PlatformLog.for_function(json_function())
    assert log.start("rid", now=NOW) == (
        '{"time":"2026-03-04T05:06:07.891Z","type":"platform.start",'
        '"record":{"requestId":"rid","version":"7"}}\n'
    )
    assert events(log.end(report(), produced_bytes=5, now=NOW)) == [
        {
            "time": "2026-03-04T05:06:07.891Z",
            "type": "platform.report",
            "record": {
                "requestId": "rid",
                "metrics": {
                    "durationMs": 12.35,
                    "billedDurationMs": 133,  # init included on a cold start, as the Text REPORT
                    "memorySizeMB": 128,
                    "maxMemoryUsedMB": 39,
                    "initDurationMs": 120.33,
                },
                "status": "success",
            },
        }
    ]


def test_a_warm_report_has_no_init_duration() -> None:
    log = PlatformLog.for_function(json_function())
    (event,) = events(log.end(report(init_duration_ms=None), now=NOW))
    assert "initDurationMs" not in event["record"]["metrics"]
    assert "restoreDurationMs" not in event["record"]["metrics"]


def test_a_restored_environments_report_has_restore_durations() -> None:
    # The Telemetry API's platform.report metrics: restoreDurationMs, billedRestoreDurationMs.
    restored = report(init_duration_ms=None, restore_duration_ms=500.795, restore_runtime_ms=52.1)
    (event,) = events(PlatformLog.for_function(json_function()).end(restored, now=NOW))
    assert event["record"]["metrics"] == {
        "durationMs": 12.35,
        "billedDurationMs": 66,  # ceil(12.3456 + 53)
        "memorySizeMB": 128,
        "maxMemoryUsedMB": 39,
        "restoreDurationMs": 500.8,
        "billedRestoreDurationMs": 53,
    }
    text = PlatformLog.for_function(function()).end(restored)
    assert "\tRestore Duration: 500.80 ms\tBilled Restore Duration: 53 ms\t\n" in text


def test_json_timeout_is_the_reports_status_not_a_line() -> None:
    log = PlatformLog.for_function(json_function())
    assert log.timeout("rid", 3, now=NOW) == ""
    (event,) = events(log.end(report(status="timeout"), error_type="Sandbox.Timedout", now=NOW))
    assert event["record"]["status"] == "timeout"
    assert event["record"]["errorType"] == "Sandbox.Timedout"


def test_a_handled_function_error_reports_success_without_an_error_type() -> None:
    log = PlatformLog.for_function(json_function())
    (event,) = events(log.end(report(), error_type="ValueError", now=NOW))
    assert event["record"]["status"] == "success"
    assert "errorType" not in event["record"]


@pytest.mark.parametrize(
    ("system", "types"),
    [
        ("DEBUG", ["platform.start", "platform.runtimeDone", "platform.report"]),
        ("INFO", ["platform.start", "platform.report"]),
        ("WARN", []),
    ],
)
def test_system_log_level_filters_the_events(system: str, types: list[str]) -> None:
    log = PlatformLog.for_function(json_function(system))
    text = log.start("rid", now=NOW) + log.end(report(), produced_bytes=42, now=NOW)
    written = events(text) if text else []
    assert [e["type"] for e in written] == types
    if system == "DEBUG":
        done = written[1]["record"]
        assert done == {
            "requestId": "rid",
            "status": "success",
            "metrics": {"durationMs": 12.346, "producedBytes": 42},
        }


ERROR = ErrorInfo(
    error_type="ValueError",
    error_message="bad ünïcode",
    stack_trace=['  File "/var/task/app.py", line 2, in handler\n    raise ValueError\n'],
)


def test_text_error_record_as_the_python_runtime_writes_it() -> None:
    log = PlatformLog.for_function(function())
    assert log.runtime_error(ERROR, "rid") == (
        "[ERROR] ValueError: bad ünïcode\nTraceback (most recent call last):\n"
        '  File "/var/task/app.py", line 2, in handler\n    raise ValueError\n'
    )
    no_trace = ErrorInfo(error_type="Runtime.HandlerNotFound", error_message="m")
    assert log.runtime_error(no_trace, "") == "[ERROR] Runtime.HandlerNotFound: m\n"


def test_json_error_record_as_the_python_runtime_writes_it() -> None:
    log = PlatformLog.for_function(json_function("WARN"))  # not a system event: always written
    line = log.runtime_error(ERROR, "rid", now=NOW)
    assert line.endswith("}\n") and line.count("\n") == 1
    assert json.loads(line) == {
        "timestamp": "2026-03-04T05:06:07",
        "log_level": "ERROR",
        "errorMessage": "bad ünïcode",
        "errorType": "ValueError",
        "requestId": "rid",
        "stackTrace": ['  File "/var/task/app.py", line 2, in handler\n    raise ValueError\n'],
    }
    assert list(json.loads(line)) == [
        "timestamp", "log_level", "errorMessage", "errorType", "requestId", "stackTrace",
    ]  # fmt: skip
