"""systemd's watchdog, fed from the event loop: a keep-alive every half period, none when the
loop stalls.

The keep-alive is sent by a Trio task, so a loop blocked by a synchronous call sends nothing
and systemd (`WatchdogSec=`) restarts the daemon. Each tick also measures how late the loop
woke it (`lag_s`, the loop's lag): a tick that comes more than half a period late — the last
keep-alive is then more than a whole period old — is skipped rather than sent, so a loop that
stalls now and then does not paper over its stalls. The next tick is half a period later.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

logger = logging.getLogger(__name__)


class Watchdog:
    """Sends `keep_alive()` every `period_s / 2` while the loop keeps time (see the module)."""

    def __init__(self, *, period_s: float, keep_alive: Callable[[], object]) -> None:
        if period_s <= 0:
            raise ValueError(f"the watchdog period must be positive, got {period_s}")
        self.period_s = period_s
        self.interval_s = period_s / 2
        self._keep_alive = keep_alive
        self.lag_s = 0.0  # how late the last tick ran (the event loop's lag then)
        self.max_lag_s = 0.0
        self.sent = 0
        self.skipped = 0

    def tick(self, lag_s: float) -> bool:
        """One tick that ran `lag_s` late: send, or skip when the loop stalled; True if sent."""
        self.lag_s = lag_s
        self.max_lag_s = max(self.max_lag_s, lag_s)
        if lag_s > self.interval_s:
            self.skipped += 1
            logger.warning(
                "event loop stalled %.2f s (watchdog period %.2f s): keep-alive withheld",
                lag_s + self.interval_s,
                self.period_s,
            )
            return False
        self._keep_alive()
        self.sent += 1
        return True

    async def run(self) -> None:
        """Tick until cancelled; the first keep-alive goes out at once (start-up is over)."""
        self._keep_alive()
        self.sent += 1
        due = trio.current_time() + self.interval_s
        while True:
            await trio.sleep_until(due)
            now = trio.current_time()
            self.tick(now - due)
            due = now + self.interval_s
