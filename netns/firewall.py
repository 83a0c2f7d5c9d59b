"""The daemon's nftables rule set as data: NAT, security groups, anti-spoofing.

`render(state)` gives a libnftables JSON document that the daemon pipes into
``nft -j -f -``. It replaces the daemon's own ``inet`` table in one transaction (add, delete,
add again, so the delete cannot fail) and touches no other table. Pure code, no I/O.

Chain layout (every base chain has policy accept: traffic that is not ours keeps its fate):

- ``input``: from an attachment (``<prefix>*``), only replies to connections the host opened
  (into attached hosts) pass; everything else, the daemon's API included, is dropped.
- ``output``: the host may open connections into attached hosts, never into ENIs.
- ``forward``: from an attachment: ``guard`` (IPv4 only, anti-spoofing), then ``from_att``
  (replies pass; invalid and link-local dropped), then by input interface (``eg_map``) to its
  egress profile ``eg_default`` or ``eg_<n>``; allowed traffic continues to ``dst_nat`` or
  ``dst_nonat``, which send traffic for another attachment (``in_map``) to its ingress
  profile ``in_<n>``, and decide internet access. From outside into attachments: replies only.
- ``postrouting`` (nat): masquerade what leaves the host from ``nat_src`` (the default
  network and the subnets with a NAT gateway).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Any, Literal

from netns.errors import FirewallStateError
from netns.model import Rule, Vpc, check_vpc_set

AttachmentKind = Literal["eni", "host"]
Json = dict[str, Any]

FAMILY = "inet"
LINK_LOCAL = IPv4Network("169.254.0.0/16")  # includes the cloud metadata address
COMMENT_MAX = 127  # bytes; nft refuses longer comments (NFTNL_UDATA_COMMENT_MAXLEN 128)
IFNAME_MAX = 15
_TABLE = re.compile(r"[a-z][a-z0-9_]{0,63}")
_IF_CHARS = r"[A-Za-z0-9_.-]"

# Named sets and maps (one namespace in nft); security groups get "sg_<id>" sets.
SET_ATTACHMENTS = "att"  # ifname . ipv4_addr: every attachment's (interface, address)
SET_HOSTS = "hosts"  # ifname . ipv4_addr: attached hosts only
SET_NAT = "nat_src"  # interval: masqueraded sources
SET_LOCAL = "local_nets"  # interval: the default network and every VPC, never "outside"
MAP_EGRESS = "eg_map"  # iifname -> goto the source's egress chain
MAP_INGRESS = "in_map"  # oifname -> goto the destination's ingress chain (VPC attachments)
BASE_CHAINS = (  # name = hook, type, priority
    ("input", "filter", 0),
    ("output", "filter", 0),
    ("forward", "filter", 0),
    ("postrouting", "nat", 100),  # srcnat
)
# Regular chains that always exist; eg_<n> and in_<n> come per profile.
FIXED_CHAINS = ("guard", "from_att", "eg_default", "dst_nat", "dst_nonat")


@dataclass(frozen=True, slots=True, kw_only=True)
class Attachment:
    """One routed veth: a sandbox ENI or an attached host, seen from the host side."""

    ifname: str  # the host end: <prefix><base36>
    address: IPv4Address  # its only address; the host routes this /32 to `ifname`
    vpc_id: str | None = None  # None: the default network (no subnet, no groups)
    subnet_id: str | None = None
    security_groups: tuple[str, ...] = ()
    kind: AttachmentKind = "eni"


@dataclass(frozen=True, slots=True, kw_only=True)
class FirewallState:
    table: str  # the daemon's own table in the inet family
    if_prefix: str  # every attachment's host interface starts with this, e.g. "lb-"
    default_cidr: IPv4Network  # addresses of default-network ENIs, masqueraded
    vpcs: tuple[Vpc, ...] = ()
    attachments: tuple[Attachment, ...] = ()


@dataclass(frozen=True, slots=True, order=True)
class _Egress:
    """What an attachment may send: one chain per distinct profile."""

    vpc_id: str
    nat: bool  # its subnet routes 0.0.0.0/0 to a NAT gateway
    groups: tuple[str, ...]  # sorted
    open: bool  # an attached host without security groups may send anything


@dataclass(frozen=True, slots=True, order=True)
class _Ingress:
    """What an attachment accepts from its VPC: one chain per distinct profile."""

    vpc_id: str
    groups: tuple[str, ...]  # sorted


# -- nft JSON building blocks ----------------------------------------------------------------


def _meta(key: str) -> Json:
    return {"meta": {"key": key}}


def _ip(field: str) -> Json:
    return {"payload": {"protocol": "ip", "field": field}}


def _match(left: Json, right: object, op: str = "==") -> Json:
    return {"match": {"op": op, "left": left, "right": right}}


def _net(net: IPv4Network) -> object:
    if net.prefixlen == 32:
        return str(net.network_address)
    return {"prefix": {"addr": str(net.network_address), "len": net.prefixlen}}


def _ifaddr(direction: Literal["iifname", "oifname"]) -> Json:
    return {"concat": [_meta(direction), _ip("saddr" if direction == "iifname" else "daddr")]}


def _ct(*states: str) -> Json:
    return _match({"ct": {"key": "state"}}, list(states), "in")


_ACCEPT: Json = {"accept": None}
_DROP: Json = {"drop": None}


def _goto(chain: str) -> Json:
    return {"goto": {"target": chain}}


def _comment(text: str) -> str:
    return text.encode()[:COMMENT_MAX].decode(errors="ignore")


def _sg_set(group_id: str) -> str:
    return group_id.replace("-", "_")  # ids are [a-z0-9-]: injective


class _Doc:
    """The commands of one transaction, for one table."""

    def __init__(self, table: str) -> None:
        self.table = table
        self.commands: list[Json] = []

    def _obj(self, **fields: object) -> Json:
        return {"family": FAMILY, "table": self.table, **fields}

    def add(self, kind: str, **fields: object) -> None:
        self.commands.append({"add": {kind: self._obj(**fields)}})

    def delete_table(self) -> None:
        """Delete the table; adding it first makes the delete safe when it does not exist."""
        table = {"family": FAMILY, "name": self.table}
        self.commands += [{"add": {"table": table}}, {"delete": {"table": table}}]

    def add_table(self) -> None:
        self.commands.append({"add": {"table": {"family": FAMILY, "name": self.table}}})

    def set(
        self, name: str, type_: str | list[str], elem: list[Any], *, interval: bool = False
    ) -> None:
        fields: dict[str, object] = {"name": name, "type": type_}
        if interval:
            fields["flags"] = ["interval"]
        if elem:  # a named set may be empty: then it simply has no "elem"
            fields["elem"] = elem
        self.add("set", **fields)

    def verdict_map(self, name: str, elem: list[list[object]]) -> None:
        fields: dict[str, object] = {"name": name, "type": "ifname", "map": "verdict"}
        if elem:
            fields["elem"] = elem
        self.add("map", **fields)

    def base_chain(self, name: str, type_: str, prio: int) -> None:
        self.add("chain", name=name, type=type_, hook=name, prio=prio, policy="accept")

    def rule(self, chain: str, *expr: Json, comment: str = "") -> None:
        fields: dict[str, object] = {"chain": chain, "expr": list(expr)}
        if comment:
            fields["comment"] = _comment(comment)
        self.add("rule", **fields)


# -- the rule set ----------------------------------------------------------------------------


def render_delete(table: str) -> Json:
    """Remove the daemon's table (fine if it does not exist)."""
    _check_table(table)
    doc = _Doc(table)
    doc.delete_table()
    return {"nftables": doc.commands}


