"""The nftables document: structure, determinism, consistency checks, and `nft -c` on it."""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from netns.errors import FirewallStateError, VpcConfigError
from netns.firewall import Attachment, FirewallState, render, render_delete
from netns.model import Vpc, parse_vpc

DEFAULT = IPv4Network("10.200.0.0/16")
BASE_CHAINS = {"input", "output", "forward", "postrouting"}


def dev_vpc() -> Vpc:
    return parse_vpc(
        {
            "id": "vpc-dev",
            "cidr": "10.0.0.0/16",
            "subnets": [
                {"id": "subnet-app", "cidr": "10.0.1.0/24"},
                {"id": "subnet-pub", "cidr": "10.0.2.0/24", "nat_gateway": True},
            ],
            "security_groups": [
                {
                    "id": "sg-app",
                    "ingress": [{"protocol": "tcp", "ports": "8000-8080", "group": "sg-app"}],
                },
                {
                    "id": "sg-db",
                    "ingress": [
                        {"protocol": "tcp", "ports": 5432, "group": "sg-app"},
                        {"protocol": "icmp", "cidr": "10.0.0.0/16"},
                    ],
                    "egress": [],
                },
                {
                    "id": "sg-dns",
                    "egress": [
                        {"protocol": "udp", "ports": "53", "cidr": "0.0.0.0/0"},
                        {"protocol": "all", "cidr": "10.0.5.7/32"},
                        {"protocol": "tcp", "cidr": "192.168.0.0/16"},
                    ],
                },
            ],
        }
    )


def other_vpc() -> Vpc:
    return parse_vpc(
        {
            "id": "vpc-other",
            "cidr": "10.1.0.0/16",
            "subnets": [{"id": "subnet-other", "cidr": "10.1.0.0/20", "nat_gateway": True}],
            "security_groups": [{"id": "sg-other"}],
        }
    )


def eni(name: str, address: str, subnet: str | None = None, *groups: str) -> Attachment:
    vpc_id = None if subnet is None else ("vpc-other" if "other" in subnet else "vpc-dev")
    return Attachment(
        ifname=name,
        address=IPv4Address(address),
        vpc_id=vpc_id,
        subnet_id=subnet,
        security_groups=groups,
    )


def host(name: str, address: str, subnet: str, *groups: str) -> Attachment:
    return dataclasses.replace(eni(name, address, subnet, *groups), kind="host")


def full_state() -> FirewallState:
    return FirewallState(
        table="lambdalet",
        if_prefix="lb-",
        default_cidr=DEFAULT,
        vpcs=(dev_vpc(), other_vpc()),
        attachments=(
            eni("lb-1", "10.200.0.4"),
            eni("lb-2", "10.0.1.4", "subnet-app", "sg-app"),
            host("lb-3", "10.0.1.5", "subnet-app", "sg-db"),
            eni("lb-4", "10.0.2.4", "subnet-pub", "sg-dns", "sg-app"),
            eni("lb-5", "10.0.1.6", "subnet-app", "sg-app"),  # same profile as lb-2
            host("lb-6", "10.1.0.4", "subnet-other"),  # no groups: egress open
            eni("lb-7", "10.200.0.5"),
        ),
    )


def empty_state() -> FirewallState:
    return FirewallState(table="lambdalet", if_prefix="lb-", default_cidr=DEFAULT)


# -- helpers to read the document ------------------------------------------------------------


