"""VPC documents: parsing, every kind of error, canonical form, checks across VPCs."""

from __future__ import annotations

import copy
import json
import tomllib
from ipaddress import IPv4Address, IPv4Network
from typing import Any

import pytest

from netns.errors import NetnsError, VpcConfigError
from netns.model import (
    Rule,
    SecurityGroup,
    Subnet,
    Vpc,
    check_vpc_set,
    parse_vpc,
    usable_count,
    usable_hosts,
    vpc_to_doc,
)


def doc() -> dict[str, Any]:
    return {
        "id": "vpc-dev",
        "cidr": "10.0.0.0/16",
        "subnets": [
            {"id": "subnet-app", "cidr": "10.0.1.0/24"},
            {"id": "subnet-pub", "cidr": "10.0.2.0/24", "nat_gateway": True},
        ],
        "security_groups": [
            {
                "id": "sg-app",
                "description": "functions",
                "ingress": [{"protocol": "tcp", "ports": "8000-8080", "group": "sg-app"}],
            },
            {
                "id": "sg-db",
                "ingress": [
                    {"protocol": "tcp", "ports": 5432, "group": "sg-app", "description": "pg"},
                    {"protocol": "icmp", "cidr": "10.0.0.1/16"},
                ],
                "egress": [],
            },
        ],
    }


def test_a_valid_document() -> None:
    vpc = parse_vpc(doc())
    assert vpc.id == "vpc-dev"
    assert vpc.cidr == IPv4Network("10.0.0.0/16")
    assert vpc.subnets == (
        Subnet(id="subnet-app", vpc_id="vpc-dev", cidr=IPv4Network("10.0.1.0/24")),
        Subnet(
            id="subnet-pub", vpc_id="vpc-dev", cidr=IPv4Network("10.0.2.0/24"), nat_gateway=True
        ),
    )
    app = vpc.security_group("sg-app")
    db = vpc.security_group("sg-db")
    assert app is not None
    assert db is not None
    assert app.description == "functions"
    assert app.ingress == (Rule(protocol="tcp", from_port=8000, to_port=8080, group="sg-app"),)
    # egress absent: AWS's default, everything anywhere
    assert app.egress == (Rule(protocol="all", cidr=IPv4Network("0.0.0.0/0")),)
    assert db.egress == ()
    assert db.ingress == (
        Rule(protocol="tcp", from_port=5432, to_port=5432, group="sg-app", description="pg"),
        # a rule's cidr is normalised to its network
        Rule(protocol="icmp", cidr=IPv4Network("10.0.0.0/16")),
    )
    assert vpc.subnet("subnet-pub") == vpc.subnets[1]
    assert vpc.subnet("subnet-nope") is None
    assert vpc.security_group("sg-nope") is None


def test_minimal_document_and_default_id() -> None:
    assert parse_vpc({"cidr": "10.9.0.0/16"}, default_id="vpc-x") == Vpc(
        id="vpc-x", cidr=IPv4Network("10.9.0.0/16")
    )
    # an explicit id wins over the default
    assert parse_vpc({"id": "vpc-y", "cidr": "10.9.0.0/16"}, default_id="vpc-x").id == "vpc-y"


@pytest.mark.parametrize(
    ("text", "protocol"),
    [
        *[("tcp", "tcp"), ("6", "tcp"), ("udp", "udp"), ("17", "udp")],
        *[("icmp", "icmp"), ("1", "icmp"), ("all", "all"), ("-1", "all")],
    ],
)
def test_protocol_names_and_numbers(text: str, protocol: str) -> None:
    d = doc()
    d["security_groups"][1]["egress"] = [{"protocol": text, "cidr": "0.0.0.0/0"}]
    group = parse_vpc(d).security_group("sg-db")
    assert group is not None
    assert group.egress[0].protocol == protocol


