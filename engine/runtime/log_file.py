"""One log stream's files (layout: `engine.runtime.log_format`): appended to by the daemon's
loop, read by worker threads through a `Snapshot`.

Appends are buffered in memory and written by `flush()` (one write per file: the pool flushes
at the end of each invoke, readers before they read), never fsynced: logs are not worth a
flush per line. A crash loses at most the unflushed tail; `load()` drops a torn record and
any event whose bytes are not all in the ``.log``. Readers only read what a snapshot counts,
all of it flushed before the snapshot was taken, so they never see a half-written record.

Resource handling: `StreamFile` holds two descriptors while it is open for appending;
`close()` flushes and closes them, `remove()` closes them and unlinks both files.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from engine.runtime.log_format import (
    FLAGS_OFFSET,
    RECORD,
    UNSORTED,
    decode_header,
    encode_header,
    stream_uid,
)

logger = logging.getLogger(__name__)

LOG_SUFFIX: Final = ".log"
EVENTS_SUFFIX: Final = ".events"
_READ_CHUNK: Final = 2048  # events read per pread pair
_OPEN_FLAGS: Final = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
_DELTA_BOUND: Final = 2**31 - 1  # ingestion - timestamp is kept in 32 bits (±24 days)
_PACK: Final = RECORD.pack


@dataclass(frozen=True, slots=True)
class Event:
    index: int  # the event's place in its stream, from 0
    timestamp: int  # ms
    ingestion: int  # ms
    message: str
    size: int  # the message's bytes


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """What a reader may read of a stream: its first `count` events, all on disk."""

    name: str
    uid: int
    log_path: Path
    events_path: Path
    header_size: int
    count: int
    sorted: bool
    created_ms: int
    first_ms: int | None
    last_ms: int | None
    last_ingestion_ms: int | None
    stored_bytes: int


class StreamFile:
    """A stream's files and what the catalog knows of them; open for appending on demand."""

    __slots__ = (
        "_buffered", "_data", "_events_fd", "_failed", "_flags_on_disk", "_log_fd",
        "_records", "base", "count", "created_ms", "data_size", "end", "first_ms", "flags",
        "header_size", "last_ingestion_ms", "last_ms", "live", "name", "on_append",
        "removed", "uid",
    )  # fmt: skip

    def __init__(self, base: Path, *, name: str, created_ms: int, header_size: int) -> None:
        self.base = base
        self.name = name
        self.created_ms = created_ms
        self.uid = stream_uid(name, created_ms)
        self.header_size = header_size
        self.count = 0  # events on disk
        self.flags = 0
        self.first_ms: int | None = None
        self.last_ms: int | None = None  # the latest event's timestamp
        self.last_ingestion_ms: int | None = None
        self.data_size = 0  # bytes of the .log on disk
        self.end = 0  # the offset in the .log after everything written or buffered
        self.removed = False  # its files are gone (retention, a delete): never write again
        self.live = False  # an environment writes to it (set by the store)
        # Its writer's hook, called before an event is appended whole (PutLogEvents): the
        # environment's unfinished line becomes an event first, so events stay contiguous.
        self.on_append: Callable[[], None] | None = None
        self._data = bytearray()  # output not yet written
        self._records = bytearray()  # records not yet written
        self._buffered = 0  # records in _records
        self._log_fd = -1
        self._events_fd = -1
        self._failed = False
        self._flags_on_disk = 0

    @property
    def log_path(self) -> Path:
        return self.base.with_name(self.base.name + LOG_SUFFIX)

    @property
    def events_path(self) -> Path:
        return self.base.with_name(self.base.name + EVENTS_SUFFIX)

    @property
    def sorted(self) -> bool:
        return not self.flags & UNSORTED

    @property
    def stored_bytes(self) -> int:
        return self.data_size + self.header_size + self.count * RECORD.size

    @property
    def last_or_created_ms(self) -> int:
        return self.last_ms if self.last_ms is not None else self.created_ms

    # -- creating and loading -------------------------------------------------------------

    @classmethod
    def create(cls, base: Path, *, name: str, created_ms: int) -> StreamFile:
        header = encode_header(name, created_ms)
        flags = os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC
        fd = os.open(base.with_name(base.name + EVENTS_SUFFIX), flags, 0o640)
        try:
            os.write(fd, header)
        finally:
            os.close(fd)
        os.close(os.open(base.with_name(base.name + LOG_SUFFIX), flags, 0o640))
        return cls(base, name=name, created_ms=created_ms, header_size=len(header))

    @classmethod
    def load(cls, events_path: Path) -> StreamFile | None:
        """A stream written by an earlier daemon; None if the file is not a stream's."""
        base = events_path.with_suffix("")
        log_path = base.with_name(base.name + LOG_SUFFIX)
        try:
            with open(events_path, "rb") as f:
                header = decode_header(f.read(4096))
                if header is None:
                    return None
                size = os.fstat(f.fileno()).st_size
            data_size = log_path.stat().st_size
        except OSError:
            return None
        stream = cls(base, name=header.name, created_ms=header.created_ms, header_size=header.size)
        stream.flags = stream._flags_on_disk = header.flags
        stream.data_size = stream.end = data_size
        count = max(0, (size - header.size) // RECORD.size)
        snap = stream._snapshot(count)
        while count and _read_records(snap, count - 1, count)[0][2] > data_size:
            count -= 1  # its bytes never reached the .log (a crash between the two writes)
        if header.size + count * RECORD.size != size:
            os.truncate(events_path, header.size + count * RECORD.size)
        stream.count = count
        if count:
            stream._learn_times(stream._snapshot(count))
        return stream

    def _learn_times(self, snap: Snapshot) -> None:
        if snap.sorted:
            first = _read_records(snap, 0, 1)[0]
            last = _read_records(snap, snap.count - 1, snap.count)[0]
            self.first_ms, self.last_ms = first[0], last[0]
            self.last_ingestion_ms = last[0] + last[1]
            return
        for start in range(0, snap.count, _READ_CHUNK):
            for ts, delta, _end in _read_records(snap, start, min(start + _READ_CHUNK, snap.count)):
                self._note(ts, ts + delta)

    # -- appending ------------------------------------------------------------------------

    def write(self, data: bytes) -> int:
        """Raw output, into the .log (an event says later where it ends); the bytes now
        waiting to be written."""
        self._data += data
        self.end += len(data)
        return len(self._data)

    def add_output_event(self, timestamp_ms: int, end: int, now_ms: int) -> None:
        """An event of an environment's output, cut at `now_ms`. Its time never goes back
        (the clock may): a stream written by an environment stays in time order."""
        last = self.last_ms
        if last is None:
            self.first_ms = timestamp_ms
        elif timestamp_ms < last:
            timestamp_ms = last
        self.last_ms = timestamp_ms
        ingestion = now_ms if now_ms > timestamp_ms else timestamp_ms
        self.last_ingestion_ms = ingestion
        delta = ingestion - timestamp_ms
        self._records += _PACK(timestamp_ms, delta if delta < _DELTA_BOUND else _DELTA_BOUND, end)
        self._buffered += 1

    def add_event(self, timestamp_ms: int, end: int, ingestion_ms: int) -> None:
        """An event ending at `end` in the .log."""
        delta = max(-_DELTA_BOUND, min(ingestion_ms - timestamp_ms, _DELTA_BOUND))
        self._records += RECORD.pack(timestamp_ms, delta, end)
        self._buffered += 1
        self._note(timestamp_ms, ingestion_ms)

    def append_message(self, timestamp_ms: int, message: bytes, ingestion_ms: int) -> None:
        """An event given whole (PutLogEvents)."""
        if self.on_append is not None:
            self.on_append()
        self._data += message
        self.end += len(message)
        self.add_event(timestamp_ms, self.end, ingestion_ms)

    def _note(self, timestamp_ms: int, ingestion_ms: int) -> None:
        if self.last_ms is None:
            self.first_ms = self.last_ms = timestamp_ms
        elif timestamp_ms < self.last_ms:
            self.flags |= UNSORTED
            if self.first_ms is None or timestamp_ms < self.first_ms:
                self.first_ms = timestamp_ms
        else:
            self.last_ms = timestamp_ms
        if self.last_ingestion_ms is None or ingestion_ms > self.last_ingestion_ms:
            self.last_ingestion_ms = ingestion_ms

    @property
    def dirty(self) -> bool:
        return bool(self._data or self._records)

    def flush(self) -> None:
        """Write what is buffered: the output first, then the records that point into it."""
        if not (self._data or self._records) or self.removed:
            return
        data, records, buffered = self._data, self._records, self._buffered
        self._data, self._records, self._buffered = bytearray(), bytearray(), 0
        if self._failed:
            return
        try:
            if self._log_fd < 0:
                self._open()
            _write_all(self._log_fd, data)
            self.data_size += len(data)
            if records:
                _write_all(self._events_fd, records)
                self.count += buffered
                if self.flags != self._flags_on_disk:
                    self._write_flags()
        except OSError as exc:  # a full disk: stop this stream rather than misplace events
            self._failed = True
            logger.warning("log stream %s: writing failed, output dropped: %s", self.name, exc)

    def _write_flags(self) -> None:
        # Not through the append descriptor: Linux's pwrite ignores the offset under O_APPEND.
        fd = os.open(self.events_path, os.O_WRONLY | os.O_CLOEXEC)
        try:
            os.pwrite(fd, self.flags.to_bytes(4, "little"), FLAGS_OFFSET)
        finally:
            os.close(fd)
        self._flags_on_disk = self.flags

    def _open(self) -> None:
        self._log_fd = os.open(self.log_path, _OPEN_FLAGS)
        try:
            self._events_fd = os.open(self.events_path, _OPEN_FLAGS)
        except OSError:
            os.close(self._log_fd)
            self._log_fd = -1
            raise

    def close(self) -> None:
        self.flush()
        self._close_fds()

    def remove(self) -> None:
        """Forget the stream: buffers dropped, descriptors closed, files unlinked."""
        self.removed = True
        self._data, self._records, self._buffered = bytearray(), bytearray(), 0
        self.end = self.data_size
        self._close_fds()
        for path in (self.events_path, self.log_path):
            try:
                path.unlink()
            except FileNotFoundError:
                pass

    def _close_fds(self) -> None:
        for fd in (self._log_fd, self._events_fd):
            if fd >= 0:
                os.close(fd)
        self._log_fd = self._events_fd = -1

    # -- reading --------------------------------------------------------------------------

    def snapshot(self) -> Snapshot:
        """What is on disk now (buffered events are flushed first)."""
        self.flush()
        return self._snapshot(self.count)

    def _snapshot(self, count: int) -> Snapshot:
        return Snapshot(
            name=self.name,
            uid=self.uid,
            log_path=self.log_path,
            events_path=self.events_path,
            header_size=self.header_size,
            count=count,
            sorted=self.sorted,
            created_ms=self.created_ms,
            first_ms=self.first_ms,
            last_ms=self.last_ms,
            last_ingestion_ms=self.last_ingestion_ms,
            stored_bytes=self.stored_bytes,
        )


def _write_all(fd: int, data: bytes | bytearray) -> None:
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


# -- reading, in worker threads -------------------------------------------------------------


def _read_records(snap: Snapshot, first: int, last: int) -> list[tuple[int, int, int]]:
    """Records [first, last) as (timestamp, ingestion delta, end)."""
    with open(snap.events_path, "rb", buffering=0) as f:
        offset = snap.header_size + first * RECORD.size
        raw = os.pread(f.fileno(), (last - first) * RECORD.size, offset)
    return list(RECORD.iter_unpack(raw[: len(raw) - len(raw) % RECORD.size]))


def read_events(snap: Snapshot, first: int, last: int) -> list[Event]:
    """Events [first, last) of the snapshot (fewer if its files went away meanwhile)."""
    first, last = max(0, first), min(last, snap.count)
    if first >= last:
        return []
    try:
        with open(snap.events_path, "rb", buffering=0) as ef, open(snap.log_path, "rb") as lf:
            lead = 1 if first else 0
            offset = snap.header_size + (first - lead) * RECORD.size
            raw = os.pread(ef.fileno(), (last - first + lead) * RECORD.size, offset)
            records = list(RECORD.iter_unpack(raw[: len(raw) - len(raw) % RECORD.size]))
            if len(records) <= lead:
                return []
            start = records[0][2] if lead else 0
            data = os.pread(lf.fileno(), records[-1][2] - start, start)
    except OSError:
        return []
    events = []
    previous = 0
    for i, (ts, delta, end) in enumerate(records[lead:]):
        end -= start
        text = data[previous:end].decode("utf-8", "replace")
        events.append(Event(first + i, ts, ts + delta, text, end - previous))
        previous = end
    return events


def iter_events(snap: Snapshot, first: int, last: int) -> Iterator[Event]:
    for start in range(max(0, first), min(last, snap.count), _READ_CHUNK):
        yield from read_events(snap, start, min(start + _READ_CHUNK, last))


def first_at_or_after(snap: Snapshot, timestamp_ms: int) -> int:
    """The index of the first event at or after `timestamp_ms` (a sorted stream)."""
    low, high = 0, snap.count
    try:
        with open(snap.events_path, "rb", buffering=0) as f:
            while low < high:
                mid = (low + high) // 2
                raw = os.pread(f.fileno(), 8, snap.header_size + mid * RECORD.size)
                if len(raw) < 8 or int.from_bytes(raw, "little", signed=True) >= timestamp_ms:
                    high = mid
                else:
                    low = mid + 1
    except OSError:
        return snap.count
    return low
