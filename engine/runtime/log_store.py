"""Log groups and their streams on disk, under ``<state_dir>/logs/``: the catalog the
environments write through and the CloudWatch-Logs-compatible API reads.

A group is a directory with a ``group.json`` (its name, creation time and retention policy)
and its streams' files (`engine.runtime.log_file`). A function's group
``/aws/lambda/<function>`` lives in ``logs/<function>/``; any other name in its escaped form.
Groups outlive their functions (until DeleteLogGroup) and daemon restarts: `load()` reads
them back. `sweep()` removes the streams a group's retention and size bound let go
(`engine.runtime.log_retention`); `open_log_store` runs it periodically.

Everything here runs in the daemon's loop and never waits: appends are buffered, a read
takes snapshots (flushing the streams it reads) and reads them in a worker thread.

Resource handling: each open `LogStream` holds its stream's two descriptors until its
environment closes it; `close()` flushes and closes every stream still open.
"""

from __future__ import annotations

import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from pathlib import Path
from typing import Final
from urllib.parse import quote

import trio

from engine.model.function import FunctionConfig
from engine.runtime.log_file import EVENTS_SUFFIX, Snapshot, StreamFile
from engine.runtime.log_format import lambda_stream_name
from engine.runtime.log_retention import StreamAge, horizon_ms, streams_to_remove
from engine.runtime.logs import LogStream, log_group_name, now_ms

logger = logging.getLogger(__name__)

GROUP_FILE: Final = "group.json"
LAMBDA_PREFIX: Final = "/aws/lambda/"
_PLAIN_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,140}")


class LogStoreError(Exception):
    """A group or stream that is not there, or already is (the API words it AWS's way)."""


class GroupNotFound(LogStoreError):
    pass


class StreamNotFound(LogStoreError):
    pass


class GroupExists(LogStoreError):
    pass


class StreamExists(LogStoreError):
    pass


@dataclass(eq=False, slots=True, kw_only=True)
class LogGroup:
    name: str
    directory: Path
    created_ms: int
    retention_days: int | None = None  # PutRetentionPolicy's; None: the store's default
    streams: dict[str, StreamFile] = field(default_factory=dict)

    @property
    def stored_bytes(self) -> int:
        return sum(s.stored_bytes for s in self.streams.values())


def group_directory(root: Path, name: str) -> Path:
    """``logs/<function>`` for a function's group; the escaped name for any other."""
    rest = name.removeprefix(LAMBDA_PREFIX)
    if rest != name and _PLAIN_NAME.fullmatch(rest):
        return root / rest
    escaped = quote(name, safe="").replace(".", "%2E")  # never "." or ".."
    if len(escaped) > 200:
        escaped = "%~" + sha256(name.encode()).hexdigest()
    return root / escaped