def test_same_document_from_toml() -> None:
    text = """
    [[vpc]]
    id = "vpc-dev"
    cidr = "10.0.0.0/16"
    subnets = [{ id = "subnet-app", cidr = "10.0.1.0/24" },
               { id = "subnet-pub", cidr = "10.0.2.0/24", nat_gateway = true }]

    [[vpc.security_groups]]
    id = "sg-app"
    description = "functions"
    ingress = [{ protocol = "tcp", ports = "8000-8080", group = "sg-app" }]

    [[vpc.security_groups]]
    id = "sg-db"
    ingress = [{ protocol = "tcp", ports = 5432, group = "sg-app", description = "pg" },
               { protocol = "icmp", cidr = "10.0.0.1/16" }]
    egress = []
    """
    (vpc_doc,) = tomllib.loads(text)["vpc"]
    assert parse_vpc(vpc_doc) == parse_vpc(doc())


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        # the document itself, ids
        (lambda d: d.pop("id"), r"^vpc: id is required"),
        (lambda d: d.update(id="VPC-dev"), r"^vpc: id 'VPC-dev' must match"),
        (lambda d: d.update(id="vpc-dev\n"), r"id 'vpc-dev\\n' must match"),
        (lambda d: d.update(id=7), r"id must be a string, not a number"),
        (lambda d: d.update(color="red"), r"^vpc-dev: has unknown key\(s\): color"),
        # the VPC's CIDR
        (lambda d: d.pop("cidr"), r"^vpc-dev: cidr is required"),
        (lambda d: d.update(cidr="10.0.0.0"), r"cidr '10.0.0.0' is not an IPv4 network"),
        (lambda d: d.update(cidr="10.0.0/16"), r"cidr '10.0.0/16' is not an IPv4 network"),
        (lambda d: d.update(cidr="fd00::/48"), r"cidr 'fd00::/48' is not an IPv4 network"),
        (lambda d: d.update(cidr="10.0.0.1/16"), r"10.0.0.1/16 has host bits set .*10.0.0.0/16"),
        (lambda d: d.update(cidr="10.0.0.0/8"), r"cidr 10.0.0.0/8 must have a prefix length"),
        (lambda d: d.update(cidr="10.0.0.0/29"), r"cidr 10.0.0.0/29 must have a prefix length"),
        # subnets
        (lambda d: d.update(subnets="subnet-app"), r"subnets must be a list, not a string"),
        (lambda d: d.update(subnets={"id": "x"}), r"subnets must be a list, not an object"),
        (lambda d: d["subnets"].append("subnet-x"), r"subnets\[2\] must be an object"),
        (
            lambda d: d["subnets"][1].update(cidr="10.1.0.0/24"),
            r"^vpc-dev: subnets\[1\].cidr 10.1.0.0/24 is not inside the VPC's 10.0.0.0/16$",
        ),
        (
            lambda d: d["subnets"][1].update(cidr="10.0.0.0/20"),
            r"subnets\[1\].cidr 10.0.0.0/20 overlaps subnets\[0\] \(subnet-app\) 10.0.1.0/24",
        ),
        (
            lambda d: d["subnets"][1].update(id="subnet-app"),
            r"subnets\[1\].id subnet-app is already used by subnets\[0\]",
        ),
        (lambda d: d["subnets"][0].update(cidr="10.0.1.0/29"), r"must have a prefix length"),
        (lambda d: d["subnets"][0].update(cidr="10.0.1.1/24"), r"has host bits set"),
        (lambda d: d["subnets"][0].pop("id"), r"subnets\[0\].id is required"),
        (lambda d: d["subnets"][0].update(id="sub-1"), r"subnets\[0\].id 'sub-1' must match"),
        # AWS's model takes only subnet-[0-9a-z]* in a function's VpcConfig
        (lambda d: d["subnets"][0].update(id="subnet-a-1"), r"id 'subnet-a-1' must match"),
        (lambda d: d["subnets"][0].update(nat_gateway="yes"), r"nat_gateway must be true or"),
        (lambda d: d["subnets"][0].update(public=True), r"subnets\[0\] has unknown key.*public"),
        # security groups
        (lambda d: d.update(security_groups=None), r"security_groups must be a list, not null"),
        (lambda d: d["security_groups"][1].update(id="sg-app"), r"sg-app is already used"),
        (lambda d: d["security_groups"][0].update(id="sg_app"), r"id 'sg_app' must match"),
        (lambda d: d["security_groups"][0].update(id="sg-b-open"), r"id 'sg-b-open' must match"),
        (lambda d: d["security_groups"][0].update(ingress="all"), r"ingress must be a list"),
        (lambda d: d["security_groups"][0].update(rules=[]), r"unknown key\(s\): rules"),
        (lambda d: d["security_groups"][0].update(description="x" * 256), r"longer than 255"),
        (lambda d: d["security_groups"][0].update(description=3), r"description must be a str"),
    ],
)
def test_invalid_documents(mutate: Any, match: str) -> None:
    d = doc()
    mutate(d)
    with pytest.raises(VpcConfigError, match=match):
        parse_vpc(d)


