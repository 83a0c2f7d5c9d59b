"""Sizes a reload changes in the pool: ready stems and the memory reserve."""

from __future__ import annotations

from pathlib import Path

import pytest
import trio
import trio.testing

from engine.errors import ConfigError
from tests.unit.engine.invoke.test_pressure import guard
from tests.unit.engine.invoke.test_stems import make_stems


async def test_a_larger_prewarm_fills_the_pool_live_and_a_smaller_one_drains_it(
    autojump_clock: trio.testing.MockClock,
) -> None:
    stems, spawner, _ = make_stems(prewarm=2)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(stems.keep)
        await trio.sleep(5)
        assert len(stems) == 2
        stems.resize(prewarm=5, prewarm_max=8)
        await trio.sleep(5)
        assert len(stems) == 5 and spawner.made == 5
        stems.resize(prewarm=1, prewarm_max=8)
        await trio.sleep(5)
        assert len(stems) == 1
        with pytest.raises(ConfigError, match="turning stems on or off"):
            stems.resize(prewarm=0, prewarm_max=8)
        assert stems.demand.floor == 1
        stems.close()


def test_the_memory_reserve_changes_live_but_is_not_turned_on_live(tmp_path: Path) -> None:
    on = guard(tmp_path, available_mb=4096, reserve_mb=1024)
    on.set_reserve(256)
    assert on.reserve_mb == 256 and on.spare_bytes() == (4096 - 256) * 1024 * 1024
    on.set_reserve(0)
    assert not on.enabled
    on.close()
    off = guard(tmp_path, available_mb=4096, reserve_mb=0)
    with pytest.raises(ConfigError, match="takes a restart"):
        off.set_reserve(512)
    off.set_reserve(0)
    assert off.reserve_mb == 0
    off.close()
