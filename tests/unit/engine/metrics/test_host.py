"""The loop-lag task: a loop held by a blocking step wakes it late, and the lag is observed."""

from __future__ import annotations

import time

import trio

from engine.metrics.host import watch_loop_lag


async def test_a_blocked_loop_is_seen_as_lag() -> None:
    lags: list[float] = []
    async with trio.open_nursery() as nursery:
        nursery.start_soon(lambda: watch_loop_lag(lags.append, interval_s=0.01))
        await trio.sleep(0.05)
        quiet = list(lags)
        time.sleep(0.2)  # noqa: ASYNC251 - a step that never yields: the lag to see
        await trio.sleep(0.05)
        nursery.cancel_scope.cancel()
    assert quiet and max(quiet) < 0.15
    assert max(lags) >= 0.15
