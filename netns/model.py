"""VPC emulation documents: parse and validate (TOML config or JSON API), and write back.

One document shape serves the daemon's ``[[vpc]]`` tables and the HTTP API; unknown keys are
rejected anywhere, and every error names the VPC, the field's path and the reason.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network, ip_network
from typing import Literal, NoReturn

from netns.errors import VpcConfigError

IpProtocol = Literal["tcp", "udp", "icmp", "all"]

VPC_ID = re.compile(r"vpc-[a-z0-9][a-z0-9-]{0,62}")
# Subnet and security group ids as AWS's model allows them in a function's VpcConfig
# (`subnet-[0-9a-z]*`, `sg-[0-9a-zA-Z]*`): a VPC defined here is always one a function can use.
SUBNET_ID = re.compile(r"subnet-[a-z0-9]{1,63}")
SG_ID = re.compile(r"sg-[a-z0-9]{1,63}")
PREFIX_MIN, PREFIX_MAX = 16, 28  # AWS's limits for VPC and subnet CIDR blocks
DESCRIPTION_MAX = 255  # characters, as AWS
RESERVED_LOW, RESERVED_HIGH = 4, 1  # AWS keeps the first four and the last address of a subnet

_PROTOCOLS: dict[str, IpProtocol] = {
    "tcp": "tcp",
    "6": "tcp",
    "udp": "udp",
    "17": "udp",
    "icmp": "icmp",
    "1": "icmp",
    "all": "all",
    "-1": "all",
}
_PORTS = re.compile(r"(\d{1,5})(?:-(\d{1,5}))?")
_ALL_EGRESS = {"protocol": "all", "cidr": "0.0.0.0/0"}


@dataclass(frozen=True, slots=True, kw_only=True)
class Rule:
    """One security-group rule; ``cidr`` or ``group`` (exactly one) is the peer."""

    protocol: IpProtocol
    from_port: int | None = None  # tcp/udp only; None = every port
    to_port: int | None = None
    cidr: IPv4Network | None = None
    group: str | None = None  # a security group of the same VPC: its members' addresses
    description: str = ""


@dataclass(frozen=True, slots=True, kw_only=True)
class SecurityGroup:
    id: str
    description: str = ""
    ingress: tuple[Rule, ...] = ()
    egress: tuple[Rule, ...] = ()


@dataclass(frozen=True, slots=True, kw_only=True)
class Subnet:
    id: str
    vpc_id: str
    cidr: IPv4Network
    nat_gateway: bool = False  # True: the route table sends 0.0.0.0/0 to a NAT gateway


@dataclass(frozen=True, slots=True, kw_only=True)
class Vpc:
    id: str
    cidr: IPv4Network
    subnets: tuple[Subnet, ...] = ()
    security_groups: tuple[SecurityGroup, ...] = ()

    def subnet(self, subnet_id: str) -> Subnet | None:
        return next((s for s in self.subnets if s.id == subnet_id), None)

    def security_group(self, group_id: str) -> SecurityGroup | None:
        return next((g for g in self.security_groups if g.id == group_id), None)


def usable_hosts(subnet: IPv4Network) -> tuple[IPv4Address, IPv4Address]:
    """First and last address an ENI may get (AWS reserves the first four and the last)."""
    if subnet.prefixlen > PREFIX_MAX:
        raise ValueError(f"{subnet} is smaller than a /{PREFIX_MAX}")
    return (
        subnet.network_address + RESERVED_LOW,
        subnet.broadcast_address - RESERVED_HIGH,
    )


def usable_count(subnet: IPv4Network) -> int:
    first, last = usable_hosts(subnet)
    return int(last) - int(first) + 1


# -- parsing -------------------------------------------------------------------------------


class _Fields:
    """Typed access to one JSON/TOML object, failing with the VPC id and the field path."""

    def __init__(self, vpc: str, path: str, value: object, allowed: Sequence[str]) -> None:
        self.vpc = vpc
        self.path = path
        if not isinstance(value, Mapping):
            self.fail("", f"must be an object, not {_kind(value)}")
        unknown = sorted(str(k) for k in value if k not in allowed)
        if unknown:
            self.fail("", f"has unknown key(s): {', '.join(unknown)}")
        self.data: Mapping[str, object] = value

    def fail(self, key: str, why: str) -> NoReturn:
        path = f"{self.path}.{key}" if self.path and key else self.path or key
        raise VpcConfigError(f"{self.vpc}: {path} {why}" if path else f"{self.vpc}: {why}")

    def has(self, key: str) -> bool:
        return key in self.data

    def string(self, key: str, default: str | None = None) -> str:
        value = self.data.get(key, default)
        if key not in self.data and value is None:
            self.fail(key, "is required")
        if not isinstance(value, str):
            self.fail(key, f"must be a string, not {_kind(value)}")
        return value

    def ident(self, key: str, pattern: re.Pattern[str], default: str | None = None) -> str:
        value = self.string(key, default)
        if not pattern.fullmatch(value):
            self.fail(key, f"{value!r} must match {pattern.pattern}")
        return value

    def description(self, key: str) -> str:
        value = self.string(key, "")
        if len(value) > DESCRIPTION_MAX:
            self.fail(key, f"is longer than {DESCRIPTION_MAX} characters")
        return value

    def boolean(self, key: str, default: bool) -> bool:
        value = self.data.get(key, default)
        if not isinstance(value, bool):
            self.fail(key, f"must be true or false, not {_kind(value)}")
        return value

    def items(self, key: str, default: Sequence[object] = ()) -> Sequence[object]:
        value = self.data.get(key, default)
        if isinstance(value, str | bytes) or not isinstance(value, Sequence):
            self.fail(key, f"must be a list, not {_kind(value)}")
        return value

    def block(self, key: str) -> IPv4Network:
        """A VPC or subnet CIDR block: strict, IPv4, prefix length within AWS's limits."""
        text = self.string(key)
        net = _network(text, strict=False) if "/" in text else None
        if net is None:
            self.fail(key, f"{text!r} is not an IPv4 network like 10.0.0.0/16")
        if _network(text, strict=True) is None:
            self.fail(key, f"{text} has host bits set (did you mean {net}?)")
        if not PREFIX_MIN <= net.prefixlen <= PREFIX_MAX:
            self.fail(
                key, f"{net} must have a prefix length between /{PREFIX_MIN} and /{PREFIX_MAX}"
            )
        return net


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, Mapping):
        return "an object"
    if isinstance(value, Sequence):
        return "a list"
    return type(value).__name__


