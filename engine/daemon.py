"""``lambdalet serve``: the root daemon, as a checklist that wires the rooms of `engine/` together.

check the host → prepare the state directory → sweep a crashed predecessor's leftovers →
discover runtimes → open the registry → bind the sockets → start the network, the spawner and
the pool → build the services and the API → deploy examples → serve HTTP until SIGTERM/SIGINT
→ tear every sandbox down → remove the socket.

This module decides nothing itself: what each step does lives in the room that owns it
(`engine.host` for the machine, `engine.control`, `engine.invoke`, `engine.network`, the API
rooms), and the hooks that let one room react to another's changes are connected here.

Resource handling: everything the daemon creates (cgroups under the configured parent, the
socket, sandboxes) is released on the way out, also on errors; what a SIGKILLed daemon
leaves behind is removed by the next start's sweep.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import socket
from dataclasses import dataclass
from pathlib import Path

import trio
from starlette.applications import Starlette

from engine.api.aliases import AliasApi, alias_routes
from engine.api.app import build_app
from engine.api.aws_routes import match_operation
from engine.api.body import MAX_CONTROL_BODY_BYTES
from engine.api.common import guard
from engine.api.concurrency import ConcurrencyApi, concurrency_routes
from engine.api.event_invoke import EventInvokeApi, event_invoke_routes
from engine.api.event_source_mappings import EventSourceMappingApi, event_source_mapping_routes
from engine.api.functions import FunctionApi, function_routes
from engine.api.invoke import InvokeApi, invoke_routes
from engine.api.layers import LayerApi, layer_routes
from engine.api.network import NetworkApi, network_routes
from engine.api.policies import PolicyApi, policy_routes
from engine.api.pool_view import PoolViewApi, pool_view_routes
from engine.api.tags import TagApi, tag_routes
from engine.api.usage_view import UsageApi, usage_routes
from engine.auth.credentials import credentials_for
from engine.auth.gate import SigV4Middleware
from engine.config import Config, parse_listen
from engine.control.event_invoke import EventInvokeConfigService
from engine.control.event_source_mappings import EventSourceMappingService, SourceCheck
from engine.control.examples import deploy_examples
from engine.control.functions import FunctionService
from engine.control.layers import LayerService
from engine.control.policies import PolicyService
from engine.control.tags import TagService
from engine.endpoint import Endpoint, signing_service
from engine.events.queue import EventQueue
from engine.events.service import open_events
from engine.host.connections import (
    TCP_KEEP_ALIVE_S,
    TCP_LIMITS,
    UNIX_KEEP_ALIVE_S,
    UNIX_LIMITS,
)
from engine.host.http_serve import Binding, HttpSettings, serve_bindings
from engine.host.preflight import (
    check_host,
    open_cgroups,
    protect_from_oom_killer,
    raise_nofile_limit,
    sweep_leftovers,
)
from engine.host.sockets import bind_api_socket, bind_tcp, listen_hosts
from engine.host.state_dir import prepare_state_dir
from engine.host.systemd import sd_notify
from engine.invoke.concurrency import Concurrency
from engine.invoke.invoker import Invoker
from engine.invoke.pool import Pool, open_pool
from engine.invoke.provisioned import Provisioner
from engine.invoke.reservations import Reservations
from engine.kinesis.api import KinesisApp
from engine.kinesis.service import open_streams
from engine.network.service import NetworkService, open_network
from engine.registry.registry import Registry
from engine.runtime.catalog import (
    RuntimeCatalog,
    discover,
    stage_exec_python,
    stage_runtime_dirs,
)
from engine.scheduler.api import SchedulerApp
from engine.scheduler.service import open_schedules
from engine.sources.service import open_sources
from engine.sqs.api import SqsApp
from engine.sqs.service import open_queues
from engine.urls.api import UrlApi, url_routes
from engine.urls.server import UrlServer
from engine.urls.service import UrlService
from engine.usage.service import UsageService, open_usage
from sandbox.errors import SandboxError
from sandbox.launcher import open_spawner

logger = logging.getLogger(__name__)


async def serve(
    config: Config, *, task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the daemon until SIGTERM/SIGINT (or cancellation)."""
    check_host(config)
    raise_nofile_limit()
    protect_from_oom_killer()  # before the spawner starts: it inherits the value
    paths = prepare_state_dir(config)
    cgroups = open_cgroups(config)
    swept = sweep_leftovers(cgroups)
    if swept:
        logger.warning("removed %d sandbox(es) left by a previous daemon", swept)
    logger.info("cgroups: %s", cgroups.describe())
    runtimes = await trio.to_thread.run_sync(discover_runtimes, config)  # runs node --version
    logger.info("runtimes: %s", ", ".join(runtimes.names()))
    credentials = credentials_for(config)
    registry = Registry(config.state_dir, region=config.region)
    listen = bind_api_socket(config.socket_path, config.socket_group)
    tcp = [bind_tcp(address) for address in (config.http_listen, config.function_url_listen)]
    try:
        async with (
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
                network=network,
            ) as pool,
            trio.open_nursery() as nursery,
            contextlib.AsyncExitStack() as stack,
        ):
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
            schedules = await stack.enter_async_context(
                open_schedules(
                    config.state_dir,
                    region=config.region,
                    fire=events.accept,
                    dead_letters=queues,
                )
            )
            await stack.enter_async_context(
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
                )
            )
            app = Endpoint(
                build_lambda_app(services, events, runtimes, network, usage, region=config.region),
                {
                    b"AmazonSQS": SqsApp(queues, region=config.region),
                    b"Kinesis_20131202": KinesisApp(streams, region=config.region),
                },
                {"scheduler": SchedulerApp(schedules, region=config.region)},
            )
            if config.examples_dir is not None:
                names = await deploy_examples(
                    services.functions,
                    config.examples_dir,
                    supported_runtimes=runtimes.names(),
                    explain_runtime=runtimes.unsupported_reason,
                )
                if names:
                    logger.info("deployed example functions: %s", ", ".join(names))
            nursery.start_soon(services.provisioner.run)
            bindings = [
                Binding(
                    app,
                    listen,
                    UNIX_LIMITS,
                    name="api socket",
                    keep_alive_timeout_s=UNIX_KEEP_ALIVE_S,
                    log_peer=True,
                )
            ]
            api_tcp, url_tcp = tcp
            if api_tcp is not None:
                assert credentials is not None and config.http_listen is not None
                signed = SigV4Middleware(
                    app,
                    credentials=credentials,
                    hosts=listen_hosts(config.http_listen),
                    region=config.region,
                    max_body=MAX_CONTROL_BODY_BYTES,
                    operation_of=_operation_name,
                    service=signing_service,
                )
                bindings.append(
                    Binding(
                        signed,
                        api_tcp,
                        TCP_LIMITS,
                        name="api tcp",
                        keep_alive_timeout_s=TCP_KEEP_ALIVE_S,
                    )
                )
            if url_tcp is not None:
                server = UrlServer(
                    services.urls, services.invoker, credentials=credentials, region=config.region
                )
                bindings.append(
                    Binding(
                        server,
                        url_tcp,
                        TCP_LIMITS,
                        name="function urls",
                        keep_alive_timeout_s=TCP_KEEP_ALIVE_S,
                    )
                )
            await _serve_http(bindings, config, task_status)
            nursery.cancel_scope.cancel()
    finally:
        _close(listen, tcp, registry, config)
        try:
            cgroups.remove_parent()
        except (OSError, SandboxError) as exc:
            logger.warning("could not remove the cgroup parent: %s", exc)


