"""``lambdalet serve``: the root daemon, as a checklist that wires the rooms of `engine/` together.

check the host → prepare the state directory → sweep a crashed predecessor's leftovers →
discover runtimes → open the registry → bind the sockets → start the network, the spawner and
the pool → build the services and the API (`engine.services`) → deploy examples → READY=1 and
serve HTTP (SIGHUP reloads, `engine.lifecycle`) until SIGTERM/SIGINT → stop gracefully: accept
nothing new, let what is in flight finish within `daemon.stop_timeout_s` → tear every sandbox
down → remove the socket. Each step is also systemd's STATUS= line (`engine.host.systemd`).

This module decides nothing itself: what each step does lives in the room that owns it
(`engine.host` for the machine, `engine.control`, `engine.invoke`, `engine.network`, the API
rooms), and the hooks that let one room react to another's changes are connected in
`engine.services`.

Resource handling: everything the daemon creates (cgroups under the configured parent, the
socket, sandboxes) is released on the way out, also on errors; what a SIGKILLed daemon
leaves behind is removed by the next start's sweep.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import trio

from engine.auth.credentials import credentials_for
from engine.config import Config
from engine.control.examples import deploy_examples
from engine.cwlogs.api import TARGET_PREFIX as CWLOGS_TARGET
from engine.cwlogs.api import CwLogsApp
from engine.endpoint import Endpoint
from engine.events.queue import EventQueue
from engine.events.service import open_events
from engine.host.http_serve import Binding, HttpSettings, serve_bindings
from engine.host.preflight import (
    cgroup_mode,
    check_host,
    open_cgroups,
    protect_from_oom_killer,
    raise_nofile_limit,
    sweep_leftovers,
)
from engine.host.sockets import bind_api_socket, bind_tcp
from engine.host.state_dir import prepare_state_dir
from engine.host.systemd import Notifier
from engine.host.watchdog import Watchdog
from engine.invoke.invoker import Invoker
from engine.invoke.pool import open_pool
from engine.kinesis.api import TARGET_PREFIX as KINESIS_TARGET
from engine.kinesis.api import KinesisApp
from engine.kinesis.service import open_streams
from engine.lifecycle.background import Background, hold
from engine.lifecycle.logs import set_log_levels
from engine.lifecycle.reload import Reloader
from engine.lifecycle.signals import HANDLED_SIGNALS, Lifecycle
from engine.lifecycle.status import StatusReporter
from engine.metrics.exposition import MetricsRouter
from engine.network.service import open_network
from engine.registry.registry import Registry
from engine.runtime.catalog import (
    RuntimeCatalog,
    discover,
    stage_exec_python,
    stage_runtime_dirs,
)
from engine.runtime.log_store import open_log_store
from engine.scheduler.api import SchedulerApp
from engine.scheduler.service import open_schedules
from engine.services import Services, bindings, build_lambda_app, live_settings, wire_metrics
from engine.sources.observer import NO_OBSERVER
from engine.sources.service import open_sources
from engine.sqs.api import TARGET_PREFIX as SQS_TARGET
from engine.sqs.api import SqsApp
from engine.sqs.service import open_queues
from engine.usage.service import open_usage
from sandbox.errors import SandboxError
from sandbox.launcher import open_spawner

logger = logging.getLogger(__name__)


async def serve(
    config: Config,
    *,
    load: Callable[[], Config] | None = None,
    notifier: Notifier | None = None,
    task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED,
) -> None:
    """Run the daemon until SIGTERM/SIGINT (or cancellation). `load` reads the configuration
    again on SIGHUP (None: the same `config`); `notifier` talks to systemd (default: from
    `$NOTIFY_SOCKET`)."""
    notifier = notifier or Notifier()
    # Signals are caught from here to the end: a stop signal during start-up is acted on once
    # serving; a second one during teardown cannot kill the daemon half-way.
    with trio.open_signal_receiver(*HANDLED_SIGNALS) as signals:
        await _serve(config, signals, load=load, notifier=notifier, task_status=task_status)


async def _serve(
    config: Config,
    signals: AsyncIterator[int],
    *,
    load: Callable[[], Config] | None,
    notifier: Notifier,
    task_status: trio.TaskStatus[Path],
) -> None:
    step = notifier.status
    try:
        step("checking the host")
        check_host(config)
        raise_nofile_limit()
        protect_from_oom_killer()  # before the spawner starts: it inherits the value
        set_log_levels(config.daemon)
        step("preparing the state directory")
        paths = prepare_state_dir(config)
        step("preparing cgroups")
        cgroups = open_cgroups(config)
        swept = sweep_leftovers(cgroups)
        if swept:
            logger.warning("removed %d sandbox(es) left by a previous daemon", swept)
        logger.info("cgroups (%s): %s", cgroup_mode(), cgroups.describe())
        step("discovering runtimes")
        runtimes = await trio.to_thread.run_sync(discover_runtimes, config)  # node --version
        logger.info("runtimes: %s", ", ".join(runtimes.names()))
        credentials = credentials_for(config)
        step("opening the registry")
        registry = Registry(config.state_dir, region=config.region)
    except BaseException as exc:
        notifier.status(f"failed to start: {exc}")
        notifier.close()
        raise
    listen = bind_api_socket(config.socket_path, config.socket_group)
    tcp = [
        bind_tcp(address)
        for address in (config.http_listen, config.function_url_listen, config.metrics.listen)
    ]
    life = Lifecycle(
        notifier=notifier, reloader=Reloader(load=load or (lambda: config), config=config)
    )
    try:
        step("starting the network, the spawner and the pool")
        async with (
            open_log_store(
                paths.logs_dir,
                default_retention_days=config.logs.retention_days,
                max_group_bytes=config.logs.max_group_bytes,
                sweep_interval_s=config.logs.sweep_interval_s,
            ) as logs,
            open_network(
                config=config, registry=registry, functions=registry.all_functions
            ) as network,
            open_spawner(tag=config.sandbox.cgroup_parent) as spawner,
            open_pool(
                config=config,
                cgroups=cgroups,
                spawner=spawner,
                paths=paths,
                code_dir=registry.code_dir,
                opt_dir=registry.opt_dir,
                runtimes=runtimes,
                logs=logs,
                network=network,
            ) as pool,
            trio.open_nursery() as nursery,
            contextlib.AsyncExitStack() as stack,
        ):
            step("opening the usage ledger, queues, streams, async events and schedules")
            # First in, last out: the ledger's final flush comes after every invoke has ended.
            usage = await stack.enter_async_context(
                open_usage(
                    config.state_dir, usage=config.usage, prices=config.cost, region=config.region
                )
            )
            queues = await stack.enter_async_context(
                open_queues(config.state_dir, region=config.region)
            )
            streams = await stack.enter_async_context(
                open_streams(config.state_dir, region=config.region)
            )
            services = Services.wire(
                config,
                registry,
                pool,
                network,
                source_exists=lambda arn: queues.queue_exists(arn) or streams.stream_exists(arn),
                fifo=queues.is_fifo,
            )
            services.meter(usage)
            metrics = wire_metrics(services, pool) if config.metrics.enabled else None
            events = await stack.enter_async_context(
                open_events(
                    config.state_dir,
                    invoker=services.invoker,
                    functions=services.functions,
                    settings=services.event_invoke.settings,
                    queues=queues,
                    region=config.region,
                    workers=config.events.workers,
                    time_scale=config.events.time_scale,
                )
            )
            if metrics is not None:
                events.counters.observer = metrics.functions
            schedules = await stack.enter_async_context(
                open_schedules(
                    config.state_dir,
                    region=config.region,
                    fire=events.accept,
                    dead_letters=queues,
                )
            )
            # Pollers and the provisioner: stopped as a stop begins (before the invoker
            # refuses new invokes), and before the services they use close (LIFO).
            background = Background()
            await nursery.start(background.run)
            stack.push_async_callback(background.stop)
            await background.start(
                hold,
                open_sources(
                    config.state_dir,
                    mappings=services.event_source_mappings,
                    invoker=services.invoker,
                    queues=queues,
                    streams=streams,
                    role_of=lambda name, qualifier: (
                        services.functions.resolve(name, qualifier).config.role
                    ),
                    region=config.region,
                    time_scale=config.events.time_scale,
                    observer=NO_OBSERVER if metrics is None else metrics.mappings,
                ),
            )
            life.reloader.live += live_settings(services, pool, network, events)
            app: Endpoint | MetricsRouter = Endpoint(
                build_lambda_app(services, events, runtimes, network, usage, region=config.region),
                {
                    SQS_TARGET.encode(): SqsApp(queues, region=config.region),
                    KINESIS_TARGET.encode(): KinesisApp(streams, region=config.region),
                    CWLOGS_TARGET.encode(): CwLogsApp(logs, region=config.region),
                },
                {"scheduler": SchedulerApp(schedules, region=config.region)},
            )
            if metrics is not None:
                app = MetricsRouter(metrics.app, app)  # GET /metrics on every API listener
                nursery.start_soon(metrics.run)
            if config.examples_dir is not None:
                step("deploying the example functions")
                names = await deploy_examples(
                    services.functions,
                    config.examples_dir,
                    supported_runtimes=runtimes.names(),
                    explain_runtime=runtimes.unsupported_reason,
                )
                if names:
                    logger.info("deployed example functions: %s", ", ".join(names))
            background.start_soon(services.provisioner.run)
            served = bindings(app, services, config, credentials, listen, tcp, metrics)
            await _serve_until_stopped(
                life,
                signals,
                served,
                config,
                nursery=nursery,
                stop_first=background.stop,
                invoker=services.invoker,
                events=events,
                status=StatusReporter(
                    send=notifier.status,
                    functions=lambda: len(registry.all_functions()),
                    environments=lambda: len(pool.live),
                    invocations=lambda: services.invoker.invocations,
                    async_backlog=lambda: events.backlog,
                    needs_restart=lambda: life.reloader.needs_restart,
                    interval_s=lambda: life.reloader.config.daemon.status_interval_s,
                ),
                task_status=task_status,
            )
            step("stopping: tearing sandboxes down")
            nursery.cancel_scope.cancel()
    finally:
        _close(listen, tcp, registry, config)
        try:
            cgroups.remove_parent()
        except (OSError, SandboxError) as exc:
            logger.warning("could not remove the cgroup parent: %s", exc)
        notifier.status("stopped")
        notifier.close()


def discover_runtimes(config: Config) -> RuntimeCatalog:
    """What this host runs; every runtime's /var/runtime is staged under the state dir."""
    root = config.state_dir / "runtimes"
    staged = stage_exec_python(root / "python-exec")
    os.chmod(root, 0o755)
    catalog = discover(
        search_path=config.runtimes.search_path,
        interpreters=config.runtimes.interpreters,
        exec_python_dir=staged,
    )
    return stage_runtime_dirs(catalog, root)


