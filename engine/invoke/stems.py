"""Stems: sandboxes prepared ahead of demand (namespaces, cgroup joined, root filesystem, runtime
forked) that a cold start only has to specialize. `Stems` keeps `prewarm` of them ready and
makes one on the spot when none is.

Resource handling: a stem that dies while waiting, and every ready stem at close, goes to the
teardown; a stem whose making failed has its cgroup removed before the error propagates.
"""

from __future__ import annotations

import logging
import os
import secrets

import trio

from engine.config import Config
from engine.invoke.plan import PoolPaths, cgroup_name
from engine.invoke.teardown import Teardowns
from sandbox.cgroups import Cgroups
from sandbox.errors import SandboxError
from sandbox.launcher import Spawner, Stem
from sandbox.spec import StemSpec

logger = logging.getLogger(__name__)

STEM_RETRY_S = 1.0
STEM_REFILL_DELAY_S = 0.005


class Stems:
    def __init__(
        self,
        *,
        config: Config,
        cgroups: Cgroups,
        spawner: Spawner,
        paths: PoolPaths,
        teardowns: Teardowns,
    ) -> None:
        self.config = config
        self.cgroups = cgroups
        self.spawner = spawner
        self.paths = paths
        self.teardowns = teardowns
        self.ready: list[Stem] = []  # ready stems (any runtime), oldest first
        self.pending = 0  # being made by `keep` right now
        self.closing = False
        self._wanted = trio.Event()

    def __len__(self) -> int:
        return len(self.ready)

    async def make(self) -> Stem:
        sandbox_id = secrets.token_hex(6)
        name = cgroup_name(sandbox_id)
        self.cgroups.create(name, None)  # limits come with the function, at specialization
        try:
            return await self.spawner.make_stem(
                StemSpec(
                    sandbox_id=sandbox_id,
                    rootfs_dir=os.fspath(self.paths.rootfs_dir),
                    etc_dir=os.fspath(self.paths.etc_dir),
                    cgroup_procs=tuple(self.cgroups.procs_files(name)),
                    nofile=self.config.sandbox.nofile,
                )
            )
        except BaseException:
            with trio.CancelScope(shield=True):
                await self.teardowns.remove_cgroup(name)
            raise

    def take(self) -> Stem | None:
        """The oldest ready stem that is still alive, or None."""
        ready = self.ready
        while ready:
            stem = ready.pop(0)
            if not stem.exited.is_set():
                return stem
            self.teardowns.start(stem, uid=None)  # died while waiting (see the daemon log)
        return None

    def want(self) -> None:
        """Wake `keep`: a stem was used (or the pool is closing)."""
        self._wanted.set()

    def refill_if_short(self) -> None:
        if len(self.ready) < self.config.sandbox.prewarm:
            self.want()

    async def keep(self) -> None:
        """Keep `prewarm` stems ready (stems serve every runtime), until closed."""
        wanted = self.config.sandbox.prewarm
        while wanted and not self.closing:
            while len(self.ready) < wanted and not self.closing:
                await self._add()
            await self._wanted.wait()
            self._wanted = trio.Event()
            # Let the invoke that used the last stem answer its caller first: making a stem
            # competes for the two things a cold start needs, the CPU and the spawner.
            await trio.sleep(STEM_REFILL_DELAY_S)

    async def _add(self) -> None:
        self.pending += 1
        try:
            # Shielded: a half-made stem (forked, reply not read) would leak.
            with trio.CancelScope(shield=True):
                stem = await self.make()
        except (SandboxError, OSError) as exc:
            logger.error("could not prepare a sandbox stem: %s", exc)
            await trio.sleep(STEM_RETRY_S)
            return
        finally:
            self.pending -= 1
            self.teardowns.notify()  # close() may be waiting for this stem
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
