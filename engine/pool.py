"""Execution environments per function version: warm reuse, cold creation, reaping.

One invocation per environment at a time: an environment leaves the idle list when it is
acquired, so concurrent invokes of one function scale out to several environments. Idle
environments are destroyed after ``keep_warm_s``; environments of a function whose code or
configuration changed are never reused.

Resource handling: the pool runs inside a nursery it is given (`open_pool`); on exit it
destroys every environment. Teardown (kill the pid namespace and the cgroup, wait for the
cgroup to empty, remove it, free the uid) runs in background tasks, off the request path.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from engine.config import Config
from engine.environment import Environment, PlatformError
from engine.errors import TooManyRequestsException
from engine.lifecycle import EnvState
from engine.logs import LogStream
from engine.models import FunctionConfig
from engine.runtime_env import SUPPORTED_RUNTIMES, runtime_environment
from sandbox.cgroups import Cgroups
from sandbox.errors import SandboxError
from sandbox.launcher import Spawner
from sandbox.limits import limits_for
from sandbox.spec import SandboxSpec

logger = logging.getLogger(__name__)

REAP_INTERVAL_S = 1.0


class UidAllocator:
    """Hands out one uid per live sandbox from a fixed range; pure bookkeeping."""

    def __init__(self, base: int, count: int) -> None:
        self._free = list(range(base + count - 1, base - 1, -1))

    def allocate(self) -> int | None:
        return self._free.pop() if self._free else None

    def release(self, uid: int) -> None:
        self._free.append(uid)

    @property
    def available(self) -> int:
        return len(self._free)


@dataclass(frozen=True, slots=True, kw_only=True)
class PoolPaths:
    rootfs_dir: Path
    etc_dir: Path
    logs_dir: Path


class Pool:
    def __init__(
        self,
        *,
        config: Config,
        cgroups: Cgroups,
        spawner: Spawner,
        nursery: trio.Nursery,
        paths: PoolPaths,
        code_dir: Callable[[FunctionConfig], Path],
    ) -> None:
        self.config = config
        self.cgroups = cgroups
        self.spawner = spawner
        self.nursery = nursery
        self.paths = paths
        self.code_dir = code_dir
        sb = config.sandbox
        self.uids = UidAllocator(sb.uid_base, sb.uid_count)
        self.idle: dict[tuple[str, str], list[Environment]] = {}
        self.live: set[Environment] = set()
        self.teardowns = 0  # environments being torn down right now
        self._host_cpus = os.cpu_count() or 1
        self._teardown_finished = trio.Event()  # replaced after each teardown

    # -- acquiring ----------------------------------------------------------------------

    async def acquire(self, function: FunctionConfig) -> tuple[Environment, bool]:
        """Return (environment, cold). A warm environment is reused when one is idle."""
        envs = self.idle.get((function.name, function.revision_id))
        if envs:
            env = envs.pop()  # most recently used: the warmest caches
            return env, False
        return await self._create(function), True

    async def _create(self, function: FunctionConfig) -> Environment:
        uid = self.uids.allocate()
        if uid is None:
            raise TooManyRequestsException(
                "Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded"
            )
        sandbox_id = secrets.token_hex(6)
        cgroup_name = f"sb-{sandbox_id}"
        log: LogStream | None = None
        env: Environment | None = None
        try:
            sb = self.config.sandbox
            limits = limits_for(
                memory_mb=function.memory_mb,
                host_cpus=self._host_cpus,
                mb_per_vcpu=sb.mb_per_vcpu,
                max_vcpus=sb.max_vcpus,
                pids_max=sb.pids_max,
            )
            # Lambda boosts CPU during init: the platform's set-up and the function's init run
            # with at least one vCPU; the memory-proportional quota applies from Ready on.
            boost_us = max(limits.cpu_quota_us, min(self._host_cpus, 1) * limits.cpu_period_us)
            self.cgroups.create(cgroup_name, dataclasses.replace(limits, cpu_quota_us=boost_us))
            log = LogStream(self.paths.logs_dir, function.name, function.version)
            spec = SandboxSpec(
                sandbox_id=sandbox_id,
                runtime=function.runtime,
                handler=function.handler,
                uid=uid,
                gid=uid,
                hostname=f"lambdalet-{sandbox_id}",
                code_dir=os.fspath(self.code_dir(function)),
                runtime_dir=os.fspath(SUPPORTED_RUNTIMES[function.runtime]),
                rootfs_dir=os.fspath(self.paths.rootfs_dir),
                etc_dir=os.fspath(self.paths.etc_dir),
                tmp_size_mb=function.ephemeral_storage_mb,
                cgroup_procs=tuple(self.cgroups.procs_files(cgroup_name)),
                env=runtime_environment(
                    function, region=self.config.region, log_stream_name=log.name
                ),
                nofile=sb.nofile,
            )
            proc = await self.spawner.spawn(spec)
        except BaseException:
            if log is not None:
                log.close()
            self._finish_teardown(cgroup_name, uid)
            raise
        env = Environment(
            env_id=sandbox_id,
            function=function,
            proc=proc,
            cgroups=self.cgroups,
            cgroup_name=cgroup_name,
            log=log,
            uid=uid,
        )
        self.live.add(env)
        self.nursery.start_soon(env.pump_log_pipe)
        try:
            await env.wait_ready(timeout_s=self.config.sandbox.init_timeout_s)
            self.cgroups.set_cpu_quota(
                cgroup_name, quota_us=limits.cpu_quota_us, period_us=limits.cpu_period_us
            )
        except BaseException:
            self.discard(env)
            raise
        return env

    # -- returning ----------------------------------------------------------------------

    def release(self, env: Environment, *, reusable: bool) -> None:
        """Give an environment back after an invoke; unhealthy ones are destroyed."""
        if env.state is EnvState.DESTROYED:
            return
        if not reusable or env not in self.live:
            self.discard(env)
            return
        env.set_state(EnvState.IDLE)
        env.idle_since = trio.current_time()
        self.idle.setdefault(env.key, []).append(env)

    def retire_function(self, name: str) -> None:
        """Code or configuration changed (or the function is gone): drop its idle envs."""
        for key in [k for k in self.idle if k[0] == name]:
            for env in self.idle.pop(key):
                self.discard(env)

    def discard(self, env: Environment) -> None:
        """Destroy an environment in the background."""
        if env.state is EnvState.DESTROYED:
            return
        env.set_state(EnvState.DESTROYED)
        envs = self.idle.get(env.key)
        if envs and env in envs:
            envs.remove(env)
        self.teardowns += 1
        self.nursery.start_soon(self._destroy, env)

    async def _destroy(self, env: Environment) -> None:
        try:
            with trio.CancelScope(shield=True):
                await self._kill_and_wait(env)
        finally:
            self.live.discard(env)
            self.teardowns -= 1
            env.log.close()
            env.proc.stream.socket.close()
            trio.lowlevel.notify_closing(env.proc.log_fd)  # wakes pump_log_pipe
            os.close(env.proc.log_fd)
            self._finish_teardown(env.cgroup_name, env.uid)
            self._teardown_finished.set()
            self._teardown_finished = trio.Event()

    async def _kill_and_wait(self, env: Environment) -> None:
        """Kill the pid namespace and everything in the cgroup; wait until both are gone."""
        bound = self.config.sandbox.teardown_timeout_s
        try:
            await self.spawner.kill(env.proc)
        except (trio.BrokenResourceError, trio.ClosedResourceError, OSError):
            pass
        with trio.move_on_after(bound) as scope:
            await env.proc.exited.wait()
            while True:
                try:
                    # One round at a time: never block the event loop waiting for a kill.
                    self.cgroups.kill_all(env.cgroup_name, max_rounds=1)
                    if not self.cgroups.populated(env.cgroup_name):
                        break
                except (OSError, SandboxError) as exc:
                    logger.warning("sandbox %s: killing its cgroup failed: %s", env.env_id, exc)
                await trio.sleep(0.005)
        if scope.cancelled_caught:
            logger.error(
                "sandbox %s did not empty within %.0f s; the start-up sweep will remove cgroup %s",
                env.env_id,
                bound,
                env.cgroup_name,
            )

    def _finish_teardown(self, cgroup_name: str, uid: int) -> None:
        for _ in range(50):
            try:
                self.cgroups.destroy(cgroup_name)
                break
            except SandboxError:
                # memory cgroups can stay busy for a moment after their last task exits
                time.sleep(0.002)
        else:
            logger.error("could not remove cgroup %s; the start-up sweep will", cgroup_name)
            return  # keep the uid out of circulation: something may still run as it
        self.uids.release(uid)

    # -- reaping ------------------------------------------------------------------------

    async def reap_idle(self) -> None:
        """Destroy environments that stayed idle longer than keep_warm_s (runs forever)."""
        keep = self.config.sandbox.keep_warm_s
        while True:
            await trio.sleep(min(REAP_INTERVAL_S, max(keep, 0.05)))
            now = trio.current_time()
            for envs in list(self.idle.values()):
                for env in list(envs):
                    if now - env.idle_since >= keep:
                        self.discard(env)

    async def close(self) -> None:
        for env in list(self.live):
            self.discard(env)
        with trio.move_on_after(self.config.sandbox.teardown_timeout_s + 2):
            while self.live or self.teardowns:
                await self._teardown_finished.wait()


@asynccontextmanager
async def open_pool(
    *,
    config: Config,
    cgroups: Cgroups,
    spawner: Spawner,
    paths: PoolPaths,
    code_dir: Callable[[FunctionConfig], Path],
) -> AsyncIterator[Pool]:
    async with trio.open_nursery() as nursery:
        pool = Pool(
            config=config,
            cgroups=cgroups,
            spawner=spawner,
            nursery=nursery,
            paths=paths,
            code_dir=code_dir,
        )
        nursery.start_soon(pool.reap_idle)
        try:
            yield pool
        finally:
            with trio.CancelScope(shield=True):
                await pool.close()
            nursery.cancel_scope.cancel()


__all__ = ["Environment", "PlatformError", "Pool", "PoolPaths", "UidAllocator", "open_pool"]
