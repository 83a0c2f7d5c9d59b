"""VPC documents and attached hosts: the administrative half of the network service.

`NetworkAdmin` is a mixin of `engine.network.service.NetworkService`: it manages the VPCs (create,
replace, delete; in-use checks) and the hosts users attach to subnets, on the service's state.
Attached hosts are named namespaces (`/run/netns/<netns_prefix><name>`) that outlive the
daemon; at start-up `_restore_host` keeps a live one, rebuilds a missing one and drops one
whose subnet is gone.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import TYPE_CHECKING, Any

import trio

from engine.config import NetworkConfig
from engine.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
    ServiceException,
)
from engine.model.function import FunctionConfig
from engine.model.vpc_config import VpcSelection
from engine.registry.registry import Registry
from netns import firewall, links
from netns.addressing import AddressPool, EniPlan, macs
from netns.errors import NetnsError, VpcConfigError
from netns.model import Vpc, check_vpc_set, parse_vpc, usable_hosts, vpc_to_doc

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from ipaddress import IPv4Network

logger = logging.getLogger(__name__)

_HOST_NAME_RE = re.compile(r"^[a-z0-9][a-z0-9-]{0,30}$")


@dataclass(frozen=True, slots=True, kw_only=True)
class AttachedHost:
    name: str
    subnet_id: str
    security_group_ids: tuple[str, ...]
    address: IPv4Address
    ifname: str

    def to_doc(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "subnet_id": self.subnet_id,
            "security_group_ids": list(self.security_group_ids),
            "address": str(self.address),
            "ifname": self.ifname,
        }

    @classmethod
    def from_doc(cls, doc: dict[str, Any]) -> AttachedHost:
        return cls(
            name=doc["name"],
            subnet_id=doc["subnet_id"],
            security_group_ids=tuple(doc["security_group_ids"]),
            address=IPv4Address(doc["address"]),
            ifname=doc["ifname"],
        )


class NetworkAdmin:
    """VPC and attached-host management over the state of a `NetworkService`."""

    if TYPE_CHECKING:  # provided by NetworkService
        net: NetworkConfig
        registry: Registry
        functions: Callable[[], Iterable[FunctionConfig]]
        default_cidr: IPv4Network
        config_vpcs: dict[str, Vpc]
        vpcs: dict[str, Vpc]
        addresses: dict[str | None, AddressPool]
        attachments: dict[str, firewall.Attachment]
        hosts: dict[str, AttachedHost]
        _limiter: trio.CapacityLimiter

        async def _apply(self) -> None: ...
        async def _discard_ready(self) -> None: ...
        def resolve(self, selection: VpcSelection) -> VpcSelection: ...
        def _vpc_of_subnet(self, subnet_id: str) -> Vpc | None: ...
        def _pick_subnet(self, subnets: tuple[str, ...]) -> tuple[str | None, IPv4Address]: ...
        def _next_ifname(self) -> str: ...
        def _netns_path(self, name: str) -> str: ...

    # -- VPCs ---------------------------------------------------------------------------

    def list_vpcs(self) -> list[dict[str, Any]]:
        return [self._vpc_doc(self.vpcs[k]) for k in sorted(self.vpcs)]

    def get_vpc(self, vpc_id: str) -> dict[str, Any]:
        vpc = self.vpcs.get(vpc_id)
        if vpc is None:
            raise ResourceNotFoundException(f"VPC not found: {vpc_id}")
        return self._vpc_doc(vpc)

    def _vpc_doc(self, vpc: Vpc) -> dict[str, Any]:
        doc = vpc_to_doc(vpc)
        doc["source"] = "config" if vpc.id in self.config_vpcs else "api"
        return doc

    async def put_vpc(self, vpc_id: str, doc: dict[str, Any]) -> dict[str, Any]:
        """Create or replace a VPC (the whole document)."""
        if not isinstance(doc, dict):
            raise InvalidParameterValueException("a VPC document must be a JSON object")
        doc = {k: v for k, v in doc.items() if k != "source"}
        if doc.setdefault("id", vpc_id) != vpc_id:
            raise InvalidParameterValueException(
                f"the document's id {doc['id']!r} does not match the path's {vpc_id!r}"
            )
        self._check_writable(vpc_id)
        try:
            vpc = parse_vpc(doc)
            others = tuple(v for k, v in self.vpcs.items() if k != vpc_id)
            check_vpc_set((*others, vpc), reserved=(self.default_cidr,))
        except VpcConfigError as exc:
            raise InvalidParameterValueException(str(exc)) from exc
        old = self.vpcs.get(vpc_id)
        if old is not None:
            self._check_removals(old, vpc)
        self.vpcs[vpc_id] = vpc
        await self._apply_or_restore(vpc_id, old)
        self.registry.put_document("vpc", vpc_id, vpc_to_doc(vpc))
        self._add_address_pools(vpc)
        await self._discard_ready()
        return self._vpc_doc(vpc)

    async def _apply_or_restore(self, vpc_id: str, old: Vpc | None) -> None:
        """Fail closed: when the kernel refuses the new rules, the old VPC (and the old
        table, which a failed nft transaction leaves in place) stays."""
        try:
            await self._apply()
        except NetnsError as exc:
            if old is None:
                self.vpcs.pop(vpc_id, None)
            else:
                self.vpcs[vpc_id] = old
            logger.error("VPC %s: the firewall refused the change: %s", vpc_id, exc)
            raise ServiceException(
                f"VPC {vpc_id} was not changed: the firewall refused the new rules ({exc})"
            ) from exc

    async def delete_vpc(self, vpc_id: str) -> None:
        if vpc_id not in self.vpcs:
            raise ResourceNotFoundException(f"VPC not found: {vpc_id}")
        self._check_writable(vpc_id)
        old = self.vpcs[vpc_id]
        self._check_removals(old, Vpc(id=old.id, cidr=old.cidr, subnets=(), security_groups=()))
        del self.vpcs[vpc_id]
        await self._apply_or_restore(vpc_id, old)
        self.registry.delete_document("vpc", vpc_id)
        for subnet in old.subnets:
            self.addresses.pop(subnet.id, None)
        await self._discard_ready()

    def _check_writable(self, vpc_id: str) -> None:
        if vpc_id in self.config_vpcs:
            raise ResourceConflictException(
                f"VPC {vpc_id} is declared in the daemon's configuration file; change it there"
            )

    def _check_removals(self, old: Vpc, new: Vpc) -> None:
        """A subnet or group still used by a function or a host cannot go (nor change CIDR)."""
        gone_subnets = {
            s.id for s in old.subnets if (n := new.subnet(s.id)) is None or n.cidr != s.cidr
        }
        gone_groups = {g.id for g in old.security_groups if new.security_group(g.id) is None}
        users: list[str] = []
        for fn in self.functions():
            if gone_subnets & set(fn.subnet_ids) or gone_groups & set(fn.security_group_ids):
                users.append(f"function {fn.name}")
        for host in self.hosts.values():
            if host.subnet_id in gone_subnets or gone_groups & set(host.security_group_ids):
                users.append(f"attached host {host.name}")
        if users:
            raise ResourceConflictException(
                f"VPC {old.id}: subnets or security groups being removed or changed are in use "
                f"by {', '.join(users)}"
            )

    def _add_address_pools(self, vpc: Vpc) -> None:
        for subnet in vpc.subnets:
            if subnet.id not in self.addresses:
                first, last = usable_hosts(subnet.cidr)
                self.addresses[subnet.id] = AddressPool(first, last)

    # -- attached hosts -----------------------------------------------------------------

    def list_hosts(self) -> list[dict[str, Any]]:
        return [self._host_doc(self.hosts[k]) for k in sorted(self.hosts)]

    def _host_doc(self, host: AttachedHost) -> dict[str, Any]:
        vpc = self._vpc_of_subnet(host.subnet_id)
        return {
            **host.to_doc(),
            "vpc_id": vpc.id if vpc else None,
            "netns": self.net.netns_prefix + host.name,
            "netns_path": self._netns_path(host.name),
        }

    async def attach_host(
        self, name: str, subnet_id: str, security_group_ids: tuple[str, ...]
    ) -> dict[str, Any]:
        if not _HOST_NAME_RE.match(name):
            raise InvalidParameterValueException(
                f"host name {name!r} must be 1-31 characters of a-z, 0-9 and '-'"
            )
        if name in self.hosts:
            raise ResourceConflictException(f"an attached host named {name} already exists")
        resolved = self.resolve(
            VpcSelection(subnet_ids=(subnet_id,), security_group_ids=security_group_ids)
        )
        _, address = self._pick_subnet((subnet_id,))
        host = AttachedHost(
            name=name,
            subnet_id=subnet_id,
            security_group_ids=resolved.security_group_ids,
            address=address,
            ifname=self._next_ifname(),
        )
        try:
            await self._create_host(host)
        except BaseException:
            self.addresses[subnet_id].release(address)
            raise
        self.registry.put_document("host", name, host.to_doc())
        self.hosts[name] = host
        await self._apply()
        return self._host_doc(host)

    async def detach_host(self, name: str) -> None:
        host = self.hosts.pop(name, None)
        if host is None:
            raise ResourceNotFoundException(f"no attached host named {name}")
        self.registry.delete_document("host", name)
        self.attachments.pop(host.ifname, None)
        path = self._netns_path(name)

        def remove_sync() -> None:
            links.remove_named(path)
            links.delete_link(host.ifname)  # now, even if a process still holds the netns

        await trio.to_thread.run_sync(remove_sync, limiter=self._limiter)
        pool = self.addresses.get(host.subnet_id)
        if pool is not None:
            pool.release(host.address)
        await self._apply()

    async def _create_host(self, host: AttachedHost) -> None:
        n = counter_of(host.ifname, self.net.if_prefix)
        host_mac, sandbox_mac = macs(n)
        plan = EniPlan(
            host_ifname=host.ifname,
            address=host.address,
            host_mac=host_mac,
            sandbox_mac=sandbox_mac,
            bind_path=self._netns_path(host.name),
        )
        fd = await trio.to_thread.run_sync(links.create_eni, plan, limiter=self._limiter)
        os.close(fd)  # the bind mount keeps it
        self._attach(host)

    def _attach(self, host: AttachedHost) -> None:
        vpc = self._vpc_of_subnet(host.subnet_id)
        self.attachments[host.ifname] = firewall.Attachment(
            ifname=host.ifname,
            address=host.address,
            vpc_id=vpc.id if vpc else None,
            subnet_id=host.subnet_id,
            security_groups=host.security_group_ids,
            kind="host",
        )

    async def _restore_host(self, host: AttachedHost) -> None:
        """Start-up: keep a live attached host, rebuild a missing one, drop an orphan."""
        pool = self.addresses.get(host.subnet_id)
        if pool is None:
            logger.warning(
                "attached host %s: subnet %s no longer exists; removing it",
                host.name,
                host.subnet_id,
            )
            self.registry.delete_document("host", host.name)
            path = self._netns_path(host.name)
            await trio.to_thread.run_sync(_remove_host_sync, path, host.ifname)
            return
        pool.claim(host.address)
        path = self._netns_path(host.name)

        def alive_sync() -> bool:
            return os.path.exists(path) and host.ifname in links.links_with_prefix(host.ifname)

        if await trio.to_thread.run_sync(alive_sync):
            self._attach(host)
        else:
            await trio.to_thread.run_sync(_remove_host_sync, path, host.ifname)
            await self._create_host(host)
        self.hosts[host.name] = host


def _remove_host_sync(path: str, ifname: str) -> None:
    links.remove_named(path)
    links.delete_link(ifname)


def counter_of(ifname: str, prefix: str) -> int:
    try:
        return int(ifname[len(prefix) :], 36)
    except ValueError:
        return 0
