"""SnapStart: one template per published version, and environments restored from it.

A version whose configuration applies SnapStart (`snap_start_applies`) gets a *template*: a
sandbox (`sandbox.snapshot`) whose runtime ran the function's init and before-snapshot hooks
(``AWS_LAMBDA_INITIALIZATION_TYPE=snap-start``), reported TemplateReady and was frozen. It is
built when the version is published, for every such version when the daemon starts, and again
on demand after it was dropped (no invoke for ``snapstart.template_idle_s``).

Each template keeps one *shell* ready: an environment cloned from it (`Spawner.shell`) into
its own uid, namespaces, cgroup with the run limits, ENI and log stream, whose runtime was
then told to `Prepare` (it renewed what it shares with the template and rehearsed its invoke
path, so that the pages that path writes are its own) and waits. A cold
start of such a version is a *restore*:

    admit its memory → take the ready shell → Restore → Ready (after-restore hooks, the first
    function code of this environment) within 10 s; the next shell is made once that first
    invoke is done

and with no after-restore hook registered (the shell said so: `Prepared` ``ready``), there is
nothing to run before the first invoke: the restore is taking the shell.

and the environment is then an ordinary one of the pool (invoke, keep-warm, freeze,
teardown). Until a template is ready, cold starts are ordinary ones (and they wait for
nothing). `$LATEST` never has a template.

Templates cost memory: each holds its runtime's memory (charged to its own cgroup, shared
copy-on-write with its environments) and is counted like an environment's by the pool's
memory guard; idle ones go.
"""

from __future__ import annotations

import logging
import os
import secrets
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import trio

from engine.config import Config
from engine.invoke.plan import PoolPaths, cgroup_name, plan_limits, plan_spec
from engine.invoke.pressure import MemoryGuard
from engine.invoke.stems import Stems
from engine.invoke.teardown import Teardowns
from engine.invoke.uids import UidAllocator
from engine.model.function import FunctionConfig, snap_start_applies
from engine.network.enis import Eni
from engine.network.service import NetworkService
from engine.runtime.catalog import RuntimeKind
from engine.runtime.channels import MsgpackChannel
from engine.runtime.environment import Environment, PlatformError
from engine.runtime.log_store import LogStore
from engine.runtime.logs import LogStream
from engine.runtime.variables import INIT_SNAP_START
from netns.errors import NetnsError
from sandbox.cgroups import Cgroups
from sandbox.errors import SandboxError
from sandbox.launcher import SandboxProcess, Spawner, Stem
from sandbox.protocol import (
    AFTER_RESTORE_TIMEOUT_S,
    Closed,
    Prepare,
    Prepared,
    RemoteProtocolError,
    Restore,
    TemplateReady,
)


class TemplatePool(Protocol):
    """What templates use of the pool (`engine.invoke.pool.Pool`)."""

    config: Config
    cgroups: Cgroups
    spawner: Spawner
    nursery: trio.Nursery
    paths: PoolPaths
    logs: LogStore
    network: NetworkService | None
    enis: dict[str, Eni]
    live: set[Environment]
    uids: UidAllocator
    teardowns: Teardowns
    memory: MemoryGuard
    stems: Stems
    closing: bool
    host_cpus: int

    def code_dir(self, function: FunctionConfig) -> Path: ...
    def opt_dir(self, function: FunctionConfig) -> Path | None: ...
    def runtime_kind(self, function: FunctionConfig) -> RuntimeKind: ...
    def allocate_uid(self) -> int: ...
    def start_teardown(
        self, stem: Stem, *, uid: int | None, env: Environment | None = None
    ) -> None: ...
    def discard(self, env: Environment) -> None: ...


logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (function name, revision id): one version's configuration
RETRY_AFTER_FAILURE_S = 30.0  # a template whose init failed is not rebuilt before this
SNAPSHOT_INIT_MIN_S = 130.0
RESTORE_GRACE_S = 1.0  # past the runtime's own after-restore limit, before it is killed
PREPARE_TIMEOUT_S = 10.0  # a clone's Prepare runs no function code: far less, always
# What making a shell may fail with (a clone that could not be made or prepared).
SHELL_FAILURES = (SandboxError, NetnsError, OSError, PlatformError, trio.ClosedResourceError)


@dataclass(eq=False)
class Shell:
    """An environment made ahead of a restore: cloned from the template into its own
    namespaces, uid, cgroup, ENI and log stream, its runtime prepared (`Prepare`: reseeded,
    its invoke path rehearsed) and waiting for its `Restore`; the pool's `Environment` for
    it, built too, not live yet."""

    env: Environment
    eni: Eni | None
    ready: bool = False  # prepared with no after-restore hook: no Restore to send


