"""Memory pressure, the machinery: the host's MemAvailable, idle environments' usage, the
cold-start admission and the background reclaim (the policy is `engine.invoke.memory`).

A cold start the host has no memory for reclaims least recently used idle environments and
waits (at most RECLAIM_WAIT_S) for their teardowns; only if memory is still short is it refused
with a 429, so an invoke fails cleanly instead of the host (or the daemon) running out. A pool
task checks the host every WATCH_INTERVAL_S and reclaims idle environments while MemAvailable
is under the reserve. Provisioned and busy environments are never reclaimed. With a limit on
what the environments use together (`sandbox.memory_limit_mb`), a cold start must also fit in
it, counted from their groups' usage: a bound the configuration decides, whatever else the
host runs.

Resources: one descriptor on /proc/meminfo (read with pread), closed by `close()`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Final, NoReturn, Protocol

import trio

from engine.errors import ConfigError
from engine.invoke.memory import (
    MIB,
    Reclaim,
    choose_victims,
    cold_start_deficit,
    default_reserve_mb,
    limit_deficit,
    parse_meminfo,
    refusal,
    watermark_deficit,
)
from engine.runtime.environment import Environment
from sandbox.cgroups import Cgroups
from sandbox.errors import SandboxError

logger = logging.getLogger(__name__)

MEMINFO: Final = Path("/proc/meminfo")
WATCH_INTERVAL_S: Final = 1.0  # one pread of /proc/meminfo (~14 us with the parse) a second
# How long a cold start waits for the environments it reclaimed to be torn down (a killed
# sandbox's memory is free once its cgroup is empty: ~10-300 ms, more for GBs of pages).
RECLAIM_WAIT_S: Final = 2.0
REFUSAL_LOG_EVERY_S: Final = 1.0  # under sustained pressure, one warning a second at most


class IdlePool(Protocol):
    """What the guard needs of the pool (`engine.invoke.pool.Pool`)."""

    live: set[Environment]

    def reclaimable(self) -> Iterable[Environment]:
        """Idle on-demand environments (never provisioned, never busy)."""
        ...

    def discard(self, env: Environment) -> None: ...

    async def wait_teardowns(self) -> None:
        """Return after the next teardown ends."""
        ...

    def template_bytes(self) -> int:
        """What SnapStart templates hold (they count like environments)."""
        ...


class HostMemory:
    """/proc/meminfo through one descriptor kept open: a pread per reading."""

    def __init__(self, path: Path = MEMINFO) -> None:
        self._fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
        self.total_bytes = parse_meminfo(self._read(), "MemTotal")

    def _read(self) -> str:
        return os.pread(self._fd, 8192, 0).decode("ascii", "replace")

    def available_bytes(self) -> int:
        return parse_meminfo(self._read(), "MemAvailable")

    def close(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1


class MemoryGuard:
    def __init__(
        self,
        *,
        pool: IdlePool,
        cgroups: Cgroups,
        reserve_mb: int | None,
        limit_mb: int | None = None,
        meminfo: Path = MEMINFO,
    ) -> None:
        self.pool = pool
        self.cgroups = cgroups
        self.limit_mb = limit_mb  # None: no limit but the host's reserve
        self.host: HostMemory | None = None
        # Environments reclaimed in the background and not yet torn down: the next check
        # waits for their memory rather than reclaiming more for the same shortage.
        self._reclaiming: set[Environment] = set()
        self._refusals_unlogged = 0
        self._next_refusal_log = 0.0
        if reserve_mb == 0:
            self.reserve_mb = 0
            return
        try:
            self.host = HostMemory(meminfo)
        except (OSError, ValueError) as exc:
            logger.warning("no MemAvailable (%s): cold starts are not admitted by memory", exc)
            self.reserve_mb = 0
            return
        self.reserve_mb = (
            default_reserve_mb(self.host.total_bytes) if reserve_mb is None else reserve_mb
        )

    @property
    def enabled(self) -> bool:
        """The host's MemAvailable is watched (a reserve is set): the background reclaim runs."""
        return self.host is not None and self.reserve_mb > 0

    def set_reserve(self, reserve_mb: int | None) -> None:
        """A reloaded `sandbox.memory_reserve_mb` (None: the default share of MemTotal).
        Turning the reserve on where it was off needs a restart (its watcher runs only then)."""
        if not self.enabled:
            if reserve_mb != 0:
                raise ConfigError(
                    "sandbox.memory_reserve_mb: the reserve was off at start; turning it on "
                    "takes a restart"
                )
            return
        assert self.host is not None
        self.reserve_mb = (
            default_reserve_mb(self.host.total_bytes) if reserve_mb is None else reserve_mb
        )

    def available_bytes(self) -> int:
        assert self.host is not None
        return self.host.available_bytes()

    def spare_bytes(self) -> int | None:
        """Host memory beyond the reserve now (None: not watched); what extra stems may use."""
        if not self.enabled:
            return None
        try:
            return max(0, self.available_bytes() - self.reserve_mb * MIB)
        except (OSError, ValueError):
            return None

    def _victims(self, deficit: int) -> Reclaim[Environment]:
        """The least recently used idle environments whose memory covers `deficit`."""
        return choose_victims(
            deficit,
            self.pool.reclaimable(),
            idle_since=lambda env: env.idle_since,
            usage_bytes=self._usage_bytes,
        )

    def _usage_bytes(self, env: Environment) -> int:
        try:
            return self.cgroups.memory_usage_bytes(env.cgroup_name)
        except (OSError, ValueError, SandboxError):
            return 0  # a group going away frees what it holds anyway

    def _used_bytes(self) -> int:
        """What the live environments' groups use together (idle, busy and starting), and
        the SnapStart templates'."""
        return sum(self._usage_bytes(env) for env in self.pool.live) + self.pool.template_bytes()

    def _deficit(self, memory_mb: int) -> tuple[int, str]:
        """Bytes missing for a cold start of `memory_mb` (0: admitted), and which bound is
        short: the host's reserve or the environments' limit, whichever misses more."""
        host = 0
        if self.enabled:
            try:
                available = self.available_bytes()
            except (OSError, ValueError) as exc:  # never seen; admit rather than refuse blind
                logger.warning("reading MemAvailable failed: %s", exc)
            else:
                host = cold_start_deficit(
                    available_bytes=available, reserve_mb=self.reserve_mb, memory_mb=memory_mb
                )
        if self.limit_mb is not None:
            limit = limit_deficit(
                used_bytes=self._used_bytes(), limit_mb=self.limit_mb, memory_mb=memory_mb
            )
            if limit > host:
                return limit, f"the {self.limit_mb} MB limit on environments"
        return host, f"the {self.reserve_mb} MB reserve"

    async def admit(self, memory_mb: int) -> None:
        """Return when the host (and the limit, if set) has memory for a cold start of
        `memory_mb`, reclaiming least recently used idle environments if needed; else raise
        the 429."""
        if not self.enabled and self.limit_mb is None:
            return
        deficit, bound = self._deficit(memory_mb)
        if deficit == 0:
            return
        plan = self._victims(deficit)
        if plan.freed_bytes < deficit:
            self._refused(
                f"{deficit // MIB} MB short of {bound} plus its memory, idle environments"
                f" hold {plan.freed_bytes // MIB} MB",
                memory_mb,
            )
        started = trio.current_time()
        for env in plan.victims:
            self.pool.discard(env)
        with trio.move_on_after(RECLAIM_WAIT_S):
            while any(env in self.pool.live for env in plan.victims):
                await self.pool.wait_teardowns()
        waited_ms = (trio.current_time() - started) * 1000
        short, _ = self._deficit(memory_mb)
        if short > 0:
            self._refused(
                f"still {short // MIB} MB short after reclaiming {len(plan.victims)} idle"
                f" environment(s) and waiting {waited_ms:.0f} ms",
                memory_mb,
            )
        logger.info(
            "cold start of %d MB: was %d MB short, reclaimed %d idle environment(s) (%d MB)"
            " in %.0f ms",
            memory_mb,
            deficit // MIB,
            len(plan.victims),
            plan.freed_bytes // MIB,
            waited_ms,
        )

    def _refused(self, why: str, memory_mb: int) -> NoReturn:
        now = trio.current_time()
        if now >= self._next_refusal_log:
            more = self._refusals_unlogged
            also = f" ({more} more refused since the last warning)" if more else ""
            logger.warning("cold start of %d MB refused: %s%s", memory_mb, why, also)
            self._refusals_unlogged = 0
            self._next_refusal_log = now + REFUSAL_LOG_EVERY_S
        else:
            self._refusals_unlogged += 1
        raise refusal(memory_mb=memory_mb)

    async def watch(self) -> None:
        """Reclaim idle environments while the host is under the reserve (runs forever)."""
        while True:
            await trio.sleep(WATCH_INTERVAL_S)
            try:
                self.reclaim_under_reserve()
            except (OSError, ValueError) as exc:
                logger.warning("memory pressure check failed: %s", exc)

    def reclaim_under_reserve(self) -> None:
        self._reclaiming = {env for env in self._reclaiming if env in self.pool.live}
        if self._reclaiming:
            return  # what the last round reclaimed is not free yet
        available = self.available_bytes()
        deficit = watermark_deficit(available_bytes=available, reserve_mb=self.reserve_mb)
        if deficit == 0:
            return
        plan = self._victims(deficit)
        if plan.victims:
            logger.warning(
                "host memory under the %d MB reserve (%d MB available): reclaiming %d idle"
                " environment(s) (%d MB)",
                self.reserve_mb,
                available // MIB,
                len(plan.victims),
                plan.freed_bytes // MIB,
            )
        for env in plan.victims:
            self.pool.discard(env)
            self._reclaiming.add(env)

    def close(self) -> None:
        if self.host is not None:
            self.host.close()
