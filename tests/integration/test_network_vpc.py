"""VPC emulation: subnets, security groups, NAT gateways, attached hosts, errors."""

from __future__ import annotations

import base64
import ipaddress
import json
import socket
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import botocore.exceptions
import pytest

from engine.cli.client import HttpResponse
from tests.integration.conftest import ROLE, Daemon, make_zip
from tests.integration.netfixtures import (
    HOST_ADDR,
    INET_ADDR,
    PROBE,
    Server,
    connect_from,
    fake_internet,
    probe,
    start_server,
)

pytestmark = pytest.mark.privileged

API = "/lambdalet/v1"


@dataclass
class World:
    vpc: str
    vpc2: str
    private: str
    public: str
    tiny: str
    other_vpc_subnet: str
    app: str
    db: str
    other: str
    open_b: str
    db_address: str
    db_netns: str


def put(daemon: Daemon, path: str, doc: dict[str, Any]) -> HttpResponse:
    return daemon.client.json_request("PUT", API + path, doc)


def vpc_docs(n: int) -> tuple[dict[str, Any], dict[str, Any]]:
    a, b = 100 + n % 50, 150 + n % 50
    first = {
        "cidr": f"10.{a}.0.0/16",
        "subnets": [
            {"id": "subnet-private", "cidr": f"10.{a}.1.0/24"},
            {"id": "subnet-public", "cidr": f"10.{a}.2.0/24", "nat_gateway": True},
            {"id": "subnet-tiny", "cidr": f"10.{a}.3.0/28"},
        ],
        "security_groups": [
            {"id": "sg-app", "description": "functions"},
            {
                "id": "sg-db",
                "ingress": [{"protocol": "tcp", "ports": "5432", "group": "sg-app"}],
            },
            {"id": "sg-other"},
        ],
    }
    second = {
        "cidr": f"10.{b}.0.0/16",
        "subnets": [{"id": "subnet-b", "cidr": f"10.{b}.1.0/24", "nat_gateway": True}],
        "security_groups": [
            {"id": "sg-bopen", "ingress": [{"protocol": "all", "cidr": "0.0.0.0/0"}]}
        ],
    }
    return first, second


@pytest.fixture(scope="module")
def internet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from fake_internet(tmp_path_factory.mktemp("inet"))


