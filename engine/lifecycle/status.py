"""The STATUS= line while serving (`systemctl status` shows it), refreshed every few seconds:
"serving: 3 functions, 5 environments, 12.0 invokes/s", and what a restart would apply.

Cheap: a count of the registry's functions (in a thread), the pool's size and the invoker's
counter, once per interval; nothing on the invoke path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import trio


@dataclass(frozen=True, slots=True, kw_only=True)
class Serving:
    functions: int
    environments: int
    invokes_per_s: float
    async_backlog: int = 0
    needs_restart: tuple[str, ...] = ()


def serving_line(now: Serving) -> str:
    """Pure: the STATUS= text for `now`."""

    def plural(n: int, word: str) -> str:
        return f"{n} {word}{'' if n == 1 else 's'}"

    parts = [
        plural(now.functions, "function"),
        plural(now.environments, "environment"),
        f"{now.invokes_per_s:.1f} invokes/s",
    ]
    if now.async_backlog:
        parts.append(f"{now.async_backlog} async events waiting")
    line = "serving: " + ", ".join(parts)
    if now.needs_restart:
        line += f"; restart to apply {', '.join(now.needs_restart)}"
    return line


def rate(count: int, last_count: int, elapsed_s: float) -> float:
    return (count - last_count) / elapsed_s if elapsed_s > 0 else 0.0


class StatusReporter:
    """Refreshes STATUS= with `serving_line` every `interval_s()` seconds, until cancelled."""

    def __init__(
        self,
        *,
        send: Callable[[str], object],
        functions: Callable[[], int],  # blocking (a registry read): run in a thread
        environments: Callable[[], int],
        invocations: Callable[[], int],  # a counter that only grows
        async_backlog: Callable[[], int],
        needs_restart: Callable[[], tuple[str, ...]],
        interval_s: Callable[[], float],
    ) -> None:
        self._send = send
        self._functions = functions
        self._environments = environments
        self._invocations = invocations
        self._async_backlog = async_backlog
        self._needs_restart = needs_restart
        self._interval_s = interval_s
        self.last = ""

    async def run(self) -> None:
        last_count, last_at = self._invocations(), trio.current_time()
        while True:
            functions = await trio.to_thread.run_sync(self._functions)
            count, now = self._invocations(), trio.current_time()
            self.last = serving_line(
                Serving(
                    functions=functions,
                    environments=self._environments(),
                    invokes_per_s=rate(count, last_count, now - last_at),
                    async_backlog=self._async_backlog(),
                    needs_restart=self._needs_restart(),
                )
            )
            self._send(self.last)
            last_count, last_at = count, now
            await trio.sleep(self._interval_s())
