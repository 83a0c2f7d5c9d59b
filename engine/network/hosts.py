"""Attached hosts: named network namespaces (`/run/netns/<netns_prefix><name>`) in a subnet,
for a database or a tool the functions reach; they outlive the daemon.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass
from ipaddress import IPv4Address
from typing import Any

import trio

from engine.config import NetworkConfig
from engine.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from engine.model.vpc_config import VpcSelection
from engine.network.firewall_sync import FirewallSync
from engine.network.naming import IfnameCounter, netns_path
from engine.network.vpcs import Vpcs
from engine.registry.registry import Registry
from netns import firewall, links
from netns.addressing import EniPlan, macs

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


class AttachedHosts:
    """The attached hosts by name (registry kind "host"). At start-up `restore` keeps a live
    one, rebuilds a missing one and drops one whose subnet is gone."""

    def __init__(
        self,
        *,
        net: NetworkConfig,
        registry: Registry,
        vpcs: Vpcs,
        firewall: FirewallSync,
        ifnames: IfnameCounter,
        limiter: trio.CapacityLimiter,
    ) -> None:
        self.net = net
        self.registry = registry
        self.vpcs = vpcs
        self.firewall = firewall
        self.ifnames = ifnames
        self.limiter = limiter
        self.by_name: dict[str, AttachedHost] = {}

    def stored(self) -> list[AttachedHost]:
        """The hosts the registry knows, live or not."""
        return [AttachedHost.from_doc(d) for d in self.registry.documents("host")]

    def netns_path(self, name: str) -> str:
        return netns_path(self.net.netns_prefix, name)

    def list_docs(self) -> list[dict[str, Any]]:
        return [self._host_doc(self.by_name[k]) for k in sorted(self.by_name)]

    def _host_doc(self, host: AttachedHost) -> dict[str, Any]:
        vpc = self.vpcs.vpc_of_subnet(host.subnet_id)
        return {
            **host.to_doc(),
            "vpc_id": vpc.id if vpc else None,
            "netns": self.net.netns_prefix + host.name,
            "netns_path": self.netns_path(host.name),
        }

    async def attach(
        self, name: str, subnet_id: str, security_group_ids: tuple[str, ...]
    ) -> dict[str, Any]:
        if not _HOST_NAME_RE.match(name):
            raise InvalidParameterValueException(
                f"host name {name!r} must be 1-31 characters of a-z, 0-9 and '-'"
            )
        if name in self.by_name:
            raise ResourceConflictException(f"an attached host named {name} already exists")
        resolved = self.vpcs.resolve(
            VpcSelection(subnet_ids=(subnet_id,), security_group_ids=security_group_ids)
        )
        _, address = self.vpcs.pick_subnet((subnet_id,))
        _, ifname = self.ifnames.take()
        host = AttachedHost(
            name=name,
            subnet_id=subnet_id,
            security_group_ids=resolved.security_group_ids,
            address=address,
            ifname=ifname,
        )
        try:
            await self._create_host(host)
        except BaseException:
            self.vpcs.addresses[subnet_id].release(address)
            raise
        self.registry.put_document("host", name, host.to_doc())
        self.by_name[name] = host
        await self.firewall.apply()
        return self._host_doc(host)

    async def detach(self, name: str) -> None:
        host = self.by_name.pop(name, None)
        if host is None:
            raise ResourceNotFoundException(f"no attached host named {name}")
        self.registry.delete_document("host", name)
        self.firewall.detach(host.ifname)
        path = self.netns_path(name)

        def remove_sync() -> None:
            links.remove_named(path)
            links.delete_link(host.ifname)  # now, even if a process still holds the netns

        await trio.to_thread.run_sync(remove_sync, limiter=self.limiter)
        pool = self.vpcs.addresses.get(host.subnet_id)
        if pool is not None:
            pool.release(host.address)
        await self.firewall.apply()

    async def _create_host(self, host: AttachedHost) -> None:
        n = self.ifnames.number_of(host.ifname)
        host_mac, sandbox_mac = macs(n)
        plan = EniPlan(
            host_ifname=host.ifname,
            address=host.address,
            host_mac=host_mac,
            sandbox_mac=sandbox_mac,
            bind_path=self.netns_path(host.name),
        )
        fd = await trio.to_thread.run_sync(links.create_eni, plan, limiter=self.limiter)
        os.close(fd)  # the bind mount keeps it
        self._attach(host)

    def _attach(self, host: AttachedHost) -> None:
        vpc = self.vpcs.vpc_of_subnet(host.subnet_id)
        self.firewall.attach(
            firewall.Attachment(
                ifname=host.ifname,
                address=host.address,
                vpc_id=vpc.id if vpc else None,
                subnet_id=host.subnet_id,
                security_groups=host.security_group_ids,
                kind="host",
            )
        )

    async def restore(self, host: AttachedHost) -> None:
        """Start-up: keep a live attached host, rebuild a missing one, drop an orphan."""
        pool = self.vpcs.addresses.get(host.subnet_id)
        if pool is None:
            logger.warning(
                "attached host %s: subnet %s no longer exists; removing it",
                host.name,
                host.subnet_id,
            )
            self.registry.delete_document("host", host.name)
            path = self.netns_path(host.name)
            await trio.to_thread.run_sync(_remove_host_sync, path, host.ifname)
            return
        pool.claim(host.address)
        path = self.netns_path(host.name)

        def alive_sync() -> bool:
            return os.path.exists(path) and host.ifname in links.links_with_prefix(host.ifname)

        if await trio.to_thread.run_sync(alive_sync):
            self._attach(host)
        else:
            await trio.to_thread.run_sync(_remove_host_sync, path, host.ifname)
            await self._create_host(host)
        self.by_name[host.name] = host


def _remove_host_sync(path: str, ifname: str) -> None:
    links.remove_named(path)
    links.delete_link(ifname)
