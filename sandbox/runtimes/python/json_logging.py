"""Lambda's advanced logging controls in the Python runtime: the ``logging`` module's records as
one JSON object a line when ``AWS_LAMBDA_LOG_FORMAT`` is JSON, and the root logger's level from
``AWS_LAMBDA_LOG_LEVEL``, as Lambda's Python runtime does. ``print`` stays plain text.

A record becomes ``{"timestamp", "level", "message", "logger", "requestId"}`` plus, for a record
with an exception, ``stackTrace`` / ``errorType`` / ``errorMessage`` / ``location``, plus any
extra attribute the caller attached (``logger.info("x", extra={"order": 7})``). Levels are
named as Python names them (WARNING, CRITICAL). Standard library only: it runs in the sandbox.
"""

from __future__ import annotations

import json
import logging
import traceback
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

# Attributes every LogRecord has (and those the runtime adds): not "extra" fields.
_RECORD_ATTRIBUTES = frozenset(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {
    "message",
    "asctime",
    "aws_request_id",
}

# Lambda's application levels as the logging module knows them (TRACE has no Python level).
_LEVELS = {
    "TRACE": logging.DEBUG,
    "DEBUG": logging.DEBUG,
    "INFO": logging.INFO,
    "WARN": logging.WARNING,
    "WARNING": logging.WARNING,
    "ERROR": logging.ERROR,
    "FATAL": logging.CRITICAL,
    "CRITICAL": logging.CRITICAL,
}


class JsonFormatter(logging.Formatter):
    """One JSON object per record (no trailing newline: the handler adds it)."""

    def format(self, record: logging.LogRecord) -> str:
        level = min(50, max(0, record.levelno)) // 10 * 10
        stamp = datetime.fromtimestamp(record.created, UTC)
        doc: dict[str, Any] = {
            "timestamp": stamp.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
            "level": logging.getLevelName(level),
            "message": record.getMessage(),
            "logger": record.name,
        }
        exc = record.exc_info
        if exc and exc[0] is not None:
            doc["stackTrace"] = traceback.format_tb(exc[2])
            doc["errorType"] = exc[0].__name__
            doc["errorMessage"] = str(exc[1])
        doc["requestId"] = getattr(record, "aws_request_id", None)
        if exc and exc[0] is not None:
            doc["location"] = f"{record.pathname}:{record.funcName}:{record.lineno}"
        for key, value in record.__dict__.items():
            if key not in _RECORD_ATTRIBUTES and key not in doc:
                doc[key] = value
        kept = {k: v for k, v in doc.items() if v is not None}
        return json.dumps(kept, ensure_ascii=False, default=str)


def configure_logging(handler: logging.Handler, env: Mapping[str, str]) -> None:
    """Format `handler`'s records as JSON when the function's LogFormat is JSON; set the root
    logger's level to AWS_LAMBDA_LOG_LEVEL when it names one (the root stays at WARNING
    otherwise, as on Lambda)."""
    if env.get("AWS_LAMBDA_LOG_FORMAT", "").upper() == "JSON":
        handler.setFormatter(JsonFormatter())
    level = _LEVELS.get(env.get("AWS_LAMBDA_LOG_LEVEL", "").upper())
    if level is not None:
        logging.getLogger().setLevel(level)
