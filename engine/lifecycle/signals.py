"""What the daemon does on signals: SIGHUP reloads the configuration (RELOADING=1, then READY=1
with what changed), SIGTERM or SIGINT asks for a graceful stop, a second one cuts it short.

`drain` is the graceful stop's wait: until what is in flight has finished, the stop bound has
passed, or a second signal came, whichever is first.
"""

from __future__ import annotations

import logging
import signal
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence

import trio

from engine.host.systemd import Notifier
from engine.lifecycle.reload import Reloader, ReloadReport

logger = logging.getLogger(__name__)

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP)


class Lifecycle:
    def __init__(self, *, notifier: Notifier, reloader: Reloader) -> None:
        self.notifier = notifier
        self.reloader = reloader
        self.stop_requested = trio.Event()
        self.forced = trio.Event()  # a second stop signal: cut what is left short
        self.reloads: list[ReloadReport] = []  # the last few, newest last (tests, debugging)

    async def watch_signals(self, signals: AsyncIterator[int]) -> None:
        """Act on `signals` (from `trio.open_signal_receiver(*HANDLED_SIGNALS)`, opened by the
        caller for the daemon's whole life, so that no signal of a stop in progress kills it)
        until cancelled; reloads run beside, one at a time."""
        async with trio.open_nursery() as nursery:
            async for signum in signals:
                name = signal.Signals(signum).name
                if signum == signal.SIGHUP:
                    if self.stop_requested.is_set():
                        logger.info("received SIGHUP while stopping: not reloading")
                    else:
                        logger.info("received SIGHUP: reloading the configuration")
                        nursery.start_soon(self.reload)
                elif not self.stop_requested.is_set():
                    logger.info("received %s: stopping gracefully", name)
                    self.stop_requested.set()
                else:
                    logger.warning("received %s again: cutting the stop short", name)
                    self.forced.set()

    async def reload(self) -> ReloadReport:
        self.notifier.reloading()
        report = await self.reloader.reload()
        self.reloads = [*self.reloads[-9:], report]
        self.notifier.ready(report.summary())
        return report

    async def drain(
        self, waits: Sequence[Callable[[], Awaitable[object]]], *, timeout_s: float
    ) -> bool:
        """Wait for every one of `waits` to return, at most `timeout_s` and not past a second
        stop signal; True when all returned."""
        finished = False
        with trio.move_on_after(timeout_s):
            async with trio.open_nursery() as nursery:

                async def wait_all() -> None:
                    nonlocal finished
                    async with trio.open_nursery() as each:
                        for wait in waits:
                            each.start_soon(wait)
                    finished = True
                    nursery.cancel_scope.cancel()

                async def until_forced() -> None:
                    await self.forced.wait()
                    nursery.cancel_scope.cancel()

                nursery.start_soon(wait_all)
                nursery.start_soon(until_forced)
        return finished