def render(state: FirewallState) -> Json:
    """The whole table for `state`, as one atomic libnftables JSON transaction."""
    _check(state)
    vpcs = {v.id: v for v in state.vpcs}
    atts = sorted(state.attachments, key=lambda a: a.ifname)
    egress, ingress = _profiles(atts, vpcs)
    eg_index = {p: i for i, p in enumerate(sorted(set(egress.values())))}
    in_index = {p: i for i, p in enumerate(sorted(set(ingress.values())))}
    wild = state.if_prefix + "*"

    elements = _elements(atts, egress, ingress, eg_index, in_index)
    doc = _Doc(state.table)
    doc.delete_table()
    doc.add_table()
    _sets(doc, state, elements)

    for name, type_, prio in BASE_CHAINS:
        doc.base_chain(name, type_, prio)
    profile_chains = [f"eg_{i}" for i in eg_index.values()] + [f"in_{i}" for i in in_index.values()]
    for name in [*FIXED_CHAINS, *profile_chains]:
        doc.add("chain", name=name)
    doc.verdict_map(MAP_EGRESS, list(elements[MAP_EGRESS].values()))
    doc.verdict_map(MAP_INGRESS, list(elements[MAP_INGRESS].values()))

    _base_rules(doc, wild)
    _guard_rules(doc)
    _default_rules(doc, wild)
    for profile, i in eg_index.items():
        _egress_rules(doc, f"eg_{i}", profile, vpcs[profile.vpc_id])
    for nat in (True, False):
        _destination_rules(doc, nat, wild)
    for in_profile, i in in_index.items():
        _ingress_rules(doc, f"in_{i}", in_profile, vpcs[in_profile.vpc_id])
    return {"nftables": doc.commands}


