"""Prices as Lambda's: requests per million, GB-seconds from billed ms x memory (MB / 1024), the
architecture's rate, provisioned concurrency and the invokes it serves, the monthly free tier."""

from __future__ import annotations

import pytest

from engine.config import CostConfig
from engine.usage.ledger import Key
from engine.usage.pricing import FreeTier, free_tier, gb_seconds, price, report
from engine.usage.store import Usage
from engine.usage.window import Window

PRICES = CostConfig()
X86: Key = ("fn", "$LATEST", "x86_64", 128)
ARM: Key = ("fn", "$LATEST", "arm64", 128)
GB: Key = ("big", "live", "x86_64", 1024)


def usage(key: Key, month: str = "2026-03", **sums: int) -> Usage:
    values = {
        "requests": 0,
        "billed_ms": 0,
        "init_billed_ms": 0,
        "provisioned_billed_ms": 0,
        "provisioned_env_ms": 0,
        "restores": 0,
        "snapshot_ms": 0,
        **sums,
    }
    return Usage(month=month, key=key, **values)


def test_gb_seconds_are_billed_ms_times_memory_in_gb() -> None:
    assert gb_seconds(1000, 1024) == 1.0
    assert gb_seconds(1000, 128) == 0.125
    assert gb_seconds(1, 128) == 0.000125  # one billed millisecond (Lambda's minimum step)
    assert gb_seconds(3000, 1769) == pytest.approx(5.1826171875)


def test_requests_and_on_demand_duration_at_the_default_x86_rate() -> None:
    (row,) = price([usage(X86, requests=1_000_000, billed_ms=8_000_000)], PRICES)
    assert row.request_cost == pytest.approx(0.20)
    assert row.gb_seconds == 1000.0
    assert row.duration_cost == pytest.approx(1000 * 0.0000166667)
    assert row.cost == pytest.approx(0.20 + 0.0166667)


def test_arm64_has_its_own_rate() -> None:
    arm, x86 = price(
        [usage(X86, requests=1, billed_ms=8000), usage(ARM, requests=1, billed_ms=8000)], PRICES
    )
    assert (arm.key, x86.key) == (ARM, X86)  # key order
    assert arm.duration_cost == pytest.approx(1.0 * 0.0000133334)
    assert x86.duration_cost == pytest.approx(1.0 * 0.0000166667)


def test_provisioned_concurrency_and_the_invokes_it_serves() -> None:
    # 2 environments of 1 GB configured for a minute; 3 s of invokes on them
    (row,) = price(
        [usage(GB, requests=30, provisioned_env_ms=2 * 60_000, provisioned_billed_ms=3000)],
        PRICES,
    )
    assert row.provisioned_gb_seconds == 120.0
    assert row.provisioned_cost == pytest.approx(120 * 0.0000041667)
    assert row.provisioned_duration_gb_seconds == 3.0
    assert row.provisioned_duration_cost == pytest.approx(3 * 0.0000097222)
    assert row.duration_cost == 0.0
    assert row.request_cost == pytest.approx(30 * 0.20 / 1e6)


def test_snapstart_caches_per_gb_second_and_restores_per_gb() -> None:
    # A 1 GB version's snapshot cached for an hour; two environments restored from it
    (row,) = price([usage(GB, requests=2, billed_ms=10, restores=2, snapshot_ms=3_600_000)], PRICES)
    assert row.snapshot_gb_seconds == 3600.0
    assert row.snapstart_cache_cost == pytest.approx(3600 * 0.0000015046)
    assert row.restored_gb == 2.0
    assert row.snapstart_restore_cost == pytest.approx(2 * 0.0001397998)
    assert row.cost == pytest.approx(
        row.request_cost + row.duration_cost + 3600 * 0.0000015046 + 2 * 0.0001397998
    )


def test_arm64_provisioned_rates() -> None:
    key: Key = ("g", "1", "arm64", 1024)
    (row,) = price([usage(key, provisioned_env_ms=1000, provisioned_billed_ms=1000)], PRICES)
    assert row.provisioned_cost == pytest.approx(0.0000033334)
    assert row.provisioned_duration_cost == pytest.approx(0.0000077778)


