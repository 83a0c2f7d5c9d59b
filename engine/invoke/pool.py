"""Execution environments per function version: warm reuse, cold creation, reaping.

One invocation per environment at a time: an environment leaves the idle list when it is
acquired, so concurrent invokes of one function scale out to several environments. Idle
environments are destroyed after ``keep_warm_s``; environments of a function whose code or
configuration changed are never reused.

Cold starts specialize a *stem* (`engine.invoke.stems`), a sandbox prepared ahead of demand;
`_create` plans the environment in pure code (`engine.invoke.plan`) and carries it out.

Resource handling: the pool runs inside a nursery it is given (`open_pool`); on exit it
destroys every environment and stem. Teardown (`engine.invoke.teardown`: kill the pid
namespace and the cgroup, wait for the cgroup to empty, remove it, free the uid) runs in
background tasks, off the request path.

Idle environments are frozen (``sandbox.freeze_idle``): a pool task freezes each one's cgroup
once it has been idle ``FREEZE_AFTER_S``; `acquire` thaws it before its next invoke, and
`discard` before its teardown (on cgroup v1 a frozen task does not even die of SIGKILL until
thawed), which covers reaping, retiring, unprovisioning and closing alike.

Under memory pressure (`engine.invoke.pressure`) a cold start first reclaims the least
recently used idle environments, and is refused with a 429 only if the host is still short;
a pool task reclaims idle ones whenever the host falls under ``sandbox.memory_reserve_mb``.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from engine.config import Config
from engine.errors import InvalidRuntimeException, TooManyRequestsException
from engine.invoke.plan import PoolPaths, cgroup_name, plan_limits, plan_spec
from engine.invoke.pressure import MemoryGuard
from engine.invoke.stems import Stems
from engine.invoke.teardown import Teardowns
from engine.invoke.templates import Templates
from engine.invoke.uids import UidAllocator
from engine.model.function import FunctionConfig, snap_start_applies
from engine.network.enis import Eni
from engine.network.service import NetworkService
from engine.runtime.catalog import RuntimeCatalog, RuntimeKind
from engine.runtime.environment import Environment, PlatformError
from engine.runtime.lifecycle import EnvState
from engine.runtime.log_store import LogStore
from engine.runtime.logs import LogStream
from engine.runtime.variables import INIT_ON_DEMAND, INIT_PROVISIONED
from netns.errors import NetnsError
from sandbox.cgroups import Cgroups
from sandbox.errors import SandboxError
from sandbox.launcher import Spawner, Stem
from sandbox.limits import CgroupLimits

logger = logging.getLogger(__name__)

REAP_INTERVAL_S = 1.0
# After this many environments of one version in a row ended badly (an init error, a crash,
# a timeout), its cold starts lose the init CPU boost until one of its invokes succeeds.
CRASH_BACKOFF_AFTER = 3
# An environment is frozen once idle this long: a client invoking back to back never pays a
# freeze and a thaw (~0.05 ms per invoke on this host), and background work stops right after.
FREEZE_AFTER_S = 0.02

Owner = tuple[str, str]  # (function name, qualifier) of provisioned concurrency


class InitFailed(Exception):
    """A provisioned environment's function failed its init (AWS: FUNCTION_ERROR_INIT_FAILURE)."""


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
        logs: LogStore,
        network: NetworkService | None = None,
        opt_dir: Callable[[FunctionConfig], Path | None] = lambda _: None,
    ) -> None:
        self.config = config
        self.logs = logs
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
        self.keep_warm_s = sb.keep_warm_s  # changes on reload
        self.idle: dict[tuple[str, str], list[Environment]] = {}
        # Provisioned concurrency: every initialised environment per (function, qualifier),
        # and the idle ones by environment key (they are never reaped).
        self.provisioned: dict[Owner, list[Environment]] = {}
        self.provisioned_idle: dict[tuple[str, str], list[Environment]] = {}
        self.provisioned_changed = trio.Event()  # set (and replaced) when one is lost
        self.live: set[Environment] = set()
        self.closing = False
        # Environments in a row, per version, that ended badly (see CRASH_BACKOFF_AFTER).
        self.bad_ends: dict[tuple[str, str], int] = {}
        self.teardowns = Teardowns(
            spawner=spawner,
            cgroups=cgroups,
            uids=self.uids,
            network=network,
            nursery=nursery,
            timeout_s=sb.teardown_timeout_s,
            forget=self.live.discard,
        )
        self.stems = Stems(
            config=config, cgroups=cgroups, spawner=spawner, paths=paths, teardowns=self.teardowns
        )
        self.host_cpus = os.cpu_count() or 1
        self.freeze_idle = sb.freeze_idle and cgroups.can_freeze
        if sb.freeze_idle and not cgroups.can_freeze:
            logger.warning("no cgroup freezer: idle environments keep running between invokes")
        self.frozen: set[Environment] = set()  # idle environments whose cgroup is frozen
        # (when, environment, its idle_since then): parked environments the freezer awaits.
        self._to_freeze: deque[tuple[float, Environment, float]] = deque()
        self._freeze_wanted = trio.Event()
        self.memory = MemoryGuard(
            pool=self,
            cgroups=cgroups,
            reserve_mb=sb.memory_reserve_mb,
            limit_mb=sb.memory_limit_mb,
        )
        self.stems.spare_bytes = self.memory.spare_bytes  # stems grow only into spare memory
        self.templates = Templates(self)  # SnapStart

    # -- acquiring ----------------------------------------------------------------------

    async def acquire(self, function: FunctionConfig) -> tuple[Environment, bool]:
        """Return (environment, cold). An idle provisioned environment is used first, then
        any idle one; otherwise a new one is made."""
        key = (function.name, function.revision_id)
        for envs in (self.provisioned_idle.get(key), self.idle.get(key)):
            while envs:
                env = envs.pop()  # most recently used: the warmest caches
                if env in self.frozen and not self._thaw(env):
                    self.discard(env)
                    continue
                return env, False
        if snap_start_applies(function):
            restored = await self.templates.restore(function)
            if restored is not None:
                return restored, True
        return await self._create(function), True

    # -- provisioned concurrency ----------------------------------------------------------

    async def provision(self, function: FunctionConfig, owner: Owner) -> None:
        """Make one more initialised environment for `owner` (function, qualifier); it is
        never reaped and serves invokes of its version before on-demand ones."""
        env = await self._create(function, init_type=INIT_PROVISIONED)
        if self.closing:
            self.discard(env)
            return
        if env.init_error is not None:  # not a usable environment: nothing to keep warm
            self.discard(env)
            raise InitFailed(f"{function.name}:{function.version}")
        env.provisioned_for = owner
        env.init_duration_ms = None  # its invokes are not cold starts: no Init Duration
        self.provisioned.setdefault(owner, []).append(env)
        self._park(env)

    def provisioned_count(self, owner: Owner, version: str | None = None) -> int:
        """`owner`'s environments (of `version` only, if given: an alias that moved)."""
        envs = self.provisioned.get(owner, ())
        return sum(1 for e in envs if version is None or e.function.version == version)

    def unprovision(self, owner: Owner, *, keep: int = 0, version: str | None = None) -> None:
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
        self._schedule_freeze(env)

    # -- a cold start, as a checklist -----------------------------------------------------

    async def _create(
        self, function: FunctionConfig, *, init_type: str = INIT_ON_DEMAND
    ) -> Environment:
        """runtime → uid → ENI → stem → init limits → log → spec → specialize → wait for
        Ready → run limits. Whatever was taken is given back if a step fails."""
        kind = self.runtime_kind(function)
        await self.memory.admit(function.memory_mb)  # may reclaim idle ones, or refuse (429)
        uid = self.allocate_uid()
        key = (function.name, function.revision_id)
        started = trio.current_time()
        stem: Stem | None = None
        log: LogStream | None = None
        eni: Eni | None = None
        try:
            if self.network is not None:
                eni = await self.network.acquire(function)
            stem = self.stems.take() or await self.stems.make()
            limits = plan_limits(
                function,
                self.config.sandbox,
                host_cpus=self.host_cpus,
                boost=self.bad_ends.get(key, 0) < CRASH_BACKOFF_AFTER,
            )
            self.cgroups.set_limits(cgroup_name(stem.sandbox_id), limits.init)
            log = self.logs.open_stream(function)
            spec = plan_spec(
                function,
                kind,
                sandbox_id=stem.sandbox_id,
                uid=uid,
                code_dir=self.code_dir(function),
                opt_dir=self.opt_dir(function),
                region=self.config.region,
                log_stream_name=log.name,
                init_type=init_type,
                netns=eni is not None,
            )
            if eni is not None:
                self.enis[stem.sandbox_id] = eni
            netns_fd = None if eni is None else eni.fd
            proc = await self.spawner.specialize(stem, spec, netns_fd=netns_fd)
        except BaseException as exc:
            self._abandon(stem=stem, uid=uid, log=log, eni=eni)
            if isinstance(exc, SandboxError | NetnsError):
                raise PlatformError(str(exc)) from exc
            raise
        env = Environment(
            env_id=stem.sandbox_id,
            function=function,
            proc=proc,
            cgroups=self.cgroups,
            cgroup_name=cgroup_name(stem.sandbox_id),
            log=log,
            uid=uid,
            api=kind.api,
            nursery=self.nursery,
        )
        self.live.add(env)
        self.nursery.start_soon(env.pump_log_pipe)
        if limits.init != limits.run:
            self.nursery.start_soon(self._end_boost, env, limits.run)
        try:
            await env.wait_ready(timeout_s=self.config.sandbox.init_timeout_s, started=started)
            self._apply_run_quota(env, limits.run)
        except BaseException:
            self.discard(env)
            raise
        return env

    async def _end_boost(self, env: Environment, run: CgroupLimits) -> None:
        """The init boost lasts `init_boost_s` at most, however long init takes."""
        await trio.sleep(self.config.sandbox.init_boost_s)
        if env.state in (EnvState.CREATING, EnvState.INITIALIZING):
            try:
                self._apply_run_quota(env, run)
            except (OSError, SandboxError) as exc:
                logger.warning("sandbox %s: ending its init boost failed: %s", env.env_id, exc)

    def _apply_run_quota(self, env: Environment, run: CgroupLimits) -> None:
        self.cgroups.set_cpu_quota(
            env.cgroup_name, quota_us=run.cpu_quota_us, period_us=run.cpu_period_us
        )

    def runtime_kind(self, function: FunctionConfig) -> RuntimeKind:
        try:
            return self.runtimes.get(function.runtime)
        except KeyError:
            reason = self.runtimes.unsupported_reason(function.runtime)
            raise InvalidRuntimeException(reason or function.runtime) from None

    def allocate_uid(self) -> int:
        uid = self.uids.allocate()
        if uid is None:
            raise TooManyRequestsException(
                "Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded"
            )
        return uid

    def _abandon(
        self, *, stem: Stem | None, uid: int, log: LogStream | None, eni: Eni | None
    ) -> None:
        """A cold start failed part-way: give back what it took."""
        self.stems.want()
        if log is not None:
            log.close()
        if stem is not None:
            if eni is not None:
                self.enis[stem.sandbox_id] = eni
            self.start_teardown(stem, uid=uid)
        else:
            self.uids.release(uid)
            if eni is not None:
                self.nursery.start_soon(self.teardowns.release_eni, eni)

    # -- returning ----------------------------------------------------------------------

    def release(self, env: Environment, *, reusable: bool) -> None:
        """Give an environment back after an invoke; unhealthy ones are destroyed."""
        self.stems.refill_if_short()  # a cold start used a stem: refill, now that it is done
        self.templates.refill_if_short()  # and a restore its template's shell
        if reusable:
            self.bad_ends.pop(env.key, None)
        else:
            self.bad_ends[env.key] = self.bad_ends.get(env.key, 0) + 1
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
        self._schedule_freeze(env)

    def retire(self, name: str, version: str | None) -> None:
        """`name`'s `version` changed or is gone (None: the whole function): its
        environments are never used again; idle ones go now, busy or starting ones when
        they are released. Shaped as a `FunctionService.on_change` hook."""
        self.templates.retire(name, version)
        for env in list(self.live):
            if env.function.name == name and version in (None, env.function.version):
                env.retired = True
                if env.state is EnvState.IDLE:
                    self.discard(env)
        for key in [k for k in self.bad_ends if k[0] == name]:
            del self.bad_ends[key]  # a new revision starts with a clean record

    def discard(self, env: Environment) -> None:
        """Destroy an environment in the background."""
        if env.state is EnvState.DESTROYED:
            return
        self._drop_provisioned(env)  # the provisioner makes a replacement
        env.set_state(EnvState.DESTROYED)
        if env in self.frozen:
            self._thaw(env)  # else its processes would sit out the SIGKILL (v1)
        envs = self.idle.get(env.key)
        if envs and env in envs:
            envs.remove(env)
        self.start_teardown(env.proc.stem, uid=env.uid, env=env)

    def template_bytes(self) -> int:
        return self.templates.memory_bytes()

    def reclaimable(self) -> list[Environment]:
        """Idle on-demand environments: what memory pressure may reclaim."""
        return [env for envs in self.idle.values() for env in envs]

    async def wait_teardowns(self) -> None:
        await self.teardowns.wait_changed()

    def start_teardown(
        self, stem: Stem, *, uid: int | None, env: Environment | None = None
    ) -> None:
        eni = self.enis.pop(stem.sandbox_id, None)
        self.teardowns.start(stem, uid=uid, env=env, eni=eni)

    # -- freezing idle environments ------------------------------------------------------

    def _schedule_freeze(self, env: Environment) -> None:
        if self.freeze_idle:
            self._to_freeze.append((env.idle_since + FREEZE_AFTER_S, env, env.idle_since))
            self._freeze_wanted.set()

    async def freeze_parked(self) -> None:
        """Freeze environments idle for FREEZE_AFTER_S (runs forever). Entries come in
        time order; one whose environment has been used (or destroyed) since is skipped."""
        while True:
            if not self._to_freeze:
                self._freeze_wanted = trio.Event()
                await self._freeze_wanted.wait()
                continue
            await trio.sleep_until(self._to_freeze[0][0])
            now = trio.current_time()
            while self._to_freeze and self._to_freeze[0][0] <= now:
                _, env, since = self._to_freeze.popleft()
                if env.state is EnvState.IDLE and env.idle_since == since:
                    self._freeze(env)

    def _freeze(self, env: Environment) -> None:
        # Never waits for FREEZING to end (a v1 write returns in ~10-80 us, measured), so it
        # stays on the event loop; `_thaw` works from FREEZING as well as FROZEN.
        try:
            if self.cgroups.set_frozen(env.cgroup_name, True):
                self.frozen.add(env)
        except (OSError, SandboxError) as exc:
            logger.warning("sandbox %s: freezing it failed: %s", env.env_id, exc)

    def _thaw(self, env: Environment) -> bool:
        self.frozen.discard(env)
        try:
            self.cgroups.set_frozen(env.cgroup_name, False)
        except (OSError, SandboxError) as exc:
            logger.warning("sandbox %s: thawing it failed: %s", env.env_id, exc)
            return False
        return True

    # -- reaping and closing ------------------------------------------------------------

    async def reap_idle(self) -> None:
        """Destroy environments that stayed idle longer than keep_warm_s (runs forever)."""
        while True:
            keep = self.keep_warm_s  # a reload may change it
            await trio.sleep(min(REAP_INTERVAL_S, max(keep, 0.05)))
            now = trio.current_time()
            for envs in list(self.idle.values()):
                for env in list(envs):
                    if now - env.idle_since >= keep:
                        self.discard(env)
            # Versions whose environments all went leave no entry behind (bounded by what
            # is alive, not by how many versions ever ran).
            for parked in (self.idle, self.provisioned_idle):
                for key in [k for k, envs in parked.items() if not envs]:
                    del parked[key]

    async def close(self) -> None:
        self.closing = True
        self.stems.close()  # wakes Stems.keep, which then ends
        self.templates.close()
        for env in list(self.live):
            self.discard(env)
        self.stems.discard_ready()
        with trio.move_on_after(self.config.sandbox.teardown_timeout_s + 2):
            while self.live or self.teardowns.in_progress or self.stems.pending:
                await self.teardowns.wait_changed()
        self.memory.close()


@asynccontextmanager
async def open_pool(
    *,
    config: Config,
    cgroups: Cgroups,
    spawner: Spawner,
    paths: PoolPaths,
    code_dir: Callable[[FunctionConfig], Path],
    runtimes: RuntimeCatalog,
    logs: LogStore,
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
            logs=logs,
            network=network,
            opt_dir=opt_dir,
        )
        nursery.start_soon(pool.reap_idle)
        if pool.freeze_idle:
            nursery.start_soon(pool.freeze_parked)
        if pool.memory.enabled:
            nursery.start_soon(pool.memory.watch)
        nursery.start_soon(pool.stems.keep)
        nursery.start_soon(pool.templates.keep)
        try:
            yield pool
        finally:
            with trio.CancelScope(shield=True):
                await pool.close()
            nursery.cancel_scope.cancel()