@pytest.fixture(scope="module")
def world(
    daemon: Daemon, internet: Server, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    first, second = vpc_docs(daemon.n)
    resp = put(daemon, "/vpcs/vpc-main", first)
    assert resp.status == 200, resp.body
    resp = put(daemon, "/vpcs/vpc-second", second)
    assert resp.status == 200, resp.body
    resp = put(
        daemon, "/hosts/db", {"subnet_id": "subnet-private", "security_group_ids": ["sg-db"]}
    )
    assert resp.status == 201, resp.body
    host = resp.json()
    server = start_server(host["netns"], tmp_path_factory.mktemp("db"), ports=(5432, 2222))
    try:
        yield World(
            vpc="vpc-main",
            vpc2="vpc-second",
            private="subnet-private",
            public="subnet-public",
            tiny="subnet-tiny",
            other_vpc_subnet="subnet-b",
            app="sg-app",
            db="sg-db",
            other="sg-other",
            open_b="sg-bopen",
            db_address=host["address"],
            db_netns=host["netns"],
        )
    finally:
        server.stop()
        for name in ("/hosts/db", "/vpcs/vpc-main", "/vpcs/vpc-second"):
            daemon.client.request("DELETE", API + name)


def vpc_function(deploy: Callable[..., str], subnets: list[str], groups: list[str]) -> str:
    return deploy(PROBE, Timeout=15, VpcConfig={"SubnetIds": subnets, "SecurityGroupIds": groups})


def test_security_groups_decide_who_reaches_a_private_database(
    daemon: Daemon, deploy: Callable[..., str], world: World
) -> None:
    app = vpc_function(deploy, [world.private], [world.app])
    other = vpc_function(deploy, [world.private], [world.other])
    out = probe(
        daemon, app, {"tcp": {"db": [world.db_address, 5432], "ssh": [world.db_address, 2222]}}
    )
    assert ipaddress.IPv4Address(out["ip"]) in ipaddress.IPv4Network(
        daemon.client.request("GET", f"{API}/vpcs/vpc-main").json()["subnets"][0]["cidr"]
    )
    assert out["db"] == f"ok:{out['ip']}"  # inside a VPC there is no NAT
    assert out["ssh"].startswith("blocked:")  # sg-db lets in 5432 only
    denied = probe(daemon, other, {"tcp": {"db": [world.db_address, 5432]}})
    assert denied["db"].startswith("blocked:")  # sg-other is not a source sg-db allows


def test_replies_pass_but_the_database_cannot_open_connections_to_functions(
    daemon: Daemon, deploy: Callable[..., str], world: World
) -> None:
    app = vpc_function(deploy, [world.private], [world.app])
    out = probe(daemon, app, {"listen": [8080], "tcp": {"db": [world.db_address, 5432]}})
    assert out["db"].startswith("ok:")
    assert connect_from(world.db_netns, out["ip"], 8080).startswith("blocked:")


def test_a_vpc_function_reaches_the_internet_only_through_a_nat_gateway(
    daemon: Daemon, deploy: Callable[..., str], world: World
) -> None:
    private = vpc_function(deploy, [world.private], [world.app])
    public = vpc_function(deploy, [world.public], [world.app])
    assert probe(daemon, private, {"tcp": {"web": [INET_ADDR, 80]}})["web"].startswith("blocked:")
    out = probe(daemon, public, {"tcp": {"web": [INET_ADDR, 80], "db": [world.db_address, 5432]}})
    assert out["web"] == f"ok:{HOST_ADDR}"
    assert out["db"] == f"ok:{out['ip']}"


def test_nothing_crosses_vpcs_or_comes_from_the_default_network(
    daemon: Daemon, deploy: Callable[..., str], world: World
) -> None:
    default = deploy(PROBE, Timeout=15)
    elsewhere = vpc_function(deploy, [world.other_vpc_subnet], [world.open_b])
    assert probe(daemon, default, {"tcp": {"db": [world.db_address, 5432]}})["db"].startswith(
        "blocked:"
    )
    out = probe(daemon, elsewhere, {"tcp": {"db": [world.db_address, 5432]}, "listen": [8080]})
    assert out["db"].startswith("blocked:")
    # sg-bopen admits everyone, but a function of the other VPC still cannot get in.
    app = vpc_function(deploy, [world.private], [world.app])
    assert probe(daemon, app, {"tcp": {"b": [out["ip"], 8080]}})["b"].startswith("blocked:")


def test_the_host_reaches_an_attached_host(world: World) -> None:
    # Both ports are served (so the "blocked" results above are the firewall's doing).
    for port in (5432, 2222):
        with socket.create_connection((world.db_address, port), timeout=2) as s:
            assert s.recv(64).decode()  # the server answers with our address


def test_boto3_sees_vpc_config_with_its_vpc_id(daemon: Daemon, world: World) -> None:
    lam = daemon.lambda_client()
    name = "vpc-boto3"
    created = lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": base64.b64decode(make_zip({"lambda_function.py": PROBE}))},
        VpcConfig={"SubnetIds": [world.private], "SecurityGroupIds": [world.app]},
    )
    try:
        expected = {
            "SubnetIds": [world.private],
            "SecurityGroupIds": [world.app],
            "VpcId": world.vpc,
            "Ipv6AllowedForDualStack": False,
        }
        assert created["VpcConfig"] == expected
        assert lam.get_function_configuration(FunctionName=name)["VpcConfig"] == expected
        updated = lam.update_function_configuration(
            FunctionName=name, VpcConfig={"SubnetIds": [], "SecurityGroupIds": []}
        )
        # Detached: back on the default network; AWS still shows the emptied VpcConfig.
        assert updated["VpcConfig"] == {
            "SubnetIds": [],
            "SecurityGroupIds": [],
            "VpcId": "",
            "Ipv6AllowedForDualStack": False,
        }
        with pytest.raises(botocore.exceptions.ClientError) as err:
            lam.update_function_configuration(
                FunctionName=name,
                VpcConfig={"SubnetIds": ["subnet-nope"], "SecurityGroupIds": [world.app]},
            )
        assert err.value.response["Error"]["Code"] == "InvalidParameterValueException"
        assert "InvalidSubnetID.NotFound" in err.value.response["Error"]["Message"]
    finally:
        lam.delete_function(FunctionName=name)


_INVALID = "InvalidParameterValueException"


@pytest.mark.parametrize(
    ("vpc_config", "error", "needle"),
    [
        (
            {"SubnetIds": ["subnet-nope"], "SecurityGroupIds": ["sg-app"]},
            _INVALID,
            "InvalidSubnetID.NotFound",
        ),
        (
            {"SubnetIds": ["subnet-private"], "SecurityGroupIds": ["sg-nope"]},
            _INVALID,
            "InvalidGroup.NotFound",
        ),
        (
            {"SubnetIds": ["subnet-private"], "SecurityGroupIds": ["sg-bopen"]},
            _INVALID,
            "InvalidGroup",
        ),
        (
            {"SubnetIds": ["subnet-private", "subnet-b"], "SecurityGroupIds": ["sg-app"]},
            _INVALID,
            "VPCs",
        ),
        ({"SubnetIds": ["subnet-private"], "SecurityGroupIds": []}, _INVALID, "both"),
        (
            {"SubnetIds": ["bad id"], "SecurityGroupIds": ["sg-app"]},
            "ValidationException",
            "Value '[bad id]' at 'vpcConfig.subnetIds' failed to satisfy constraint",
        ),
    ],
)
def test_a_bad_vpc_config_is_refused_at_create(
    daemon: Daemon, world: World, vpc_config: dict[str, Any], error: str, needle: str
) -> None:
    resp = daemon.create("never-made", PROBE, VpcConfig=vpc_config)
    assert resp.status == 400, resp.body
    assert resp.headers["x-amzn-errortype"] == error
    assert needle in resp.json()["message"]


