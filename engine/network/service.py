"""Every sandbox's network: ENIs on the default network or in VPC subnets, the VPCs
themselves, hosts attached to subnets, and the nftables table that enforces it all.

An ENI is a network namespace with a routed veth, built ahead of demand (`netns.links`):
the service keeps `network.eni_pool` ready ENIs for the default network and for each
VpcConfig in use, so that a cold start only hands one over. Releasing an ENI closes its
namespace descriptor; the kernel removes the veth in the background.

The firewall is data (`netns.firewall`): any change of VPCs, ENIs or attached hosts renders
the whole table again and replaces it in one nft transaction. Renders coalesce: a caller
waits for the first apply that includes its change.

Resource handling: `open_network()` sweeps what a previous daemon left (its table, its
links, unregistered attached hosts), and on exit closes every ENI and deletes the table.
Attached hosts outlive the daemon: a database running in one keeps running.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import AsyncIterator, Callable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import trio

from engine.config import Config
from engine.errors import (
    InvalidParameterValueException,
    InvalidSecurityGroupIDException,
    InvalidSubnetIDException,
    ServiceException,
    SubnetIPAddressLimitReachedException,
)
from engine.model.function import FunctionConfig
from engine.model.vpc_config import VpcSelection
from engine.network.vpcs import AttachedHost, NetworkAdmin, counter_of
from engine.registry.registry import Registry
from netns import firewall, links
from netns.addressing import AddressPool, EniPlan, host_ifname, macs
from netns.errors import NetnsError, VpcConfigError
from netns.model import Vpc, check_vpc_set, parse_vpc

logger = logging.getLogger(__name__)

PoolKey = tuple[tuple[str, ...], tuple[str, ...]]  # (subnet ids, security group ids)
DEFAULT_KEY: PoolKey = ((), ())
RETRY_S = 1.0
REFILL_DELAY_S = 0.005


@dataclass(eq=False, slots=True, kw_only=True)
class Eni:
    """One ready or in-use ENI. `fd` holds its network namespace."""

    fd: int
    ifname: str
    address: IPv4Address
    key: PoolKey
    subnet_id: str | None


class NetworkService(NetworkAdmin):
    def __init__(
        self,
        *,
        config: Config,
        registry: Registry,
        nursery: trio.Nursery,
        functions: Callable[[], Iterable[FunctionConfig]],
    ) -> None:
        self.net = config.network
        self.registry = registry
        self.nursery = nursery
        self.functions = functions
        self.default_cidr = IPv4Network(self.net.default_cidr)
        self.config_vpcs = {v.id: v for v in config.vpcs}
        self.vpcs: dict[str, Vpc] = dict(self.config_vpcs)
        self.addresses: dict[str | None, AddressPool] = {
            None: AddressPool.for_network(self.default_cidr, reserved_low=2, reserved_high=1)
        }
        self.attachments: dict[str, firewall.Attachment] = {}
        self.enis: dict[str, Eni] = {}  # by host ifname: ready and in use
        self.ready: dict[PoolKey, list[Eni]] = {}
        self.hosts: dict[str, AttachedHost] = {}
        self._counter = 0
        self._limiter = trio.CapacityLimiter(1)  # netlink work serializes on RTNL anyway
        self._refill = trio.Event()
        self._short = False  # a ready ENI was handed out since the last refill
        self._wanted: set[PoolKey] | None = None  # see _wanted_keys
        self._generation = 0
        self._applied = -1
        self._fw_lock = trio.Lock()
        self.closing = False

    # -- start and stop -----------------------------------------------------------------

    async def start(self) -> None:
        for doc in self.registry.documents("vpc"):
            vpc = parse_vpc(doc)
            if vpc.id in self.config_vpcs:
                logger.warning(
                    "VPC %s is declared in the configuration; ignoring the API copy", vpc.id
                )
                continue
            self.vpcs[vpc.id] = vpc
        try:
            check_vpc_set(tuple(self.vpcs.values()), reserved=(self.default_cidr,))
        except VpcConfigError as exc:
            raise NetnsError(f"the VPCs stored in the registry conflict: {exc}") from exc
        for vpc in self.vpcs.values():
            self._add_address_pools(vpc)
        hosts = [AttachedHost.from_doc(d) for d in self.registry.documents("host")]
        await self._sweep(keep=hosts)
        _write_sysctl("/proc/sys/net/ipv4/ip_forward", "1")
        for host in hosts:
            await self._restore_host(host)
        self._counter = 1 + max(
            (counter_of(h.ifname, self.net.if_prefix) for h in hosts), default=0
        )
        await self._apply()

    async def close(self) -> None:
        self.closing = True
        self._refill.set()
        for eni in list(self.enis.values()):
            self._forget(eni)
        with trio.CancelScope(shield=True), trio.move_on_after(5):
            await self._run_nft(firewall.render_delete(self.net.nft_table))

    async def _sweep(self, *, keep: list[AttachedHost]) -> None:
        """Remove what a previous daemon with this configuration left behind."""
        await self._run_nft(firewall.render_delete(self.net.nft_table))
        kept_links = {h.ifname for h in keep}
        kept_paths = {self._netns_path(h.name) for h in keep}

        def sweep_sync() -> None:
            for path in links.named_namespaces(self.net.netns_prefix):
                if path not in kept_paths:
                    links.remove_named(path)
            for name in links.links_with_prefix(self.net.if_prefix):
                if name not in kept_links:
                    links.delete_link(name)

        await trio.to_thread.run_sync(sweep_sync, limiter=self._limiter)

    def _netns_path(self, name: str) -> str:
        return os.path.join(links.NETNS_RUN_DIR, self.net.netns_prefix + name)

    # -- the firewall -------------------------------------------------------------------

    def _state(self) -> firewall.FirewallState:
        return firewall.FirewallState(
            table=self.net.nft_table,
            if_prefix=self.net.if_prefix,
            default_cidr=self.default_cidr,
            vpcs=tuple(self.vpcs[k] for k in sorted(self.vpcs)),
            attachments=tuple(self.attachments[k] for k in sorted(self.attachments)),
        )

    async def _apply(self) -> None:
        """Make the kernel's table match the current state (at least as new as this call)."""
        self._generation += 1
        wanted = self._generation
        async with self._fw_lock:
            if self._applied >= wanted:
                return  # another caller's apply already included our change
            generation = self._generation
            await self._run_nft(firewall.render(self._state()))
            self._applied = generation

    async def _run_nft(self, doc: dict[str, Any]) -> None:
        result = await trio.run_process(
            ["nft", "-j", "-f", "-"],
            stdin=json.dumps(doc).encode(),
            capture_stdout=True,
            capture_stderr=True,
            check=False,
        )
        if result.returncode != 0:
            raise NetnsError(f"nft refused the lambdalet table: {result.stderr.decode().strip()}")

    # -- VpcConfig of functions ---------------------------------------------------------

    def resolve(self, selection: VpcSelection) -> VpcSelection:
        """Check a function's VpcConfig against the VPCs; fill in its VpcId."""
        if not selection.subnet_ids:
            return VpcSelection()
        vpc_ids = set()
        for subnet_id in selection.subnet_ids:
            vpc = self._vpc_of_subnet(subnet_id)
            if vpc is None:
                raise InvalidParameterValueException(
                    f"Error occurred while DescribeSubnets. EC2 Error Code: "
                    f"InvalidSubnetID.NotFound. EC2 Error Message: The subnet ID '{subnet_id}' "
                    "does not exist"
                )
            vpc_ids.add(vpc.id)
        if len(vpc_ids) > 1:
            raise InvalidParameterValueException(
                f"Subnets {', '.join(selection.subnet_ids)} are in different VPCs "
                f"({', '.join(sorted(vpc_ids))}); a function's subnets must share one VPC"
            )
        (vpc_id,) = vpc_ids
        vpc = self.vpcs[vpc_id]
        for group in selection.security_group_ids:
            if vpc.security_group(group) is None:
                raise InvalidParameterValueException(
                    f"Error occurred while DescribeSecurityGroups. EC2 Error Code: "
                    f"InvalidGroup.NotFound. EC2 Error Message: The security group '{group}' "
                    f"does not exist in VPC '{vpc_id}'"
                )
        return VpcSelection(
            subnet_ids=selection.subnet_ids,
            security_group_ids=selection.security_group_ids,
            vpc_id=vpc_id,
        )

    def _vpc_of_subnet(self, subnet_id: str) -> Vpc | None:
        for vpc in self.vpcs.values():
            if vpc.subnet(subnet_id) is not None:
                return vpc
        return None

    def _check_still_valid(self, key: PoolKey) -> str | None:
        """Invoke-time check of a stored VpcConfig (the VPC may have changed since)."""
        subnets, groups = key
        if not subnets:
            return None
        vpc: Vpc | None = None
        for subnet_id in subnets:
            vpc = self._vpc_of_subnet(subnet_id)
            if vpc is None:
                raise InvalidSubnetIDException(
                    f"The subnet ID '{subnet_id}' of the function's VPC configuration does not "
                    "exist (any more)"
                )
        assert vpc is not None
        for group in groups:
            if vpc.security_group(group) is None:
                raise InvalidSecurityGroupIDException(
                    f"The security group '{group}' of the function's VPC configuration does not "
                    f"exist (any more) in {vpc.id}"
                )
        return vpc.id

    # -- ENIs ---------------------------------------------------------------------------

    async def acquire(self, function: FunctionConfig) -> Eni:
        """An ENI for a new environment of `function`: a ready one, or one built now."""
        key: PoolKey = (function.subnet_ids, function.security_group_ids)
        self._check_still_valid(key)
        ready = self.ready.get(key)
        eni = ready.pop(0) if ready else None
        # Refill after the invoke that used it (`invoke_done`): building an ENI now would
        # compete with this cold start for the CPU.
        self._short = True
        if eni is None:
            eni = await self._build(key)
        return eni

    def invoke_done(self) -> None:
        """An invoke finished: refill the ready ENIs if a cold start took one."""
        if self._short:
            self._short = False
            self._refill.set()

    async def release(self, eni: Eni) -> None:
        """The environment is gone: drop the ENI (the kernel finishes in the background)."""
        self._forget(eni)
        if not self.closing:
            await self._apply()

    def _forget(self, eni: Eni) -> None:
        if self.enis.pop(eni.ifname, None) is None:
            return
        self.attachments.pop(eni.ifname, None)
        os.close(eni.fd)
        pool = self.addresses.get(eni.subnet_id)
        if pool is not None:
            pool.release(eni.address)

    def _pick_subnet(self, subnets: tuple[str, ...]) -> tuple[str | None, IPv4Address]:
        if not subnets:
            addr = self.addresses[None].allocate()
            if addr is None:
                raise ServiceException(
                    f"The default network {self.default_cidr} has no free address left; "
                    "raise network.default_cidr's size"
                )
            return None, addr
        # Like Lambda across availability zones: the subnet with the most free addresses.
        by_free = sorted(
            subnets, key=lambda s: -(self.addresses[s].size - self.addresses[s].in_use)
        )
        for subnet_id in by_free:
            addr = self.addresses[subnet_id].allocate()
            if addr is not None:
                return subnet_id, addr
        raise SubnetIPAddressLimitReachedException(
            f"Lambda was not able to create an ENI in the VPC of the Lambda function because "
            f"the limit for Network Interfaces has been reached: no free IP address left in "
            f"subnet(s) {', '.join(subnets)}"
        )

    async def _build(self, key: PoolKey) -> Eni:
        vpc_id = self._check_still_valid(key)
        subnet_id, address = self._pick_subnet(key[0])
        host_mac, sandbox_mac = macs(self._counter)
        ifname = self._next_ifname()
        plan = EniPlan(
            host_ifname=ifname, address=address, host_mac=host_mac, sandbox_mac=sandbox_mac
        )
        try:
            fd = await trio.to_thread.run_sync(links.create_eni, plan, limiter=self._limiter)
        except BaseException:
            self.addresses[subnet_id].release(address)
            raise
        eni = Eni(fd=fd, ifname=ifname, address=address, key=key, subnet_id=subnet_id)
        self.enis[ifname] = eni
        self.attachments[ifname] = firewall.Attachment(
            ifname=ifname,
            address=address,
            vpc_id=vpc_id,
            subnet_id=subnet_id,
            security_groups=key[1],
            kind="eni",
        )
        try:
            await self._apply()
        except BaseException:
            self._forget(eni)
            raise
        return eni

    def _next_ifname(self) -> str:
        name = host_ifname(self.net.if_prefix, self._counter)
        self._counter += 1
        return name

    def _wanted_keys(self) -> set[PoolKey]:
        """The networks to keep ENIs ready for; read from the registry only after `wake()`."""
        if self._wanted is None:
            self._wanted = {DEFAULT_KEY}
            self._wanted.update((fn.subnet_ids, fn.security_group_ids) for fn in self.functions())
        return self._wanted

    def wake(self) -> None:
        """Functions changed: the pools to keep may have too."""
        self._wanted = None
        self._refill.set()

    async def keep_pools(self) -> None:
        """Keep `eni_pool` ready ENIs per network in use, until the service closes."""
        while not self.closing:
            wanted = self._wanted_keys() if self.net.eni_pool else set()
            for key in list(self.ready):
                if key not in wanted:
                    for eni in self.ready.pop(key):
                        await self.release(eni)
            for key in sorted(wanted):
                ready = self.ready.setdefault(key, [])
                while len(ready) < self.net.eni_pool and not self.closing:
                    try:
                        with trio.CancelScope(shield=True):
                            eni = await self._build(key)
                    except (NetnsError, OSError) as exc:
                        logger.error("could not prepare an ENI: %s", exc)
                        await trio.sleep(RETRY_S)
                        break
                    except (InvalidSubnetIDException, InvalidSecurityGroupIDException):
                        break
                    except (SubnetIPAddressLimitReachedException, ServiceException):
                        break  # a full subnet: invokes will say so
                    ready.append(eni)  # close() forgets every ENI, ready ones too
            await self._refill.wait()
            self._refill = trio.Event()
            await trio.sleep(REFILL_DELAY_S)  # let the invoke that woke us answer first

    async def _discard_ready(self) -> None:
        """VPCs changed: ENIs built for the old shape are not handed out."""
        for key in list(self.ready):
            if key != DEFAULT_KEY:
                for eni in self.ready.pop(key):
                    self._forget(eni)
        self._refill.set()


def _write_sysctl(path: str, value: str) -> None:
    try:
        with open(path, "w") as f:
            f.write(value)
    except OSError as exc:
        raise NetnsError(f"cannot set {path} to {value}: {exc.strerror}") from exc


@asynccontextmanager
async def open_network(
    *, config: Config, registry: Registry, functions: Callable[[], Iterable[FunctionConfig]]
) -> AsyncIterator[NetworkService | None]:
    """The network service, started; None when networking is disabled."""
    if not config.network.enabled:
        yield None
        return
    async with trio.open_nursery() as nursery:
        service = NetworkService(
            config=config, registry=registry, nursery=nursery, functions=functions
        )
        await service.start()
        nursery.start_soon(service.keep_pools)
        try:
            yield service
        finally:
            with trio.CancelScope(shield=True):
                await service.close()
            nursery.cancel_scope.cancel()


__all__ = ["DEFAULT_KEY", "Eni", "NetworkService", "open_network"]