def adds(document: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [c["add"][kind] for c in document["nftables"] if kind in c.get("add", {})]


def by_name(document: dict[str, Any], kind: str) -> dict[str, dict[str, Any]]:
    return {o["name"]: o for o in adds(document, kind)}


def rules(document: dict[str, Any], chain: str) -> list[dict[str, Any]]:
    return [r for r in adds(document, "rule") if r["chain"] == chain]


def walk(value: object) -> Iterator[object]:
    yield value
    if isinstance(value, dict):
        for v in value.values():
            yield from walk(v)
    elif isinstance(value, list):
        for v in value:
            yield from walk(v)


def elements(document: dict[str, Any], name: str) -> list[Any]:
    found: list[Any] = {**by_name(document, "set"), **by_name(document, "map")}[name].get(
        "elem", []
    )
    return found


def concat_elements(document: dict[str, Any], name: str) -> list[tuple[str, str]]:
    return [(e["concat"][0], e["concat"][1]) for e in elements(document, name)]


def map_targets(document: dict[str, Any], name: str) -> dict[str, str]:
    return {key: verdict["goto"]["target"] for key, verdict in elements(document, name)}


def ends_with_verdict(rule: dict[str, Any]) -> bool:
    last = rule["expr"][-1]
    return bool({"accept", "drop", "goto"} & set(last))


# -- structure -------------------------------------------------------------------------------


def test_the_table_is_replaced_in_one_document() -> None:
    commands = render(full_state())["nftables"]
    table = {"family": "inet", "name": "lambdalet"}
    assert commands[:3] == [
        {"add": {"table": table}},
        {"delete": {"table": table}},
        {"add": {"table": table}},
    ]
    # nothing else in the document names another table or family
    for command in commands[3:]:
        (obj,) = next(iter(command.values())).values()
        assert (obj["family"], obj["table"]) == ("inet", "lambdalet")


def test_render_delete_adds_first_so_the_delete_cannot_fail() -> None:
    table = {"family": "inet", "name": "lambdalet"}
    assert render_delete("lambdalet") == {
        "nftables": [{"add": {"table": table}}, {"delete": {"table": table}}]
    }
    with pytest.raises(FirewallStateError, match="table name"):
        render_delete("Bad-Name")


def test_base_chains_hooks_priorities_and_policies() -> None:
    chains = by_name(render(full_state()), "chain")
    hooked = {
        n: (c["type"], c["hook"], c["prio"], c["policy"]) for n, c in chains.items() if "hook" in c
    }
    assert hooked == {
        "input": ("filter", "input", 0, "accept"),
        "output": ("filter", "output", 0, "accept"),
        "forward": ("filter", "forward", 0, "accept"),
        "postrouting": ("nat", "postrouting", 100, "accept"),
    }


def test_sets_hold_the_right_elements() -> None:
    document = render(full_state())
    assert concat_elements(document, "att") == [
        ("lb-1", "10.200.0.4"),
        ("lb-2", "10.0.1.4"),
        ("lb-3", "10.0.1.5"),
        ("lb-4", "10.0.2.4"),
        ("lb-5", "10.0.1.6"),
        ("lb-6", "10.1.0.4"),
        ("lb-7", "10.200.0.5"),
    ]
    assert concat_elements(document, "hosts") == [("lb-3", "10.0.1.5"), ("lb-6", "10.1.0.4")]
    assert elements(document, "sg_app") == ["10.0.1.4", "10.0.1.6", "10.0.2.4"]
    assert elements(document, "sg_db") == ["10.0.1.5"]
    assert elements(document, "sg_dns") == ["10.0.2.4"]
    assert elements(document, "sg_other") == []  # a named set may be empty
    assert "elem" not in by_name(document, "set")["sg_other"]


def test_nat_set_holds_the_default_network_and_nat_subnets_only() -> None:
    document = render(full_state())
    nat = by_name(document, "set")["nat_src"]
    assert nat["flags"] == ["interval"]
    assert nat["elem"] == [
        {"prefix": {"addr": "10.0.2.0", "len": 24}},  # subnet-pub
        {"prefix": {"addr": "10.1.0.0", "len": 20}},  # subnet-other
        {"prefix": {"addr": "10.200.0.0", "len": 16}},  # the default network
    ]
    (masquerade,) = rules(document, "postrouting")
    assert {"masquerade": None} in masquerade["expr"]
    assert {
        "match": {"op": "!=", "left": {"meta": {"key": "oifname"}}, "right": "lb-*"}
    } in masquerade["expr"]


def test_every_reference_names_something_that_exists() -> None:
    for state in (full_state(), empty_state()):
        document = render(state)
        named = set(by_name(document, "set")) | set(by_name(document, "map"))
        chains = set(by_name(document, "chain"))
        for value in walk(document):
            if isinstance(value, str) and value.startswith("@"):
                assert value[1:] in named, value
            if isinstance(value, dict) and ({"goto", "jump"} & set(value)):
                (verdict,) = value.values()
                assert verdict["target"] in chains, value
        for rule in adds(document, "rule"):
            assert rule["chain"] in chains


def test_chains_reached_by_goto_always_end_with_a_verdict() -> None:
    # A chain that ran off its end would return to `forward`, whose policy is accept.
    document = render(full_state())
    for name in by_name(document, "chain"):
        if name in BASE_CHAINS or name == "guard":
            continue
        chain_rules = rules(document, name)
        assert chain_rules, name
        last = chain_rules[-1]
        assert len(last["expr"]) == 1, (name, last)
        assert ends_with_verdict(last), (name, last)


def test_no_anonymous_set_is_empty() -> None:
    for state in (full_state(), empty_state()):
        for value in walk(render(state)):
            if isinstance(value, dict) and "set" in value and not isinstance(value["set"], dict):
                assert value["set"], value


def test_profiles_share_chains_and_route_by_nat() -> None:
    document = render(full_state())
    egress = map_targets(document, "eg_map")
    assert egress["lb-1"] == egress["lb-7"] == "eg_default"
    assert egress["lb-2"] == egress["lb-5"] != egress["lb-3"]
    assert len(set(egress.values())) == 5
    ingress = map_targets(document, "in_map")
    assert set(ingress) == {"lb-2", "lb-3", "lb-4", "lb-5", "lb-6"}  # VPC attachments only
    assert ingress["lb-2"] == ingress["lb-5"]

    def gotos(chain: str) -> set[str]:
        return {
            r["expr"][-1]["goto"]["target"]
            for r in rules(document, chain)
            if "goto" in r["expr"][-1]
        }

    assert gotos(egress["lb-2"]) == {"dst_nonat"}  # subnet-app has no NAT gateway
    assert gotos(egress["lb-4"]) == {"dst_nat"}
    assert rules(document, egress["lb-3"])[-1]["expr"] == [{"drop": None}]  # sg-db: no egress
    assert len(rules(document, egress["lb-3"])) == 1
    # an attached host without security groups: egress open, ingress nothing (but the VPC check)
    assert [r["expr"] for r in rules(document, egress["lb-6"])] == [
        [{"goto": {"target": "dst_nat"}}]
    ]
    assert rules(document, ingress["lb-6"])[-1]["expr"] == [{"drop": None}]
    assert len(rules(document, ingress["lb-6"])) == 2
    assert rules(document, "dst_nat")[-1]["expr"] == [{"accept": None}]
    assert rules(document, "dst_nonat")[-1]["expr"] == [{"drop": None}]


def test_security_group_rules_become_matches() -> None:
    document = render(full_state())
    egress = map_targets(document, "eg_map")
    ingress = map_targets(document, "in_map")
    # lb-4 carries sg-app (egress: everything) and sg-dns
    eg4 = [r["expr"][:-1] for r in rules(document, egress["lb-4"])][:-1]
    assert eg4 == [
        [],  # sg-app's default egress: everything, no match at all
        [_dport("udp", 53)],
        [_addr("daddr", "10.0.5.7")],
        [_addr("daddr", {"prefix": {"addr": "192.168.0.0", "len": 16}}), _l4("tcp")],
    ]
    in3 = [r["expr"] for r in rules(document, ingress["lb-3"])]
    assert in3 == [
        [_addr("saddr", {"prefix": {"addr": "10.0.0.0", "len": 16}}, "!="), {"drop": None}],
        [_addr("saddr", "@sg_app"), _dport("tcp", 5432), {"accept": None}],
        [
            _addr("saddr", {"prefix": {"addr": "10.0.0.0", "len": 16}}),
            _l4("icmp"),
            {"accept": None},
        ],
        [{"drop": None}],
    ]
    in2 = [r["expr"][:-1] for r in rules(document, ingress["lb-2"])]
    assert in2[1] == [_addr("saddr", "@sg_app"), _dport("tcp", {"range": [8000, 8080]})]


def _addr(field: str, right: object, op: str = "==") -> dict[str, Any]:
    return {
        "match": {"op": op, "left": {"payload": {"protocol": "ip", "field": field}}, "right": right}
    }


def _dport(protocol: str, right: object) -> dict[str, Any]:
    left = {"payload": {"protocol": protocol, "field": "dport"}}
    return {"match": {"op": "==", "left": left, "right": right}}


def _l4(protocol: str) -> dict[str, Any]:
    return {"match": {"op": "==", "left": {"meta": {"key": "l4proto"}}, "right": protocol}}


def test_a_rule_shared_by_two_groups_appears_once() -> None:
    state = full_state()
    att = dataclasses.replace(state.attachments[1], security_groups=("sg-app", "sg-dns", "sg-db"))
    document = render(dataclasses.replace(state, attachments=(att,)))
    ingress = rules(document, map_targets(document, "in_map")["lb-2"])
    assert len(ingress) == 1 + 3 + 1  # other-VPC check, sg-app + sg-db rules, final drop


def test_anti_spoofing_comes_before_anything_is_accepted() -> None:
    document = render(full_state())
    guard = [r["expr"] for r in rules(document, "guard")]
    assert guard[0] == [
        {"match": {"op": "!=", "left": {"meta": {"key": "nfproto"}}, "right": "ipv4"}},
        {"drop": None},
    ]
    assert guard[1][0]["match"]["right"] == "@att"
    assert guard[1][0]["match"]["op"] == "!="
    for chain in ("input", "forward"):
        first = rules(document, chain)[0]["expr"]
        assert first[-1] == {"jump": {"target": "guard"}}


def test_empty_state_renders_every_fixed_object() -> None:
    document = render(empty_state())
    assert set(by_name(document, "set")) == {"att", "hosts", "nat_src", "local_nets"}
    assert set(by_name(document, "map")) == {"eg_map", "in_map"}
    assert all("elem" not in m for m in by_name(document, "map").values())
    assert elements(document, "nat_src") == [{"prefix": {"addr": "10.200.0.0", "len": 16}}]
    assert set(by_name(document, "chain")) == BASE_CHAINS | {
        "guard",
        "from_att",
        "eg_default",
        "dst_nat",
        "dst_nonat",
    }


def test_rendering_is_deterministic() -> None:
    state = full_state()
    shuffled = dataclasses.replace(
        state,
        vpcs=state.vpcs[::-1],
        attachments=state.attachments[::-1],
    )
    first = json.dumps(render(state))
    assert json.dumps(render(state)) == first
    assert json.dumps(render(shuffled)) == first


def test_comments_fit_nft_limits() -> None:
    long_id = "sg-" + "a" * 63
    vpc = parse_vpc(
        {
            "id": "vpc-" + "b" * 63,
            "cidr": "10.0.0.0/16",
            "subnets": [{"id": "subnet-a", "cidr": "10.0.0.0/24"}],
            "security_groups": [{"id": long_id}, {"id": "sg-" + "c" * 63}],
        }
    )
    att = Attachment(
        ifname="lb-a",
        address=IPv4Address("10.0.0.9"),
        vpc_id=vpc.id,
        subnet_id="subnet-a",
        security_groups=tuple(g.id for g in vpc.security_groups),
    )
    state = dataclasses.replace(empty_state(), vpcs=(vpc,), attachments=(att,))
    for rule in adds(render(state), "rule"):
        assert len(rule.get("comment", "").encode()) <= 127


# -- inconsistent states ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"table": "lambda-let"}, "table name"),
        ({"if_prefix": "lb*"}, "interface prefix"),
        ({"if_prefix": ""}, "interface prefix"),
        ({"attachments": (eni("eth0", "10.200.0.4"),)}, "name must be lb-"),
        ({"attachments": (eni("lb-", "10.200.0.4"),)}, "name must be lb-"),
        ({"attachments": (eni("lb-0123456789abc", "10.200.0.4"),)}, "name must be lb-"),
        ({"attachments": (eni("lb-1", "10.200.0.4"), eni("lb-1", "10.200.0.5"))}, "used twice"),
        ({"attachments": (eni("lb-1", "10.200.0.4"), eni("lb-2", "10.200.0.4"))}, "used twice"),
        ({"attachments": (eni("lb-1", "10.9.0.4"),)}, "not in 10.200.0.0/16"),
        ({"attachments": (eni("lb-1", "10.0.9.4", "subnet-app"),)}, "not in subnet-app"),
        ({"attachments": (eni("lb-1", "10.0.1.4", "subnet-nope"),)}, "no subnet subnet-nope"),
        ({"attachments": (eni("lb-1", "10.0.1.4", "subnet-app", "sg-x"),)}, "security groups"),
        ({"attachments": (eni("lb-1", "10.1.0.4", "subnet-other", "sg-app"),)}, "security gr"),
        (
            {"attachments": (eni("lb-1", "10.0.1.4", "subnet-app", "sg-app", "sg-app"),)},
            "security groups",
        ),
        (
            {"attachments": (dataclasses.replace(eni("lb-1", "10.200.0.4"), subnet_id="x"),)},
            "default network has no subnet",
        ),
        (
            {"attachments": (dataclasses.replace(eni("lb-1", "10.200.0.4"), kind="vm"),)},  # type: ignore[arg-type]
            "kind 'vm'",
        ),
    ],
)
def test_inconsistent_states_are_refused(change: dict[str, Any], match: str) -> None:
    state = dataclasses.replace(empty_state(), vpcs=(dev_vpc(), other_vpc()))
    with pytest.raises(FirewallStateError, match=match):
        render(dataclasses.replace(state, **change))