def render_delta(old: FirewallState, new: FirewallState) -> Json | None:
    """The elements to add and delete that turn the table rendered for `old` (and loaded) into
    the one `render(new)` gives, or None when chains would change too (VPCs, the table's
    settings, or the set of egress or ingress profiles differ): then render the whole table.

    An ENI or host coming or going only changes elements of named sets and maps, so the common
    change is a few elements in one small transaction instead of the whole table again."""
    _check(new)
    if (old.table, old.if_prefix, old.default_cidr, old.vpcs) != (
        new.table,
        new.if_prefix,
        new.default_cidr,
        new.vpcs,
    ):
        return None
    vpcs = {v.id: v for v in new.vpcs}
    old_atts = sorted(old.attachments, key=lambda a: a.ifname)
    new_atts = sorted(new.attachments, key=lambda a: a.ifname)
    old_eg, old_in = _profiles(old_atts, vpcs)
    new_eg, new_in = _profiles(new_atts, vpcs)
    if set(old_eg.values()) != set(new_eg.values()) or set(old_in.values()) != set(new_in.values()):
        return None
    eg_index = {p: i for i, p in enumerate(sorted(set(new_eg.values())))}
    in_index = {p: i for i, p in enumerate(sorted(set(new_in.values())))}
    before = _elements(old_atts, old_eg, old_in, eg_index, in_index)
    after = _elements(new_atts, new_eg, new_in, eg_index, in_index)
    doc = _Doc(new.table)
    for name in sorted(before.keys() | after.keys()):
        was, now = before.get(name, {}), after.get(name, {})
        gone = [was[k] for k in sorted(was) if k not in now or now[k] != was[k]]
        if gone:
            doc.commands.append({"delete": {"element": doc._obj(name=name, elem=gone)}})
    for name in sorted(before.keys() | after.keys()):
        was, now = before.get(name, {}), after.get(name, {})
        came = [now[k] for k in sorted(now) if k not in was or was[k] != now[k]]
        if came:
            doc.add("element", name=name, elem=came)
    return {"nftables": doc.commands}


def _profiles(
    atts: list[Attachment], vpcs: dict[str, Vpc]
) -> tuple[dict[str, _Egress], dict[str, _Ingress]]:
    egress = {a.ifname: _egress_of(a, vpcs) for a in atts if a.vpc_id is not None}
    ingress = {a.ifname: _ingress_of(a) for a in atts if a.vpc_id is not None}
    return egress, ingress