def test_months_of_one_key_add_up_and_the_price_table_is_the_configured_one() -> None:
    prices = CostConfig(request_per_million=1.0, gb_second_x86_64=0.5)
    (row,) = price(
        [
            usage(X86, "2026-02", requests=2, billed_ms=4000, init_billed_ms=100),
            usage(X86, "2026-03", requests=3, billed_ms=4000),
        ],
        prices,
    )
    assert (row.requests, row.billed_ms, row.init_billed_ms) == (5, 8000, 100)
    assert row.request_cost == pytest.approx(5e-6)
    assert row.duration_cost == pytest.approx(1.0 * 0.5)


def test_the_free_tier_covers_a_month_allowance_of_requests_and_on_demand_gb_seconds() -> None:
    # 1.5 M requests, 500,000 GB-s of x86 (1 GB for 500,000 s), provisioned time beside it
    month = [usage(GB, requests=1_500_000, billed_ms=500_000_000, provisioned_env_ms=10**9)]
    free = free_tier(month, [], PRICES)
    assert free.requests == 1_000_000
    assert free.gb_seconds == 400_000.0
    assert free.credit == pytest.approx(0.20 + 400_000 * 0.0000166667)


def test_what_the_month_used_before_the_window_comes_off_the_allowance() -> None:
    before = [usage(X86, requests=900_000, billed_ms=300_000_000 * 8)]  # 300,000 GB-s
    window = [usage(GB, requests=500_000, billed_ms=200_000_000)]  # 200,000 GB-s
    free = free_tier(window, before, PRICES)
    assert free.requests == 100_000
    assert free.gb_seconds == pytest.approx(100_000.0)


def test_the_allowance_goes_to_x86_before_arm64_and_each_month_has_its_own() -> None:
    arm: Key = ("a", "$LATEST", "arm64", 1024)
    window = [
        usage(arm, "2026-02", billed_ms=300_000_000),
        usage(GB, "2026-02", billed_ms=300_000_000),  # 300,000 GB-s of each
        usage(GB, "2026-03", billed_ms=1_000_000),  # 1,000 GB-s in the next month
    ]
    free = free_tier(window, [], PRICES)
    assert free.gb_seconds == pytest.approx(400_000 + 1_000)
    expected = (300_000 + 1_000) * 0.0000166667 + 100_000 * 0.0000133334
    assert free.credit == pytest.approx(expected)


def test_the_report_document_has_a_total_and_the_credit_off_it() -> None:
    span = Window(since_s=1_772_323_200, until_s=1_772_323_260.5)  # 2026-03-01T00:00Z + 60.5 s
    rows = price([usage(X86, requests=4, billed_ms=1000)], PRICES)
    doc = report(rows, window=span, prices=PRICES, free=FreeTier(requests=4, credit=0.5e-6))
    assert doc["Since"] == "2026-03-01T00:00:00Z"
    assert doc["Until"] == "2026-03-01T00:01:00.500Z"
    (fn,) = doc["Functions"]
    assert fn["FunctionName"] == "fn" and fn["Qualifier"] == "$LATEST"
    assert (fn["Architecture"], fn["MemorySize"], fn["Requests"]) == ("x86_64", 128, 4)
    assert fn["BilledDurationMs"] == 1000 and fn["GBSeconds"] == 0.125
    gross = 4 * 0.2e-6 + 0.125 * 0.0000166667
    assert fn["Cost"]["Total"] == pytest.approx(gross)
    assert doc["Total"]["CostBeforeFreeTier"] == pytest.approx(gross)
    assert doc["Total"]["Cost"] == pytest.approx(gross - 0.5e-6)
    assert doc["FreeTier"]["Applied"] and doc["FreeTier"]["Requests"] == 4
    assert doc["Prices"]["GBSecond"] == {"x86_64": 0.0000166667, "arm64": 0.0000133334}


def test_one_function_s_report_says_why_the_free_tier_is_not_applied() -> None:
    span = Window(since_s=0, until_s=60)
    doc = report([], window=span, prices=CostConfig(free_tier=True), free=None, function="fn")
    assert doc["Functions"] == [] and doc["Total"]["Cost"] == 0
    assert doc["FreeTier"]["Enabled"] and not doc["FreeTier"]["Applied"]
    assert "not applied to one function" in doc["FreeTier"]["Reason"]
