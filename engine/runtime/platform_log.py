"""The lines the platform writes to a function's log, in the function's LogFormat (pure).

Text: Lambda's START, END and REPORT lines, the timeout line, and the runtime's error record
(``[ERROR] Type: message`` and its traceback). JSON: Lambda's platform events, one JSON object
a line, ``{"time": …, "type": "platform.start", "record": {…}}``, kept or dropped by the
function's SystemLogLevel (platform.start and platform.report are INFO, platform.runtimeDone
DEBUG: the default INFO shows start and report, WARN none of them); the error record as the
Python runtime writes it in JSON. The timeout has no line of its own in JSON: it is the report's
``status``.

One `PlatformLog` per environment, built from its version's configuration; each method returns
the text to append ("" when nothing is to be written).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Final

from engine.model.function import FunctionConfig
from engine.model.logging_config import DEFAULT_LEVEL, JSON
from engine.runtime.report import (
    Report,
    end_line,
    memory_used_mb,
    start_line,
    timeout_line,
)
from sandbox.protocol import ErrorInfo

SYSTEM_LEVELS: Final = {"DEBUG": 10, "INFO": 20, "WARN": 30}
_INFO: Final = SYSTEM_LEVELS["INFO"]
_DEBUG: Final = SYSTEM_LEVELS["DEBUG"]


def _iso_ms(now: datetime) -> str:
    return now.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def _event(event_type: str, record: dict[str, Any], now: datetime) -> str:
    doc = {"time": _iso_ms(now), "type": event_type, "record": record}
    return json.dumps(doc, separators=(",", ":"), ensure_ascii=False) + "\n"


@dataclass(frozen=True, slots=True, kw_only=True)
class PlatformLog:
    version: str  # the function version the environment runs ("$LATEST", "3")
    as_json: bool = False
    system_level: int = _INFO  # JSON only: events below it are not written

    @classmethod
    def for_function(cls, function: FunctionConfig) -> PlatformLog:
        if function.log_format != JSON:
            return cls(version=function.version)
        level = SYSTEM_LEVELS.get(function.system_log_level or DEFAULT_LEVEL, _INFO)
        return cls(version=function.version, as_json=True, system_level=level)

    def start(self, request_id: str, *, now: datetime | None = None) -> str:
        if not self.as_json:
            return start_line(request_id, self.version)
        if self.system_level > _INFO:
            return ""
        record = {"requestId": request_id, "version": self.version}
        return _event("platform.start", record, now or datetime.now(UTC))

    def end(
        self,
        report: Report,
        *,
        produced_bytes: int = 0,
        error_type: str | None = None,
        now: datetime | None = None,
    ) -> str:
        """END and REPORT (Text), or platform.runtimeDone and platform.report (JSON)."""
        if not self.as_json:
            return end_line(report.request_id) + report.line()
        if self.system_level > _INFO:
            return ""
        now = now or datetime.now(UTC)
        status = report.status or "success"
        failed = {"errorType": error_type} if status != "success" and error_type else {}
        out = ""
        if self.system_level <= _DEBUG:
            done = {
                "requestId": report.request_id,
                "status": status,
                **failed,
                "metrics": {
                    "durationMs": round(report.duration_ms, 3),
                    "producedBytes": produced_bytes,
                },
            }
            out = _event("platform.runtimeDone", done, now)
        metrics: dict[str, Any] = {
            "durationMs": round(report.duration_ms, 2),
            "billedDurationMs": report.billed_duration_ms,
            "memorySizeMB": report.memory_size_mb,
            "maxMemoryUsedMB": memory_used_mb(report.max_memory_used_bytes),
        }
        if report.init_duration_ms is not None:
            metrics["initDurationMs"] = round(report.init_duration_ms, 2)
        if report.restore_duration_ms is not None:
            metrics["restoreDurationMs"] = round(report.restore_duration_ms, 2)
            metrics["billedRestoreDurationMs"] = report.billed_restore_duration_ms
        record = {"requestId": report.request_id, "metrics": metrics, "status": status, **failed}
        return out + _event("platform.report", record, now)

    def timeout(self, request_id: str, timeout_s: float, *, now: datetime | None = None) -> str:
        return "" if self.as_json else timeout_line(request_id, timeout_s, now)

    def runtime_error(
        self, error: ErrorInfo, request_id: str, *, now: datetime | None = None
    ) -> str:
        """The record a runtime without error documents of its own would have logged for
        `error` (`request_id` "" for an init error)."""
        if not self.as_json:
            head = f"[ERROR] {error.error_type}: {error.error_message}"
            trace = "".join(error.stack_trace)
            return head + ("\nTraceback (most recent call last):\n" + trace if trace else "\n")
        stamp = (now or datetime.now(UTC)).strftime("%Y-%m-%dT%H:%M:%S")
        doc = {
            "timestamp": stamp,
            "log_level": "ERROR",
            "errorMessage": error.error_message,
            "errorType": error.error_type,
            "requestId": request_id,
            "stackTrace": list(error.stack_trace),
        }
        return json.dumps(doc, ensure_ascii=False) + "\n"
