"""Memory pressure, the policy: how much a cold start needs and which idle environments go.

Pure: the host's figures (MemAvailable, a group's usage) are read by `engine.invoke.pressure`
and handed in. A cold start is admitted while the host keeps `reserve` free after granting
the function its whole MemorySize (Lambda reserves an environment's memory); when it is short,
the least recently used idle environments are reclaimed first, and only if their usage cannot
cover the deficit is the cold start refused (a 429 built here). An optional limit on what the
environments together use (the sum of their groups' usage) is a second, host-independent bound.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Final, Generic, TypeVar

from engine.errors import TooManyRequestsException

MIB: Final = 1024 * 1024
# Default reserve: this share of the host's memory, at most DEFAULT_RESERVE_CAP_MB.
DEFAULT_RESERVE_SHARE: Final = 0.05
DEFAULT_RESERVE_CAP_MB: Final = 1024
# The background reclaim starts below the reserve and stops once the estimate is this much
# above it, so a host hovering at the reserve does not lose one environment per tick.
HYSTERESIS: Final = 0.25
# AWS's throttle reason for "no room for another concurrent environment": one the model
# knows (clients switch on it), and one that gets a Retry-After.
REASON: Final = "ConcurrentInvocationLimitExceeded"

T = TypeVar("T")


@dataclass(frozen=True, slots=True, kw_only=True)
class Reclaim(Generic[T]):
    """Idle environments to destroy, least recently used first, and what they hold."""

    victims: tuple[T, ...]
    freed_bytes: int


def default_reserve_mb(mem_total_bytes: int) -> int:
    """5 % of the host's memory, at most 1 GiB (24 GB host: 1,024 MB; 2 GB host: 102 MB)."""
    return min(DEFAULT_RESERVE_CAP_MB, int(mem_total_bytes * DEFAULT_RESERVE_SHARE) // MIB)


def parse_meminfo(text: str, field: str) -> int:
    """`field` of /proc/meminfo ("MemAvailable", "MemTotal") in bytes."""
    for line in text.splitlines():
        name, _, rest = line.partition(":")
        if name == field:
            value, _, unit = rest.strip().partition(" ")
            return int(value) * (1024 if unit.strip() == "kB" else 1)
    raise ValueError(f"no {field} in /proc/meminfo")


def cold_start_deficit(*, available_bytes: int, reserve_mb: int, memory_mb: int) -> int:
    """Bytes missing for a cold start of `memory_mb` (0: admitted). A reserve of 0 turns
    admission off."""
    if reserve_mb <= 0:
        return 0
    return max(0, (reserve_mb + memory_mb) * MIB - available_bytes)


def limit_deficit(*, used_bytes: int, limit_mb: int | None, memory_mb: int) -> int:
    """Bytes missing for a cold start of `memory_mb` under a limit on what all environments
    use together, `used_bytes` now (0: admitted). No limit (None): always admitted."""
    if limit_mb is None:
        return 0
    return max(0, used_bytes + (memory_mb - limit_mb) * MIB)


def watermark_deficit(*, available_bytes: int, reserve_mb: int) -> int:
    """Bytes the background reclaim should free (0: the host is not under the reserve)."""
    if reserve_mb <= 0 or available_bytes >= reserve_mb * MIB:
        return 0
    return int(reserve_mb * (1 + HYSTERESIS) * MIB) - available_bytes


def choose_victims(
    deficit_bytes: int,
    idle: Iterable[T],
    *,
    idle_since: Callable[[T], float],
    usage_bytes: Callable[[T], int],
) -> Reclaim[T]:
    """The least recently used of `idle` whose usage adds up to `deficit_bytes` (all of
    them if they fall short: `freed_bytes` tells). `idle` holds only environments that may
    go (idle, not provisioned); `usage_bytes` is called only for those considered."""
    victims: list[T] = []
    freed = 0
    if deficit_bytes <= 0:
        return Reclaim(victims=(), freed_bytes=0)
    for env in sorted(idle, key=idle_since):
        victims.append(env)
        freed += max(0, usage_bytes(env))
        if freed >= deficit_bytes:
            break
    return Reclaim(victims=tuple(victims), freed_bytes=freed)


def refusal(*, memory_mb: int) -> TooManyRequestsException:
    """The 429 of a cold start the host has no memory for. AWS's words first ("Rate
    Exceeded.", as its throttles say), then what happened and what to do."""
    return TooManyRequestsException(
        f"Rate Exceeded. Not enough host memory for a new {memory_mb} MB execution"
        " environment, even after reclaiming idle ones; retry later.",
        reason=REASON,
    )
