"""Stems: sandboxes prepared ahead of demand (namespaces, cgroup joined, root filesystem, runtime
forked) that a cold start only has to specialize. `Stems` keeps ``prewarm`` ready, more while
cold starts come fast (`engine.model.demand`: enough for the next 100 ms at the last second's
rate, at most ``prewarm_max``); a cold start that finds none makes one on the spot.

Stems are made in parallel: asking the spawner to fork one is a quick round trip, and each
stem's init then prepares its own sandbox while the next is forked, so a burst has several
being prepared at once. When cold starts stop, the target falls back to ``prewarm`` and the
extra stems are torn down.

Resource handling: a stem that dies while waiting, and every ready stem at close, goes to the
teardown; a stem whose making failed has its cgroup removed before the error propagates.
"""

from __future__ import annotations

import logging
import os
import secrets
from collections.abc import Awaitable, Callable

import trio

from engine.config import Config
from engine.errors import ConfigError
from engine.invoke.plan import PoolPaths, cgroup_name
from engine.invoke.teardown import Teardowns
from engine.model.demand import Demand
from sandbox.cgroups import Cgroups
from sandbox.errors import SandboxError
from sandbox.launcher import Spawner, Stem
from sandbox.limits import CgroupLimits
from sandbox.spec import StemSpec

logger = logging.getLogger(__name__)

STEM_RETRY_S = 1.0
STEM_REFILL_DELAY_S = 0.005
STEMS_IN_PARALLEL = 4  # forks asked of the spawner at once while the pool is short
# Host memory one ready stem holds (bench.stem_cost: ~3 MB charged to its cgroup, 5.6-10 MB of
# MemAvailable with its namespaces and page tables), rounded up.
STEM_BYTES = 16 * 1024 * 1024