def test_a_full_subnet_fails_the_invoke_with_a_clear_502(
    daemon: Daemon, deploy: Callable[..., str], world: World
) -> None:
    attached: list[str] = []
    try:
        for i in range(11):  # a /28 has 16 addresses; AWS reserves 5
            resp = put(daemon, f"/hosts/filler{i}", {"subnet_id": world.tiny})
            assert resp.status == 201, resp.body
            attached.append(f"filler{i}")
        resp = put(daemon, "/hosts/one-too-many", {"subnet_id": world.tiny})
        assert resp.status == 502, resp.body
        assert resp.headers["x-amzn-errortype"] == "SubnetIPAddressLimitReachedException"
        name = vpc_function(deploy, [world.tiny], [world.app])
        resp = daemon.invoke(name, {})
        assert resp.status == 502, resp.body
        assert resp.headers["x-amzn-errortype"] == "SubnetIPAddressLimitReachedException"
        assert "subnet-tiny" in resp.json()["Message"]
    finally:
        for name in attached:
            daemon.client.request("DELETE", f"{API}/hosts/{name}")


def test_a_vpc_in_use_cannot_be_deleted_or_lose_the_subnet_in_use(
    daemon: Daemon, deploy: Callable[..., str], world: World
) -> None:
    vpc_function(deploy, [world.public], [world.app])
    resp = daemon.client.request("DELETE", f"{API}/vpcs/{world.vpc}")
    assert resp.status == 409, resp.body
    doc = daemon.client.request("GET", f"{API}/vpcs/{world.vpc}").json()
    doc["subnets"] = [s for s in doc["subnets"] if s["id"] != world.public]
    resp = put(daemon, f"/vpcs/{world.vpc}", doc)
    assert resp.status == 409, resp.body
    assert "subnet" in resp.json()["message"] or "function" in resp.json()["message"]


@pytest.mark.parametrize(
    ("doc", "needle"),
    [
        ({"cidr": "10.250.0.0/33"}, "cidr"),
        ({"cidr": "10.250.0.0/16", "subnets": [{"id": "subnet-x", "cidr": "10.9.0.0/24"}]},
         "not inside"),
        ({"cidr": "10.250.0.0/16", "colour": "blue"}, "colour"),
        ({"cidr": "10.250.0.0/16", "security_groups": [
            {"id": "sg-x", "ingress": [{"protocol": "tcp", "ports": "99999", "cidr": "0.0.0.0/0"}]}
        ]}, "port"),
    ],
)  # fmt: skip
def test_a_bad_vpc_document_is_refused_with_the_reason(
    daemon: Daemon, doc: dict[str, Any], needle: str
) -> None:
    resp = put(daemon, "/vpcs/vpc-bad", doc)
    assert resp.status == 400, resp.body
    assert resp.headers["x-amzn-errortype"] == "InvalidParameterValueException"
    assert needle in resp.json()["message"]
    assert daemon.client.request("GET", f"{API}/vpcs/vpc-bad").status == 404


def test_an_overlapping_vpc_is_refused(daemon: Daemon, world: World) -> None:
    taken = daemon.client.request("GET", f"{API}/vpcs/{world.vpc}").json()["cidr"]
    resp = put(daemon, "/vpcs/vpc-overlap", {"cidr": taken})
    assert resp.status == 400, resp.body
    assert "overlap" in json.dumps(resp.json())


def test_a_subnet_removed_from_the_configuration_fails_invokes_with_502(
    daemon_factory: Callable[[], Daemon],
) -> None:
    d = daemon_factory()
    a = 60 + d.n % 40
    declared = f"""
        [[vpc]]
        id = "vpc-gone"
        cidr = "10.{a}.0.0/16"
        [[vpc.subnet]]
        id = "subnet-gone"
        cidr = "10.{a}.1.0/24"
        [[vpc.security_group]]
        id = "sg-gone"
        """
    d.start(extra_toml=declared)
    try:
        vpc = {"SubnetIds": ["subnet-gone"], "SecurityGroupIds": ["sg-gone"]}
        assert d.create("orphan", PROBE, VpcConfig=vpc).status == 201
        assert d.invoke("orphan", {}).status == 200
        d.stop()
        d.start()  # the same state, without the [[vpc]] table
        resp = d.invoke("orphan", {})
        assert resp.status == 502, resp.body
        assert resp.headers["x-amzn-errortype"] == "InvalidSubnetIDException"
        assert "subnet-gone" in resp.json()["Message"]
        d.stop()
        d.start(extra_toml=declared.replace('id = "sg-gone"', 'id = "sg-renamed"'))
        resp = d.invoke("orphan", {})
        assert resp.status == 502, resp.body
        assert resp.headers["x-amzn-errortype"] == "InvalidSecurityGroupIDException"
    finally:
        d.stop()
