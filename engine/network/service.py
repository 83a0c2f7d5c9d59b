"""Every sandbox's network, as one service: ENIs on the default network or in VPC subnets,
the VPCs themselves, hosts attached to subnets, and the nftables table that enforces it all.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from ipaddress import IPv4Network
from typing import Any

import trio

from engine.config import Config
from engine.model.function import FunctionConfig
from engine.model.vpc_config import VpcSelection
from engine.network.enis import Eni, EniPool
from engine.network.firewall_sync import FirewallSync, NftRunner, run_nft_cli
from engine.network.hosts import AttachedHost, AttachedHosts
from engine.network.naming import IfnameCounter
from engine.network.vpcs import Vpcs
from engine.registry.registry import Registry
from netns import links
from netns.errors import NetnsError


class NetworkService:
    """The VPCs, the ENI pool, the attached hosts and their firewall, composed.

    `run_nft` loads nft documents: the real `nft` command unless a test records them.
    """

    def __init__(
        self,
        *,
        config: Config,
        registry: Registry,
        nursery: trio.Nursery,
        functions: Callable[[], Iterable[FunctionConfig]],
        run_nft: NftRunner = run_nft_cli,
    ) -> None:
        self.net = config.network
        self.registry = registry
        self.nursery = nursery
        self.functions = functions
        default_cidr = IPv4Network(self.net.default_cidr)
        self.limiter = trio.CapacityLimiter(1)  # netlink work serializes on RTNL anyway
        self.ifnames = IfnameCounter(self.net.if_prefix)
        self.firewall = FirewallSync(
            table=self.net.nft_table,
            if_prefix=self.net.if_prefix,
            default_cidr=default_cidr,
            vpcs=lambda: self.vpcs.by_id,
            run_nft=run_nft,
        )
        self.vpcs = Vpcs(
            config_vpcs=config.vpcs,
            default_cidr=default_cidr,
            registry=registry,
            firewall=self.firewall,
            functions=functions,
            hosts=lambda: self.hosts.by_name.values(),
        )
        self.enis = EniPool(
            eni_pool=self.net.eni_pool,
            eni_pool_max=self.net.eni_pool_max,
            vpcs=self.vpcs,
            firewall=self.firewall,
            ifnames=self.ifnames,
            limiter=self.limiter,
            functions=functions,
        )
        self.hosts = AttachedHosts(
            net=self.net,
            registry=registry,
            vpcs=self.vpcs,
            firewall=self.firewall,
            ifnames=self.ifnames,
            limiter=self.limiter,
        )

    # -- start and stop -----------------------------------------------------------------

    async def start(self) -> None:
        self.vpcs.load()
        hosts = self.hosts.stored()
        await self._sweep(keep=hosts)
        _write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
        for host in hosts:
            await self.hosts.restore(host)
        self.ifnames.continue_after(h.ifname for h in hosts)
        await self.firewall.apply()

    async def close(self) -> None:
        self.enis.close()
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await self.firewall.delete_table(final=True)

    async def _sweep(self, *, keep: list[AttachedHost]) -> None:
        """Remove what a previous daemon with this configuration left behind."""
        await self.firewall.delete_table()
        kept_links = {h.ifname for h in keep}
        kept_paths = {self.hosts.netns_path(h.name) for h in keep}

        def sweep_sync() -> None:
            for path in links.named_namespaces(self.net.netns_prefix):
                if path not in kept_paths:
                    links.remove_named(path)
            for name in links.links_with_prefix(self.net.if_prefix):
                if name not in kept_links:
                    links.delete_link(name)

        await trio.to_thread.run_sync(sweep_sync, limiter=self.limiter)

    # -- ENIs ---------------------------------------------------------------------------

    async def acquire(self, function: FunctionConfig) -> Eni:
        """An ENI for a new environment of `function`: a ready one, or one built now."""
        return await self.enis.acquire(function)

    async def attach(self, function: FunctionConfig, netns_fd: int) -> Eni:
        """An ENI for `function` built into an existing network namespace (a SnapStart
        environment's, made by its template: `engine.invoke.templates`)."""
        return await self.enis.attach(function, netns_fd)

    async def release(self, eni: Eni) -> None:
        """The environment is gone: drop the ENI (the kernel finishes in the background)."""
        await self.enis.release(eni)

    def invoke_done(self) -> None:
        """An invoke finished: refill the ready ENIs if a cold start took one."""
        self.enis.invoke_done()

    def wake(self) -> None:
        """Functions changed: the pools to keep may have too."""
        self.enis.wake()

    async def keep_pools(self) -> None:
        """Keep `eni_pool` ready ENIs per network in use, until the service closes."""
        await self.enis.keep_pools()

    # -- VPCs ---------------------------------------------------------------------------

    def resolve(self, selection: VpcSelection) -> VpcSelection:
        """Check a function's VpcConfig against the VPCs; fill in its VpcId."""
        return self.vpcs.resolve(selection)

    def list_vpcs(self) -> list[dict[str, Any]]:
        return self.vpcs.list_docs()

    def get_vpc(self, vpc_id: str) -> dict[str, Any]:
        return self.vpcs.get_doc(vpc_id)

    async def put_vpc(self, vpc_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a VPC (the whole document)."""
        got = await self.vpcs.put(vpc_id, doc)
        self.enis.discard_ready()
        return got

    async def delete_vpc(self, vpc_id: str) -> None:
        await self.vpcs.delete(vpc_id)
        self.enis.discard_ready()

    # -- attached hosts -----------------------------------------------------------------

    def list_hosts(self) -> list[dict[str, Any]]:
        return self.hosts.list_docs()

    async def attach_host(
        self, name: str, subnet_id: str, security_group_ids: tuple[str, ...]
    ) -> dict[str, Any]:
        return await self.hosts.attach(name, subnet_id, security_group_ids)

    async def detach_host(self, name: str) -> None:
        await self.hosts.detach(name)


def _write_sysctl(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise NetnsError(f"cannot set {path} to {value}: {exc.strerror}") from exc


@asynccontextmanager
async def open_network(
    *,
    config: Config,
    registry: Registry,
    functions: Callable[[], Iterable[FunctionConfig]],
    run_nft: NftRunner = run_nft_cli,
) -> AsyncIterator[NetworkService | None]:
    """The network service, started; None when networking is disabled.

    Resource handling: `open_network()` sweeps what a previous daemon left (its table, its
    links, unregistered attached hosts), and on exit closes every ENI and deletes the table.
    Attached hosts outlive the daemon: a database running in one keeps running.
    """
    if not config.network.enabled:
        yield None
        return
    async with trio.open_nursery() as nursery:
        service = NetworkService(
            config=config,
            registry=registry,
            nursery=nursery,
            functions=functions,
            run_nft=run_nft,
        )
        await service.start()
        nursery.start_soon(service.keep_pools)
        try:
            yield service
        finally:
            with trio.CancelScope(shield=True):
                await service.close()
            nursery.cancel_scope.cancel()


__all__ = ["NetworkService", "open_network"]
