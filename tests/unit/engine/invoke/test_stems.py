"""Stems keep up with demand: the target follows the takes of the last second between
`prewarm` and `prewarm_max`, stems are made several at once, and an idle pool drifts back to
`prewarm`. A fake spawner whose stems take 30 ms to make, on trio's autojump clock."""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from typing import Any

import trio
import trio.testing

from engine.config import Config, SandboxConfig
from engine.invoke.plan import PoolPaths
from engine.invoke.stems import Stems
from engine.model.demand import Demand
from sandbox.launcher import Stem

MAKE_S = 0.03


async def inline(fn: Callable[[], None]) -> None:
    fn()


class FakeSpawner:
    def __init__(self) -> None:
        self.made = 0
        self.at_once = 0
        self.most_at_once = 0

    async def make_stem(self, spec: Any) -> Stem:
        self.at_once += 1
        self.most_at_once = max(self.most_at_once, self.at_once)
        try:
            await trio.sleep(MAKE_S)
        finally:
            self.at_once -= 1
        self.made += 1
        return Stem(sandbox_id=spec.sandbox_id, pid=1000 + self.made)


class FakeCgroups:
    def create(self, name: str, limits: object) -> None:
        pass

    def procs_files(self, name: str) -> list[str]:
        return [f"/fake/{name}/cgroup.procs"]


class FakeTeardowns:
    def __init__(self) -> None:
        self.torn_down: list[Stem] = []

    def start(self, stem: Stem, *, uid: int | None) -> None:
        self.torn_down.append(stem)

    async def remove_cgroup(self, name: str) -> None:
        pass

    def notify(self) -> None:
        pass


def make_stems(prewarm: int = 2, prewarm_max: int = 32) -> tuple[Stems, FakeSpawner, FakeTeardowns]:
    config = dataclasses.replace(
        Config(), sandbox=SandboxConfig(prewarm=prewarm, prewarm_max=prewarm_max)
    )
    spawner, teardowns = FakeSpawner(), FakeTeardowns()
    stems = Stems(
        config=config,
        cgroups=FakeCgroups(),  # type: ignore[arg-type]
        spawner=spawner,  # type: ignore[arg-type]
        paths=PoolPaths(rootfs_dir="/r", etc_dir="/e", logs_dir="/l"),  # type: ignore[arg-type]
        teardowns=teardowns,  # type: ignore[arg-type]
        offload=inline,  # no threads: the autojump clock would jump while one runs
    )
    return stems, spawner, teardowns


async def burst(stems: Stems, cold_starts: int = 40) -> None:
    """A cold start every 10 ms, each taking a ready stem or making one itself."""
    for _ in range(cold_starts):
        if stems.take() is None:
            await stems.make()
        await trio.sleep(0.010)


# -- the target ------------------------------------------------------------------------------


def test_demand_keeps_100_ms_of_the_last_seconds_takes_between_floor_and_ceiling() -> None:
    demand = Demand(floor=2, ceiling=5, window_s=1.0, lead_s=0.1)
    assert demand.target(0.0) == 2
    assert not demand.busy(0.0)
    demand.took(0.0)
    assert demand.target(0.0) == 3  # one take: one more ready
    assert not demand.busy(0.0)  # a lone cold start
    for i in range(1, 20):
        demand.took(i / 100)
    assert demand.busy(0.2)
    assert demand.target(0.2) == 4  # 20 takes in the window: 2 in the next 100 ms
    for i in range(20, 200):
        demand.took(i / 100)
    assert demand.target(2.0) == 5  # 100 takes in the last second: the ceiling
    settles = demand.settles_at()
    assert settles is not None and 2.0 < settles <= 3.0
    assert demand.target(3.5) == 2  # all aged out: the floor again
    assert not demand.busy(3.5)
    assert demand.settles_at() is None


def test_demand_with_no_ceiling_above_the_floor_stays_put() -> None:
    demand = Demand(floor=3, ceiling=1)
    for t in range(10):
        demand.took(t / 100)
    assert demand.target(0.1) == 3


# -- the pool of stems -----------------------------------------------------------------------


async def test_prewarm_stems_are_made_and_no_more_while_idle(
    autojump_clock: trio.testing.MockClock,
) -> None:
    stems, spawner, _ = make_stems(prewarm=2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stems.keep)
        await trio.sleep(5)
        assert len(stems) == 2 and spawner.made == 2
        stems.close()


async def test_a_burst_grows_the_pool_in_parallel_then_it_drifts_back(
    autojump_clock: trio.testing.MockClock,
) -> None:
    stems, spawner, teardowns = make_stems(prewarm=2, prewarm_max=16)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stems.keep)
        await trio.sleep(1)
        await burst(stems)
        assert spawner.most_at_once > 1  # made several at once
        grown = len(stems) + stems.pending
        assert grown > 2
        # Most cold starts found a ready stem: only the ramp-up made their own.
        assert stems.taken_ready >= 30, (stems.taken_ready, stems.made_on_demand)
        assert stems.taken_ready + stems.made_on_demand == 40
        await trio.sleep(3)  # no takes for longer than the window
        assert len(stems) == 2
        assert len(teardowns.torn_down) >= grown - 2
        stems.close()


async def test_without_growth_a_burst_mostly_makes_its_own(
    autojump_clock: trio.testing.MockClock,
) -> None:
    # The negative control: prewarm_max = prewarm keeps the old fixed pool, and the same
    # burst then finds no ready stem for most of its cold starts.
    stems, _, _ = make_stems(prewarm=2, prewarm_max=2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stems.keep)
        await trio.sleep(1)
        await burst(stems)
        assert stems.made_on_demand >= 10
        stems.close()


async def test_prewarm_zero_turns_stems_off(autojump_clock: trio.testing.MockClock) -> None:
    stems, spawner, _ = make_stems(prewarm=0, prewarm_max=32)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stems.keep)
        for _ in range(5):
            assert stems.take() is None
        await trio.sleep(2)
        assert spawner.made == 0
        stems.close()


async def test_growth_stops_where_host_memory_does(autojump_clock: trio.testing.MockClock) -> None:
    stems, _, _ = make_stems(prewarm=2, prewarm_max=16)
    stems.spare_bytes = lambda: 0  # the host is at its reserve
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stems.keep)
        await trio.sleep(1)
        for _ in range(40):
            if stems.take() is None:
                await stems.make()
            assert len(stems) + stems.pending <= 2  # prewarm is kept, no more
            await trio.sleep(0.010)
        stems.close()