def _network(text: str, *, strict: bool) -> IPv4Network | None:
    try:
        net = ip_network(text, strict=strict)
    except ValueError:
        return None
    return net if isinstance(net, IPv4Network) else None


def parse_vpc(doc: Mapping[str, object], *, default_id: str | None = None) -> Vpc:
    """Validate one VPC document and build the `Vpc`; `default_id` names it if "id" is absent."""
    raw_id = doc.get("id", default_id) if isinstance(doc, Mapping) else None
    name = raw_id if isinstance(raw_id, str) and VPC_ID.fullmatch(raw_id) else "vpc"
    top = _Fields(name, "", doc, ("id", "cidr", "subnets", "security_groups"))
    vpc_id = top.ident("id", VPC_ID, default_id)
    cidr = top.block("cidr")
    subnets = _parse_subnets(top, vpc_id, cidr)
    groups = _parse_groups(top)
    known = {g.id for g in groups}
    for i, group in enumerate(groups):
        for direction, rules in (("ingress", group.ingress), ("egress", group.egress)):
            for j, rule in enumerate(rules):
                if rule.group is not None and rule.group not in known:
                    top.fail(
                        f"security_groups[{i}].{direction}[{j}].group",
                        f"{rule.group} is not a security group of {vpc_id}",
                    )
    return Vpc(id=vpc_id, cidr=cidr, subnets=subnets, security_groups=groups)


def _parse_subnets(top: _Fields, vpc_id: str, vpc_cidr: IPv4Network) -> tuple[Subnet, ...]:
    subnets: list[Subnet] = []
    for i, item in enumerate(top.items("subnets")):
        f = _Fields(top.vpc, f"subnets[{i}]", item, ("id", "cidr", "nat_gateway"))
        subnet_id = f.ident("id", SUBNET_ID)
        cidr = f.block("cidr")
        if not cidr.subnet_of(vpc_cidr):
            f.fail("cidr", f"{cidr} is not inside the VPC's {vpc_cidr}")
        for j, other in enumerate(subnets):
            if other.id == subnet_id:
                f.fail("id", f"{subnet_id} is already used by subnets[{j}]")
            if other.cidr.overlaps(cidr):
                f.fail("cidr", f"{cidr} overlaps subnets[{j}] ({other.id}) {other.cidr}")
        nat = f.boolean("nat_gateway", False)
        subnets.append(Subnet(id=subnet_id, vpc_id=vpc_id, cidr=cidr, nat_gateway=nat))
    return tuple(subnets)


def _parse_groups(top: _Fields) -> tuple[SecurityGroup, ...]:
    groups: list[SecurityGroup] = []
    for i, item in enumerate(top.items("security_groups")):
        path = f"security_groups[{i}]"
        f = _Fields(top.vpc, path, item, ("id", "description", "ingress", "egress"))
        group_id = f.ident("id", SG_ID)
        for j, other in enumerate(groups):
            if other.id == group_id:
                f.fail("id", f"{group_id} is already used by security_groups[{j}]")
        ingress = _parse_rules(f, "ingress", f.items("ingress"))
        egress = _parse_rules(f, "egress", f.items("egress", (_ALL_EGRESS,)))
        groups.append(
            SecurityGroup(
                id=group_id,
                description=f.description("description"),
                ingress=ingress,
                egress=egress,
            )
        )
    return tuple(groups)


