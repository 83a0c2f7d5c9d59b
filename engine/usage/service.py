"""The usage service the daemon opens: the ledger, its file, and the task that flushes it.

    async with open_usage(state_dir, usage=config.usage, prices=config.cost) as usage:
        invoker.on_invoked.append(usage.ledger.record)         # O(1) per invoke
        usage.follow_provisioned(provisioner.configured)       # then on every change:
        provisioner.on_change.append(usage.provisioned_changed)
        usage.follow_snapstart(functions.snap_start_versions)  # likewise: SnapStart's versions
        doc = await usage.report(since="24h", until=None, function=None)

The ledger is written every `flush_interval_s` and at every minute boundary, through a
`journal/` (one small group-committed transaction), never per invoke: a `kill -9` loses what
was recorded since the last flush, at most `flush_interval_s` of usage. A report flushes
first, so it sees every invoke that has ended. Minutes older than `retention_days` are
deleted at start and every hour.

Cleanup: leaving the block flushes everything still in memory (a clean stop loses nothing),
then stops the journal's writer and closes the file. The writer runs under a shield of its
own until then, so the daemon's cancellation cannot close the file before the last flush.
"""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable
from pathlib import Path
from typing import Any, Final

import trio

from engine.config import CostConfig, UsageConfig
from engine.journal.journal import Journal
from engine.model.function import FunctionConfig
from engine.model.names import parse_function_name
from engine.model.timestamps import parse_last_modified
from engine.usage import pricing, store
from engine.usage.ledger import MINUTE_MS, Key, Ledger, key_of
from engine.usage.window import month_start, window

logger = logging.getLogger(__name__)

EXPIRE_EVERY_S: Final = 3600.0
LAST_FLUSH_S: Final = 10.0  # bound on the final flush at stop

Configured = Callable[[], Iterable[tuple[FunctionConfig, str, int]]]
Versions = Callable[[], Iterable[FunctionConfig]]


def wall_ms() -> int:
    return time.time_ns() // 1_000_000


class UsageService:
    def __init__(
        self,
        journal: Journal,
        *,
        usage: UsageConfig,
        prices: CostConfig,
        region: str,
        clock: Callable[[], int] = wall_ms,
    ) -> None:
        self.journal = journal
        self.settings = usage
        self.prices = prices
        self.region = region
        self.clock = clock
        self.ledger = Ledger(now_ms=clock())
        self._configured: Configured = list
        self._snapstart_versions: Versions = list
        self.flushes = 0  # committed flushes (for tests)

    # -- provisioned concurrency ---------------------------------------------------------

    def follow_provisioned(self, configured: Configured) -> None:
        """Where the configured amounts come from (`Provisioner.configured`); read now and
        after every `provisioned_changed`."""
        self._configured = configured
        self.provisioned_changed()

    def provisioned_changed(self) -> None:
        amounts: list[tuple[Key, int]] = [
            (key_of(config, qualifier), n) for config, qualifier, n in self._configured()
        ]
        self.ledger.set_provisioned(amounts, self.clock())

    # -- SnapStart -----------------------------------------------------------------------

    def follow_snapstart(self, versions: Versions) -> None:
        """Where the published SnapStart versions come from (`FunctionService.
        snap_start_versions`); read now and after every `snapstart_changed`."""
        self._snapstart_versions = versions
        self.snapstart_changed()

    def snapstart_changed(self) -> None:
        """A version was published or a function changed or went: their snapshots' cache
        is billed from now on for the versions there are."""
        versions = [
            (key_of(v, v.version), int(parse_last_modified(v.last_modified).timestamp() * 1000))
            for v in self._snapstart_versions()
        ]
        self.ledger.set_snapstart(versions, self.clock())

    # -- flushing ------------------------------------------------------------------------

    async def flush(self) -> None:
        """Commit what the ledger holds (a few rows per key and minute) and wait for it."""
        rows = self.ledger.take(self.clock())
        if not rows:
            return
        try:
            await self.journal.commit(store.add(rows))
        except sqlite3.Error as exc:
            logger.error("usage ledger: a flush failed (kept for the next one): %s", exc)
            self.ledger.give_back(rows)
            return
        self.flushes += 1

    async def run(self) -> None:
        """Flush every `flush_interval_s` and at every minute boundary; expire hourly."""
        interval_ms = int(self.settings.flush_interval_s * 1000)
        next_expiry = 0.0
        while True:
            if trio.current_time() >= next_expiry:
                await self._expire()
                next_expiry = trio.current_time() + EXPIRE_EVERY_S
            now = self.clock()
            to_minute = MINUTE_MS - now % MINUTE_MS
            await trio.sleep(min(interval_ms, to_minute + 1) / 1000)
            await self.flush()

    async def _expire(self) -> None:
        cutoff = self.clock() // 1000 - self.settings.retention_days * 86400
        try:
            await self.journal.commit(store.expire(cutoff))
        except sqlite3.Error as exc:
            logger.error("usage ledger: expiring old minutes failed: %s", exc)

    # -- the report ----------------------------------------------------------------------

    async def report(
        self, *, since: str | None, until: str | None, function: str | None
    ) -> dict[str, Any]:
        """The cost report of a window (AWS-shaped errors for a bad one or a bad name)."""
        span = window(since, until, now_s=self.clock() / 1000)
        name = qualifier = None
        if function is not None:
            name, qualifier = parse_function_name(function, self.region)
        await self.flush()
        rows = await trio.to_thread.run_sync(
            self.journal.read,
            store.query(span.since_s, span.until_s, function=name, qualifier=qualifier),
        )
        free = None
        if self.prices.free_tier and name is None:
            start = month_start(span.since_s)
            before = await trio.to_thread.run_sync(
                self.journal.read, store.query(start, span.since_s)
            )
            free = pricing.free_tier(rows, before, self.prices)
        priced = pricing.price(rows, self.prices)
        return pricing.report(priced, window=span, prices=self.prices, free=free, function=function)


@contextlib.asynccontextmanager
async def open_usage(
    state_dir: Path, *, usage: UsageConfig, prices: CostConfig, region: str
) -> AsyncIterator[UsageService]:
    journal = Journal(state_dir / store.DB_NAME, store.SCHEMA, store.upgrade)
    service = UsageService(journal, usage=usage, prices=prices, region=region)
    writer = trio.CancelScope(shield=True)

    async def write() -> None:
        with writer:
            await journal.run()

    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(write)
            nursery.start_soon(service.run)
            try:
                yield service
            finally:
                with trio.CancelScope(shield=True), trio.move_on_after(LAST_FLUSH_S):
                    await service.flush()
                writer.cancel()  # the writer commits what is queued, then closes the file
                nursery.cancel_scope.cancel()
    finally:
        journal.close()