class LogStore:
    def __init__(
        self,
        root: Path,
        *,
        default_retention_days: int | None = None,
        max_group_bytes: int | None = None,
        clock: Callable[[], int] = now_ms,
    ) -> None:
        self.root = root
        self.default_retention_days = default_retention_days
        self.max_group_bytes = max_group_bytes
        self.clock = clock
        self.groups: dict[str, LogGroup] = {}
        self.live: set[LogStream] = set()

    # -- the catalog on disk --------------------------------------------------------------

    def load(self) -> None:
        """Read back the groups and streams an earlier daemon left."""
        self.root.mkdir(parents=True, exist_ok=True)
        for directory in sorted(self.root.iterdir()):
            try:
                doc = json.loads((directory / GROUP_FILE).read_text())
                group = LogGroup(
                    name=str(doc["name"]),
                    directory=directory,
                    created_ms=int(doc["created_ms"]),
                    retention_days=doc.get("retention_days"),
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue  # not a group (an older layout's folder, or a stray file)
            for events in sorted(directory.glob("*" + EVENTS_SUFFIX)):
                stream = StreamFile.load(events)
                if stream is not None:
                    group.streams[stream.name] = stream
            self.groups[group.name] = group
        logger.info("log groups: %d loaded from %s", len(self.groups), self.root)

    def _save(self, group: LogGroup) -> None:
        doc = {
            "name": group.name,
            "created_ms": group.created_ms,
            "retention_days": group.retention_days,
        }
        group.directory.mkdir(parents=True, exist_ok=True, mode=0o750)
        temporary = group.directory / (GROUP_FILE + ".tmp")
        temporary.write_text(json.dumps(doc))
        os.replace(temporary, group.directory / GROUP_FILE)

    # -- environments' streams ------------------------------------------------------------

    def open_stream(self, function: FunctionConfig) -> LogStream:
        """A new stream for a new environment of `function`, in its function's group."""
        group = self.ensure_group(log_group_name(function))
        now = datetime.now(UTC)
        stream_id = secrets.token_hex(16)
        name = lambda_stream_name(f"{now:%Y/%m/%d}", function.version, stream_id)
        base = group.directory / f"{now:%Y-%m-%d}-{stream_id}"
        try:
            file = StreamFile.create(base, name=name, created_ms=self.clock())
        except FileNotFoundError:  # the group's directory was removed behind our back
            self._save(group)
            file = StreamFile.create(base, name=name, created_ms=self.clock())
        file.live = True
        group.streams[name] = file
        stream = LogStream(self, group.name, file)
        self.live.add(stream)
        return stream

    def reopen(self, stream: LogStream) -> StreamFile:
        """A live stream whose files were deleted (DeleteLogGroup, DeleteLogStream) starts
        again under the same name, its group made again if need be."""
        group = self.ensure_group(stream.group)
        file = StreamFile.create(
            group.directory / stream.file.base.name, name=stream.name, created_ms=self.clock()
        )
        file.live = True
        group.streams[stream.name] = file
        return file

    def discard(self, stream: LogStream) -> None:
        """Close a stream opened for an environment that never ran (one made ahead of demand
        and dropped unused) and delete it: it holds no event."""
        stream.close()
        group = self.groups.get(stream.group)
        if group is not None and group.streams.get(stream.name) is stream.file:
            self.delete_stream(group, stream.name)

    def release(self, stream: LogStream) -> None:
        stream.file.live = False
        stream.file.on_append = None
        self.live.discard(stream)

    def ensure_group(self, name: str) -> LogGroup:
        group = self.groups.get(name)
        if group is None:
            group = LogGroup(
                name=name, directory=group_directory(self.root, name), created_ms=self.clock()
            )
            self._save(group)
            self.groups[name] = group
        return group

    # -- what the API changes -------------------------------------------------------------

    def group(self, name: str) -> LogGroup:
        group = self.groups.get(name)
        if group is None:
            raise GroupNotFound(name)
        return group

    def stream(self, group: LogGroup, name: str) -> StreamFile:
        stream = group.streams.get(name)
        if stream is None:
            raise StreamNotFound(name)
        return stream

    def create_group(self, name: str) -> LogGroup:
        if name in self.groups:
            raise GroupExists(name)
        return self.ensure_group(name)

    def delete_group(self, name: str) -> None:
        group = self.group(name)
        del self.groups[name]
        for stream in group.streams.values():
            stream.remove()  # an environment still writing starts a new group (`reopen`)
        shutil.rmtree(group.directory, ignore_errors=True)

    def put_retention(self, name: str, days: int | None) -> None:
        group = self.group(name)
        group.retention_days = days
        self._save(group)

    def retention_of(self, group: LogGroup) -> int | None:
        """The retention in force: the group's policy, else the configured default."""
        if group.retention_days is not None:
            return group.retention_days
        return self.default_retention_days

    def horizon_of(self, group: LogGroup) -> int | None:
        """Events before this time have expired: readers never see them."""
        return horizon_ms(self.clock(), self.retention_of(group))

    def create_stream(self, group: LogGroup, name: str) -> StreamFile:
        if name in group.streams:
            raise StreamExists(name)
        base = group.directory / f"s-{sha256(name.encode()).hexdigest()[:32]}"
        stream = StreamFile.create(base, name=name, created_ms=self.clock())
        group.streams[name] = stream
        return stream

    def delete_stream(self, group: LogGroup, name: str) -> None:
        self.stream(group, name).remove()
        del group.streams[name]

    def put_events(self, stream: StreamFile, events: Iterable[tuple[int, bytes]]) -> None:
        """Events given whole (PutLogEvents), on disk before this returns."""
        ingestion = self.clock()
        for timestamp_ms, message in events:
            stream.append_message(timestamp_ms, message, ingestion)
        stream.flush()
        if not stream.live:
            stream.close()

    def snapshots(self, streams: Iterable[StreamFile]) -> list[Snapshot]:
        """What a reader may read of these streams (each flushed first)."""
        return [s.snapshot() for s in streams if not s.removed]

    # -- retention ------------------------------------------------------------------------

    def sweep(self) -> int:
        """Remove the streams each group's retention and size bound let go; how many."""
        now = self.clock()
        removed = 0
        for group in list(self.groups.values()):
            ages = [
                StreamAge(s.name, s.last_or_created_ms, s.stored_bytes, s.live)
                for s in group.streams.values()
            ]
            for name in streams_to_remove(
                ages,
                now_ms=now,
                retention_days=self.retention_of(group),
                max_bytes=self.max_group_bytes,
            ):
                group.streams.pop(name).remove()
                removed += 1
        if removed:
            logger.info("log retention: removed %d stream(s)", removed)
        return removed

    def close(self) -> None:
        for stream in list(self.live):
            stream.close()


@asynccontextmanager
async def open_log_store(
    root: Path,
    *,
    default_retention_days: int | None,
    max_group_bytes: int | None,
    sweep_interval_s: float,
) -> AsyncIterator[LogStore]:
    """The store, loaded, with its retention sweep running until the block ends."""
    store = LogStore(
        root, default_retention_days=default_retention_days, max_group_bytes=max_group_bytes
    )
    await trio.to_thread.run_sync(store.load)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(_sweep_forever, store, sweep_interval_s)
        try:
            yield store
        finally:
            nursery.cancel_scope.cancel()
            store.close()


async def _sweep_forever(store: LogStore, interval_s: float) -> None:
    while True:
        try:
            store.sweep()
        except OSError as exc:
            logger.warning("log retention: %s", exc)
        await trio.sleep(interval_s)