@dataclass(frozen=True, slots=True, kw_only=True)
class Services:
    """The services the API and the listeners call, wired to each other's changes."""

    functions: FunctionService
    layers: LayerService
    tags: TagService
    policies: PolicyService
    concurrency: Concurrency
    reservations: Reservations
    invoker: Invoker
    provisioner: Provisioner
    urls: UrlService
    event_invoke: EventInvokeConfigService
    event_source_mappings: EventSourceMappingService

    def meter(self, usage: UsageService) -> None:
        """Connect the usage ledger: every invoke that ran, and provisioned concurrency's
        configured amounts (after a put or delete, a function gone, an alias moved)."""
        self.invoker.on_invoked.append(usage.ledger.record)
        usage.follow_provisioned(self.provisioner.configured)
        self.provisioner.on_change.append(usage.provisioned_changed)
        self.functions.on_alias_change.append(lambda _name, _alias: usage.provisioned_changed())

    @classmethod
    def wire(
        cls,
        config: Config,
        registry: Registry,
        pool: Pool,
        network: NetworkService | None,
        *,
        source_exists: SourceCheck = lambda arn: False,
        fifo: SourceCheck = lambda arn: False,
    ) -> Services:
        """`source_exists` / `fifo`: whether a queue's or stream's ARN exists / is a FIFO
        queue's, from the queue and stream services (placeholders until serve() passes them:
        every source is missing, so CreateEventSourceMapping refuses every source)."""
        functions = FunctionService(
            registry, resolve_vpc=network.resolve if network is not None else None
        )
        # Published versions are immutable: a change makes only that version's (mostly
        # $LATEST's) environments stale; a change of functions may change the ENI pools.
        functions.on_change.append(pool.retire)
        if network is not None:
            functions.on_change.append(lambda _name, _version: network.wake())
        concurrency = Concurrency(
            account_limit=config.concurrency.account_limit,
            unreserved_minimum=config.concurrency.unreserved_minimum,
        )
        invoker = Invoker(
            functions=functions, pool=pool, region=config.region, concurrency=concurrency
        )
        provisioner = Provisioner(functions, pool, concurrency, region=config.region)
        functions.on_alias_change.append(lambda _name, _alias: provisioner.wake())
        url_port = (
            parse_listen(config.function_url_listen)[1] if config.function_url_listen else None
        )
        urls = UrlService(functions, region=config.region, port=url_port)
        functions.on_delete += [
            concurrency.forget,
            provisioner.forget_function,
            urls.forget_function,
        ]
        return cls(
            functions=functions,
            layers=LayerService(registry),
            tags=TagService(functions),
            policies=PolicyService(functions),
            concurrency=concurrency,
            reservations=Reservations(functions, concurrency, provisioner),
            invoker=invoker,
            provisioner=provisioner,
            urls=urls,
            event_invoke=EventInvokeConfigService(functions, region=config.region),
            event_source_mappings=EventSourceMappingService(
                functions, region=config.region, source_exists=source_exists, fifo=fifo
            ),
        )


