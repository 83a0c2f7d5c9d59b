"""One SQLite file written by one thread, with group commit.

An answer that says "stored" (a 202 for an Event invoke, a SendMessage) must survive
``kill -9``; a disk flush per request would cap a 2-core host at a few hundred of them a
second. So writers queue *changes* (functions of a connection) and wait; one writer thread
applies every change queued meanwhile in one transaction and one flush (WAL,
``synchronous=FULL``), then wakes them all. Under load batches grow by themselves; idle, a
lone change is committed at once.

Each change runs under its own savepoint: one that raises is rolled back alone and its
waiter gets the exception; the others in the batch commit. `defer` queues a change nobody
waits for (it rides the next batch). Reads (`read`) share the connection under the lock; the
services keep their working state in memory and read the file only when they start.

Cleanup: `run` is the writer task; when it is cancelled it commits what is queued, then
closes the connection.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sqlite3
import threading
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

import trio

from engine.errors import ConfigError

T = TypeVar("T")
Change = Callable[[sqlite3.Connection], T]


@dataclass(slots=True, eq=False)
class _Pending(Generic[T]):
    change: Change[T]
    done: trio.Event | None = None
    result: Any = None
    error: BaseException | None = None


@dataclass(slots=True)
class JournalStats:
    batches: int = 0
    changes: int = 0
    largest_batch: int = 0
    failed: int = 0


class Journal:
    """`path`'s database (created with `schema` when new, then brought up to date by
    `upgrade` if given), locked against a second daemon."""

    def __init__(
        self,
        path: Path,
        schema: str,
        upgrade: Callable[[sqlite3.Connection], None] | None = None,
    ) -> None:
        self.path = path
        self._lock_fd = os.open(path.with_suffix(".lock"), os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(self._lock_fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(self._lock_fd)
            raise ConfigError(f"{path} is in use by another lambdalet daemon") from None
        self._conn = sqlite3.connect(path, check_same_thread=False, isolation_level=None)
        self._conn.execute("PRAGMA journal_mode=WAL")
        self._conn.execute("PRAGMA synchronous=FULL")
        self._conn.executescript(schema)
        if upgrade is not None:
            upgrade(self._conn)
        self._lock = threading.Lock()
        self._queue: list[_Pending[Any]] = []
        self._wake = trio.Event()
        self._limiter = trio.CapacityLimiter(1)
        self.stats = JournalStats()
        self._closed = False

    def read(self, query: Callable[[sqlite3.Connection], T]) -> T:
        """Run a read on the connection (synchronously; at start-up, or off the hot path)."""
        with self._lock:
            return query(self._conn)

    async def commit(self, change: Change[T]) -> T:
        """Apply `change` durably; return its result once it is on disk (or raise its error).

        A cancelled caller's change is still committed: cancellation only stops the wait."""
        pending: _Pending[T] = _Pending(change, trio.Event())
        self._queue.append(pending)
        self._wake.set()
        assert pending.done is not None
        await pending.done.wait()
        if pending.error is not None:
            raise pending.error
        result: T = pending.result
        return result

    def defer(self, change: Change[Any]) -> None:
        """Queue `change` for the next batch without waiting for it."""
        self._queue.append(_Pending(change))
        self._wake.set()

    async def run(self) -> None:
        """The writer: commit batches until cancelled, then commit the rest and close."""
        try:
            while True:
                await self._wake.wait()
                self._wake = trio.Event()
                await self._flush()
        finally:
            with trio.CancelScope(shield=True):
                await self._flush()
            self.close()

    async def _flush(self) -> None:
        while self._queue:
            batch, self._queue = self._queue, []
            try:
                # Shielded: once taken off the queue, a batch is applied even if the writer is
                # being cancelled (else its changes would be lost and their waiters hang).
                with trio.CancelScope(shield=True):
                    await trio.to_thread.run_sync(self._apply, batch, limiter=self._limiter)
            finally:
                for pending in batch:
                    if pending.done is not None:
                        pending.done.set()

    def _apply(self, batch: list[_Pending[Any]]) -> None:
        stats = self.stats
        with self._lock:
            conn = self._conn
            conn.execute("BEGIN IMMEDIATE")
            try:
                for pending in batch:
                    conn.execute("SAVEPOINT change")
                    try:
                        pending.result = pending.change(conn)
                    except Exception as exc:  # handed to its waiter
                        conn.execute("ROLLBACK TO change")
                        pending.error = exc
                        stats.failed += 1
                    conn.execute("RELEASE change")
                conn.execute("COMMIT")
            except BaseException as exc:
                with contextlib.suppress(sqlite3.Error):
                    conn.execute("ROLLBACK")
                for pending in batch:
                    pending.error = pending.error or exc
                raise
        stats.batches += 1
        stats.changes += len(batch)
        stats.largest_batch = max(stats.largest_batch, len(batch))

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with self._lock:
            self._conn.close()
        os.close(self._lock_fd)
