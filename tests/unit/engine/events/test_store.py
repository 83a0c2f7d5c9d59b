"""The event queue's file: what was committed (or deferred before shutdown) comes back when
the file is opened again."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from engine.events import store
from engine.events.store import Event
from engine.journal.journal import Journal


def event(request_id: str, **changes: object) -> Event:
    fields: dict[str, object] = {
        "request_id": request_id,
        "function": "fn",
        "qualifier": None,
        "payload": b'{"n": 1}',
        "received_ms": 1_700_000_000_000,
        "due_ms": 1_700_000_000_000,
    }
    fields.update(changes)
    return Event(**fields)  # type: ignore[arg-type]


def as_tuple(e: Event) -> tuple[object, ...]:
    return (
        e.request_id,
        e.function,
        e.qualifier,
        e.payload,
        e.received_ms,
        e.due_ms,
        e.attempts,
        e.backoffs,
        e.running,
    )


@asynccontextmanager
async def open_journal(path: Path) -> AsyncIterator[Journal]:
    """A journal with its writer; leaving commits what was deferred and closes the file."""
    journal = Journal(path / store.DB_NAME, store.SCHEMA)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        yield journal
        nursery.cancel_scope.cancel()


def reopen(path: Path) -> list[Event]:
    journal = Journal(path / store.DB_NAME, store.SCHEMA)
    try:
        return journal.read(store.load)
    finally:
        journal.close()


async def test_inserted_events_come_back_in_order_with_every_field(tmp_path: Path) -> None:
    first = event("a", payload=b"\x00\xff binary", qualifier="live")
    second = event("b", function="other", received_ms=5, due_ms=9)
    third = event("c", qualifier="$LATEST")
    async with open_journal(tmp_path) as journal:
        for e in (first, second, third):
            await journal.commit(store.insert(e))
    assert [as_tuple(e) for e in reopen(tmp_path)] == [
        ("a", "fn", "live", b"\x00\xff binary", 1_700_000_000_000, 1_700_000_000_000, 0, 0, False),
        ("b", "other", None, b'{"n": 1}', 5, 9, 0, 0, False),
        ("c", "fn", "$LATEST", b'{"n": 1}', 1_700_000_000_000, 1_700_000_000_000, 0, 0, False),
    ]


async def test_updates_and_deletes_come_back(tmp_path: Path) -> None:
    kept, gone = event("kept"), event("gone")
    async with open_journal(tmp_path) as journal:
        await journal.commit(store.insert(kept))
        await journal.commit(store.insert(gone))
        kept.attempts, kept.backoffs, kept.running, kept.due_ms = 2, 3, True, 42
        await journal.commit(store.update(kept))
        await journal.commit(store.delete("gone"))
    assert [as_tuple(e) for e in reopen(tmp_path)] == [
        ("kept", "fn", None, b'{"n": 1}', 1_700_000_000_000, 42, 2, 3, True),
    ]


async def test_deferred_changes_are_committed_when_the_writer_stops(tmp_path: Path) -> None:
    a, b = event("a"), event("b")
    async with open_journal(tmp_path) as journal:
        await journal.commit(store.insert(a))
        await journal.commit(store.insert(b))
        a.attempts, a.due_ms = 1, 60_000
        journal.defer(store.update(a))
        journal.defer(store.delete("b"))
        # left at once: the writer is cancelled with both changes still queued
    assert [(e.request_id, e.attempts, e.due_ms) for e in reopen(tmp_path)] == [("a", 1, 60_000)]


async def test_an_update_stores_the_event_as_it_was_when_it_was_queued(tmp_path: Path) -> None:
    a = event("a")
    async with open_journal(tmp_path) as journal:
        await journal.commit(store.insert(a))
        a.attempts, a.running = 1, True
        journal.defer(store.update(a))
        a.attempts, a.running = 99, False  # a later change nobody stored yet
    [back] = reopen(tmp_path)
    assert (back.attempts, back.running) == (1, True)


async def test_updating_or_deleting_an_unknown_event_changes_nothing(tmp_path: Path) -> None:
    async with open_journal(tmp_path) as journal:
        await journal.commit(store.insert(event("a")))
        await journal.commit(store.update(event("ghost", attempts=2)))
        await journal.commit(store.delete("ghost"))
    assert [e.request_id for e in reopen(tmp_path)] == ["a"]
