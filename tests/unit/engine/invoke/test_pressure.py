"""The memory guard over a fake pool, a fake /proc/meminfo and fake cgroup usage: cold starts
admitted, reclaiming least recently used idle environments, or refused; the background
reclaim under the reserve; the limit on what the environments use together."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import pytest
import trio
import trio.testing

from engine.errors import TooManyRequestsException
from engine.invoke.memory import MIB
from engine.invoke.pressure import RECLAIM_WAIT_S, WATCH_INTERVAL_S, MemoryGuard
from sandbox.cgroups import Cgroups

TOTAL_MB = 24 * 1024


@dataclass(eq=False)
class Env:
    name: str
    idle_since: float
    usage_mb: int

    @property
    def cgroup_name(self) -> str:
        return f"sb-{self.name}"


class Host:
    """/proc/meminfo as a file the test rewrites, and the groups' usage."""

    def __init__(self, path: Path, available_mb: int) -> None:
        self.path = path
        self.usage: dict[str, int] = {}
        self.set_available(available_mb)

    def set_available(self, mb: int) -> None:
        self.available_mb = mb
        self.path.write_text(
            f"MemTotal:       {TOTAL_MB * 1024} kB\nMemFree:        1 kB\n"
            f"MemAvailable:   {mb * 1024} kB\n"
        )

    def memory_usage_bytes(self, name: str) -> int:
        if name not in self.usage:
            raise OSError(f"no group {name}")
        return self.usage[name] * MIB


@dataclass
class FakePool:
    host: Host
    teardown_s: float = 0.1
    frees: bool = True  # a torn-down environment gives its usage back to the host
    idle: list[Env] = field(default_factory=list)
    live: set[Any] = field(default_factory=set)
    discarded: list[str] = field(default_factory=list)
    nursery: trio.Nursery | None = None
    template_mb: int = 0  # SnapStart templates' usage
    _changed: trio.Event = field(default_factory=trio.Event)

    def add(self, name: str, idle_since: float, usage_mb: int) -> Env:
        env = Env(name, idle_since, usage_mb)
        self.idle.append(env)
        self.live.add(env)
        self.host.usage[env.cgroup_name] = usage_mb
        return env

    def reclaimable(self) -> Iterable[Any]:
        return list(self.idle)

    def discard(self, env: Any) -> None:
        self.idle.remove(env)
        self.discarded.append(env.name)
        assert self.nursery is not None
        self.nursery.start_soon(self._teardown, env)

    async def _teardown(self, env: Env) -> None:
        await trio.sleep(self.teardown_s)
        self.live.discard(env)
        if self.frees:
            self.host.set_available(self.host.available_mb + env.usage_mb)
        del self.host.usage[env.cgroup_name]
        self._changed.set()
        self._changed = trio.Event()

    async def wait_teardowns(self) -> None:
        await self._changed.wait()

    def template_bytes(self) -> int:
        return self.template_mb << 20


def guard(
    tmp_path: Path, available_mb: int, reserve_mb: int | None = 1024, limit_mb: int | None = None
) -> MemoryGuard:
    host = Host(tmp_path / "meminfo", available_mb)
    pool = FakePool(host)
    return MemoryGuard(
        pool=pool,
        cgroups=cast(Cgroups, host),
        reserve_mb=reserve_mb,
        limit_mb=limit_mb,
        meminfo=host.path,
    )


def pool_of(g: MemoryGuard) -> FakePool:
    return cast(FakePool, g.pool)


async def test_enough_memory_admits_without_reclaiming(tmp_path: Path) -> None:
    g = guard(tmp_path, available_mb=1024 + 2048)
    pool = pool_of(g)
    pool.add("a", 1.0, 500)
    await g.admit(2048)
    assert pool.discarded == []
    g.close()