def _parse_rules(group: _Fields, direction: str, items: Sequence[object]) -> tuple[Rule, ...]:
    rules: list[Rule] = []
    for j, item in enumerate(items):
        path = f"{group.path}.{direction}[{j}]"
        f = _Fields(group.vpc, path, item, ("protocol", "ports", "cidr", "group", "description"))
        rule = _parse_rule(f)
        for k, other in enumerate(rules):
            if _same_match(rule, other):
                f.fail("", f"duplicates {direction}[{k}]")
        rules.append(rule)
    return tuple(rules)


def _parse_rule(f: _Fields) -> Rule:
    text = f.string("protocol")
    protocol = _PROTOCOLS.get(text)
    if protocol is None:
        f.fail("protocol", f"{text!r} must be one of tcp, udp, icmp, all (or 6, 17, 1, -1)")
    from_port = to_port = None
    if f.has("ports"):
        if protocol not in ("tcp", "udp"):
            f.fail("ports", f"is only allowed for tcp and udp, not {protocol}")
        from_port, to_port = _parse_ports(f)
    if f.has("cidr") == f.has("group"):
        f.fail("", 'needs exactly one of "cidr" and "group"')
    cidr = group = None
    if f.has("cidr"):
        text = f.string("cidr")
        cidr = _network(text, strict=False) if "/" in text else None
        if cidr is None:
            f.fail("cidr", f"{text!r} is not an IPv4 network like 10.0.0.0/8")
    else:
        group = f.ident("group", SG_ID)
    return Rule(
        protocol=protocol,
        from_port=from_port,
        to_port=to_port,
        cidr=cidr,
        group=group,
        description=f.description("description"),
    )


def _parse_ports(f: _Fields) -> tuple[int, int]:
    value = f.data["ports"]
    if isinstance(value, int) and not isinstance(value, bool):
        low = high = value
    elif isinstance(value, str) and (m := _PORTS.fullmatch(value)):
        low = int(m.group(1))
        high = int(m.group(2) or low)
    else:
        f.fail("ports", f'{value!r} must be a port ("5432", 5432) or a range ("1000-2000")')
    if not 1 <= low <= high <= 65535:
        f.fail("ports", f"{value!r} must be within 1..65535, lowest first")
    return low, high


def _same_match(a: Rule, b: Rule) -> bool:
    """Two rules allow the same traffic (descriptions aside), which AWS refuses."""
    return (a.protocol, a.from_port, a.to_port, a.cidr, a.group) == (
        b.protocol,
        b.from_port,
        b.to_port,
        b.cidr,
        b.group,
    )


# -- writing and cross-VPC checks ----------------------------------------------------------


def vpc_to_doc(vpc: Vpc) -> dict[str, object]:
    """The canonical JSON form: `parse_vpc` gives the same `Vpc` back."""
    return {
        "id": vpc.id,
        "cidr": str(vpc.cidr),
        "subnets": [
            {"id": s.id, "cidr": str(s.cidr), "nat_gateway": s.nat_gateway} for s in vpc.subnets
        ],
        "security_groups": [
            {
                "id": g.id,
                "description": g.description,
                "ingress": [_rule_to_doc(r) for r in g.ingress],
                "egress": [_rule_to_doc(r) for r in g.egress],
            }
            for g in vpc.security_groups
        ],
    }


def _rule_to_doc(rule: Rule) -> dict[str, object]:
    doc: dict[str, object] = {"protocol": rule.protocol}
    if rule.from_port is not None and rule.to_port is not None:
        doc["ports"] = (
            str(rule.from_port)
            if rule.from_port == rule.to_port
            else f"{rule.from_port}-{rule.to_port}"
        )
    if rule.cidr is not None:
        doc["cidr"] = str(rule.cidr)
    if rule.group is not None:
        doc["group"] = rule.group
    if rule.description:
        doc["description"] = rule.description
    return doc


def check_vpc_set(vpcs: Sequence[Vpc], *, reserved: Sequence[IPv4Network] = ()) -> None:
    """Checks across VPCs: ids globally unique, CIDRs overlapping neither each other nor
    `reserved` (the default network's CIDR)."""
    owners: dict[str, str] = {}  # any id -> the VPC that uses it
    for i, vpc in enumerate(vpcs):
        ids = [vpc.id, *(s.id for s in vpc.subnets), *(g.id for g in vpc.security_groups)]
        for item_id in ids:
            if item_id in owners:
                where = "another VPC" if owners[item_id] == vpc.id else owners[item_id]
                raise VpcConfigError(f"{vpc.id}: id {item_id} is already used by {where}")
            owners[item_id] = vpc.id
        for net in reserved:
            if vpc.cidr.overlaps(net):
                raise VpcConfigError(
                    f"{vpc.id}: cidr {vpc.cidr} overlaps the reserved network {net}"
                )
        for other in vpcs[:i]:
            if vpc.cidr.overlaps(other.cidr):
                raise VpcConfigError(
                    f"{vpc.id}: cidr {vpc.cidr} overlaps {other.id}'s {other.cidr}"
                )
