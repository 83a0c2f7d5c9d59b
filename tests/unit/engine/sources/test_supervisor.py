"""The supervisor over fake mappings (answering creates, updates and deletes with AWS's
transitional states, as the control plane does) and fake pollers that log what happens to
them: which poller runs, when it is stopped, and the states the mappings settle in."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

import pytest
import trio
import trio.testing

from engine.model.event_source_mapping import DELETING, DISABLED, ENABLED, EventSourceMapping
from engine.sources.supervisor import Supervisor
from tests.unit.engine.sources.helpers import FakeMappings, sqs_mapping

settle = trio.testing.wait_all_tasks_blocked


class FakePoller:
    def __init__(self, name: str, mapping: EventSourceMapping, log: list[str]) -> None:
        self.name = name
        self.mapping = mapping
        self.log = log
        self.fail = False  # run() raises at once
        self.slow_stop: trio.Event | None = None  # run() returns after stop() only once set
        self.stop_calls = 0
        self.running = False
        self._stopped = trio.Event()

    async def run(self) -> None:
        self.running = True
        self.log.append(f"{self.name} runs")
        try:
            await trio.lowlevel.checkpoint()
            if self.fail:
                raise RuntimeError("a bug in the poller")
            await self._stopped.wait()
            if self.slow_stop is not None:
                await self.slow_stop.wait()
        finally:
            self.running = False
            self.log.append(f"{self.name} ended")

    def stop(self) -> None:
        self.stop_calls += 1
        self.log.append(f"{self.name} stop")
        self._stopped.set()


def as_made(poller: FakePoller) -> None:
    pass


class Pollers:
    """The factory: pollers named `<uuid>#<n>`; `setup[uuid]` prepares the next ones."""

    def __init__(self, log: list[str]) -> None:
        self.log = log
        self.made: list[FakePoller] = []
        self.setup: dict[str, Callable[[FakePoller], None]] = {}

    def make(self, mapping: EventSourceMapping) -> FakePoller:
        count = sum(1 for p in self.made if p.mapping.uuid == mapping.uuid)
        poller = FakePoller(f"{mapping.uuid}#{count + 1}", mapping, self.log)
        self.setup.get(mapping.uuid, as_made)(poller)
        self.made.append(poller)
        self.log.append(f"{poller.name} made")
        return poller

    def of(self, uuid: str) -> list[FakePoller]:
        return [p for p in self.made if p.mapping.uuid == uuid]

    def running(self) -> list[str]:
        return [p.name for p in self.made if p.running]


@asynccontextmanager
async def supervised(mappings: FakeMappings, pollers: Pollers) -> AsyncIterator[Supervisor]:
    supervisor = Supervisor(mappings, pollers.make, forget=mappings.forget)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(supervisor.run)
        await settle()
        yield supervisor
        nursery.cancel_scope.cancel()


@pytest.fixture
def log() -> list[str]:
    return []


@pytest.fixture
def mappings(log: list[str]) -> FakeMappings:
    return FakeMappings(log)


@pytest.fixture
def pollers(log: list[str]) -> Pollers:
    return Pollers(log)


def before(log: list[str], first: str, then: str) -> bool:
    return log.index(first) < log.index(then)


# -- create ---------------------------------------------------------------------------------------


async def test_a_created_enabled_mapping_gets_a_poller_then_is_enabled(
    mappings: FakeMappings, pollers: Pollers, log: list[str]
) -> None:
    async with supervised(mappings, pollers):
        mappings.create("a", batch_size=7)
        assert mappings.state("a") == "Creating"
        await settle()
        assert pollers.running() == ["a#1"]
        assert pollers.made[0].mapping.batch_size == 7
        assert mappings.state("a") == ENABLED


async def test_a_created_disabled_mapping_gets_no_poller(
    mappings: FakeMappings, pollers: Pollers, log: list[str]
) -> None:
    async with supervised(mappings, pollers):
        mappings.create("a", enabled=False)
        await settle()
        assert pollers.made == []
        assert mappings.state("a") == DISABLED


async def test_mappings_stored_before_the_start_are_settled(log: list[str]) -> None:
    stored = [
        sqs_mapping(uuid="creating", state="Creating"),  # the daemon stopped before settling
        sqs_mapping(uuid="enabled", state=ENABLED),
        sqs_mapping(uuid="disabling", state="Disabling", enabled=False),
        sqs_mapping(uuid="deleting", state=DELETING),
    ]
    mappings = FakeMappings(log, *stored)
    pollers = Pollers(log)
    async with supervised(mappings, pollers):
        assert sorted(pollers.running()) == ["creating#1", "enabled#1"]
        assert {m.uuid: m.state for m in mappings.mappings()} == {
            "creating": ENABLED,
            "enabled": ENABLED,
            "disabling": DISABLED,
        }
        assert mappings.forgotten == ["deleting"]


# -- update ---------------------------------------------------------------------------------------


async def test_new_settings_restart_the_poller_after_the_old_one_has_stopped(
    mappings: FakeMappings, pollers: Pollers, log: list[str]
) -> None:
    async with supervised(mappings, pollers):
        mappings.create("a", batch_size=10)
        await settle()
        mappings.update("a", batch_size=5)
        assert mappings.state("a") == "Updating"
        await settle()
        first, second = pollers.of("a")
        assert first.stop_calls == 1 and not first.running
        assert second.mapping.batch_size == 5 and second.running
        assert before(log, "a#1 ended", "a#2 made")
        assert mappings.state("a") == ENABLED


async def test_a_change_that_keeps_the_settings_keeps_the_poller(
    mappings: FakeMappings, pollers: Pollers, log: list[str]
) -> None:
    async with supervised(mappings, pollers):
        mappings.create("a", batch_size=10)
        await settle()
        mappings.update("a", batch_size=10, last_modified=1.0)
        await settle()
        assert [p.name for p in pollers.made] == ["a#1"] and pollers.made[0].stop_calls == 0
        assert mappings.state("a") == ENABLED


async def test_disabling_stops_the_poller_before_the_mapping_shows_disabled(
    mappings: FakeMappings, pollers: Pollers, log: list[str]
) -> None:
    async with supervised(mappings, pollers):
        mappings.create("a")
        await settle()
        mappings.update("a", enabled=False)
        assert mappings.state("a") == "Disabling"
        await settle()
        (poller,) = pollers.made
        assert poller.stop_calls == 1 and not poller.running
        assert before(log, "a#1 ended", f"a {DISABLED}")
        assert mappings.state("a") == DISABLED
        mappings.update("a", enabled=True)
        assert mappings.state("a") == "Enabling"
        await settle()
        assert pollers.running() == ["a#2"]
        assert mappings.state("a") == ENABLED


# -- delete ---------------------------------------------------------------------------------------


async def test_deleting_stops_the_poller_forgets_the_mapping_and_finishes_the_delete(
    mappings: FakeMappings, pollers: Pollers, log: list[str]
) -> None:
    async with supervised(mappings, pollers):
        mappings.create("a")
        await settle()
        mappings.delete("a")
        await settle()
        assert mappings.find("a") is None
        assert pollers.running() == []
        assert log[-4:] == ["a#1 stop", "a#1 ended", "a forgotten", "a deleted"]


async def test_deleting_a_disabled_mapping_finishes_the_delete(
    mappings: FakeMappings, pollers: Pollers, log: list[str]
) -> None:
    async with supervised(mappings, pollers):
        mappings.create("a", enabled=False)
        await settle()
        mappings.delete("a")
        await settle()
        assert mappings.find("a") is None
        assert mappings.forgotten == ["a"] and pollers.made == []


# -- one mapping's trouble is its own -----------------------------------------------------------


async def test_a_poller_that_raises_stops_only_its_mapping(
    mappings: FakeMappings, pollers: Pollers, log: list[str]
) -> None:
    def failing(poller: FakePoller) -> None:
        poller.fail = True

    pollers.setup["a"] = failing
    async with supervised(mappings, pollers):
        mappings.create("a")
        mappings.create("b")
        await settle()
        assert "a#1 ended" in log
        assert pollers.running() == ["b#1"]
        mappings.update("b", enabled=False)  # the supervisor still hears changes
        await settle()
        assert mappings.state("b") == DISABLED
        pollers.setup.clear()
        mappings.update("a", batch_size=3)  # and a failed mapping's next change restarts it
        await settle()
        assert pollers.running() == ["a#2"]
        assert mappings.state("a") == ENABLED


async def test_a_slow_stop_does_not_delay_another_mappings_changes(
    mappings: FakeMappings, pollers: Pollers, log: list[str]
) -> None:
    gate = trio.Event()

    def slow(poller: FakePoller) -> None:
        poller.slow_stop = gate

    pollers.setup["a"] = slow
    async with supervised(mappings, pollers):
        mappings.create("a")
        mappings.create("b")
        await settle()
        mappings.update("a", enabled=False)
        mappings.update("b", batch_size=3)
        mappings.create("c")
        await settle()
        assert mappings.state("a") == "Disabling"  # its poller is still stopping
        assert sorted(pollers.running()) == ["a#1", "b#2", "c#1"]
        assert mappings.state("b") == mappings.state("c") == ENABLED
        gate.set()
        await settle()
        assert mappings.state("a") == DISABLED
        assert sorted(pollers.running()) == ["b#2", "c#1"]


async def test_a_mapping_whose_poller_cannot_be_made_shows_disabled_and_others_carry_on(
    mappings: FakeMappings, pollers: Pollers, log: list[str]
) -> None:
    def broken(poller: FakePoller) -> None:
        raise LookupError("Function not found")

    pollers.setup["a"] = broken
    async with supervised(mappings, pollers):
        mappings.create("b")
        mappings.create("a")
        await settle()
        mappings.create("c")  # the supervisor still hears changes
        await settle()
        assert sorted(pollers.running()) == ["b#1", "c#1"]
        assert mappings.state("a") == DISABLED
        assert mappings.state("b") == mappings.state("c") == ENABLED
        pollers.setup.clear()
        mappings.update("a", batch_size=3)  # its next change tries again
        await settle()
        assert sorted(pollers.running()) == ["a#1", "b#1", "c#1"]  # a's first poller
        assert mappings.state("a") == ENABLED


async def test_leaving_stops_every_poller_and_unhooks_the_supervisor(
    mappings: FakeMappings, pollers: Pollers, log: list[str]
) -> None:
    async with supervised(mappings, pollers):
        mappings.create("a")
        mappings.create("b")
        await settle()
        assert len(mappings.on_change) == 1
    assert mappings.on_change == []
    assert pollers.running() == []
    mappings.create("c")  # heard by nobody: no poller
    assert sorted(p.name for p in pollers.made) == ["a#1", "b#1"]
