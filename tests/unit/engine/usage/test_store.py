"""The ledger's file: flushes add up per minute and key, reads sum a window by month and key,
old minutes expire."""

from __future__ import annotations

import sqlite3

from engine.usage import store
from engine.usage.ledger import Cell, Key

FN: Key = ("fn", "$LATEST", "x86_64", 128)
LIVE: Key = ("fn", "live", "x86_64", 128)
OTHER: Key = ("g", "$LATEST", "arm64", 256)
MARCH = 1_772_323_200  # 2026-03-01T00:00:00Z
FEB_END = MARCH - 60  # the last minute of February


def connection() -> sqlite3.Connection:
    conn = sqlite3.connect(":memory:")
    conn.executescript(store.SCHEMA)
    return conn


def test_flushes_of_one_minute_and_key_add_up_in_one_row() -> None:
    conn = connection()
    store.add([(MARCH, FN, Cell(requests=2, billed_ms=10, init_billed_ms=4))])(conn)
    store.add([(MARCH, FN, Cell(requests=1, billed_ms=5, provisioned_env_ms=7))])(conn)
    assert conn.execute("SELECT COUNT(*) FROM usage").fetchone() == (1,)
    (row,) = store.query(0, MARCH + 60)(conn)
    assert (row.month, row.key, row.requests, row.billed_ms) == ("2026-03", FN, 3, 15)
    assert (row.init_billed_ms, row.provisioned_env_ms) == (4, 7)


def test_a_read_sums_the_window_by_month_and_key() -> None:
    conn = connection()
    store.add(
        [
            (FEB_END - 60, FN, Cell(requests=1)),  # before the window
            (FEB_END, FN, Cell(requests=2)),
            (MARCH, FN, Cell(requests=4)),
            (MARCH + 60, FN, Cell(requests=8)),
            (MARCH + 120, FN, Cell(requests=16)),  # at `until`: outside
            (MARCH, LIVE, Cell(requests=32)),
            (MARCH, OTHER, Cell(requests=64)),
        ]
    )(conn)
    rows = store.query(FEB_END, MARCH + 120)(conn)
    assert [(r.month, r.key, r.requests) for r in rows] == [
        ("2026-02", FN, 2),
        ("2026-03", FN, 12),
        ("2026-03", LIVE, 32),
        ("2026-03", OTHER, 64),
    ]
    only_fn = store.query(FEB_END, MARCH + 120, function="fn")(conn)
    assert {r.key for r in only_fn} == {FN, LIVE}
    live = store.query(FEB_END, MARCH + 120, function="fn", qualifier="live")(conn)
    assert [(r.key, r.requests) for r in live] == [(LIVE, 32)]


def test_expire_forgets_minutes_before_the_cutoff() -> None:
    conn = connection()
    store.add([(MARCH, FN, Cell(requests=1)), (MARCH + 60, FN, Cell(requests=2))])(conn)
    store.expire(MARCH + 60)(conn)
    assert [r.requests for r in store.query(0, MARCH + 3600)(conn)] == [2]


def test_a_file_written_before_snapstart_gets_its_columns() -> None:
    conn = sqlite3.connect(":memory:")
    conn.executescript(
        store.SCHEMA.replace("    restores INTEGER NOT NULL DEFAULT 0,\n", "").replace(
            "    snapshot_ms INTEGER NOT NULL DEFAULT 0,\n", ""
        )
    )
    assert "restores" not in {r[1] for r in conn.execute("PRAGMA table_info(usage)")}
    conn.execute(
        "INSERT INTO usage VALUES (?, ?, ?, ?, ?, 1, 2, 0, 0, 0)", (MARCH, *FN)
    )  # a row of the old file
    store.upgrade(conn)
    store.upgrade(conn)  # idempotent
    store.add([(MARCH, FN, Cell(requests=1, restores=1, snapshot_ms=60_000))])(conn)
    (row,) = store.query(0, MARCH + 60)(conn)
    assert (row.requests, row.billed_ms, row.restores, row.snapshot_ms) == (2, 2, 1, 60_000)
