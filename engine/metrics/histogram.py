"""A histogram as plain counts (pure): observing is a bisection and two additions, with no lock
(the daemon is one Trio thread) and no label lookup. `quantile` estimates a quantile from bucket
counts as Prometheus' ``histogram_quantile`` does (linear within a bucket); `lambdalet top`
uses it on the difference between two scrapes."""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence


class Histogram:
    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds  # upper bounds, ascending; +Inf is implied
        self.counts = [0] * (len(bounds) + 1)  # per bucket (not cumulative), +Inf last
        self.sum = 0.0

    def observe(self, value: float) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += 1  # `le`: value <= bound
        self.sum += value

    @property
    def count(self) -> int:
        return sum(self.counts)

    def buckets(self) -> list[tuple[str, float]]:
        """Cumulative counts by `le`, as Prometheus exposes them (+Inf last)."""
        out: list[tuple[str, float]] = []
        total = 0
        for bound, count in zip((*self.bounds, math.inf), self.counts, strict=True):
            total += count
            out.append((le_text(bound), float(total)))
        return out


def le_text(bound: float) -> str:
    """A bucket's `le` label as Prometheus writes it ("0.005", "1.0", "+Inf")."""
    return "+Inf" if math.isinf(bound) else repr(float(bound))


def quantile(q: float, buckets: Sequence[tuple[float, float]]) -> float | None:
    """The `q` quantile (0..1) from cumulative (upper bound, count) pairs in ascending order,
    +Inf last; None without observations. A quantile in the +Inf bucket is the highest
    finite bound; within the first bucket it is interpolated from 0."""
    if not buckets or buckets[-1][1] <= 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0.0
    for bound, count in buckets:
        if count >= rank and count > lower_count:
            if math.isinf(bound):
                return lower_bound
            return lower_bound + (bound - lower_bound) * (rank - lower_count) / (
                count - lower_count
            )
        if not math.isinf(bound):
            lower_bound = bound
        lower_count = count
    return lower_bound
