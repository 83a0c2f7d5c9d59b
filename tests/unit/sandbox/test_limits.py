"""limits_for: MemorySize -> memory, CPU quota and pids limits."""

from __future__ import annotations

import dataclasses
import math

import pytest

from sandbox.limits import MIB, CgroupLimits, limits_for


def test_smallest_lambda_gets_its_memory_share_of_a_cpu() -> None:
    limits = limits_for(memory_mb=128, host_cpus=2)
    assert limits == CgroupLimits(
        memory_max_bytes=128 * MIB,
        cpu_quota_us=7236,
        cpu_period_us=100_000,
        pids_max=1024,
        cpu_shares=74,  # 128/1769 of one vCPU's 1024 shares
    )
    assert limits.cpu_weight == 7  # the same share in cgroup v2's units (100 per vCPU)


@pytest.mark.parametrize(
    ("memory_mb", "host_cpus", "quota_us"),
    [
        (1769, 8, 100_000),  # exactly one vCPU
        (3538, 8, 200_000),
        (3538, 1, 100_000),  # capped at the host's CPUs
        (10_240, 8, 578_858),  # AWS's largest size: 5.79 vCPUs
        (12_000, 8, 600_000),  # capped at max_vcpus = 6
        (10_240, 4, 400_000),
        (1, 8, 1000),  # never below the kernel's 1 ms minimum
    ],
)
def test_cpu_quota_is_proportional_to_memory_and_capped(
    memory_mb: int, host_cpus: int, quota_us: int
) -> None:
    limits = limits_for(memory_mb=memory_mb, host_cpus=host_cpus)
    assert limits.cpu_quota_us == quota_us
    assert limits.memory_max_bytes == memory_mb * 1024 * 1024


def test_knobs_are_honoured() -> None:
    limits = limits_for(
        memory_mb=1792,
        host_cpus=16,
        mb_per_vcpu=1792.0,
        max_vcpus=0.5,
        pids_max=64,
        cpu_period_us=50_000,
    )
    assert limits.cpu_quota_us == 25_000
    assert limits.cpu_period_us == 50_000
    assert limits.pids_max == 64


def test_quota_is_rounded_not_truncated() -> None:
    # 1000 / 1769 * 100000 = 56529.1; 1001 / 1769 * 100000 = 56585.6
    assert limits_for(memory_mb=1000, host_cpus=2).cpu_quota_us == 56_529
    assert limits_for(memory_mb=1001, host_cpus=2).cpu_quota_us == 56_586


@pytest.mark.parametrize(
    "overrides",
    [
        {"memory_mb": 0},
        {"memory_mb": -128},
        {"memory_mb": 128.0},
        {"memory_mb": True},
        {"host_cpus": 0},
        {"mb_per_vcpu": 0.0},
        {"mb_per_vcpu": -1.0},
        {"mb_per_vcpu": math.nan},
        {"mb_per_vcpu": math.inf},
        {"max_vcpus": 0.0},
        {"pids_max": 0},
        {"cpu_period_us": 999},
        {"cpu_period_us": 1_000_001},
    ],
)
def test_nonsense_is_rejected(overrides: dict[str, object]) -> None:
    kwargs: dict[str, object] = {"memory_mb": 128, "host_cpus": 2, **overrides}
    with pytest.raises(ValueError, match=next(iter(overrides))):
        limits_for(**kwargs)  # type: ignore[arg-type]


def test_limits_are_frozen_and_keyword_only() -> None:
    limits = limits_for(memory_mb=128, host_cpus=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        limits.pids_max = 1  # type: ignore[misc]
    with pytest.raises(TypeError):
        CgroupLimits(1, 1000, 100_000, 1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("memory_mb", "shares", "weight"),
    [(1769, 1024, 100), (3538, 2048, 200), (10_240, 5928, 579), (1, 2, 1)],
)
def test_the_share_of_contended_cpu_is_proportional_to_memory(
    memory_mb: int, shares: int, weight: int
) -> None:
    limits = limits_for(memory_mb=memory_mb, host_cpus=2)  # the quota is capped; shares not
    assert (limits.cpu_shares, limits.cpu_weight) == (shares, weight)
