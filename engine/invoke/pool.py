"""Execution environments per function version: warm reuse, cold creation, reaping.

One invocation per environment at a time: an environment leaves the idle list when it is
acquired, so concurrent invokes of one function scale out to several environments. Idle
environments are destroyed after ``keep_warm_s``; environments of a function whose code or
configuration changed are never reused.

Cold starts specialize a *stem*, a sandbox the pool prepared ahead of demand (namespaces,
cgroup joined, root filesystem, runtime forked). The pool keeps ``prewarm`` stems ready and
makes one on the spot when none is.

Resource handling: the pool runs inside a nursery it is given (`open_pool`); on exit it
destroys every environment and stem. Teardown (kill the pid namespace and the cgroup, wait
for the cgroup to empty, remove it, free the uid) runs in background tasks, off the request
path.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import secrets
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path

import trio

from engine.config import Config
from engine.errors import EngineError, InvalidRuntimeException, TooManyRequestsException
from engine.model.function import LATEST, FunctionConfig
from engine.network.service import Eni, NetworkService
from engine.runtime.catalog import RuntimeCatalog
from engine.runtime.environment import Environment, PlatformError
from engine.runtime.lifecycle import EnvState
from engine.runtime.logs import LogStream
from engine.runtime.variables import INIT_ON_DEMAND, INIT_PROVISIONED, runtime_environment
from netns.errors import NetnsError
from sandbox.cgroups import Cgroups
from sandbox.errors import SandboxError
from sandbox.launcher import Spawner, Stem
from sandbox.limits import limits_for
from sandbox.spec import SandboxSpec, StemSpec

logger = logging.getLogger(__name__)

REAP_INTERVAL_S = 1.0
STEM_RETRY_S = 1.0
STEM_REFILL_DELAY_S = 0.005


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


def cgroup_name_of(stem: Stem) -> str:
    return f"sb-{stem.sandbox_id}"


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
        runtimes: RuntimeCatalog,
        network: NetworkService | None = None,
        opt_dir: Callable[[FunctionConfig], Path | None] = lambda _: None,
    ) -> None:
        self.config = config
        self.runtimes = runtimes
        self.network = network
        self.enis: dict[str, Eni] = {}  # sandbox id -> its ENI
        self.cgroups = cgroups
        self.spawner = spawner
        self.nursery = nursery
        self.paths = paths
        self.code_dir = code_dir
        self.opt_dir = opt_dir
        sb = config.sandbox
        self.uids = UidAllocator(sb.uid_base, sb.uid_count)
        self.idle: dict[tuple[str, str], list[Environment]] = {}
        # Provisioned concurrency: every initialised environment per (function, qualifier),
        # and the idle ones by environment key (they are never reaped).
        self.provisioned: dict[tuple[str, str], list[Environment]] = {}
        self.provisioned_idle: dict[tuple[str, str], list[Environment]] = {}
        self.provisioned_changed = trio.Event()  # set (and replaced) when one is lost
        self.live: set[Environment] = set()
        self.stems: list[Stem] = []  # ready stems (any runtime), oldest first
        self._stems_pending = 0
        self._stem_wanted = trio.Event()
        self.closing = False
        self.teardowns = 0  # sandboxes being torn down right now
        self._teardown_finished = trio.Event()  # replaced after each teardown
        self._host_cpus = os.cpu_count() or 1

    # -- stems --------------------------------------------------------------------------

    async def _make_stem(self) -> Stem:
        sandbox_id = secrets.token_hex(6)
        name = f"sb-{sandbox_id}"
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
                await self._remove_cgroup(name)
            raise

    def _take_stem(self) -> Stem | None:
        ready = self.stems
        while ready:
            stem = ready.pop(0)
            if not stem.exited.is_set():
                return stem
            self._start_teardown(stem, uid=None)  # died while waiting (see the daemon log)
        return None

    async def keep_stems(self) -> None:
        """Keep `prewarm` stems ready (stems serve every runtime), until the pool closes."""
        wanted = self.config.sandbox.prewarm
        while wanted and not self.closing:
            while len(self.stems) < wanted and not self.closing:
                await self._add_stem()
            await self._stem_wanted.wait()
            self._stem_wanted = trio.Event()
            # Let the invoke that used the last stem answer its caller first: making a stem
            # competes for the two things a cold start needs, the CPU and the spawner.
            await trio.sleep(STEM_REFILL_DELAY_S)

    async def _add_stem(self) -> None:
        self._stems_pending += 1
        try:
            # Shielded: a half-made stem (forked, reply not read) would leak.
            with trio.CancelScope(shield=True):
                stem = await self._make_stem()
        except (SandboxError, OSError) as exc:
            logger.error("could not prepare a sandbox stem: %s", exc)
            await trio.sleep(STEM_RETRY_S)
            return
        finally:
            self._stems_pending -= 1
            self._teardown_finished.set()  # close() may be waiting for this stem
            self._teardown_finished = trio.Event()
        if self.closing:
            self._start_teardown(stem, uid=None)
        else:
            self.stems.append(stem)

    # -- acquiring ----------------------------------------------------------------------

    async def acquire(self, function: FunctionConfig) -> tuple[Environment, bool]:
        """Return (environment, cold). An idle provisioned environment is used first, then
        any idle one; otherwise a new one is made."""
        key = (function.name, function.revision_id)
        for envs in (self.provisioned_idle.get(key), self.idle.get(key)):
            if envs:
                return envs.pop(), False  # most recently used: the warmest caches
        return await self._create(function), True

    # -- provisioned concurrency ----------------------------------------------------------

    async def provision(self, function: FunctionConfig, owner: tuple[str, str]) -> None:
        """Make one more initialised environment for `owner` (function, qualifier); it is
        never reaped and serves invokes of its version before on-demand ones."""
        env = await self._create(function, init_type=INIT_PROVISIONED)
        if self.closing:
            self.discard(env)
            return
        env.provisioned_for = owner
        env.init_duration_ms = None  # its invokes are not cold starts: no Init Duration
        self.provisioned.setdefault(owner, []).append(env)
        self._park(env)

    def provisioned_count(self, owner: tuple[str, str]) -> int:
        return len(self.provisioned.get(owner, ()))

    def unprovision(
        self, owner: tuple[str, str], *, keep: int = 0, version: str | None = None
    ) -> None:
        """Destroy `owner`'s environments beyond `keep`, and those not of `version` if given
        (busy ones finish their invoke first)."""
        envs = self.provisioned.get(owner, [])
        doomed = [e for e in envs if version is not None and e.function.version != version]
        kept = [e for e in envs if e not in doomed]
        doomed += kept[keep:]
        for env in doomed:
            self._drop_provisioned(env)
            env.retired = True
            if env.state is EnvState.IDLE:
                self.discard(env)

    def _drop_provisioned(self, env: Environment) -> None:
        owner = env.provisioned_for
        if owner is None:
            return
        env.provisioned_for = None
        envs = self.provisioned.get(owner)
        if envs and env in envs:
            envs.remove(env)
            if not envs:
                del self.provisioned[owner]
        parked = self.provisioned_idle.get(env.key)
        if parked and env in parked:
            parked.remove(env)
        self.provisioned_changed.set()
        self.provisioned_changed = trio.Event()

    def _park(self, env: Environment) -> None:
        env.set_state(EnvState.IDLE)
        env.idle_since = trio.current_time()
        self.provisioned_idle.setdefault(env.key, []).append(env)

    async def _create(
        self, function: FunctionConfig, *, init_type: str = INIT_ON_DEMAND
    ) -> Environment:
        try:
            kind = self.runtimes.get(function.runtime)
        except KeyError:
            reason = self.runtimes.unsupported_reason(function.runtime)
            raise InvalidRuntimeException(reason or function.runtime) from None
        uid = self.uids.allocate()
        if uid is None:
            raise TooManyRequestsException(
                "Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded"
            )
        started = trio.current_time()
        stem: Stem | None = None
        log: LogStream | None = None
        eni: Eni | None = None
        try:
            if self.network is not None:
                eni = await self.network.acquire(function)
            stem = self._take_stem() or await self._make_stem()
            cgroup_name = cgroup_name_of(stem)
            sb = self.config.sandbox
            limits = limits_for(
                memory_mb=function.memory_mb,
                host_cpus=self._host_cpus,
                mb_per_vcpu=sb.mb_per_vcpu,
                max_vcpus=sb.max_vcpus,
                pids_max=sb.pids_max,
            )
            # Lambda boosts CPU during init: the platform's set-up and the function's init
            # run with every vCPU a function may have (max_vcpus, at most the host's: node
            # and awslambdaric start multi-threaded); the memory-proportional quota applies
            # from Ready.
            boost_vcpus = min(float(self._host_cpus), sb.max_vcpus)
            boost_us = max(limits.cpu_quota_us, int(boost_vcpus * limits.cpu_period_us))
            self.cgroups.set_limits(cgroup_name, dataclasses.replace(limits, cpu_quota_us=boost_us))
            log = LogStream(self.paths.logs_dir, function.name, function.version)
            spec = SandboxSpec(
                sandbox_id=stem.sandbox_id,
                runtime=function.runtime,
                handler=function.handler,
                uid=uid,
                gid=uid,
                hostname=f"lambdalet-{stem.sandbox_id}",
                code_dir=os.fspath(self.code_dir(function)),
                opt_dir=os.fspath(self.opt_dir(function) or ""),
                runtime_dir=os.fspath(kind.runtime_dir),
                tmp_size_mb=function.ephemeral_storage_mb,
                env=runtime_environment(
                    function,
                    region=self.config.region,
                    log_stream_name=log.name,
                    runtime_vars=kind.env,
                    init_type=init_type,
                ),
                netns=eni is not None,
                entrypoint=kind.entrypoint,
                args=kind.args,
                api=kind.api,
            )
            if eni is not None:
                self.enis[stem.sandbox_id] = eni
            proc = await self.spawner.specialize(
                stem, spec, netns_fd=None if eni is None else eni.fd
            )
        except BaseException as exc:
            self._stem_wanted.set()
            if log is not None:
                log.close()
            if stem is not None:
                if eni is not None:
                    self.enis[stem.sandbox_id] = eni
                self._start_teardown(stem, uid=uid)
            else:
                self.uids.release(uid)
                if eni is not None:
                    self.nursery.start_soon(self._release_eni, eni)
            if isinstance(exc, SandboxError | NetnsError):
                raise PlatformError(str(exc)) from exc
            raise
        env = Environment(
            env_id=stem.sandbox_id,
            function=function,
            proc=proc,
            cgroups=self.cgroups,
            cgroup_name=cgroup_name,
            log=log,
            uid=uid,
            api=kind.api,
            nursery=self.nursery,
        )
        self.live.add(env)
        self.nursery.start_soon(env.pump_log_pipe)
        try:
            await env.wait_ready(timeout_s=self.config.sandbox.init_timeout_s, started=started)
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
        if len(self.stems) < self.config.sandbox.prewarm:
            self._stem_wanted.set()  # a cold start used a stem: refill, now that it is done
        if self.network is not None:
            self.network.invoke_done()
        if env.state is EnvState.DESTROYED:
            return
        if not reusable or env.retired or env not in self.live:
            self.discard(env)
            return
        if env.provisioned_for is not None:
            self._park(env)
            return
        env.set_state(EnvState.IDLE)
        env.idle_since = trio.current_time()
        self.idle.setdefault(env.key, []).append(env)

    def retire_function(self, name: str, *, latest_only: bool = False) -> None:
        """Code or configuration changed (or the function is gone): its environments are
        never used again; idle ones go now, busy or starting ones when they are released.
        `latest_only`: only $LATEST changed (published versions are immutable)."""
        self._retire(lambda f: f.name == name and (not latest_only or f.version == LATEST))

    def retire_version(self, name: str, version: str) -> None:
        """A published version was deleted."""
        self._retire(lambda f: f.name == name and f.version == version)

    def _retire(self, matches: Callable[[FunctionConfig], bool]) -> None:
        for env in list(self.live):
            if matches(env.function):
                env.retired = True
                if env.state is EnvState.IDLE:
                    self.discard(env)

    def discard(self, env: Environment) -> None:
        """Destroy an environment in the background."""
        if env.state is EnvState.DESTROYED:
            return
        self._drop_provisioned(env)  # the provisioner makes a replacement
        env.set_state(EnvState.DESTROYED)
        envs = self.idle.get(env.key)
        if envs and env in envs:
            envs.remove(env)
        self._start_teardown(env.proc.stem, uid=env.uid, env=env)

    # -- teardown -----------------------------------------------------------------------

    def _start_teardown(
        self, stem: Stem, *, uid: int | None, env: Environment | None = None
    ) -> None:
        self.teardowns += 1
        self.nursery.start_soon(self._teardown, stem, uid, env)

    async def _teardown(self, stem: Stem, uid: int | None, env: Environment | None) -> None:
        name = cgroup_name_of(stem)
        emptied = False
        try:
            with trio.CancelScope(shield=True):
                emptied = await self._kill_and_wait(stem, name)
        finally:
            self.teardowns -= 1
            if env is not None:
                self.live.discard(env)
                env.close()
                env.proc.stream.socket.close()
                trio.lowlevel.notify_closing(env.proc.log_fd)  # wakes pump_log_pipe
                os.close(env.proc.log_fd)
            eni = self.enis.pop(stem.sandbox_id, None)
            with trio.CancelScope(shield=True):
                if eni is not None:
                    await self._release_eni(eni)
                removed = emptied and await self._remove_cgroup(name)
            if uid is not None and removed:
                self.uids.release(uid)  # never while something may still run as it
            self._teardown_finished.set()
            self._teardown_finished = trio.Event()

    async def _release_eni(self, eni: Eni) -> None:
        assert self.network is not None
        try:
            await self.network.release(eni)
        except (OSError, EngineError, NetnsError) as exc:
            logger.error("releasing ENI %s failed: %s", eni.ifname, exc)

    async def _kill_and_wait(self, stem: Stem, name: str) -> bool:
        """Kill the pid namespace and everything in the cgroup; wait until both are gone."""
        bound = self.config.sandbox.teardown_timeout_s
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

    async def _remove_cgroup(self, name: str) -> bool:
        for _ in range(50):
            try:
                self.cgroups.destroy(name)
                return True
            except SandboxError:
                # memory cgroups can stay busy for a moment after their last task exits
                await trio.sleep(0.002)
        logger.error("could not remove cgroup %s; the start-up sweep will", name)
        return False

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
        self.closing = True
        self._stem_wanted.set()  # wakes keep_stems, which then ends
        for env in list(self.live):
            self.discard(env)
        while self.stems:
            self._start_teardown(self.stems.pop(), uid=None)
        with trio.move_on_after(self.config.sandbox.teardown_timeout_s + 2):
            while self.live or self.teardowns or self._stems_pending:
                await self._teardown_finished.wait()


@asynccontextmanager
async def open_pool(
    *,
    config: Config,
    cgroups: Cgroups,
    spawner: Spawner,
    paths: PoolPaths,
    code_dir: Callable[[FunctionConfig], Path],
    runtimes: RuntimeCatalog,
    network: NetworkService | None = None,
    opt_dir: Callable[[FunctionConfig], Path | None] = lambda _: None,
) -> AsyncIterator[Pool]:
    async with trio.open_nursery() as nursery:
        pool = Pool(
            config=config,
            cgroups=cgroups,
            spawner=spawner,
            nursery=nursery,
            paths=paths,
            code_dir=code_dir,
            runtimes=runtimes,
            network=network,
            opt_dir=opt_dir,
        )
        nursery.start_soon(pool.reap_idle)
        nursery.start_soon(pool.keep_stems)
        try:
            yield pool
        finally:
            with trio.CancelScope(shield=True):
                await pool.close()
            nursery.cancel_scope.cancel()


__all__ = ["Environment", "PlatformError", "Pool", "PoolPaths", "UidAllocator", "open_pool"]
