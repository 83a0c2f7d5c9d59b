"""The usage service: reports see every ended invoke (they flush first); nothing is written per
invoke, only by flushes; a clean exit flushes what is left, even when the daemon is being
cancelled; old minutes expire; provisioned time and the free tier's earlier use are counted."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
import trio

from engine.config import CostConfig, UsageConfig
from engine.errors import InvalidParameterValueException, ValidationException
from engine.journal.journal import Journal
from engine.usage import store
from engine.usage.ledger import Cell, key_of
from engine.usage.service import UsageService, open_usage
from tests.unit.engine.usage.helpers import T0_MS, config, outcome

REGION = "us-east-1"
NOW_MS = T0_MS + 10 * 86_400_000 + 30_000  # 2026-01-11T00:00:30Z


class Clock:
    def __init__(self, ms: int = NOW_MS) -> None:
        self.ms = ms

    def __call__(self) -> int:
        return self.ms


def on_disk(state_dir: Path) -> list[tuple[object, ...]]:
    conn = sqlite3.connect(state_dir / store.DB_NAME)
    try:
        return conn.execute(
            "SELECT minute, function, qualifier, requests, billed_ms, provisioned_env_ms"
            " FROM usage ORDER BY minute, function, qualifier"
        ).fetchall()
    finally:
        conn.close()


async def eventually(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll `predicate` in real time (the journal commits in a thread)."""
    with trio.fail_after(timeout_s):
        for _ in range(int(timeout_s / 0.01) + 1):
            if predicate():
                return
            await trio.sleep(0.01)


def service(
    tmp_path: Path, clock: Clock, *, prices: CostConfig | None = None
) -> tuple[Journal, UsageService]:
    journal = Journal(tmp_path / store.DB_NAME, store.SCHEMA)
    usage = UsageService(
        journal, usage=UsageConfig(), prices=prices or CostConfig(), region=REGION, clock=clock
    )
    return journal, usage


async def test_a_report_flushes_first_and_counts_every_invoke(tmp_path: Path) -> None:
    clock = Clock()
    journal, usage = service(tmp_path, clock)
    fn = config(memory_mb=256)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        for billed in (13, 3, 4):
            usage.ledger.record(fn, None, outcome(billed), False)
        usage.ledger.record(fn, "live", outcome(100, init_billed_ms=90), False)
        doc = await usage.report(since="1h", until=None, function=None)
        nursery.cancel_scope.cancel()
    journal.close()
    rows = {(f["Qualifier"], f["Requests"], f["BilledDurationMs"]) for f in doc["Functions"]}
    assert rows == {("$LATEST", 3, 20), ("live", 1, 100)}
    assert doc["Total"]["Requests"] == 4
    assert doc["Total"]["GBSeconds"] == pytest.approx(120 * 256 / 1024 / 1000)
    assert usage.flushes == 1


