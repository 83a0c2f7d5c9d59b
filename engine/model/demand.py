"""How many prepared things (stems, ENIs) to keep ready: the floor, plus enough for the next
`lead_s` of takes at the rate of the last window, at most a ceiling. Pure bookkeeping; the
caller passes the time.

Preparing ahead only pays where it takes work off the request path that would otherwise wait
(kernel grace periods, a firewall update): on a busy host, things prepared and never used are
CPU taken from the cold starts. So the target follows the rate modestly (100 ms of takes), and
`busy` tells the caller to refill at once rather than after the current cold start has
answered. Once takes stop, they age out of the window and the target drifts back to the floor.
"""

from __future__ import annotations

import math
from collections import deque

DEMAND_WINDOW_S = 1.0
DEMAND_LEAD_S = 0.1


class Demand:
    def __init__(
        self,
        *,
        floor: int,
        ceiling: int,
        window_s: float = DEMAND_WINDOW_S,
        lead_s: float = DEMAND_LEAD_S,
    ) -> None:
        if floor < 0 or window_s <= 0 or not 0 < lead_s <= window_s:
            raise ValueError("floor must be >= 0 and 0 < lead_s <= window_s")
        self.floor = floor
        self.ceiling = max(floor, ceiling)
        self.window_s = window_s
        self.lead_s = lead_s
        self._takes: deque[float] = deque()
        self._most = max(1, math.ceil((self.ceiling - floor) * window_s / lead_s))

    def took(self, now: float) -> None:
        """One was taken (ready or not) at `now`."""
        self._takes.append(now)
        if len(self._takes) > self._most:  # older takes cannot raise the target further
            self._takes.popleft()

    def target(self, now: float) -> int:
        takes = self._recent(now)
        ahead = math.ceil(len(takes) * self.lead_s / self.window_s)
        return min(self.ceiling, self.floor + ahead)

    def busy(self, now: float) -> bool:
        """More than one take in the window: a burst or a steady stream, not a lone one."""
        return len(self._recent(now)) > 1

    def _recent(self, now: float) -> deque[float]:
        takes = self._takes
        while takes and takes[0] + self.window_s <= now:  # the same sum as settles_at
            takes.popleft()
        return takes

    def settles_at(self) -> float | None:
        """When the target next falls, if takes in the window raise it now."""
        if not self._takes:
            return None
        return self._takes[0] + self.window_s