async def test_short_memory_reclaims_the_least_recently_used_then_admits(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    g = guard(tmp_path, available_mb=1024 + 2048 - 300)
    pool = pool_of(g)
    pool.add("newest", 3.0, 400)
    pool.add("oldest", 1.0, 200)
    pool.add("middle", 2.0, 200)
    async with trio.open_nursery() as nursery:
        pool.nursery = nursery
        started = trio.current_time()
        await g.admit(2048)
        assert trio.current_time() - started == pytest.approx(pool.teardown_s)
    assert pool.discarded == ["oldest", "middle"]  # 400 MB for a 300 MB deficit
    assert [e.name for e in pool.idle] == ["newest"]
    g.close()


async def test_idle_environments_too_small_to_help_are_kept_and_the_start_refused(
    tmp_path: Path,
) -> None:
    g = guard(tmp_path, available_mb=1024 + 2048 - 300)
    pool = pool_of(g)
    pool.add("a", 1.0, 6)
    pool.add("b", 2.0, 6)
    with pytest.raises(TooManyRequestsException) as caught:
        await g.admit(2048)
    assert caught.value.reason == "ConcurrentInvocationLimitExceeded"
    assert "2048 MB" in caught.value.message
    assert pool.discarded == []  # destroying them would not have made room
    g.close()


async def test_memory_that_does_not_come_back_refuses_after_a_bounded_wait(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    g = guard(tmp_path, available_mb=1024 + 2048 - 300)
    pool = pool_of(g)
    pool.teardown_s = 60.0  # a teardown stuck well past the wait
    pool.add("a", 1.0, 400)
    async with trio.open_nursery() as nursery:
        pool.nursery = nursery
        started = trio.current_time()
        with pytest.raises(TooManyRequestsException):
            await g.admit(2048)
        assert trio.current_time() - started == pytest.approx(RECLAIM_WAIT_S)
        nursery.cancel_scope.cancel()
    g.close()


async def test_reclaimed_memory_taken_by_someone_else_still_refuses(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    g = guard(tmp_path, available_mb=1024 + 2048 - 300)
    pool = pool_of(g)
    pool.frees = False
    pool.add("a", 1.0, 400)
    async with trio.open_nursery() as nursery:
        pool.nursery = nursery
        with pytest.raises(TooManyRequestsException):
            await g.admit(2048)
    assert pool.discarded == ["a"]
    g.close()


async def test_a_reserve_of_zero_turns_the_guard_off(tmp_path: Path) -> None:
    g = guard(tmp_path, available_mb=1, reserve_mb=0)
    assert not g.enabled and g.host is None
    await g.admit(10240)
    g.close()


def test_the_default_reserve_comes_from_mem_total(tmp_path: Path) -> None:
    g = guard(tmp_path, available_mb=20000, reserve_mb=None)
    assert g.enabled and g.reserve_mb == 1024
    g.close()


async def test_under_the_reserve_idle_environments_are_reclaimed_in_the_background(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    g = guard(tmp_path, available_mb=4096)
    pool = pool_of(g)
    for i in range(6):
        pool.add(f"e{i}", float(i), 100)
    async with trio.open_nursery() as nursery:
        pool.nursery = nursery
        nursery.start_soon(g.watch)
        await trio.sleep(WATCH_INTERVAL_S * 2.5)
        assert pool.discarded == []  # above the reserve: nothing goes
        pool.teardown_s = WATCH_INTERVAL_S * 1.5  # still freeing at the next tick
        pool.host.set_available(1000)  # 24 MB under the reserve; aims at 1280 MB
        await trio.sleep(WATCH_INTERVAL_S)
        assert pool.discarded == ["e0", "e1", "e2"]
        await trio.sleep(WATCH_INTERVAL_S)  # e0-e2 not torn down yet: no second round
        assert pool.discarded == ["e0", "e1", "e2"]
        await trio.sleep(WATCH_INTERVAL_S * 2)
        assert pool.host.available_mb == 1300
        assert pool.discarded == ["e0", "e1", "e2"]  # back above the reserve
        nursery.cancel_scope.cancel()
    g.close()


async def test_under_the_reserve_with_nothing_idle_the_watch_only_waits(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    g = guard(tmp_path, available_mb=10)
    async with trio.open_nursery() as nursery:
        pool_of(g).nursery = nursery
        nursery.start_soon(g.watch)
        await trio.sleep(WATCH_INTERVAL_S * 3.5)
        nursery.cancel_scope.cancel()
    assert pool_of(g).discarded == []
    g.close()


async def test_refusals_under_sustained_pressure_log_once_a_second(
    tmp_path: Path, autojump_clock: trio.testing.MockClock, caplog: pytest.LogCaptureFixture
) -> None:
    g = guard(tmp_path, available_mb=100)
    for _ in range(5):
        with pytest.raises(TooManyRequestsException):
            await g.admit(128)
    await trio.sleep(1.0)
    with pytest.raises(TooManyRequestsException):
        await g.admit(128)
    warnings = [r.getMessage() for r in caplog.records if "refused" in r.getMessage()]
    assert len(warnings) == 2, warnings
    assert "4 more refused since the last warning" in warnings[1]
    g.close()


@pytest.mark.parametrize(("available_mb", "reserve_mb"), [(200_000, 1024), (1, 0), (9000, None)])
async def test_the_limit_decides_whatever_the_host_has_available(
    tmp_path: Path,
    autojump_clock: trio.testing.MockClock,
    caplog: pytest.LogCaptureFixture,
    available_mb: int,
    reserve_mb: int | None,
) -> None:
    # Two 2,048 MB environments fit in a 5,632 MB limit with a third's MemorySize only once
    # one of them is gone; how much the host has free (beyond its reserve) does not matter.
    g = guard(tmp_path, available_mb=available_mb, reserve_mb=reserve_mb, limit_mb=5632)
    pool = pool_of(g)
    await g.admit(2560)  # nothing used yet
    pool.add("older", 1.0, 2048)
    await g.admit(2560)  # 2,048 + 2,560 fit
    newer = pool.add("newer", 2.0, 2048)
    async with trio.open_nursery() as nursery:
        pool.nursery = nursery
        await g.admit(2560)  # 4,096 + 2,560 do not: the older goes
    assert pool.discarded == ["older"]
    assert [e.name for e in pool.idle] == ["newer"]
    pool.idle.remove(newer)  # busy: not reclaimable
    pool.add("third", 3.0, 2048)
    pool.idle.pop()  # busy too
    with pytest.raises(TooManyRequestsException) as caught:
        await g.admit(2560)
    assert caught.value.reason == "ConcurrentInvocationLimitExceeded"
    assert pool.discarded == ["older"]
    assert "short of the 5632 MB limit on environments" in caplog.text
    g.close()


async def test_a_limit_with_the_reserve_off_admits_but_does_not_watch_the_host(
    tmp_path: Path,
) -> None:
    g = guard(tmp_path, available_mb=1, reserve_mb=0, limit_mb=1024)
    assert not g.enabled and g.host is None and g.spare_bytes() is None
    await g.admit(1024)
    pool_of(g).add("a", 1.0, 1)  # the limit alone refuses: 1 MB over it
    pool_of(g).idle.clear()
    with pytest.raises(TooManyRequestsException):
        await g.admit(1024)
    g.close()
