"""Signals and the graceful stop's wait, with signals fed by the test."""

from __future__ import annotations

import signal
from collections.abc import AsyncIterator

import trio
import trio.testing

from engine.config import Config
from engine.host.systemd import Notifier
from engine.lifecycle.background import Background, hold
from engine.lifecycle.reload import Reloader
from engine.lifecycle.signals import Lifecycle


def life(loads: list[Config] | None = None) -> Lifecycle:
    files = loads if loads is not None else [Config()]
    return Lifecycle(
        notifier=Notifier({}), reloader=Reloader(load=lambda: files.pop(0), config=Config())
    )


async def feed(send: trio.MemorySendChannel[int], *signums: int) -> None:
    for signum in signums:
        await send.send(signum)


async def test_sighup_reloads_and_stop_signals_stop_then_force() -> None:
    lifecycle = life([Config(region="eu-west-1")])
    send, receive = trio.open_memory_channel[int](10)

    async def signals() -> AsyncIterator[int]:
        async for signum in receive:
            yield signum

    async with trio.open_nursery() as nursery:
        nursery.start_soon(lifecycle.watch_signals, signals())
        await feed(send, signal.SIGHUP)
        with trio.fail_after(5):
            while not lifecycle.reloads:  # noqa: ASYNC110 - no event to wait on
                await trio.sleep(0.01)
        assert lifecycle.reloads[0].needs_restart == ("region",)
        await feed(send, signal.SIGTERM)
        await lifecycle.stop_requested.wait()
        assert not lifecycle.forced.is_set()
        await feed(send, signal.SIGHUP)  # ignored while stopping
        await feed(send, signal.SIGINT)
        await lifecycle.forced.wait()
        nursery.cancel_scope.cancel()
    assert len(lifecycle.reloads) == 1


async def test_drain_returns_when_everything_finished(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lifecycle = life()
    done = trio.Event()

    async def finishes_later() -> None:
        await trio.sleep(3)
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(finishes_later)
        started = trio.current_time()
        assert await lifecycle.drain([done.wait, trio.lowlevel.checkpoint], timeout_s=30)
        assert trio.current_time() - started == 3


async def test_drain_gives_up_at_the_bound_or_on_a_second_signal(
    autojump_clock: trio.testing.MockClock,
) -> None:
    lifecycle = life()
    never = trio.Event()
    started = trio.current_time()
    assert not await lifecycle.drain([never.wait], timeout_s=30)
    assert trio.current_time() - started == 30

    async def second_signal() -> None:
        await trio.sleep(2)
        lifecycle.forced.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(second_signal)
        started = trio.current_time()
        assert not await lifecycle.drain([never.wait], timeout_s=30)
        assert trio.current_time() - started == 2


async def test_background_services_stop_with_their_cleanup_before_stop_returns() -> None:
    events: list[str] = []

    class Service:
        async def __aenter__(self) -> None:
            events.append("opened")

        async def __aexit__(self, *exc: object) -> None:
            with trio.CancelScope(shield=True):
                await trio.sleep(0.05)  # e.g. a last checkpoint commit
            events.append("closed")

    background = Background()
    async with trio.open_nursery() as nursery:
        await nursery.start(background.run)
        await background.start(hold, Service())
        assert events == ["opened"]
        await background.stop()
        assert events == ["opened", "closed"]
        await background.stop()  # idempotent
    assert events == ["opened", "closed"]
