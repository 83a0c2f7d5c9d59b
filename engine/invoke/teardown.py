"""Destroying sandboxes, in background tasks off the request path: kill the pid namespace and the
cgroup, wait for it to empty, close what the environment holds, release its ENI, remove the
cgroup, and only then free its uid (never while something may still run as it).

A sandbox that does not empty within `teardown_timeout_s` keeps its cgroup and uid; the next
daemon start's sweep removes it.
"""

from __future__ import annotations

import logging
from collections.abc import Callable

import trio

from engine.errors import EngineError
from engine.invoke.plan import cgroup_name
from engine.invoke.uids import UidAllocator
from engine.network.enis import Eni
from engine.network.service import NetworkService
from engine.runtime.environment import Environment
from netns.errors import NetnsError
from sandbox.cgroups import Cgroups
from sandbox.errors import SandboxError
from sandbox.launcher import Spawner, Stem

logger = logging.getLogger(__name__)


class Teardowns:
    def __init__(
        self,
        *,
        spawner: Spawner,
        cgroups: Cgroups,
        uids: UidAllocator,
        network: NetworkService | None,
        nursery: trio.Nursery,
        timeout_s: float,
        forget: Callable[[Environment], None],
    ) -> None:
        self.spawner = spawner
        self.cgroups = cgroups
        self.uids = uids
        self.network = network
        self.nursery = nursery
        self.timeout_s = timeout_s
        self.forget = forget  # the environment's sandbox is dead: its owner lets go of it
        self.in_progress = 0  # sandboxes being torn down right now
        # Called with each teardown's seconds, from its start until the uid is free (the
        # metrics' teardown histogram).
        self.on_teardown: list[Callable[[float], None]] = []
        self._changed = trio.Event()  # set (and replaced) after each teardown

    def start(
        self,
        stem: Stem,
        *,
        uid: int | None,
        env: Environment | None = None,
        eni: Eni | None = None,
    ) -> None:
        """Tear `stem` down in the background; `uid` is freed once it is gone for sure."""
        self.in_progress += 1
        self.nursery.start_soon(self._teardown, stem, uid, env, eni)

    def notify(self) -> None:
        """Wake whoever waits in `wait_changed` (something they count has changed)."""
        self._changed.set()
        self._changed = trio.Event()

    async def wait_changed(self) -> None:
        await self._changed.wait()

    async def _teardown(
        self, stem: Stem, uid: int | None, env: Environment | None, eni: Eni | None
    ) -> None:
        name = cgroup_name(stem.sandbox_id)
        started = trio.current_time()
        emptied = False
        try:
            with trio.CancelScope(shield=True):
                emptied = await self._kill_and_wait(stem, name)
        finally:
            self.in_progress -= 1
            if env is not None:
                self.forget(env)
                env.close()
            with trio.CancelScope(shield=True):
                if eni is not None:
                    await self.release_eni(eni)
                removed = emptied and await self.remove_cgroup(name)
            if uid is not None and removed:
                self.uids.release(uid)  # never while something may still run as it
            self.notify()
            for hook in self.on_teardown:
                hook(trio.current_time() - started)

    async def release_eni(self, eni: Eni) -> None:
        assert self.network is not None
        try:
            await self.network.release(eni)
        except (OSError, EngineError, NetnsError) as exc:
            logger.error("releasing ENI %s failed: %s", eni.ifname, exc)

    async def _kill_and_wait(self, stem: Stem, name: str) -> bool:
        """Kill the pid namespace and everything in the cgroup; wait until both are gone."""
        bound = self.timeout_s
        try:
            await self.spawner.kill(stem)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        with trio.move_on_after(bound):
            await stem.exited.wait()
            while True:
                try:
                    # One round at a time: never block the event loop waiting for a kill.
                    self.cgroups.kill_all(name, max_rounds=1)
                    if not self.cgroups.populated(name):
                        return True
                except (OSError, SandboxError) as exc:
                    logger.warning("sandbox %s: killing its cgroup failed: %s", name, exc)
                await trio.sleep(0.005)
        logger.error(
            "sandbox %s did not empty within %.0f s; the start-up sweep will remove it", name, bound
        )
        return False

    async def remove_cgroup(self, name: str) -> bool:
        for _ in range(50):
            try:
                # In a thread: removing a memory cgroup can wait on kernel locks.
                await trio.to_thread.run_sync(self.cgroups.destroy, name)
                return True
            except SandboxError:
                # memory cgroups can stay busy for a moment after their last task exits
                await trio.sleep(0.002)
        logger.error("could not remove cgroup %s; the start-up sweep will", name)
        return False
