"""One uid per live sandbox, from a fixed range: pure bookkeeping."""

from __future__ import annotations


class UidAllocator:
    """Hands out uids most-recently-freed first; `None` when the range is used up."""

    def __init__(self, base: int, count: int) -> None:
        self._free = list(range(base + count - 1, base - 1, -1))

    def allocate(self) -> int | None:
        return self._free.pop() if self._free else None

    def release(self, uid: int) -> None:
        self._free.append(uid)

    @property
    def available(self) -> int:
        return len(self._free)
