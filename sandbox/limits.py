"""Pure: turn a function's MemorySize into cgroup limits (memory, CPU quota and share, pids).

CPU is proportional to memory, as on AWS Lambda: one vCPU per ``mb_per_vcpu`` MiB, as a hard
quota, and as the group's share of contended CPU (``cpu.shares`` on v1, ``cpu.weight`` on v2),
so that sandboxes competing for the host's CPUs get them in proportion to their memory.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

MIB = 1024 * 1024
# The kernel rejects a CFS quota below 1 ms and a period outside 1 ms .. 1 s (v1 and v2).
MIN_CPU_QUOTA_US = 1000
MIN_CPU_PERIOD_US = 1000
MAX_CPU_PERIOD_US = 1_000_000
SHARES_PER_VCPU = 1024  # cgroup v1's default cpu.shares: what one vCPU's worth gets
MIN_CPU_SHARES = 2  # the kernel's range for cpu.shares
MAX_CPU_SHARES = 262_144


@dataclass(frozen=True, slots=True, kw_only=True)
class CgroupLimits:
    """What one sandbox's cgroup may use; every field carries its unit."""

    memory_max_bytes: int
    cpu_quota_us: int
    cpu_period_us: int
    pids_max: int
    cpu_shares: int = SHARES_PER_VCPU  # share of contended CPU, in v1 units (1024 = 1 vCPU)

    @property
    def cpu_weight(self) -> int:
        """The same share in cgroup v2 units (100 = one vCPU's worth, 1..10000)."""
        return max(1, min(10_000, round(self.cpu_shares * 100 / SHARES_PER_VCPU)))


def limits_for(
    *,
    memory_mb: int,
    host_cpus: int,
    mb_per_vcpu: float = 1769.0,
    max_vcpus: float = 6.0,
    pids_max: int = 1024,
    cpu_period_us: int = 100_000,
) -> CgroupLimits:
    """Limits for a function of ``memory_mb`` MiB on a host with ``host_cpus`` CPUs.

    Memory is exactly ``memory_mb`` MiB (no swap). vCPUs = ``memory_mb / mb_per_vcpu``,
    capped at ``max_vcpus`` and at ``host_cpus``; the quota is that share of the period,
    rounded, and never below the kernel's 1000 us minimum.
    """
    _require_int("memory_mb", memory_mb, minimum=1)
    _require_int("host_cpus", host_cpus, minimum=1)
    _require_int("pids_max", pids_max, minimum=1)
    _require_int("cpu_period_us", cpu_period_us, minimum=MIN_CPU_PERIOD_US)
    if cpu_period_us > MAX_CPU_PERIOD_US:
        raise ValueError(f"cpu_period_us must be at most {MAX_CPU_PERIOD_US}, got {cpu_period_us}")
    _require_positive_float("mb_per_vcpu", mb_per_vcpu)
    _require_positive_float("max_vcpus", max_vcpus)

    vcpus = min(memory_mb / mb_per_vcpu, max_vcpus, float(host_cpus))
    quota_us = max(MIN_CPU_QUOTA_US, round(vcpus * cpu_period_us))
    shares = round(memory_mb / mb_per_vcpu * SHARES_PER_VCPU)
    return CgroupLimits(
        memory_max_bytes=memory_mb * MIB,
        cpu_quota_us=quota_us,
        cpu_period_us=cpu_period_us,
        pids_max=pids_max,
        cpu_shares=max(MIN_CPU_SHARES, min(MAX_CPU_SHARES, shares)),
    )


def _require_int(name: str, value: object, *, minimum: int) -> None:
    # bool is an int subclass; True MiB is a bug, not a size.
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError(f"{name} must be an int, got {value!r}")
    if value < minimum:
        raise ValueError(f"{name} must be at least {minimum}, got {value}")


def _require_positive_float(name: str, value: object) -> None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