def test_a_vpc_overlapping_the_default_network_is_refused() -> None:
    state = dataclasses.replace(empty_state(), default_cidr=IPv4Network("10.0.0.0/8"))
    with pytest.raises(VpcConfigError, match=r"overlaps the reserved network 10\.0\.0\.0/8"):
        render(dataclasses.replace(state, vpcs=(dev_vpc(),)))


# -- the real nft parser and kernel, check mode (nothing is committed) -----------------------


def nft_check(document: dict[str, Any]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["nft", "-c", "-j", "-f", "-"],
        input=json.dumps(document),
        capture_output=True,
        text=True,
        check=False,
        timeout=30,
    )


@pytest.fixture
def nft() -> None:
    if os.geteuid() != 0:
        pytest.skip("nft -c needs root")
    if shutil.which("nft") is None:
        pytest.skip("nft is not installed")


@pytest.mark.privileged
@pytest.mark.usefixtures("nft")
@pytest.mark.parametrize(
    "state",
    [
        empty_state(),
        full_state(),
        dataclasses.replace(full_state(), attachments=()),
        dataclasses.replace(empty_state(), attachments=(eni("lb-1", "10.200.0.4"),)),
        dataclasses.replace(
            full_state(), table="lambdalet_test", if_prefix="lbt3-", default_cidr=DEFAULT
        ),
    ],
    ids=["empty", "full", "vpcs-no-attachments", "default-only", "other-prefix"],
)
def test_nft_accepts_the_document(state: FirewallState) -> None:
    if state.if_prefix != "lb-":
        state = dataclasses.replace(
            state,
            attachments=tuple(
                dataclasses.replace(a, ifname=a.ifname.replace("lb-", state.if_prefix))
                for a in state.attachments
            ),
        )
    result = nft_check(render(state))
    assert result.returncode == 0, result.stderr


@pytest.mark.privileged
@pytest.mark.usefixtures("nft")
def test_nft_accepts_the_delete_document() -> None:
    result = nft_check(render_delete("lambdalet"))
    assert result.returncode == 0, result.stderr
