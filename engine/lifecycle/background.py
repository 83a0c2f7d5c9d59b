"""Services that run beside the daemon's serving and stop first when it stops (event source
pollers, the provisioner): a nursery of their own that a stop can cancel and wait for.

    background = Background()
    await nursery.start(background.run)
    await background.start(hold, open_sources(...))   # entered until stopped
    ...
    await background.stop()   # cancels them and waits until they are done
"""

from __future__ import annotations

import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import trio


class Background:
    def __init__(self) -> None:
        self._nursery: trio.Nursery | None = None
        self._done = trio.Event()

    async def run(self, *, task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED) -> None:
        try:
            async with trio.open_nursery() as nursery:
                self._nursery = nursery
                task_status.started()
                await trio.sleep_forever()
        finally:
            self._done.set()

    def _open(self) -> trio.Nursery:
        if self._nursery is None:
            raise RuntimeError("Background.run has not started")
        return self._nursery

    def start_soon(self, fn: Callable[..., Awaitable[object]], *args: Any) -> None:
        self._open().start_soon(fn, *args)

    async def start(self, fn: Callable[..., Awaitable[object]], *args: Any) -> Any:
        return await self._open().start(fn, *args)

    async def stop(self) -> None:
        """Cancel every background task and wait until they have all ended (their own
        cleanups included). Idempotent."""
        if self._nursery is not None:
            self._nursery.cancel_scope.cancel()
        with trio.CancelScope(shield=True):
            await self._done.wait()


async def hold(
    context: contextlib.AbstractAsyncContextManager[object],
    *,
    task_status: trio.TaskStatus[None] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Keep `context` entered until cancelled (a service a nursery can stop)."""
    async with context:
        task_status.started()
        await trio.sleep_forever()
