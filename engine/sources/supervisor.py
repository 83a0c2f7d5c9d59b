"""Keeps one poller running per enabled event source mapping, and moves mappings through their
states.

The control plane (`engine.control.event_source_mappings`) answers a create, update or delete
with a transitional state (`Creating`, `Updating`, `Enabling`, `Disabling`, `Deleting`) and
calls its `on_change` hooks; here each mapping has a *keeper* task that reads the mapping
again and makes the runtime agree: start a poller (then `Enabled`), stop it (then
`Disabled`), restart it with a changed configuration, or stop it for good (then the mapping is
removed: `finish_delete`). Stopping cancels a poller's waiting at once and lets batches under
way finish; a mapping's keeper never waits for another mapping's.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable
from typing import Protocol

import trio

from engine.model.event_source_mapping import EventSourceMapping

logger = logging.getLogger(__name__)

ENABLED = "Enabled"
DISABLED = "Disabled"
DELETING = "Deleting"


class Poller(Protocol):
    async def run(self) -> None: ...
    def stop(self) -> None: ...


class Mappings(Protocol):
    """What the supervisor needs of the control plane's mapping service."""

    on_change: list[Callable[[str], None]]

    def mappings(self) -> list[EventSourceMapping]: ...
    def find(self, uuid: str) -> EventSourceMapping | None: ...
    def set_state(self, uuid: str, state: str, reason: str | None = None) -> None: ...
    def finish_delete(self, uuid: str) -> None: ...


PollerFactory = Callable[[EventSourceMapping], Poller]


def settings_of(mapping: EventSourceMapping) -> EventSourceMapping:
    """The mapping without what changes while it runs (its state and bookkeeping)."""
    return dataclasses.replace(
        mapping, state="", state_reason="", last_processing_result=None, last_modified=0.0
    )


class Supervisor:
    def __init__(
        self,
        mappings: Mappings,
        make_poller: PollerFactory,
        forget: Callable[[str], None] = lambda uuid: None,
    ) -> None:
        self.mappings = mappings
        self.make_poller = make_poller
        self.forget = forget  # a deleted mapping's runtime state (stream checkpoints)
        self._wakes: dict[str, trio.Event] = {}
        self._nursery: trio.Nursery | None = None

    async def run(self) -> None:
        async with trio.open_nursery() as nursery:
            self._nursery = nursery
            self.mappings.on_change.append(self.changed)
            try:
                for mapping in self.mappings.mappings():
                    self.changed(mapping.uuid)
                await trio.sleep_forever()
            finally:
                self.mappings.on_change.remove(self.changed)

    def changed(self, uuid: str) -> None:
        wake = self._wakes.get(uuid)
        if wake is not None:
            wake.set()
        elif self._nursery is not None:
            self._wakes[uuid] = trio.Event()
            self._nursery.start_soon(self._keep, uuid)

    async def _keep(self, uuid: str) -> None:
        running: tuple[EventSourceMapping, Poller, trio.Event] | None = None
        try:
            while True:
                mapping = self.mappings.find(uuid)
                if mapping is None or mapping.state == DELETING:
                    await _stop(running)
                    running = None
                    if mapping is not None:
                        self.forget(uuid)
                        self.mappings.finish_delete(uuid)
                    return
                if mapping.enabled:
                    if running is None or settings_of(running[0]) != settings_of(mapping):
                        await _stop(running)
                        running = self._start(mapping)
                    state = ENABLED if running is not None else DISABLED
                else:
                    await _stop(running)
                    running = None
                    state = DISABLED
                if mapping.state != state:
                    self.mappings.set_state(uuid, state)
                wake = self._wakes[uuid]
                await wake.wait()
                self._wakes[uuid] = trio.Event()
        finally:
            self._wakes.pop(uuid, None)
            if running is not None:
                running[1].stop()

    def _start(
        self, mapping: EventSourceMapping
    ) -> tuple[EventSourceMapping, Poller, trio.Event] | None:
        """A running poller for `mapping`; None (the mapping is shown Disabled) when none can
        be made, which a bug or a stored setting this version refuses can cause."""
        assert self._nursery is not None
        try:
            poller = self.make_poller(mapping)
        except Exception:
            logger.exception("event source mapping %s: no poller could be made", mapping.uuid)
            return None
        done = trio.Event()
        self._nursery.start_soon(_run, mapping.uuid, poller, done)
        return mapping, poller, done


async def _run(uuid: str, poller: Poller, done: trio.Event) -> None:
    try:
        await poller.run()
    except Exception:  # a poller's bug stops its mapping, not the daemon
        logger.exception("event source mapping %s: its poller failed", uuid)
    finally:
        done.set()


async def _stop(running: tuple[EventSourceMapping, Poller, trio.Event] | None) -> None:
    if running is not None:
        _, poller, done = running
        poller.stop()
        await done.wait()