def _elements(
    atts: list[Attachment],
    egress: dict[str, _Egress],
    ingress: dict[str, _Ingress],
    eg_index: dict[_Egress, int],
    in_index: dict[_Ingress, int],
) -> dict[str, dict[str, Any]]:
    """The per-attachment elements of the named sets and maps, by set and by element key, as
    `render` writes them (one source of truth for both renders)."""
    out: dict[str, dict[str, Any]] = {SET_ATTACHMENTS: {}, SET_HOSTS: {}, MAP_EGRESS: {}}
    out[MAP_INGRESS] = {}
    for a in atts:
        pair = {"concat": [a.ifname, str(a.address)]}
        out[SET_ATTACHMENTS][a.ifname] = pair
        if a.kind == "host":
            out[SET_HOSTS][a.ifname] = pair
        chain = f"eg_{eg_index[egress[a.ifname]]}" if a.ifname in egress else "eg_default"
        out[MAP_EGRESS][a.ifname] = [a.ifname, _goto(chain)]
        if a.ifname in ingress:
            out[MAP_INGRESS][a.ifname] = [a.ifname, _goto(f"in_{in_index[ingress[a.ifname]]}")]
        for group_id in a.security_groups:
            out.setdefault(_sg_set(group_id), {})[str(a.address)] = str(a.address)
    return out


def _sets(doc: _Doc, state: FirewallState, elements: dict[str, dict[str, Any]]) -> None:
    pair = ["ifname", "ipv4_addr"]
    doc.set(SET_ATTACHMENTS, pair, list(elements[SET_ATTACHMENTS].values()))
    doc.set(SET_HOSTS, pair, list(elements[SET_HOSTS].values()))
    nat = [state.default_cidr]
    nat += [s.cidr for v in state.vpcs for s in v.subnets if s.nat_gateway]
    doc.set(SET_NAT, "ipv4_addr", [_net(n) for n in sorted(nat)], interval=True)
    local = sorted([state.default_cidr, *(v.cidr for v in state.vpcs)])
    doc.set(SET_LOCAL, "ipv4_addr", [_net(n) for n in local], interval=True)
    groups = sorted(g.id for v in state.vpcs for g in v.security_groups)
    for group_id in groups:
        members = elements.get(_sg_set(group_id), {})
        doc.set(_sg_set(group_id), "ipv4_addr", [members[k] for k in sorted(members)])


def _base_rules(doc: _Doc, wild: str) -> None:
    from_att = _match(_meta("iifname"), wild)
    to_att = _match(_meta("oifname"), wild)
    reply = _ct("established", "related")
    doc.rule("input", from_att, {"jump": {"target": "guard"}})
    doc.rule("input", from_att, reply, _ACCEPT, comment="replies to the host (attached hosts)")
    doc.rule("input", from_att, _DROP, comment="sandboxes never reach the host itself")

    doc.rule("output", to_att, reply, _ACCEPT)
    doc.rule(
        "output",
        _match(_ifaddr("oifname"), "@" + SET_HOSTS),
        _ACCEPT,
        comment="the host may connect to attached hosts",
    )
    doc.rule("output", to_att, _DROP, comment="never into sandbox ENIs")

    doc.rule("forward", from_att, {"jump": {"target": "guard"}})
    doc.rule("forward", from_att, _goto("from_att"))
    doc.rule("forward", to_att, reply, _ACCEPT)
    doc.rule("forward", to_att, _DROP, comment="nothing inbound from outside")

    doc.rule(
        "postrouting",
        _match(_meta("oifname"), wild, "!="),
        _match(_ip("saddr"), "@" + SET_NAT),
        {"masquerade": None},
        comment="default network and NAT-gateway subnets",
    )


