"""A reloaded configuration's [[vpc]] documents: all or nothing, in-use parts kept, the
firewall applied (nft replaced by a recorder)."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
import trio

from engine.config import Config, NetworkConfig
from engine.errors import ConfigError
from engine.network.service import NetworkService
from engine.registry.registry import Registry
from netns.model import Vpc, parse_vpc
from tests.unit.engine.events.helpers import config as function_config
from tests.unit.engine.network.test_vpcs import DOC, RecordingNft


def vpc(vpc_id: str, cidr: str, *subnets: tuple[str, str]) -> Vpc:
    return parse_vpc(
        {
            "id": vpc_id,
            "cidr": cidr,
            "subnets": [{"id": s, "cidr": c} for s, c in subnets],
            "security_groups": [{"id": "sg-cfg" + vpc_id.removeprefix("vpc-")}],
        }
    )


A = vpc("vpc-a", "10.1.0.0/16", ("subnet-a1", "10.1.1.0/24"), ("subnet-a2", "10.1.2.0/24"))
B = vpc("vpc-b", "10.2.0.0/16", ("subnet-b1", "10.2.1.0/24"))


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(tmp_path / "state", region="us-east-1") as reg:
        yield reg


def service(
    registry: Registry, nursery: trio.Nursery, *, subnets_in_use: tuple[str, ...] = ()
) -> tuple[NetworkService, RecordingNft]:
    fn = dataclasses.replace(function_config("fn"), subnet_ids=subnets_in_use)
    nft = RecordingNft()
    svc = NetworkService(
        config=Config(network=NetworkConfig(), vpcs=(A,)),
        registry=registry,
        nursery=nursery,
        functions=lambda: [fn],
        run_nft=nft,
    )
    svc.vpcs.load()
    return svc, nft


async def test_added_changed_and_removed_vpcs_take_effect(registry: Registry) -> None:
    async with trio.open_nursery() as nursery:
        svc, nft = service(registry, nursery)
        smaller_a = vpc("vpc-a", "10.1.0.0/16", ("subnet-a1", "10.1.1.0/24"))
        await svc.vpcs.replace_config([smaller_a, B])
        assert [v["id"] for v in svc.list_vpcs()] == ["vpc-a", "vpc-b"]
        assert all(v["source"] == "config" for v in svc.list_vpcs())
        assert set(svc.vpcs.addresses) == {None, "subnet-a1", "subnet-b1"}
        assert nft.applied  # the firewall follows
        await svc.vpcs.replace_config([B])
        assert [v["id"] for v in svc.list_vpcs()] == ["vpc-b"]
        assert set(svc.vpcs.addresses) == {None, "subnet-b1"}
        nursery.cancel_scope.cancel()


async def test_a_subnet_in_use_refuses_the_whole_set(registry: Registry) -> None:
    async with trio.open_nursery() as nursery:
        svc, nft = service(registry, nursery, subnets_in_use=("subnet-a2",))
        smaller_a = vpc("vpc-a", "10.1.0.0/16", ("subnet-a1", "10.1.1.0/24"))
        with pytest.raises(ConfigError, match="in use by function fn"):
            await svc.vpcs.replace_config([smaller_a, B])
        assert [v["id"] for v in svc.list_vpcs()] == ["vpc-a"]
        assert nft.applied == []
        nursery.cancel_scope.cancel()


async def test_a_refused_firewall_or_a_clash_changes_nothing(registry: Registry) -> None:
    async with trio.open_nursery() as nursery:
        svc, nft = service(registry, nursery)
        await svc.put_vpc("vpc-api", dict(DOC))
        before = svc.list_vpcs()
        nft.refuse = True
        with pytest.raises(ConfigError, match="firewall refused"):
            await svc.vpcs.replace_config([A, B])
        assert svc.list_vpcs() == before
        nft.refuse = False
        same_id = vpc("vpc-api", "10.7.0.0/16")
        with pytest.raises(ConfigError, match="made through the API"):
            await svc.vpcs.replace_config([A, same_id])
        overlapping = vpc("vpc-c", "10.0.0.0/16")  # the API VPC's addresses
        with pytest.raises(ConfigError, match="overlap"):
            await svc.vpcs.replace_config([A, overlapping])
        assert svc.list_vpcs() == before
        nursery.cancel_scope.cancel()
