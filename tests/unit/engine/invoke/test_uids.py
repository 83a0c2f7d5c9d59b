"""The uid allocator: one uid per live sandbox."""

from __future__ import annotations

from engine.invoke.uids import UidAllocator


def test_uids_are_distinct_until_released_and_never_zero() -> None:
    alloc = UidAllocator(200000, 3)
    got = [alloc.allocate() for _ in range(3)]
    assert sorted(u for u in got if u is not None) == [200000, 200001, 200002]
    assert alloc.allocate() is None
    alloc.release(200001)
    assert alloc.available == 1
    assert alloc.allocate() == 200001