def _guard_rules(doc: _Doc) -> None:
    """Jumped to for every packet from an attachment; returns only if it may go on."""
    doc.rule("guard", _match(_meta("nfproto"), "ipv4", "!="), _DROP, comment="IPv4 only")
    doc.rule(
        "guard",
        _match(_ifaddr("iifname"), "@" + SET_ATTACHMENTS, "!="),
        _DROP,
        comment="anti-spoofing; also unknown interfaces",
    )
    doc.rule("from_att", _ct("established", "related"), _ACCEPT)
    doc.rule("from_att", _ct("invalid"), _DROP)
    doc.rule("from_att", _match(_ip("daddr"), _net(LINK_LOCAL)), _DROP, comment="link-local")
    doc.rule("from_att", {"vmap": {"key": _meta("iifname"), "data": "@" + MAP_EGRESS}})
    doc.rule("from_att", _DROP, comment="no egress profile")


def _default_rules(doc: _Doc, wild: str) -> None:
    chain = "eg_default"
    doc.rule(chain, _match(_meta("oifname"), wild), _DROP, comment="default network: no peers")
    doc.rule(chain, _match(_ip("daddr"), "@" + SET_LOCAL), _DROP, comment="unassigned address")
    doc.rule(chain, _ACCEPT, comment="default network: internet, masqueraded")


def _egress_rules(doc: _Doc, chain: str, profile: _Egress, vpc: Vpc) -> None:
    then = _goto("dst_nat" if profile.nat else "dst_nonat")
    name = f"{profile.vpc_id} {' '.join(profile.groups) or '(no groups)'}"
    if profile.open:
        doc.rule(chain, then, comment=f"{name}: attached host, egress open")
        return
    for exprs, comment in _group_matches(vpc, profile.groups, "egress"):
        doc.rule(chain, *exprs, then, comment=comment)
    doc.rule(chain, _DROP, comment=f"{name}: no egress rule matches")


def _destination_rules(doc: _Doc, nat: bool, wild: str) -> None:
    chain = "dst_nat" if nat else "dst_nonat"
    doc.rule(chain, {"vmap": {"key": _meta("oifname"), "data": "@" + MAP_INGRESS}})
    doc.rule(chain, _match(_meta("oifname"), wild), _DROP, comment="not an attachment of a VPC")
    doc.rule(chain, _match(_ip("daddr"), "@" + SET_LOCAL), _DROP, comment="unassigned address")
    if nat:
        doc.rule(chain, _ACCEPT, comment="internet through the subnet's NAT gateway")
    else:
        doc.rule(chain, _DROP, comment="no NAT gateway in this subnet: no internet")


def _ingress_rules(doc: _Doc, chain: str, profile: _Ingress, vpc: Vpc) -> None:
    doc.rule(chain, _match(_ip("saddr"), _net(vpc.cidr), "!="), _DROP, comment="other VPC")
    for exprs, comment in _group_matches(vpc, profile.groups, "ingress"):
        doc.rule(chain, *exprs, _ACCEPT, comment=comment)
    name = f"{profile.vpc_id} {' '.join(profile.groups) or '(no groups)'}"
    doc.rule(chain, _DROP, comment=f"{name}: no ingress rule matches")


def _group_matches(
    vpc: Vpc, groups: tuple[str, ...], direction: Literal["egress", "ingress"]
) -> list[tuple[list[Json], str]]:
    """The match expressions of every rule of `groups` in one direction, each with its comment;
    the same rule in two groups is one rule here."""
    peer: Literal["saddr", "daddr"] = "daddr" if direction == "egress" else "saddr"
    seen: set[str] = set()
    out: list[tuple[list[Json], str]] = []
    for group_id in groups:
        group = vpc.security_group(group_id)
        assert group is not None  # _check made sure
        rules = group.egress if direction == "egress" else group.ingress
        for j, rule in enumerate(rules):
            exprs = _rule_match(rule, peer)
            if repr(exprs) not in seen:
                seen.add(repr(exprs))
                out.append((exprs, f"{group_id} {direction}[{j}]"))
    return out


