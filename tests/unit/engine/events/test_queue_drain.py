"""A stopping daemon's queue: attempts under way finish, nothing new starts, accepted events
stay stored (and are not counted as failed) for the next start."""

from __future__ import annotations

from pathlib import Path

import trio
import trio.testing

from tests.unit.engine.events.helpers import ON_FAILURE, hold, open_world, stored_after_close

PAYLOAD = b'{"n": 1}'


async def test_draining_starts_nothing_and_keeps_every_accepted_event(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    gate = trio.Event()
    async with open_world(tmp_path, workers=1) as world:
        world.functions.add("fn")
        world.invoker.script("fn", hold(gate))
        first = await world.queue.accept("fn", None, PAYLOAD)
        waiting = await world.queue.accept("fn", None, PAYLOAD)
        await trio.sleep(1)
        assert world.queue.in_flight == 1
        world.queue.drain()
        during = await world.queue.accept("fn", None, PAYLOAD)  # accepting goes on
        idle = trio.Event()

        async def wait_idle() -> None:
            await world.queue.wait_idle()
            idle.set()

        async with trio.open_nursery() as nursery:
            nursery.start_soon(wait_idle)
            await trio.sleep(5)
            assert not idle.is_set()  # the attempt under way holds it
            gate.set()
        assert world.queue.in_flight == 0
        await trio.sleep(60)  # nothing else starts, however long
        assert [r.request_id for r in world.invoker.runs] == [first]
        assert world.queues.to(ON_FAILURE) == []
    left = {e.request_id: e for e in stored_after_close(tmp_path)}
    assert set(left) == {waiting, during}
    assert not any(e.running or e.attempts for e in left.values())


async def test_set_workers_applies_to_the_next_dispatch(
    tmp_path: Path, autojump_clock: trio.testing.MockClock
) -> None:
    gate = trio.Event()
    async with open_world(tmp_path, workers=1) as world:
        for name in "abc":
            world.functions.add(name)
            world.invoker.script(name, hold(gate))
            await world.queue.accept(name, None, PAYLOAD)
        await trio.sleep(1)
        assert world.invoker.running == 1
        world.queue.set_workers(3)
        await trio.sleep(1)
        assert world.invoker.running == 3
        gate.set()