@pytest.mark.parametrize(
    ("rule", "match"),
    [
        ({"protocol": "gre", "cidr": "0.0.0.0/0"}, r"protocol 'gre' must be one of"),
        ({"protocol": 6, "cidr": "0.0.0.0/0"}, r"protocol must be a string"),
        ({"cidr": "0.0.0.0/0"}, r"protocol is required"),
        ({"protocol": "tcp"}, r"ingress\[0\] needs exactly one of"),
        ({"protocol": "tcp", "cidr": "0.0.0.0/0", "group": "sg-app"}, r"exactly one of"),
        ({"protocol": "tcp", "group": "sg-nope"}, r"group sg-nope is not a security group of"),
        ({"protocol": "tcp", "group": "default"}, r"group 'default' must match"),
        ({"protocol": "tcp", "cidr": "10.0.0.0"}, r"cidr '10.0.0.0' is not an IPv4 network"),
        ({"protocol": "tcp", "cidr": "::/0"}, r"cidr '::/0' is not an IPv4 network"),
        ({"protocol": "tcp", "cidr": "10.0.0.0/33"}, r"is not an IPv4 network"),
        ({"protocol": "tcp", "cidr": ["10.0.0.0/8"]}, r"cidr must be a string, not a list"),
        ({"protocol": "tcp", "ports": "0", "cidr": "0.0.0.0/0"}, r"within 1..65535"),
        ({"protocol": "tcp", "ports": 65536, "cidr": "0.0.0.0/0"}, r"within 1..65535"),
        ({"protocol": "tcp", "ports": "200-100", "cidr": "0.0.0.0/0"}, r"lowest first"),
        ({"protocol": "tcp", "ports": "80-", "cidr": "0.0.0.0/0"}, r"must be a port"),
        ({"protocol": "tcp", "ports": " 80", "cidr": "0.0.0.0/0"}, r"must be a port"),
        ({"protocol": "tcp", "ports": True, "cidr": "0.0.0.0/0"}, r"must be a port"),
        ({"protocol": "tcp", "ports": 80.0, "cidr": "0.0.0.0/0"}, r"must be a port"),
        ({"protocol": "tcp", "ports": [80], "cidr": "0.0.0.0/0"}, r"must be a port"),
        ({"protocol": "icmp", "ports": 8, "cidr": "0.0.0.0/0"}, r"only allowed for tcp and udp"),
        ({"protocol": "-1", "ports": 8, "cidr": "0.0.0.0/0"}, r"only allowed for tcp and udp"),
        ({"protocol": "tcp", "cidr": "0.0.0.0/0", "port": 80}, r"unknown key\(s\): port"),
        ({"protocol": "tcp", "cidr": "0.0.0.0/0", "description": None}, r"must be a string"),
        ("tcp", r"ingress\[0\] must be an object, not a string"),
    ],
)
def test_invalid_rules(rule: object, match: str) -> None:
    d = doc()
    d["security_groups"][0]["ingress"] = [rule]
    with pytest.raises(VpcConfigError, match=r"^vpc-dev: security_groups\[0\]\.ingress\[0\]"):
        parse_vpc(d)
    with pytest.raises(VpcConfigError, match=match):
        parse_vpc(d)


def test_an_unknown_group_is_named_with_its_path() -> None:
    d = doc()
    d["security_groups"][1]["egress"] = [{"protocol": "all", "cidr": "0.0.0.0/0"}]
    d["security_groups"][1]["egress"].append({"protocol": "udp", "group": "sg-gone"})
    with pytest.raises(VpcConfigError) as info:
        parse_vpc(d)
    assert str(info.value) == (
        "vpc-dev: security_groups[1].egress[1].group sg-gone is not a security group of vpc-dev"
    )


def test_duplicate_rules_are_refused_even_with_other_descriptions() -> None:
    d = doc()
    rule = {"protocol": "tcp", "ports": "80", "cidr": "10.0.0.0/8"}
    d["security_groups"][0]["egress"] = [rule, {**rule, "ports": 80, "description": "again"}]
    with pytest.raises(VpcConfigError, match=r"egress\[1\] duplicates egress\[0\]"):
        parse_vpc(d)


def test_a_document_that_is_not_an_object() -> None:
    with pytest.raises(VpcConfigError, match=r"^vpc: must be an object, not a list"):
        parse_vpc([], default_id="vpc-x")  # type: ignore[arg-type]


def test_no_id_anywhere_and_bad_default_id() -> None:
    with pytest.raises(VpcConfigError, match="id is required"):
        parse_vpc({"cidr": "10.0.0.0/16"})
    with pytest.raises(VpcConfigError, match="id 'nope' must match"):
        parse_vpc({"cidr": "10.0.0.0/16"}, default_id="nope")


def test_errors_share_the_package_base() -> None:
    assert issubclass(VpcConfigError, NetnsError)