class Stems:
    def __init__(
        self,
        *,
        config: Config,
        cgroups: Cgroups,
        spawner: Spawner,
        paths: PoolPaths,
        teardowns: Teardowns,
        offload: Callable[[Callable[[], None]], Awaitable[None]] = trio.to_thread.run_sync,
    ) -> None:
        self.config = config
        self.offload = offload  # runs blocking kernel work off the event loop
        # Host memory beyond the pool's reserve (None: not known); stems beyond `prewarm`
        # are made only while it holds them (the pool wires its MemoryGuard in here).
        self.spare_bytes: Callable[[], int | None] = lambda: None
        self.cgroups = cgroups
        self.spawner = spawner
        self.paths = paths
        self.teardowns = teardowns
        self.ready: list[Stem] = []  # ready stems (any runtime), oldest first
        self.pending = 0  # being made by `keep` right now
        self.closing = False
        self._wanted = trio.Event()
        sb = config.sandbox
        # prewarm = 0 turns stems off: every sandbox is built on demand.
        self.demand = Demand(floor=sb.prewarm, ceiling=sb.prewarm_max if sb.prewarm else 0)
        # Cold starts that found a ready stem, and those that made one on the spot.
        self.taken_ready = 0
        self.made_on_demand = 0

    def __len__(self) -> int:
        return len(self.ready)

    async def make(self, *, template: CgroupLimits | None = None) -> Stem:
        """A new stem; with `template` (its cgroup's limits), a SnapStart template's
        (`engine.invoke.templates`)."""
        sandbox_id = secrets.token_hex(6)
        name = cgroup_name(sandbox_id)
        created: list[bool] = []

        def create() -> None:  # limits come with the function, at specialization
            self.cgroups.create(name, template)
            created.append(True)

        try:
            # In a thread: under a burst, cgroup directories wait on kernel locks that stem
            # inits and teardowns hold, and the event loop must go on serving meanwhile.
            await self.offload(create)
            return await self.spawner.make_stem(
                StemSpec(
                    sandbox_id=sandbox_id,
                    rootfs_dir=os.fspath(self.paths.rootfs_dir),
                    etc_dir=os.fspath(self.paths.etc_dir),
                    cgroup_procs=tuple(self.cgroups.procs_files(name)),
                    nofile=self.config.sandbox.nofile,
                    # With networking on, every sandbox joins an ENI: no namespace of its own.
                    own_netns=not self.config.network.enabled,
                    template=template is not None,
                )
            )
        except BaseException:
            if created:
                with trio.CancelScope(shield=True):
                    await self.teardowns.remove_cgroup(name)
            raise

    def resize(self, *, prewarm: int, prewarm_max: int) -> None:
        """Reloaded `sandbox.prewarm` / `prewarm_max`. Turning stems on or off (prewarm 0)
        needs a restart: `keep` runs only while they are on."""
        if bool(prewarm) != bool(self.demand.ceiling):
            raise ConfigError(
                "sandbox.prewarm: turning stems on or off (0) takes a restart; "
                "other sizes apply live"
            )
        self.demand = Demand(floor=prewarm, ceiling=prewarm_max if prewarm else 0)
        self.want()

    def take(self) -> Stem | None:
        """The oldest ready stem that is still alive, or None (then the caller makes one)."""
        self.demand.took(trio.current_time())
        self.want()
        ready = self.ready
        while ready:
            stem = ready.pop(0)
            if not stem.exited.is_set():
                self.taken_ready += 1
                return stem
            self.teardowns.start(stem, uid=None)  # died while waiting (see the daemon log)
        self.made_on_demand += 1
        return None

    def want(self) -> None:
        """Wake `keep`: a stem was taken (or the pool is closing)."""
        self._wanted.set()

    def refill_if_short(self) -> None:
        if len(self.ready) + self.pending < self.demand.target(trio.current_time()):
            self.want()

    async def keep(self) -> None:
        """Keep the target number of stems ready (stems serve every runtime), until closed."""
        if not self.demand.ceiling:
            return
        async with trio.open_nursery() as nursery:
            while not self.closing:
                now = trio.current_time()
                target = self._affordable(self.demand.target(now))
                while len(self.ready) > target:  # demand fell: the oldest go first
                    self.teardowns.start(self.ready.pop(0), uid=None)
                short = target - len(self.ready) - self.pending
                for _ in range(min(short, STEMS_IN_PARALLEL - self.pending)):
                    nursery.start_soon(self._add)
                    self.pending += 1  # counted now, so the next round sees it
                settles = self.demand.settles_at()
                with trio.move_on_at(settles if settles is not None else float("inf")):
                    await self._wanted.wait()
                self._wanted = trio.Event()
                if not self.demand.busy(trio.current_time()):
                    # A lone cold start: let it answer its caller first, since making a stem
                    # competes for the CPU and the spawner. In a burst, make them at once.
                    await trio.sleep(STEM_REFILL_DELAY_S)

    def _affordable(self, target: int) -> int:
        """`target`, less the growth above `prewarm` the host's spare memory cannot hold."""
        floor = self.demand.floor
        spare = self.spare_bytes()
        if target <= floor or spare is None:
            return target
        return max(floor, min(target, len(self.ready) + self.pending + spare // STEM_BYTES))

    async def _add(self) -> None:
        """Make one stem (`pending` was counted by the caller) and wake `keep` when done."""
        try:
            # Shielded: a half-made stem (forked, reply not read) would leak.
            with trio.CancelScope(shield=True):
                stem = await self.make()
        except (SandboxError, OSError) as exc:
            logger.error("could not prepare a sandbox stem: %s", exc)
            await trio.sleep(STEM_RETRY_S)  # pending meanwhile: keep does not retry at once
            return
        finally:
            self.pending -= 1
            self.teardowns.notify()  # close() may be waiting for this stem
            self.want()
        if self.closing:
            self.teardowns.start(stem, uid=None)
        else:
            self.ready.append(stem)

    def close(self) -> None:
        """Stop making stems (`keep` ends); `discard_ready` tears the ready ones down."""
        self.closing = True
        self.want()

    def discard_ready(self) -> None:
        while self.ready:
            self.teardowns.start(self.ready.pop(), uid=None)
