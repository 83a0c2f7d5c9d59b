"""The ledger in memory: invokes add to their key's cell in the current minute; provisioned
concurrency accrues configured amount x time, split exactly at minute boundaries."""

from __future__ import annotations

from engine.usage.ledger import SNAPSHOT_MINIMUM_MS, Cell, Ledger, key_of, minute_of
from tests.unit.engine.usage.helpers import MINUTE_MS, T0_MS, config, outcome

T0_S = T0_MS // 1000


def by_key(rows: list[tuple[int, tuple[str, str, str, int], Cell]]) -> dict[object, Cell]:
    return {(minute, key): cell for minute, key, cell in rows}


def test_minute_of_rounds_down_to_the_minute_in_seconds() -> None:
    assert minute_of(T0_MS) == T0_S
    assert minute_of(T0_MS + MINUTE_MS - 1) == T0_S
    assert minute_of(T0_MS + MINUTE_MS) == T0_S + 60


def test_invokes_add_up_per_function_qualifier_architecture_and_memory() -> None:
    ledger = Ledger(now_ms=T0_MS + 5)
    fn, arm = config(), config(arch="arm64", memory_mb=512)
    ledger.record(fn, None, outcome(13, init_billed_ms=120), False)  # a cold start
    ledger.record(fn, "$LATEST", outcome(3), False)  # named $LATEST: the same key
    ledger.record(fn, "live", outcome(4), False)
    ledger.record(arm, None, outcome(7), True)  # served by a provisioned environment
    rows = by_key(ledger.take(T0_MS + 10))
    assert rows == {
        (T0_S, ("fn", "$LATEST", "x86_64", 128)): Cell(
            requests=2, billed_ms=16, init_billed_ms=120
        ),
        (T0_S, ("fn", "live", "x86_64", 128)): Cell(requests=1, billed_ms=4),
        (T0_S, ("fn", "$LATEST", "arm64", 512)): Cell(requests=1, provisioned_billed_ms=7),
    }
    assert ledger.take(T0_MS + 20) == []  # handed over once


def test_invokes_count_in_the_minute_the_last_advance_made_current() -> None:
    ledger = Ledger(now_ms=T0_MS)
    fn = config()
    ledger.record(fn, None, outcome(1), False)
    ledger.advance(T0_MS + MINUTE_MS + 3)  # the service's tick at the boundary
    ledger.record(fn, None, outcome(2), False)
    ledger.record(fn, None, outcome(2), False)
    ledger.advance(T0_MS + 3 * MINUTE_MS)  # a minute with nothing, then the third
    ledger.record(fn, None, outcome(5), False)
    rows = ledger.take(T0_MS + 3 * MINUTE_MS + 1)
    assert [(m - T0_S, c.requests, c.billed_ms) for m, _, c in rows] == [
        (0, 1, 1),
        (60, 2, 4),
        (180, 1, 5),
    ]


def test_provisioned_time_accrues_per_minute_exactly() -> None:
    ledger = Ledger(now_ms=T0_MS)
    key = key_of(config(version="1"), "live")
    ledger.set_provisioned([(key, 2)], T0_MS + 30_000)  # configured half a minute in
    # 90 s later: 30 s in the first minute, 60 s in the second
    rows = by_key(ledger.take(T0_MS + 120_000))
    assert rows[(T0_S, key)].provisioned_env_ms == 2 * 30_000
    assert rows[(T0_S + 60, key)].provisioned_env_ms == 2 * 60_000
    ledger.set_provisioned([(key, 1)], T0_MS + 150_000)  # lowered to 1 after 30 s more
    ledger.set_provisioned([], T0_MS + 170_000)  # deleted 20 s later
    rows = by_key(ledger.take(T0_MS + 600_000))
    assert rows == {(T0_S + 120, key): Cell(provisioned_env_ms=2 * 30_000 + 1 * 20_000)}


def test_configs_of_one_key_add_up_and_zero_ones_cost_nothing() -> None:
    ledger = Ledger(now_ms=T0_MS)
    key = key_of(config(version="1"), "1")
    other = key_of(config("g", version="2"), "2")
    ledger.set_provisioned([(key, 1), (key, 2), (other, 0)], T0_MS)
    assert ledger.provisioned == {key: 3}
    rows = by_key(ledger.take(T0_MS + 1000))
    assert rows == {(T0_S, key): Cell(provisioned_env_ms=3000)}


def test_a_wall_clock_step_back_accrues_nothing_twice() -> None:
    ledger = Ledger(now_ms=T0_MS)
    key = key_of(config(version="1"), "1")
    ledger.set_provisioned([(key, 1)], T0_MS)
    ledger.advance(T0_MS + 10_000)
    ledger.advance(T0_MS + 4_000)  # the clock was set back 6 s
    ledger.advance(T0_MS + 5_000)
    rows = ledger.take(T0_MS + 5_000)
    assert sum(c.provisioned_env_ms for _, _, c in rows) == 10_000 + 1_000


def test_rows_of_a_failed_flush_are_given_back_and_merged() -> None:
    ledger = Ledger(now_ms=T0_MS)
    fn = config()
    ledger.record(fn, None, outcome(10), False)
    rows = ledger.take(T0_MS + 1)
    ledger.record(fn, None, outcome(5), False)  # while the flush was failing
    ledger.give_back(rows)
    ledger.record(fn, None, outcome(1), False)
    (row,) = ledger.take(T0_MS + 2)
    assert row[2] == Cell(requests=3, billed_ms=16)


def test_a_restore_counts_on_its_invoke_s_key() -> None:
    ledger = Ledger(now_ms=T0_MS)
    fn = config(version="2")
    ledger.record(fn, "2", outcome(3, init_billed_ms=1, restored=True), False)
    ledger.record(fn, "2", outcome(2), False)  # control: the next, warm invoke
    (row,) = ledger.take(T0_MS + 10)
    assert row[2] == Cell(requests=2, billed_ms=5, init_billed_ms=1, restores=1)


def test_a_snapshot_is_cached_for_as_long_as_its_version_exists() -> None:
    ledger = Ledger(now_ms=T0_MS)
    key = key_of(config(version="1"), "1")
    published = T0_MS - SNAPSHOT_MINIMUM_MS  # long enough ago: no minimum left to charge
    ledger.set_snapstart([(key, published)], T0_MS + 30_000)  # a restart finds it half a minute in
    ledger.set_snapstart([], T0_MS + 2 * MINUTE_MS + 15_000)  # deleted
    rows = ledger.take(T0_MS + 5 * MINUTE_MS)
    assert {m - T0_S: c.snapshot_ms for m, _, c in rows} == {
        0: 30_000,
        60: 60_000,
        120: 15_000,
    }


def test_a_version_deleted_within_its_first_3_hours_is_charged_the_rest_then() -> None:
    ledger = Ledger(now_ms=T0_MS)
    key = key_of(config(version="1"), "1")
    ledger.set_snapstart([(key, T0_MS)], T0_MS)  # published now
    ledger.set_snapstart([], T0_MS + 10 * MINUTE_MS)  # deleted 10 minutes later
    rows = ledger.take(T0_MS + 11 * MINUTE_MS)
    assert sum(c.snapshot_ms for _, _, c in rows) == SNAPSHOT_MINIMUM_MS  # 3 hours in all
    assert rows[-1][0] - T0_S == 600  # the rest, in the minute it was deleted
    assert rows[-1][2].snapshot_ms == SNAPSHOT_MINIMUM_MS - 10 * MINUTE_MS