def _operation_name(method: str, raw_path: str, query: str) -> str | None:
    operation = match_operation(method, raw_path, query)
    return None if operation is None else operation.name


def build_lambda_app(
    services: Services,
    events: EventQueue,
    runtimes: RuntimeCatalog,
    network: NetworkService | None,
    usage: UsageService | None = None,
    *,
    region: str,
) -> Starlette:
    """The Lambda REST API and lambdalet's network API, the data plane first."""
    functions = FunctionApi(
        functions=services.functions,
        tags=services.tags,
        concurrency=services.concurrency,
        runtimes=runtimes,
        region=region,
    )
    concurrency = ConcurrencyApi(services.functions, services.reservations, services.provisioner)
    return build_app(
        [
            *invoke_routes(InvokeApi(services.invoker, events), guard),
            *function_routes(functions, guard),
            *alias_routes(AliasApi(services.functions, region=region), guard),
            *layer_routes(LayerApi(services.layers, region=region), guard),
            *tag_routes(TagApi(services.tags, region=region), guard),
            *policy_routes(PolicyApi(services.policies), guard),
            *concurrency_routes(concurrency, guard),
            *url_routes(UrlApi(services.urls), guard),
            *event_invoke_routes(EventInvokeApi(services.event_invoke), guard),
            *event_source_mapping_routes(
                EventSourceMappingApi(services.event_source_mappings), guard
            ),
            *network_routes(NetworkApi(network), guard),
            *pool_view_routes(PoolViewApi(services.invoker.pool), guard),
            *(usage_routes(UsageApi(usage), guard) if usage is not None else []),
        ],
        region=region,
    )


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


async def _serve_http(
    bindings: list[Binding], config: Config, task_status: trio.TaskStatus[Path]
) -> None:
    settings = HttpSettings()
    stop = trio.Event()
    async with trio.open_nursery() as nursery:

        async def watch_signals() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    logger.info("received %s; shutting down", signal.Signals(signum).name)
                    sd_notify("STOPPING=1")
                    stop.set()
                    return

        nursery.start_soon(watch_signals)
        await nursery.start(
            functools.partial(serve_bindings, bindings, settings, shutdown=stop.wait)
        )
        sd_notify("READY=1")
        logger.info("lambdalet listening on %s", config.socket_path)
        for name in ("http_listen", "function_url_listen"):
            if getattr(config, name):
                logger.info("%s: %s", name, getattr(config, name))
        task_status.started(config.socket_path)
        await stop.wait()
        nursery.cancel_scope.cancel()


__all__ = ["serve"]
