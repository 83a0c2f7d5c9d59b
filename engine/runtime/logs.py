"""Function logs as Lambda writes them to CloudWatch: a log group per function, a log stream
per execution environment (``YYYY/MM/DD/[<version>]<id>``), output cut into events by line.

`LogStream` is an environment's writer: its raw output goes to the stream's ``.log`` as it
comes (the invocation's tail for ``X-Amz-Log-Result`` is captured from the same bytes), and
`LineSplitter` marks where each event ends. Nothing is written to disk per line: the stream
is flushed at the end of each invoke (`end_capture`), when its buffer passes `FLUSH_BYTES`,
and by readers before they read. The cost per write is a time read and a scan for newlines.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Final, Protocol

from engine.model.function import FunctionConfig
from engine.runtime.log_file import StreamFile
from engine.runtime.log_lines import LineSplitter
from engine.runtime.report import TAIL_BYTES, log_tail

_CAPTURE_KEEP: Final = 4 * TAIL_BYTES
FLUSH_BYTES: Final = 256 * 1024  # a stream's output buffered at most before it is written


def log_group_name(function: FunctionConfig) -> str:
    """The log group a function's environments write to: the one place that decides it."""
    return function.log_group or f"/aws/lambda/{function.name}"


def now_ms() -> int:
    return time.time_ns() // 1_000_000


class StreamHost(Protocol):
    """What a stream asks of the store that made it (`engine.runtime.log_store.LogStore`)."""

    def reopen(self, stream: LogStream) -> StreamFile: ...
    def release(self, stream: LogStream) -> None: ...


class LogStream:
    """Where one environment's output goes; also captures the current invocation's log."""

    def __init__(self, host: StreamHost, group: str, file: StreamFile) -> None:
        self.group = group
        self.name = file.name
        self.file = file
        self._host = host
        self._splitter = LineSplitter(file.add_output_event, offset=file.end)
        file.on_append = self._cut
        self._capture: bytearray | None = None
        self._at_line_start = True
        self._closed = False

    @property
    def path(self) -> Path:
        """The stream's raw output (``<state_dir>/logs/<group dir>/<date>-<id>.log``)."""
        return self.file.log_path

    def write(self, data: bytes) -> None:
        if not data or self._closed:
            return
        self._at_line_start = data.endswith(b"\n")
        file = self.file
        if file.removed:  # its group or stream was deleted: start it again, as Lambda does
            file = self._reopen()
        now = now_ms()
        splitter = self._splitter
        if splitter.offset != file.end:  # PutLogEvents wrote into this stream meanwhile
            splitter.resume_at(file.end, now)
        waiting = file.write(data)
        splitter.feed(data, now)
        cap = self._capture
        if cap is not None:
            cap += data
            if len(cap) > _CAPTURE_KEEP:  # only the tail is ever returned
                del cap[: len(cap) - TAIL_BYTES]
        if waiting > FLUSH_BYTES:
            file.flush()

    def _reopen(self) -> StreamFile:
        self.file = self._host.reopen(self)
        self._splitter = LineSplitter(self.file.add_output_event, offset=self.file.end)
        self.file.on_append = self._cut
        return self.file

    def _cut(self) -> None:
        self._splitter.cut(now_ms())

    def write_line(self, line: str) -> None:
        """A platform line (START, END, REPORT): always on a line of its own."""
        if not self._at_line_start:
            self.write(b"\n")
        self.write(line.encode())

    def begin_capture(self) -> None:
        self._capture = bytearray()

    def end_capture(self) -> bytes:
        """The invocation's log tail; the invocation's events are written to disk now."""
        cap, self._capture = self._capture, None
        self.file.flush()
        return log_tail(bytes(cap or b""))

    def close(self) -> None:
        """The environment is gone: what is pending becomes an event, and the files close."""
        if self._closed:
            return
        self._closed = True
        if not self.file.removed:
            self._splitter.cut(now_ms())
        self.file.close()
        self._host.release(self)