def test_round_trip_through_the_canonical_form() -> None:
    vpc = parse_vpc(doc())
    out = vpc_to_doc(vpc)
    assert parse_vpc(out) == vpc
    assert json.loads(json.dumps(out)) == out  # JSON-ready
    assert vpc_to_doc(parse_vpc(out)) == out
    groups: Any = out["security_groups"]
    assert groups[0] == {
        "id": "sg-app",
        "description": "functions",
        "ingress": [{"protocol": "tcp", "ports": "8000-8080", "group": "sg-app"}],
        "egress": [{"protocol": "all", "cidr": "0.0.0.0/0"}],  # always written out
    }
    assert groups[1]["ingress"] == [
        {"protocol": "tcp", "ports": "5432", "group": "sg-app", "description": "pg"},
        {"protocol": "icmp", "cidr": "10.0.0.0/16"},
    ]
    assert groups[1]["egress"] == []


def test_round_trip_of_numeric_protocols_gives_names() -> None:
    d = doc()
    d["security_groups"][1]["egress"] = [{"protocol": "17", "ports": 53, "cidr": "0.0.0.0/0"}]
    out: Any = vpc_to_doc(parse_vpc(d))
    assert out["security_groups"][1]["egress"] == [
        {"protocol": "udp", "ports": "53", "cidr": "0.0.0.0/0"}
    ]


def test_parsing_does_not_modify_the_document() -> None:
    d = doc()
    before = copy.deepcopy(d)
    parse_vpc(d)
    assert d == before


def vpc(vpc_id: str, cidr: str, *, subnet: str = "", group: str = "") -> Vpc:
    net = IPv4Network(cidr)
    return Vpc(
        id=vpc_id,
        cidr=net,
        subnets=(Subnet(id=subnet, vpc_id=vpc_id, cidr=net),) if subnet else (),
        security_groups=(SecurityGroup(id=group),) if group else (),
    )


def test_check_vpc_set_accepts_disjoint_vpcs() -> None:
    check_vpc_set(
        [
            vpc("vpc-a", "10.0.0.0/16", subnet="subnet-a", group="sg-a"),
            vpc("vpc-b", "10.1.0.0/16", subnet="subnet-b", group="sg-b"),
        ],
        reserved=[IPv4Network("10.200.0.0/16")],
    )
    check_vpc_set([])


@pytest.mark.parametrize(
    ("vpcs", "match"),
    [
        (
            [vpc("vpc-a", "10.0.0.0/16"), vpc("vpc-b", "10.0.128.0/17")],
            r"^vpc-b: cidr 10.0.128.0/17 overlaps vpc-a's 10.0.0.0/16$",
        ),
        (
            [vpc("vpc-a", "10.0.0.0/16"), vpc("vpc-a", "10.1.0.0/16")],
            r"^vpc-a: id vpc-a is already used",
        ),
        (
            [
                vpc("vpc-a", "10.0.0.0/16", subnet="subnet-x"),
                vpc("vpc-b", "10.1.0.0/16", subnet="subnet-x"),
            ],
            r"^vpc-b: id subnet-x is already used by vpc-a$",
        ),
        (
            [vpc("vpc-a", "10.0.0.0/16", group="sg-x"), vpc("vpc-b", "10.1.0.0/16", group="sg-x")],
            r"^vpc-b: id sg-x is already used by vpc-a$",
        ),
        (
            [vpc("vpc-a", "10.0.0.0/16"), vpc("vpc-b", "10.200.0.0/16")],
            r"^vpc-b: cidr 10.200.0.0/16 overlaps the reserved network 10.200.0.0/16$",
        ),
    ],
)
def test_check_vpc_set_errors(vpcs: list[Vpc], match: str) -> None:
    with pytest.raises(VpcConfigError, match=match):
        check_vpc_set(vpcs, reserved=[IPv4Network("10.200.0.0/16")])


@pytest.mark.parametrize(
    ("cidr", "first", "last", "count"),
    [
        ("10.0.1.0/24", "10.0.1.4", "10.0.1.254", 251),
        ("10.0.0.0/16", "10.0.0.4", "10.0.255.254", 65531),
        ("10.0.1.16/28", "10.0.1.20", "10.0.1.30", 11),
    ],
)
def test_usable_hosts(cidr: str, first: str, last: str, count: int) -> None:
    net = IPv4Network(cidr)
    assert usable_hosts(net) == (IPv4Address(first), IPv4Address(last))
    assert usable_count(net) == count


def test_usable_hosts_refuses_subnets_smaller_than_aws_allows() -> None:
    with pytest.raises(ValueError, match="smaller than a /28"):
        usable_hosts(IPv4Network("10.0.0.0/29"))
