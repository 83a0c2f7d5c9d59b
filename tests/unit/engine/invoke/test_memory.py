"""The memory-pressure policy: admission, the watermark, least recently used victims."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from engine.errors import TooManyRequestsException
from engine.invoke.memory import (
    MIB,
    choose_victims,
    cold_start_deficit,
    default_reserve_mb,
    limit_deficit,
    parse_meminfo,
    refusal,
    watermark_deficit,
)

MEMINFO = """\
MemTotal:       24683784 kB
MemFree:        23884224 kB
MemAvailable:   24086476 kB
Buffers:            5000 kB
HugePages_Total:       0
"""


@dataclass(frozen=True)
class Env:
    name: str
    idle_since: float
    usage_mb: int


def victims(deficit_mb: int, envs: list[Env]) -> tuple[list[str], int]:
    read: list[str] = []

    def usage(env: Env) -> int:
        read.append(env.name)
        return env.usage_mb * MIB

    plan = choose_victims(
        deficit_mb * MIB, envs, idle_since=lambda e: e.idle_since, usage_bytes=usage
    )
    assert [e.name for e in plan.victims] == read  # usage read only of those chosen
    return read, plan.freed_bytes // MIB


def test_meminfo_fields_in_bytes() -> None:
    assert parse_meminfo(MEMINFO, "MemAvailable") == 24086476 * 1024
    assert parse_meminfo(MEMINFO, "MemTotal") == 24683784 * 1024
    assert parse_meminfo(MEMINFO, "HugePages_Total") == 0
    with pytest.raises(ValueError, match="no MemFoo"):
        parse_meminfo(MEMINFO, "MemFoo")


def test_default_reserve_is_five_percent_capped_at_a_gibibyte() -> None:
    assert default_reserve_mb(24 * 1024 * MIB) == 1024
    assert default_reserve_mb(2048 * MIB) == 102
    assert default_reserve_mb(20 * 1024 * MIB) == 1024


def test_a_cold_start_needs_the_reserve_plus_its_memory_size() -> None:
    assert cold_start_deficit(available_bytes=2560 * MIB, reserve_mb=512, memory_mb=2048) == 0
    short = cold_start_deficit(available_bytes=2000 * MIB, reserve_mb=512, memory_mb=2048)
    assert short == 560 * MIB
    # A reserve of 0 turns admission off, however short the host is.
    assert cold_start_deficit(available_bytes=0, reserve_mb=0, memory_mb=10240) == 0


def test_under_a_limit_a_cold_start_needs_what_is_used_plus_its_memory_size() -> None:
    assert limit_deficit(used_bytes=3072 * MIB, limit_mb=5632, memory_mb=2560) == 0
    short = limit_deficit(used_bytes=4100 * MIB, limit_mb=5632, memory_mb=2560)
    assert short == 1028 * MIB
    assert limit_deficit(used_bytes=10**15, limit_mb=None, memory_mb=10240) == 0  # no limit


def test_the_watermark_starts_under_the_reserve_and_aims_above_it() -> None:
    assert watermark_deficit(available_bytes=1024 * MIB, reserve_mb=1024) == 0
    assert watermark_deficit(available_bytes=1000 * MIB, reserve_mb=1024) == 280 * MIB
    assert watermark_deficit(available_bytes=0, reserve_mb=0) == 0


def test_least_recently_used_go_first_until_the_deficit_is_covered() -> None:
    envs = [Env("c", 3.0, 100), Env("a", 1.0, 100), Env("b", 2.0, 100), Env("d", 4.0, 100)]
    assert victims(150, envs) == (["a", "b"], 200)
    assert victims(100, envs) == (["a"], 100)
    assert victims(1, envs) == (["a"], 100)


def test_a_deficit_idle_environments_cannot_cover_takes_them_all_and_says_so() -> None:
    envs = [Env("a", 1.0, 6), Env("b", 2.0, 6)]
    assert victims(100, envs) == (["a", "b"], 12)
    assert victims(100, []) == ([], 0)


def test_no_deficit_no_victims() -> None:
    assert victims(0, [Env("a", 1.0, 6)]) == ([], 0)


def test_a_usage_that_cannot_be_read_counts_as_nothing() -> None:
    envs = [Env("a", 1.0, -1), Env("b", 2.0, 50)]
    assert victims(40, envs) == (["a", "b"], 50)


def test_the_refusal_is_aws_throttle_shaped_and_says_why() -> None:
    exc = refusal(memory_mb=2048)
    assert isinstance(exc, TooManyRequestsException)
    assert exc.status == 429
    assert exc.error_type == "TooManyRequestsException"
    assert exc.reason == "ConcurrentInvocationLimitExceeded"
    assert exc.message.startswith("Rate Exceeded.")
    assert "host memory" in exc.message and "2048 MB" in exc.message
    assert exc.body() == {"Type": "User", "message": exc.message, "Reason": exc.reason}
