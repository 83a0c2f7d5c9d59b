"""The VPCs: configuration VPCs (read-only) and API VPCs (registry kind "vpc"), the address
pools of their subnets and of the default network, and the checks of a function's VpcConfig.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Protocol

from engine.errors import (
    ApiError,
    ConfigError,
    InvalidParameterValueException,
    InvalidSecurityGroupIDException,
    InvalidSubnetIDException,
    ResourceConflictException,
    ResourceNotFoundException,
    ServiceException,
    SubnetIPAddressLimitReachedException,
)
from engine.model.function import FunctionConfig
from engine.model.vpc_config import VpcSelection
from engine.network.firewall_sync import FirewallSync
from engine.registry.registry import Registry
from netns.addressing import AddressPool
from netns.errors import NetnsError, VpcConfigError
from netns.model import Vpc, check_vpc_set, parse_vpc, usable_hosts, vpc_to_doc

logger = logging.getLogger(__name__)


class SubnetUser(Protocol):
    """An attached host, as far as the in-use checks of a VPC change are concerned."""

    @property
    def name(self) -> str: ...
    @property
    def subnet_id(self) -> str: ...
    @property
    def security_group_ids(self) -> tuple[str, ...]: ...


class Vpcs:
    """Every VPC by id (`by_id`), and the free addresses of each subnet (`addresses`; the
    default network's under None)."""

    def __init__(
        self,
        *,
        config_vpcs: Iterable[Vpc],
        default_cidr: IPv4Network,
        registry: Registry,
        firewall: FirewallSync,
        functions: Callable[[], Iterable[FunctionConfig]],
        hosts: Callable[[], Iterable[SubnetUser]],
    ) -> None:
        self.registry = registry
        self.firewall = firewall
        self.functions = functions
        self.hosts = hosts
        self.default_cidr = default_cidr
        self.config_vpcs = {v.id: v for v in config_vpcs}
        self.by_id: dict[str, Vpc] = dict(self.config_vpcs)
        self.addresses: dict[str | None, AddressPool] = {
            None: AddressPool.for_network(self.default_cidr, reserved_low=2, reserved_high=1)
        }

    def load(self) -> None:
        """Start-up: add the API VPCs stored in the registry, and every subnet's pool."""
        for doc in self.registry.documents("vpc"):
            vpc = parse_vpc(doc)
            if vpc.id in self.config_vpcs:
                logger.warning(
                    "VPC %s is declared in the configuration; ignoring the API copy", vpc.id
                )
                continue
            self.by_id[vpc.id] = vpc
        try:
            check_vpc_set(tuple(self.by_id.values()), reserved=(self.default_cidr,))
        except VpcConfigError as exc:
            raise NetnsError(f"the VPCs stored in the registry conflict: {exc}") from exc
        for vpc in self.by_id.values():
            self._add_address_pools(vpc)

    # -- VpcConfig of functions ---------------------------------------------------------

    def resolve(self, selection: VpcSelection) -> VpcSelection:
        """Check a function's VpcConfig against the VPCs; fill in its VpcId."""
        if not selection.subnet_ids:
            return VpcSelection()
        for group in selection.security_group_ids:  # AWS looks the groups up first
            if not any(vpc.security_group(group) is not None for vpc in self.by_id.values()):
                raise InvalidParameterValueException(
                    f"Error occurred while DescribeSecurityGroups. EC2 Error Code: "
                    f"InvalidGroup.NotFound. EC2 Error Message: The security group '{group}' "
                    "does not exist"
                )
        vpc_ids = set()
        for subnet_id in selection.subnet_ids:
            vpc = self.vpc_of_subnet(subnet_id)
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
        vpc = self.by_id[vpc_id]
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

    def vpc_of_subnet(self, subnet_id: str) -> Vpc | None:
        for vpc in self.by_id.values():
            if vpc.subnet(subnet_id) is not None:
                return vpc
        return None

    def check_still_valid(self, subnets: tuple[str, ...], groups: tuple[str, ...]) -> str | None:
        """Invoke-time check of a stored VpcConfig (the VPC may have changed since)."""
        if not subnets:
            return None
        vpc: Vpc | None = None
        for subnet_id in subnets:
            vpc = self.vpc_of_subnet(subnet_id)
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

    def pick_subnet(self, subnets: tuple[str, ...]) -> tuple[str | None, IPv4Address]:
        """A subnet of `subnets` (None: the default network) and an address allocated in it."""
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

    # -- VPC documents ------------------------------------------------------------------

    def list_docs(self) -> list[dict[str, Any]]:
        return [self._vpc_doc(self.by_id[k]) for k in sorted(self.by_id)]

    def get_doc(self, vpc_id: str) -> dict[str, Any]:
        vpc = self.by_id.get(vpc_id)
        if vpc is None:
            raise ResourceNotFoundException(f"VPC not found: {vpc_id}")
        return self._vpc_doc(vpc)

    def _vpc_doc(self, vpc: Vpc) -> dict[str, Any]:
        doc = vpc_to_doc(vpc)
        doc["source"] = "config" if vpc.id in self.config_vpcs else "api"
        return doc

    async def put(self, vpc_id: str, doc: dict[str, Any]) -> dict[str, Any]:
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
            others = tuple(v for k, v in self.by_id.items() if k != vpc_id)
            check_vpc_set((*others, vpc), reserved=(self.default_cidr,))
        except VpcConfigError as exc:
            raise InvalidParameterValueException(str(exc)) from exc
        old = self.by_id.get(vpc_id)
        if old is not None:
            self._check_removals(old, vpc)
        self.by_id[vpc_id] = vpc
        await self._apply_or_restore(vpc_id, old)
        self.registry.put_document("vpc", vpc_id, vpc_to_doc(vpc))
        self._add_address_pools(vpc)
        return self._vpc_doc(vpc)

    async def _apply_or_restore(self, vpc_id: str, old: Vpc | None) -> None:
        """Fail closed: when the kernel refuses the new rules, the old VPC (and the old
        table, which a failed nft transaction leaves in place) stays."""
        try:
            await self.firewall.apply()
        except NetnsError as exc:
            if old is None:
                self.by_id.pop(vpc_id, None)
            else:
                self.by_id[vpc_id] = old
            logger.error("VPC %s: the firewall refused the change: %s", vpc_id, exc)
            raise ServiceException(
                f"VPC {vpc_id} was not changed: the firewall refused the new rules ({exc})"
            ) from exc

    async def delete(self, vpc_id: str) -> None:
        if vpc_id not in self.by_id:
            raise ResourceNotFoundException(f"VPC not found: {vpc_id}")
        self._check_writable(vpc_id)
        old = self.by_id[vpc_id]
        self._check_removals(old, Vpc(id=old.id, cidr=old.cidr, subnets=(), security_groups=()))
        del self.by_id[vpc_id]
        await self._apply_or_restore(vpc_id, old)
        self.registry.delete_document("vpc", vpc_id)
        for subnet in old.subnets:
            self.addresses.pop(subnet.id, None)

    async def replace_config(self, vpcs: Iterable[Vpc]) -> None:
        """A reloaded configuration's `[[vpc]]` documents replace the previous file's; all or
        nothing (ConfigError, nothing changed): an API VPC of the same id, overlapping
        addresses, or a subnet or group in use that would go or change, refuse the whole set,
        and so does a firewall that refuses the new rules."""
        new = {v.id: v for v in vpcs}
        api = {k: v for k, v in self.by_id.items() if k not in self.config_vpcs}
        if clash := sorted(set(new) & set(api)):
            raise ConfigError(
                f"[[vpc]]: {', '.join(clash)} already exist(s) as VPC(s) made through the API; "
                "delete them there first"
            )
        try:
            check_vpc_set((*api.values(), *new.values()), reserved=(self.default_cidr,))
            for vpc_id, old in self.config_vpcs.items():
                gone = Vpc(id=old.id, cidr=old.cidr, subnets=(), security_groups=())
                self._check_removals(old, new.get(vpc_id, gone))
        except (VpcConfigError, ApiError) as exc:
            message = exc.message if isinstance(exc, ApiError) else str(exc)
            raise ConfigError(f"[[vpc]]: {message}") from exc
        before, before_config = self.by_id, self.config_vpcs
        self.by_id, self.config_vpcs = {**api, **new}, new
        try:
            await self.firewall.apply()
        except NetnsError as exc:
            self.by_id, self.config_vpcs = before, before_config
            raise ConfigError(f"[[vpc]]: the firewall refused the new rules ({exc})") from exc
        kept = {s.id: usable_hosts(s.cidr) for v in self.by_id.values() for s in v.subnets}
        for subnet_id in [s for s in self.addresses if s is not None]:
            pool = self.addresses[subnet_id]
            if kept.get(subnet_id) != (pool.first, pool.last):
                del self.addresses[subnet_id]  # gone, or a new CIDR (unused: checked above)
        for vpc in new.values():
            self._add_address_pools(vpc)

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
        for host in self.hosts():
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