def _rule_match(rule: Rule, peer: Literal["saddr", "daddr"]) -> list[Json]:
    """The matches of one security-group rule; `peer` is the other side's address field."""
    exprs: list[Json] = []
    if rule.cidr is not None and rule.cidr.prefixlen > 0:
        exprs.append(_match(_ip(peer), _net(rule.cidr)))
    elif rule.group is not None:
        exprs.append(_match(_ip(peer), "@" + _sg_set(rule.group)))
    if rule.protocol in ("tcp", "udp") and rule.from_port is not None:
        to_port = rule.to_port if rule.to_port is not None else rule.from_port
        ports: object = rule.from_port
        if to_port != rule.from_port:
            ports = {"range": [rule.from_port, to_port]}
        exprs.append(_match({"payload": {"protocol": rule.protocol, "field": "dport"}}, ports))
    elif rule.protocol != "all":
        exprs.append(_match(_meta("l4proto"), rule.protocol))
    return exprs


def _egress_of(att: Attachment, vpcs: dict[str, Vpc]) -> _Egress:
    assert att.vpc_id is not None and att.subnet_id is not None
    subnet = vpcs[att.vpc_id].subnet(att.subnet_id)
    assert subnet is not None  # _check made sure
    groups = tuple(sorted(att.security_groups))
    return _Egress(
        vpc_id=att.vpc_id,
        nat=subnet.nat_gateway,
        groups=groups,
        open=att.kind == "host" and not groups,
    )


def _ingress_of(att: Attachment) -> _Ingress:
    assert att.vpc_id is not None
    return _Ingress(vpc_id=att.vpc_id, groups=tuple(sorted(att.security_groups)))


# -- consistency of the state ----------------------------------------------------------------


def _check_table(table: str) -> None:
    if not _TABLE.fullmatch(table):
        raise FirewallStateError(f"table name {table!r} must match {_TABLE.pattern}")


def _check(state: FirewallState) -> None:
    _check_table(state.table)
    if not re.fullmatch(f"{_IF_CHARS}{{1,{IFNAME_MAX - 1}}}", state.if_prefix):
        raise FirewallStateError(f"interface prefix {state.if_prefix!r} is not usable")
    check_vpc_set(state.vpcs, reserved=(state.default_cidr,))
    vpcs = {v.id: v for v in state.vpcs}
    ifname = re.compile(re.escape(state.if_prefix) + f"{_IF_CHARS}+")
    names: set[str] = set()
    addresses: set[IPv4Address] = set()
    for att in state.attachments:
        where = f"attachment {att.ifname}"
        if not ifname.fullmatch(att.ifname) or len(att.ifname) > IFNAME_MAX:
            raise FirewallStateError(f"{where}: name must be {state.if_prefix}… (<= 15 chars)")
        if att.ifname in names or att.address in addresses:
            raise FirewallStateError(f"{where}: name or address {att.address} used twice")
        names.add(att.ifname)
        addresses.add(att.address)
        if att.kind not in ("eni", "host"):
            raise FirewallStateError(f"{where}: kind {att.kind!r} is not eni or host")
        if att.vpc_id is None:
            if att.subnet_id is not None or att.security_groups:
                raise FirewallStateError(f"{where}: default network has no subnet nor groups")
            if att.address not in state.default_cidr:
                raise FirewallStateError(f"{where}: {att.address} not in {state.default_cidr}")
            continue
        vpc = vpcs.get(att.vpc_id)
        subnet = None if vpc is None or att.subnet_id is None else vpc.subnet(att.subnet_id)
        if vpc is None or subnet is None:
            raise FirewallStateError(f"{where}: no subnet {att.subnet_id} in {att.vpc_id}")
        if att.address not in subnet.cidr:
            raise FirewallStateError(f"{where}: {att.address} not in {subnet.id} {subnet.cidr}")
        unknown = [g for g in att.security_groups if vpc.security_group(g) is None]
        if unknown or len(set(att.security_groups)) != len(att.security_groups):
            raise FirewallStateError(f"{where}: bad security groups {att.security_groups}")
