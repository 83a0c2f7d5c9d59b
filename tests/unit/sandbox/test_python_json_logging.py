"""The Python runtime's advanced logging controls: JSON records and the root logger's level."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest

from sandbox.runtimes.python.json_logging import JsonFormatter, configure_logging


class _RequestId(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.aws_request_id = "rid-1"
        return True


@pytest.fixture
def out() -> Iterator[io.StringIO]:
    """The root logger writing through a handler as the runtime's, restored afterwards."""
    root = logging.getLogger()
    saved = (root.level, root.handlers[:])
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("[%(levelname)s]\t%(message)s"))
    handler.addFilter(_RequestId())
    root.handlers[:] = [handler]
    root.setLevel(logging.WARNING)  # the interpreter's default, as the runtime leaves it
    try:
        yield stream
    finally:
        root.setLevel(saved[0])
        root.handlers[:] = saved[1]


def records(stream: io.StringIO) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stream.getvalue().splitlines()]


def test_json_records_filtered_by_the_application_level(out: io.StringIO) -> None:
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": "INFO"}
    configure_logging(logging.getLogger().handlers[0], env)
    logging.debug("hidden")
    logging.info("hello %s", "world")
    logging.getLogger("app.db").warning("slow", extra={"ms": 812, "table": "t"})
    logging.critical("down")
    first, second, third = records(out)
    assert list(first) == ["timestamp", "level", "message", "logger", "requestId"]
    assert first["level"] == "INFO" and first["message"] == "hello world"
    assert first["logger"] == "root" and first["requestId"] == "rid-1"
    assert first["timestamp"].endswith("Z") and len(first["timestamp"]) == 24
    assert second == {**second, "level": "WARNING", "logger": "app.db", "ms": 812, "table": "t"}
    assert third["level"] == "CRITICAL"


def test_an_exception_record_carries_its_error(out: io.StringIO) -> None:
    configure_logging(logging.getLogger().handlers[0], {"AWS_LAMBDA_LOG_FORMAT": "JSON"})
    try:
        raise KeyError("k")
    except KeyError:
        logging.exception("failed")
    (doc,) = records(out)
    assert doc["level"] == "ERROR" and doc["message"] == "failed"
    assert doc["errorType"] == "KeyError" and doc["errorMessage"] == "'k'"
    assert doc["stackTrace"][0].startswith('  File "') and "raise KeyError" in doc["stackTrace"][0]
    assert ":test_an_exception_record_carries_its_error:" in doc["location"]
    assert doc["location"].startswith(__file__)


@pytest.mark.parametrize(
    ("level", "shown"),
    [
        ("TRACE", ["debug", "info", "warning", "error", "critical"]),  # TRACE is DEBUG here
        ("DEBUG", ["debug", "info", "warning", "error", "critical"]),
        ("WARN", ["warning", "error", "critical"]),
        ("ERROR", ["error", "critical"]),
        ("FATAL", ["critical"]),
        ("", ["warning", "error", "critical"]),  # unset: the root logger's WARNING
        ("nonsense", ["warning", "error", "critical"]),
    ],
)
def test_levels(out: io.StringIO, level: str, shown: list[str]) -> None:
    env = {"AWS_LAMBDA_LOG_FORMAT": "JSON", "AWS_LAMBDA_LOG_LEVEL": level}
    configure_logging(logging.getLogger().handlers[0], env)
    for name in ("debug", "info", "warning", "error", "critical"):
        getattr(logging, name)(name)
    assert [r["message"] for r in records(out)] == shown


def test_text_format_is_left_as_it_was(out: io.StringIO) -> None:
    configure_logging(logging.getLogger().handlers[0], {"AWS_LAMBDA_LOG_LEVEL": "INFO"})
    logging.info("plain")
    assert out.getvalue() == "[INFO]\tplain\n"


def test_values_json_cannot_encode_are_written_as_text() -> None:
    record = logging.LogRecord("x", logging.INFO, "p.py", 1, "m", None, None)
    record.when = object()  # an `extra` JSON has no encoding for
    doc = json.loads(JsonFormatter().format(record))
    assert doc["when"].startswith("<object object at ")
    assert "requestId" not in doc  # None values are left out