@dataclass(eq=False)
class Template:
    key: Key
    function: FunctionConfig
    stem: Stem | None = None
    uid: int | None = None
    proc: SandboxProcess | None = None
    log: LogStream | None = None
    ready: bool = False
    failed_at: float | None = None
    last_used: float = 0.0
    shells: list[Shell] = field(default_factory=list)
    lock: trio.Lock = field(default_factory=trio.Lock)  # one request at a time to its init
    building: bool = False
    dropped: bool = False  # set by `drop`: a build in progress stops at its next step


class Templates:
    def __init__(self, pool: TemplatePool) -> None:
        self.pool = pool
        self.by_key: dict[Key, Template] = {}
        self.restored = 0  # environments started from a template
        self._short: set[Template] = set()  # used their shell: refilled once that invoke ends
        self._wanted = trio.Event()

    # -- lifecycle ----------------------------------------------------------------------

    def want(self, function: FunctionConfig) -> None:
        """Build `function`'s template in the background if it applies and is missing."""
        if not snap_start_applies(function) or self.pool.closing:
            return
        key = (function.name, function.revision_id)
        template = self.by_key.get(key)
        if template is None:
            template = self.by_key[key] = Template(key=key, function=function)
        if template.ready or template.building:
            return
        now = trio.current_time()
        if template.failed_at is not None and now - template.failed_at < RETRY_AFTER_FAILURE_S:
            return
        template.building = True
        template.dropped = False
        template.last_used = now
        self.pool.nursery.start_soon(self._build, template)

    async def _build(self, template: Template) -> None:
        try:
            with trio.CancelScope(shield=True):
                await self._make(template)
                await self._add_shell(template)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            self.drop(template)  # dropped (its function changed or went) while being built
        except (PlatformError, SandboxError, NetnsError, OSError) as exc:
            if not template.dropped:  # else it failed because it was dropped meanwhile
                logger.error("SnapStart template of %s failed: %s", template.key[0], exc)
                template.failed_at = trio.current_time()
            self.drop(template)
        else:
            template.failed_at = None
        finally:
            template.building = False

    async def _make(self, template: Template) -> None:
        pool = self.pool
        function = template.function
        kind = pool.runtime_kind(function)
        uid = template.uid = pool.allocate_uid()
        limits = plan_limits(function, pool.config.sandbox, host_cpus=pool.host_cpus)
        stem = template.stem = await pool.stems.make(template=limits.init)
        _stop_if_dropped(template)  # the next drop tears the stem down
        sandbox_id = stem.sandbox_id
        eni = None if pool.network is None else await pool.network.acquire(function)
        if eni is not None:  # from here on, its teardown releases it (`drop`)
            pool.enis[sandbox_id] = eni
        _stop_if_dropped(template)
        log = template.log = pool.logs.open_stream(function)
        spec = plan_spec(
            function,
            kind,
            sandbox_id=sandbox_id,
            uid=uid,
            code_dir=pool.code_dir(function),
            opt_dir=pool.opt_dir(function),
            region=pool.config.region,
            log_stream_name=log.name,
            init_type=INIT_SNAP_START,
            netns=eni is not None,
        )
        proc = template.proc = await pool.spawner.specialize(
            stem, spec, netns_fd=None if eni is None else eni.fd
        )
        os.set_blocking(proc.log_fd, False)
        pool.nursery.start_soon(_pump, template, proc, log)
        # Init while snapshotting may take max(130 s, the function's timeout), as on Lambda.
        with trio.move_on_after(max(SNAPSHOT_INIT_MIN_S, function.timeout_s)):
            reply = await _first_message(proc, log)
            if not isinstance(reply, TemplateReady):
                raise PlatformError(f"the template's init failed ({_describe(reply)})")
            async with template.lock:
                await pool.spawner.template_request(stem, {"op": "freeze"})
            if not _dropped(template):
                template.ready = True
            return
        raise PlatformError("the template's init timed out")

    def drop(self, template: Template) -> None:
        """End a template (its environments live on until their own end). Idempotent; a
        build in progress stops at its next step and drops what it made since. A failed one
        stays in `by_key` (its retry waits `RETRY_AFTER_FAILURE_S`); the caller removes the
        others."""
        template.dropped = True
        template.ready = False
        for shell in template.shells:
            self._drop_shell(shell)
        template.shells.clear()
        if template.log is not None:
            template.log.close()
            template.log = None
        if template.proc is not None:
            template.proc.stream.socket.close()
            trio.lowlevel.notify_closing(template.proc.log_fd)  # wakes `_pump`
            os.close(template.proc.log_fd)
            template.proc = None
        if template.stem is not None:
            self.pool.start_teardown(template.stem, uid=template.uid)
            template.stem = None
        elif template.uid is not None:
            self.pool.uids.release(template.uid)
        template.uid = None

    def retire(self, name: str, version: str | None) -> None:
        """The version (or the whole function) changed or went: its template goes."""
        for key, template in list(self.by_key.items()):
            if key[0] == name and version in (None, template.function.version):
                del self.by_key[key]  # a failed one too: its function is not coming back
                self.drop(template)

    async def keep(self) -> None:
        """Drop templates that saw no invoke for ``snapstart.template_idle_s``."""
        while not self.pool.closing:
            idle_s = self.pool.config.sandbox.snapstart_idle_s
            await trio.sleep(min(60.0, idle_s / 4))
            now = trio.current_time()
            for template in list(self.by_key.values()):
                if template.ready and now - template.last_used >= idle_s:
                    logger.info("SnapStart template of %s dropped: idle", template.key[0])
                    del self.by_key[template.key]
                    self.drop(template)

    def close(self) -> None:
        for template in list(self.by_key.values()):
            self.drop(template)
        self.by_key.clear()

    def memory_bytes(self) -> int:
        """What the ready templates hold (their cgroups' usage)."""
        total = 0
        for template in self.by_key.values():
            if template.stem is not None:
                try:
                    total += self.pool.cgroups.memory_usage_bytes(
                        cgroup_name(template.stem.sandbox_id)
                    )
                except (OSError, SandboxError):
                    pass
        return total

    # -- shells -------------------------------------------------------------------------

    async def _add_shell(self, template: Template) -> None:
        pool = self.pool
        held = template.stem  # kept: a drop may clear `template.stem` while this waits
        if held is None or not template.ready:
            return
        function = template.function
        uid = pool.allocate_uid()
        sandbox_id = secrets.token_hex(6)
        name = cgroup_name(sandbox_id)
        limits = plan_limits(function, pool.config.sandbox, host_cpus=pool.host_cpus, boost=False)
        shell: Shell | None = None
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        log_r, log_w = os.pipe2(os.O_CLOEXEC)
        log = pool.logs.open_stream(function)
        try:
            await trio.to_thread.run_sync(pool.cgroups.create, name, limits.run)
            procs = [os.open(p, os.O_WRONLY | os.O_CLOEXEC) for p in pool.cgroups.procs_files(name)]
            try:
                request = {
                    "op": "shell",
                    "uid": uid,
                    "gid": uid,
                    "hostname": f"lambdalet-{sandbox_id}",
                    "tmp_size_mb": function.ephemeral_storage_mb,
                    "cgroups": len(procs),
                }
                given = [*procs, theirs.fileno(), log_w]
                async with template.lock:
                    _answer, stem = await pool.spawner.shell(held, sandbox_id, request, given)
            finally:
                for fd in (*procs, log_w):
                    os.close(fd)
                theirs.close()
            shell = Shell(
                env=Environment(
                    env_id=sandbox_id,
                    function=function,
                    proc=SandboxProcess(
                        stem=stem,
                        stream=trio.SocketStream(trio.socket.from_stdlib_socket(ours)),
                        log_fd=log_r,
                    ),
                    cgroups=pool.cgroups,
                    cgroup_name=name,
                    log=log,
                    uid=uid,
                    api=pool.runtime_kind(function).api,
                    nursery=pool.nursery,
                ),
                eni=None,
            )
            if pool.network is not None:
                netns = os.open(f"/proc/{stem.pid}/ns/net", os.O_RDONLY)
                try:
                    shell.eni = await pool.network.attach(function, netns)
                finally:
                    os.close(netns)
            await self._prepare(shell)
        except BaseException:
            if shell is not None:
                self._drop_shell(shell)
            else:
                ours.close()
                os.close(log_r)
                pool.logs.discard(log)
                pool.uids.release(uid)
                pool.nursery.start_soon(pool.teardowns.remove_cgroup, name)
            raise
        if not _still_ready(template):  # dropped while the shell was being made
            self._drop_shell(shell)
            return
        template.shells.append(shell)

    async def _prepare(self, shell: Shell) -> None:
        """`Prepare` the shell's runtime (reseeded, its invoke path rehearsed) and wait for
        `Prepared`: no function code runs (its after-restore hooks wait for `Restore`). It
        keeps the template's variables, as init left them: a SnapStart environment has none
        of its own (no log stream name, as on Lambda)."""
        env = shell.env
        channel = MsgpackChannel(env.proc.stream, env.log)
        with trio.move_on_after(PREPARE_TIMEOUT_S):
            try:
                await channel.send(Prepare())
                reply = await channel.receive()
            except (RemoteProtocolError, trio.BrokenResourceError) as exc:
                raise PlatformError(f"a clone of the template failed: {exc}") from exc
            if not isinstance(reply, Prepared):
                raise PlatformError(f"a clone of the template failed ({_describe(reply)})")
            shell.ready = reply.ready
            return
        raise PlatformError("a clone of the template did not get ready in time")

    def _take_live_shell(self, template: Template) -> Shell | None:
        """The template's next ready shell; one whose clone died meanwhile (killed, out of
        memory) is dropped, never handed to an invoke."""
        while template.shells:
            shell = template.shells.pop(0)
            if not shell.env.proc.stem.exited.is_set():
                return shell
            logger.warning(
                "SnapStart shell %s of %s ended before its restore: dropped",
                shell.env.env_id,
                template.key[0],
            )
            self._drop_shell(shell)
        return None

    def _drop_shell(self, shell: Shell) -> None:
        env = shell.env
        env.proc.stream.socket.close()
        os.close(env.proc.log_fd)
        self.pool.logs.discard(env.log)
        if shell.eni is not None:
            self.pool.enis[env.env_id] = shell.eni
        self.pool.start_teardown(env.proc.stem, uid=env.uid)

    def refill_if_short(self) -> None:
        """Make the next shell of every template whose shell a restore took (the pool calls
        this when an invoke ends)."""
        while self._short:
            self.pool.nursery.start_soon(self._refill, self._short.pop())

    async def _refill(self, template: Template) -> None:
        try:
            with trio.CancelScope(shield=True):
                await self._add_shell(template)
        except SHELL_FAILURES as exc:
            logger.warning("SnapStart shell for %s failed: %s", template.key[0], exc)

    # -- restoring ----------------------------------------------------------------------

    async def restore(self, function: FunctionConfig) -> Environment | None:
        """A new environment of `function` from its template; None when it has none ready
        (the caller makes an ordinary one, and the template is built meanwhile)."""
        key = (function.name, function.revision_id)
        template = self.by_key.get(key)
        held = None if template is None else template.stem
        if template is None or not template.ready or held is None:
            self.want(function)
            return None
        pool = self.pool
        started = trio.current_time()
        template.last_used = started
        await pool.memory.admit(function.memory_mb)
        shell = self._take_live_shell(template)
        if shell is None:
            try:
                await self._add_shell(template)
            except SHELL_FAILURES as exc:  # an ordinary cold start serves instead
                logger.warning("SnapStart shell for %s failed: %s", template.key[0], exc)
                return None
            shell = self._take_live_shell(template)
            if shell is None:
                return None
        env = shell.env
        os.set_blocking(env.proc.log_fd, False)
        if shell.eni is not None:
            pool.enis[env.env_id] = shell.eni
        pool.live.add(env)
        pool.nursery.start_soon(env.pump_log_pipe)
        try:
            if shell.ready:  # nothing to run before its first invoke
                env.resume_prepared(started=started)
            else:  # the runtime stops its hooks at the limit and says so; this is the backstop
                await env.restore(
                    Restore(), timeout_s=AFTER_RESTORE_TIMEOUT_S + RESTORE_GRACE_S, started=started
                )
        except BaseException:
            pool.discard(env)
            pool.nursery.start_soon(self._refill, template)
            raise
        # The next shell once this environment's first invoke is done (`refill_if_short`):
        # making one keeps the template's init, the spawner and a clone busy for milliseconds,
        # on the cores that invoke needs.
        self._short.add(template)
        self.restored += 1
        return env


def _still_ready(template: Template) -> bool:
    return template.ready


def _dropped(template: Template) -> bool:
    return template.dropped


def _stop_if_dropped(template: Template) -> None:
    if template.dropped:
        raise trio.ClosedResourceError("the template was dropped while being built")


async def _first_message(proc: SandboxProcess, log: LogStream) -> object:
    return await MsgpackChannel(proc.stream, log).receive()


async def _pump(template: Template, proc: SandboxProcess, log: LogStream) -> None:
    """Copy a template's init output into its log stream until it ends (or is dropped:
    `drop` clears `template.proc` before it closes the pipe, whose number may then be
    another's)."""
    fd = proc.log_fd  # non-blocking since `_make`
    while template.proc is proc:
        try:
            await trio.lowlevel.wait_readable(fd)
            if template.proc is not proc:  # dropped while this task was being woken
                return
            data = os.read(fd, 65536)
        except (trio.ClosedResourceError, OSError):
            return
        if not data:
            return
        log.write(data)


def _describe(reply: object) -> str:
    if isinstance(reply, Closed):
        return "its runtime exited"
    error = getattr(reply, "error", None)
    if error is not None:
        return f"{error.error_type}: {error.error_message}"
    return type(reply).__name__
