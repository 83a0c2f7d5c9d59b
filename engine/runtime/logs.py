"""Function logs: one append-only file per log stream (one stream per environment).

Layout: ``<state_dir>/logs/<group directory>/<YYYY-MM-DD>-<stream id>.log``; the stream's AWS
name is ``YYYY/MM/DD/[$LATEST]<stream id>``, as Lambda names CloudWatch log streams. A function's
default group ``/aws/lambda/<function>`` is the directory ``<function>``; a custom LoggingConfig
LogGroup is ``@<group, its slashes as %2F>`` (no function name starts with ``@``).
"""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO

from engine.runtime.report import TAIL_BYTES, log_tail

_CAPTURE_KEEP = 4 * TAIL_BYTES


_DEFAULT_PREFIX = "/aws/lambda/"


def log_group_name(function_name: str, configured: str = "") -> str:
    """The group a function's streams go to: its LoggingConfig LogGroup, else the default."""
    return configured or f"{_DEFAULT_PREFIX}{function_name}"


def group_directory(group: str) -> str:
    """The directory under the logs directory that holds `group`'s streams."""
    rest = group.removeprefix(_DEFAULT_PREFIX)
    if rest != group and rest and all(c.isalnum() or c in "-_" for c in rest):
        return rest
    return "@" + group.replace("/", "%2F")


class LogStream:
    """Where one environment's output goes; also captures the current invocation's log."""

    def __init__(self, logs_dir: Path, group: str, version: str) -> None:
        now = datetime.now(UTC)
        stream_id = secrets.token_hex(16)
        self.group = group
        self.name = f"{now:%Y/%m/%d}/[{version}]{stream_id}"
        directory = logs_dir / group_directory(group)
        directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        self.path = directory / f"{now:%Y-%m-%d}-{stream_id}.log"
        self._file: BinaryIO | None = open(self.path, "ab")  # noqa: SIM115 - closed in close()
        self._capture: bytearray | None = None
        self._at_line_start = True

    def write(self, data: bytes) -> None:
        if not data:
            return
        self._at_line_start = data.endswith(b"\n")
        if self._file is not None:
            self._file.write(data)
        cap = self._capture
        if cap is not None:
            cap += data
            if len(cap) > _CAPTURE_KEEP:  # only the tail is ever returned
                del cap[: len(cap) - TAIL_BYTES]

    def write_line(self, line: str) -> None:
        """A platform line (START, END, REPORT): always on a line of its own."""
        if not self._at_line_start:
            self.write(b"\n")
        self.write(line.encode())

    def begin_capture(self) -> None:
        self._capture = bytearray()

    def end_capture(self) -> bytes:
        cap, self._capture = self._capture, None
        if self._file is not None:
            self._file.flush()
        return log_tail(bytes(cap or b""))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
