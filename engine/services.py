"""The services the API and the listeners call, wired to each other's changes; the Lambda
app and the listeners' bindings over them; and what of them a reload changes live.

`daemon.py` opens the rooms (pool, network, queues, …) and hands them here to be connected.
"""

from __future__ import annotations

import socket
from dataclasses import dataclass

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
from engine.auth.credentials import CredentialsFile
from engine.auth.gate import SigV4Middleware
from engine.config import Config, parse_listen
from engine.control.event_invoke import EventInvokeConfigService
from engine.control.event_source_mappings import EventSourceMappingService, SourceCheck
from engine.control.functions import FunctionService
from engine.control.layers import LayerService
from engine.control.policies import PolicyService
from engine.control.tags import TagService
from engine.endpoint import Endpoint, signing_service
from engine.events.queue import EventQueue
from engine.host.connections import (
    TCP_KEEP_ALIVE_S,
    TCP_LIMITS,
    UNIX_KEEP_ALIVE_S,
    UNIX_LIMITS,
)
from engine.host.http_serve import Binding
from engine.host.sockets import listen_hosts
from engine.invoke.concurrency import Concurrency
from engine.invoke.invoker import Invoker
from engine.invoke.pool import Pool
from engine.invoke.provisioned import Provisioner
from engine.invoke.reservations import Reservations
from engine.lifecycle.logs import DAEMON_SETTINGS
from engine.lifecycle.reload import LiveSetting
from engine.metrics.exposition import MetricsRouter, is_scrape
from engine.metrics.service import Metrics
from engine.network.service import NetworkService
from engine.registry.registry import Registry
from engine.runtime.catalog import (
    RuntimeCatalog,
)
from engine.urls.api import UrlApi, url_routes
from engine.urls.server import UrlServer
from engine.urls.service import UrlService
from engine.usage.service import UsageService


def bindings(
    app: Endpoint | MetricsRouter,
    services: Services,
    config: Config,
    credentials: CredentialsFile | None,
    listen: socket.socket,
    tcp: list[socket.socket | None],
    metrics: Metrics | None = None,
) -> list[Binding]:
    """The listeners: the API socket, the signed TCP API (a scrape passes unsigned when there
    are metrics), function URLs, the metrics' own (`tcp`: those three, each None when off)."""
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
    api_tcp, url_tcp, metrics_tcp = tcp
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
            unsigned=None if metrics is None else is_scrape,  # scrapers do not sign
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
    if metrics_tcp is not None:
        assert metrics is not None  # config: metrics.listen needs metrics.enabled
        bindings.append(
            Binding(
                metrics.app,
                metrics_tcp,
                TCP_LIMITS,
                name="metrics",
                keep_alive_timeout_s=TCP_KEEP_ALIVE_S,
            )
        )
    return bindings


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
        """Connect the usage ledger: every invoke that ran, provisioned concurrency's
        configured amounts (after a put or delete, a function gone, an alias moved), and the
        published SnapStart versions (after a publish, a function changed or gone)."""
        self.invoker.on_invoked.append(usage.ledger.record)
        usage.follow_provisioned(self.provisioner.configured)
        self.provisioner.on_change.append(usage.provisioned_changed)
        self.functions.on_alias_change.append(lambda _name, _alias: usage.provisioned_changed())
        # SnapStart's snapshots: billed per version for as long as it exists.
        usage.follow_snapstart(self.functions.snap_start_versions)
        self.functions.on_publish.append(lambda _version: usage.snapstart_changed())
        self.functions.on_change.append(lambda _name, _version: usage.snapstart_changed())

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
        # SnapStart: a published version gets its template (after retire dropped any stale
        # one), and so does every such version already published when the daemon starts.
        functions.on_publish.append(pool.templates.want)
        for function in registry.all_functions():
            for version in registry.versions(function.name):
                pool.templates.want(version)
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


def wire_metrics(services: Services, pool: Pool) -> Metrics:
    """The metrics, connected to what they count: invokes and throttles (the invoker's
    observer), deletes (a function's series go with it), sandbox teardowns."""
    metrics = Metrics(
        pool=pool, concurrency=services.concurrency, check=services.functions.check_qualifier
    )
    services.invoker.observer = metrics.functions
    services.functions.on_delete.append(metrics.functions.forget)
    pool.teardowns.on_teardown.append(metrics.host.teardown_done)
    return metrics


def live_settings(
    services: Services, pool: Pool, network: NetworkService | None, events: EventQueue
) -> list[LiveSetting]:
    """What a reload (SIGHUP) changes while running, service by service (`engine.lifecycle`);
    every other setting waits for a restart."""

    async def concurrency(old: Config, new: Config) -> None:
        services.concurrency.set_limits(
            account_limit=new.concurrency.account_limit,
            unreserved_minimum=new.concurrency.unreserved_minimum,
        )
        services.provisioner.wake()

    async def stems(old: Config, new: Config) -> None:
        pool.stems.resize(prewarm=new.sandbox.prewarm, prewarm_max=new.sandbox.prewarm_max)

    async def memory_reserve(old: Config, new: Config) -> None:
        pool.memory.set_reserve(new.sandbox.memory_reserve_mb)

    async def keep_warm(old: Config, new: Config) -> None:
        pool.keep_warm_s = new.sandbox.keep_warm_s

    async def async_workers(old: Config, new: Config) -> None:
        events.set_workers(new.events.workers)

    async def vpcs(old: Config, new: Config) -> None:
        if network is not None:
            await network.vpcs.replace_config(new.vpcs)
            network.wake()

    async def eni_pools(old: Config, new: Config) -> None:
        if network is not None:
            network.enis.resize(
                eni_pool=new.network.eni_pool, eni_pool_max=new.network.eni_pool_max
            )

    return [
        DAEMON_SETTINGS,
        LiveSetting(
            keys=frozenset({"concurrency.account_limit", "concurrency.unreserved_minimum"}),
            apply=concurrency,
        ),
        LiveSetting(keys=frozenset({"sandbox.prewarm", "sandbox.prewarm_max"}), apply=stems),
        LiveSetting(keys=frozenset({"sandbox.memory_reserve_mb"}), apply=memory_reserve),
        LiveSetting(keys=frozenset({"sandbox.keep_warm_s"}), apply=keep_warm),
        LiveSetting(keys=frozenset({"events.workers"}), apply=async_workers),
        LiveSetting(keys=frozenset({"vpcs"}), apply=vpcs),
        LiveSetting(keys=frozenset({"network.eni_pool", "network.eni_pool_max"}), apply=eni_pools),
    ]


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