async def test_nothing_is_on_disk_until_a_flush(tmp_path: Path) -> None:
    clock = Clock()
    journal, usage = service(tmp_path, clock)
    fn = config()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        usage.ledger.record(fn, None, outcome(5), False)
        await usage.flush()
        usage.ledger.record(fn, None, outcome(7), False)  # after the last flush
        await trio.sleep(0.05)
        nursery.cancel_scope.cancel()  # a crash: the writer stops, the ledger is not flushed
    journal.close()
    minute = (NOW_MS // 60_000) * 60
    assert on_disk(tmp_path) == [(minute, "fn", "$LATEST", 1, 5, 0)]


async def test_leaving_flushes_everything_even_while_the_daemon_is_cancelled(
    tmp_path: Path,
) -> None:
    fn = config()
    with trio.CancelScope() as daemon:
        async with open_usage(
            tmp_path, usage=UsageConfig(), prices=CostConfig(), region=REGION
        ) as usage:
            usage.ledger.record(fn, None, outcome(9), False)
            daemon.cancel()
            # Other rooms close first, at checkpoints: the journal's writer would be cancelled
            # (and its file closed) here if it were not shielded until the last flush.
            with trio.CancelScope(shield=True):
                await trio.sleep(0.05)
            await trio.sleep(1)  # Cancelled
    assert [(r[1], r[3], r[4]) for r in on_disk(tmp_path)] == [("fn", 1, 9)]


async def test_the_service_flushes_by_itself_every_interval(tmp_path: Path) -> None:
    fn = config()
    async with open_usage(
        tmp_path, usage=UsageConfig(flush_interval_s=0.05), prices=CostConfig(), region=REGION
    ) as usage:
        usage.ledger.record(fn, None, outcome(2), False)
        await eventually(lambda: usage.flushes > 0)
        assert [(r[1], r[3]) for r in on_disk(tmp_path)] == [("fn", 1)]


async def test_minutes_older_than_the_retention_expire_at_start(tmp_path: Path) -> None:
    import time

    now_s = int(time.time()) // 60 * 60
    key = key_of(config(), None)
    conn = sqlite3.connect(tmp_path / store.DB_NAME)
    conn.executescript(store.SCHEMA)
    old, kept = now_s - 3 * 86400 - 60, now_s - 2 * 86400
    store.add([(old, key, Cell(requests=1)), (kept, key, Cell(requests=2))])(conn)
    conn.commit()
    conn.close()
    settings = UsageConfig(retention_days=3)
    async with open_usage(tmp_path, usage=settings, prices=CostConfig(), region=REGION):
        await eventually(lambda: len(on_disk(tmp_path)) == 1)
    assert [r[0] for r in on_disk(tmp_path)] == [kept]


async def test_provisioned_concurrency_is_billed_while_configured(tmp_path: Path) -> None:
    clock = Clock()
    journal, usage = service(tmp_path, clock)
    version = config(memory_mb=1024, version="3")
    configured = [(version, "live", 2)]
    usage.follow_provisioned(lambda: configured)
    clock.ms += 45_000
    configured = []  # deleted after 45 s
    usage.provisioned_changed()
    clock.ms += 100_000
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        usage.ledger.record(version, "live", outcome(30), True)
        doc = await usage.report(since="1h", until=None, function="fn:live")
        nursery.cancel_scope.cancel()
    journal.close()
    (row,) = doc["Functions"]
    assert (row["Qualifier"], row["MemorySize"]) == ("live", 1024)
    assert row["ProvisionedEnvironmentMs"] == 2 * 45_000
    assert row["ProvisionedConcurrencyGBSeconds"] == 90.0
    assert (row["ProvisionedBilledDurationMs"], row["BilledDurationMs"]) == (30, 0)
    assert row["Cost"]["ProvisionedConcurrency"] == pytest.approx(90 * 0.0000041667)


async def test_snapstart_versions_are_billed_while_they_exist(tmp_path: Path) -> None:
    clock = Clock()
    journal, usage = service(tmp_path, clock)
    # Published 4 hours ago (past the 3-hour minimum), 512 MB.
    version = config(memory_mb=512, version="2", last_modified="2026-01-10T20:00:30.000+0000")
    versions = [version]
    usage.follow_snapstart(lambda: versions)
    clock.ms += 120_000
    versions = []  # deleted two minutes later
    usage.snapstart_changed()
    clock.ms += 60_000
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        usage.ledger.record(version, "2", outcome(4, restored=True), False)
        doc = await usage.report(since="1h", until=None, function="fn:2")
        nursery.cancel_scope.cancel()
    journal.close()
    (row,) = doc["Functions"]
    assert row["SnapStartCacheGBSeconds"] == 60.0  # 120 s x 0.5 GB
    assert (row["SnapStartRestores"], row["SnapStartRestoredGB"]) == (1, 0.5)
    assert row["Cost"]["SnapStartCache"] == pytest.approx(60 * 0.0000015046)
    assert row["Cost"]["SnapStartRestore"] == pytest.approx(0.5 * 0.0001397998)
    assert doc["Prices"]["SnapStartRestoreGB"] == 0.0001397998


async def test_the_free_tier_counts_what_the_month_used_before_the_window(
    tmp_path: Path,
) -> None:
    clock = Clock()
    prices = CostConfig(free_tier=True, free_tier_requests=10)
    journal, usage = service(tmp_path, clock, prices=prices)
    fn = config()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        for _ in range(7):
            usage.ledger.record(fn, None, outcome(1), False)
        await usage.flush()
        clock.ms += 3 * 3_600_000  # 3 hours later, in the same month
        await usage.flush()  # the service's tick at a minute boundary moves the minute
        for _ in range(5):
            usage.ledger.record(fn, None, outcome(1), False)
        doc = await usage.report(since="1h", until=None, function=None)
        one = await usage.report(since="1h", until=None, function="fn")
        nursery.cancel_scope.cancel()
    journal.close()
    assert doc["Total"]["Requests"] == 5
    assert doc["FreeTier"]["Requests"] == 3  # 10 a month, 7 used before the window
    assert doc["Total"]["Cost"] < doc["Total"]["CostBeforeFreeTier"]
    assert not one["FreeTier"]["Applied"]


async def test_bad_windows_and_names_are_refused_in_aws_words(tmp_path: Path) -> None:
    journal, usage = service(tmp_path, Clock())
    with pytest.raises(ValidationException):
        await usage.report(since="last week", until=None, function=None)
    with pytest.raises(InvalidParameterValueException):
        await usage.report(since="1h", until="2h", function=None)
    with pytest.raises(ValidationException) as caught:
        await usage.report(since=None, until=None, function="no/such name")
    assert "functionName" in caught.value.message
    journal.close()
