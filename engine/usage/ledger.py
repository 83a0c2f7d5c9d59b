"""The usage ledger in memory: what each function version billed, per minute, until flushed.

An invoke adds to one `Cell`, found by a dict lookup on (function, qualifier, architecture,
memory): O(1), no clock read, no I/O. The cells belong to the current minute, which only
`advance` moves (the service calls it at every minute boundary and before every flush), so an
invoke that ends within a few milliseconds after a boundary may count in the minute before.

Provisioned concurrency is billed by configuration, not by invoke: `set_provisioned` takes the
configured amounts after every change, and `advance` accrues amount x elapsed milliseconds to
each minute the elapsed time spans, exactly (integers, split at minute boundaries).

SnapStart is billed likewise, as Lambda bills it: each published SnapStart version's snapshot is
cached for as long as the version exists, for `SNAPSHOT_MINIMUM_MS` (3 hours) at least
(`set_snapstart` takes the versions after every change and accrues their time; a version that
goes before its minimum is charged the rest then), and each environment restored from one
counts a restore (`record`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, fields
from typing import Final

from engine.model.function import LATEST, FunctionConfig
from engine.runtime.environment import InvokeOutcome

MINUTE_MS: Final = 60_000
SNAPSHOT_MINIMUM_MS: Final = 3 * 3600 * 1000  # a snapshot is billed for 3 hours at least

Key = tuple[str, str, str, int]  # (function, qualifier as invoked or configured, arch, memory MB)


@dataclass(slots=True)
class Cell:
    """One key's usage in one minute (milliseconds, summed)."""

    requests: int = 0
    billed_ms: int = 0  # on-demand environments: REPORT's Billed Duration, init included
    init_billed_ms: int = 0  # of which init (cold starts)
    provisioned_billed_ms: int = 0  # invokes served by provisioned environments
    provisioned_env_ms: int = 0  # configured provisioned concurrency x time configured
    restores: int = 0  # environments restored from a SnapStart snapshot
    snapshot_ms: int = 0  # a SnapStart version's snapshot, cached (time it existed)

    def add(self, other: Cell) -> None:
        for f in fields(Cell):
            setattr(self, f.name, getattr(self, f.name) + getattr(other, f.name))

    def values(self) -> tuple[int, ...]:
        return tuple(getattr(self, f.name) for f in fields(Cell))


Row = tuple[int, Key, Cell]  # (minute: unix seconds of its start, key, usage)


def minute_of(ms: int) -> int:
    """The unix time (seconds) of the start of the minute `ms` (unix milliseconds) is in."""
    return ms // MINUTE_MS * 60


def key_of(config: FunctionConfig, qualifier: str | None) -> Key:
    return (config.name, qualifier or LATEST, config.architectures[0], config.memory_mb)


class Ledger:
    def __init__(self, *, now_ms: int) -> None:
        self._buckets: dict[int, dict[Key, Cell]] = {}
        self.minute = minute_of(now_ms)
        self._cells = self._buckets.setdefault(self.minute, {})
        self._provisioned: dict[Key, int] = {}
        self._snapshots: dict[Key, int] = {}  # SnapStart version -> when it was published (ms)
        self._accrued_ms = now_ms  # provisioned and snapshot time is accrued up to here

    def record(
        self,
        config: FunctionConfig,
        qualifier: str | None,
        outcome: InvokeOutcome,
        provisioned: bool,
    ) -> None:
        """One invoke that ran (an `Invoker.on_invoked` hook)."""
        key = (config.name, qualifier or LATEST, config.architectures[0], config.memory_mb)
        cell = self._cells.get(key)
        if cell is None:
            cell = self._cells[key] = Cell()
        cell.requests += 1
        if provisioned:
            cell.provisioned_billed_ms += outcome.billed_ms
        else:
            cell.billed_ms += outcome.billed_ms
            cell.init_billed_ms += outcome.init_billed_ms
        if outcome.restored:
            cell.restores += 1

    def set_provisioned(self, configured: Iterable[tuple[Key, int]], now_ms: int) -> None:
        """The configured amounts from now on (what was configured so far is accrued first)."""
        self.advance(now_ms)
        amounts: dict[Key, int] = {}
        for key, n in configured:
            if n > 0:
                amounts[key] = amounts.get(key, 0) + n
        self._provisioned = amounts

    @property
    def provisioned(self) -> dict[Key, int]:
        return dict(self._provisioned)

    def set_snapstart(self, versions: Iterable[tuple[Key, int]], now_ms: int) -> None:
        """The SnapStart versions from now on, each with its publish time (unix ms); what the
        others cached so far is accrued first, and one that went before its minimum is
        charged the rest now."""
        self.advance(now_ms)
        current = dict(versions)
        for key, published_ms in self._snapshots.items():
            if key not in current:
                rest = published_ms + SNAPSHOT_MINIMUM_MS - now_ms
                if rest > 0:
                    self._cell(self.minute, key).snapshot_ms += rest
        self._snapshots = current

    def _cell(self, minute: int, key: Key) -> Cell:
        cells = self._buckets.setdefault(minute, {})
        cell = cells.get(key)
        if cell is None:
            cell = cells[key] = Cell()
        return cell

    def advance(self, now_ms: int) -> None:
        """Accrue provisioned time up to `now_ms` and make its minute the current one."""
        start = self._accrued_ms
        if now_ms > start and (self._provisioned or self._snapshots):
            t = start
            while t < now_ms:
                minute = minute_of(t)
                end = min(now_ms, (minute + 60) * 1000)
                for key, n in self._provisioned.items():
                    self._cell(minute, key).provisioned_env_ms += n * (end - t)
                for key in self._snapshots:
                    self._cell(minute, key).snapshot_ms += end - t
                t = end
        self._accrued_ms = now_ms  # also after a wall-clock step back: nothing accrues twice
        minute = minute_of(now_ms)
        if minute != self.minute:
            self.minute = minute
            self._cells = self._buckets.setdefault(minute, {})

    def take(self, now_ms: int) -> list[Row]:
        """Everything recorded and accrued up to `now_ms`, handed over for a flush and
        forgotten here; the ledger then holds an empty current minute."""
        self.advance(now_ms)
        rows = [
            (minute, key, cell)
            for minute, cells in sorted(self._buckets.items())
            for key, cell in cells.items()
        ]
        self._buckets = {}
        self._cells = self._buckets.setdefault(self.minute, {})
        return rows

    def give_back(self, rows: list[Row]) -> None:
        """Rows whose flush failed: they are merged back and ride the next one."""
        for minute, key, cell in rows:
            cells = self._buckets.setdefault(minute, {})
            mine = cells.get(key)
            if mine is None:
                cells[key] = cell
            else:
                mine.add(cell)
        self._cells = self._buckets.setdefault(self.minute, {})
