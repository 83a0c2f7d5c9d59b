"""The STATUS= line while serving."""

from __future__ import annotations

import trio
import trio.testing

from engine.lifecycle.status import Serving, StatusReporter, rate, serving_line


def test_the_line_says_what_is_served() -> None:
    assert (
        serving_line(Serving(functions=3, environments=5, invokes_per_s=12.04))
        == "serving: 3 functions, 5 environments, 12.0 invokes/s"
    )
    assert (
        serving_line(
            Serving(
                functions=1,
                environments=1,
                invokes_per_s=0,
                async_backlog=7,
                needs_restart=("socket_path", "state_dir"),
            )
        )
        == "serving: 1 function, 1 environment, 0.0 invokes/s, 7 async events waiting; "
        "restart to apply socket_path, state_dir"
    )


def test_rate() -> None:
    assert rate(130, 100, 5.0) == 6.0
    assert rate(5, 5, 0.0) == 0.0


async def test_the_reporter_refreshes_with_the_rate_since_the_last_line(
    autojump_clock: trio.testing.MockClock,
) -> None:
    autojump_clock.autojump_threshold = 0.25  # the registry count runs in a real thread
    sent: list[str] = []
    count = [0]
    reporter = StatusReporter(
        send=sent.append,
        functions=lambda: 2,
        environments=lambda: 1,
        invocations=lambda: count[0],
        async_backlog=lambda: 0,
        needs_restart=lambda: (),
        interval_s=lambda: 5.0,
    )
    async with trio.open_nursery() as nursery:
        nursery.start_soon(reporter.run)
        await trio.sleep(1)
        count[0] = 50
        await trio.sleep(5)
        nursery.cancel_scope.cancel()
    assert sent == [
        "serving: 2 functions, 1 environment, 0.0 invokes/s",
        "serving: 2 functions, 1 environment, 10.0 invokes/s",
    ]