def _close(
    listen: socket.socket, tcp: list[socket.socket | None], registry: Registry, config: Config
) -> None:
    listen.close()
    for sock in tcp:
        if sock is not None:
            sock.close()
    registry.close()
    try:
        os.unlink(config.socket_path)
    except FileNotFoundError:
        pass


async def _serve_until_stopped(
    life: Lifecycle,
    signals: AsyncIterator[int],
    bindings: list[Binding],
    config: Config,
    *,
    nursery: trio.Nursery,
    stop_first: Callable[[], Awaitable[None]],
    invoker: Invoker,
    events: EventQueue,
    status: StatusReporter,
    task_status: trio.TaskStatus[Path],
) -> None:
    """Serve until a stop signal, then stop gracefully (see `Lifecycle`): accept nothing new,
    let what is in flight finish within `daemon.stop_timeout_s`, then return (the caller
    tears down; what is still running is cancelled)."""
    notifier = life.notifier
    nursery.start_soon(life.watch_signals, signals)
    # Requests in flight at a stop get the stop's bound, enforced by cancelling them here.
    settings = HttpSettings(graceful_timeout_s=math.inf)
    http_done = trio.Event()

    async def serve_http(*, task_status: trio.TaskStatus[None]) -> None:
        try:
            await serve_bindings(
                bindings, settings, shutdown=life.stop_requested.wait, task_status=task_status
            )
        finally:
            http_done.set()

    await nursery.start(serve_http)
    notifier.ready("serving")
    logger.info("lambdalet listening on %s", config.socket_path)
    for name in ("http_listen", "function_url_listen"):
        if getattr(config, name):
            logger.info("%s: %s", name, getattr(config, name))
    if config.metrics.listen:
        logger.info("metrics.listen: %s", config.metrics.listen)
    if notifier.watchdog_s is not None:
        watchdog = Watchdog(period_s=notifier.watchdog_s, keep_alive=notifier.keep_alive)
        nursery.start_soon(watchdog.run)
        logger.info("systemd watchdog: a keep-alive every %.1f s", watchdog.interval_s)
    if notifier.enabled:
        nursery.start_soon(status.run)
    task_status.started(config.socket_path)
    await life.stop_requested.wait()

    bound_s = life.reloader.config.daemon.stop_timeout_s
    in_flight = f"{invoker.in_flight} invokes and {events.in_flight} async attempts in flight"
    notifier.stopping(f"stopping: {in_flight}; waiting up to {bound_s:g} s")
    logger.info("stopping: %s; waiting up to %g s for them", in_flight, bound_s)
    await stop_first()  # pollers (at least once: they re-read) and the provisioner
    events.drain()  # accepted events wait, stored, for the next start
    invoker.stop_admitting()  # new invokes: 503 ServiceException
    if await life.drain([http_done.wait, events.wait_idle], timeout_s=bound_s):
        logger.info("stopping: nothing in flight any more")
    else:
        left = f"{invoker.in_flight} invokes and {events.in_flight} async attempts"
        why = "a second signal came" if life.forced.is_set() else f"{bound_s:g} s passed"
        logger.warning("stopping: %s; cutting short %s", why, left)
        notifier.status(f"stopping: {why}; cutting short {left}")


__all__ = ["serve"]
