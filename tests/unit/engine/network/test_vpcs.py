"""VPC management on the network service, with nft replaced by a recorder (no kernel)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import trio

from engine.config import Config, NetworkConfig
from engine.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ServiceException,
)
from engine.network.service import NetworkService
from engine.registry.registry import Registry
from netns.errors import NetnsError
from netns.model import parse_vpc

DOC = {
    "cidr": "10.0.0.0/16",
    "subnets": [{"id": "subnet-a", "cidr": "10.0.1.0/24"}],
    "security_groups": [{"id": "sg-a"}],
}


class RecordingNft:
    """nft as a list of documents, or refusing when told to."""

    def __init__(self) -> None:
        self.refuse = False
        self.applied: list[dict[str, Any]] = []

    async def __call__(self, doc: dict[str, Any]) -> None:
        if self.refuse:
            raise NetnsError("nft refused: a test said so")
        self.applied.append(doc)


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(tmp_path / "state", region="us-east-1") as reg:
        yield reg


def service(registry: Registry, nursery: trio.Nursery) -> tuple[NetworkService, RecordingNft]:
    config = Config(network=NetworkConfig())
    nft = RecordingNft()
    svc = NetworkService(
        config=config, registry=registry, nursery=nursery, functions=list, run_nft=nft
    )
    return svc, nft


async def test_a_vpc_is_stored_and_its_rules_applied(registry: Registry) -> None:
    async with trio.open_nursery() as nursery:
        svc, nft = service(registry, nursery)
        got = await svc.put_vpc("vpc-a", dict(DOC))
        assert got["source"] == "api"
        assert svc.registry.documents("vpc")[0]["id"] == "vpc-a"
        commands = nft.applied[-1]["nftables"]
        sets = [c["add"]["set"]["name"] for c in commands if "set" in c.get("add", {})]
        assert any("sg" in name for name in sets)


async def test_a_change_the_firewall_refuses_leaves_everything_as_it_was(
    registry: Registry,
) -> None:
    async with trio.open_nursery() as nursery:
        svc, nft = service(registry, nursery)
        await svc.put_vpc("vpc-a", dict(DOC))
        nft.refuse = True
        bigger = {
            **DOC,
            "subnets": [
                {"id": "subnet-a", "cidr": "10.0.1.0/24"},
                {"id": "subnet-b", "cidr": "10.0.2.0/24"},
            ],
        }
        with pytest.raises(ServiceException, match="firewall refused"):
            await svc.put_vpc("vpc-a", bigger)
        assert [s["id"] for s in svc.get_vpc("vpc-a")["subnets"]] == ["subnet-a"]
        assert [s["id"] for s in svc.registry.documents("vpc")[0]["subnets"]] == ["subnet-a"]
        with pytest.raises(ServiceException):
            await svc.put_vpc("vpc-new", {"cidr": "10.9.0.0/16"})
        assert [v["id"] for v in svc.list_vpcs()] == ["vpc-a"]
        with pytest.raises(ServiceException):
            await svc.delete_vpc("vpc-a")
        assert [v["id"] for v in svc.registry.documents("vpc")] == ["vpc-a"]


async def test_bad_documents_and_config_vpcs_are_refused(registry: Registry) -> None:
    async with trio.open_nursery() as nursery:
        svc, nft = service(registry, nursery)
        with pytest.raises(InvalidParameterValueException, match="does not match"):
            await svc.put_vpc("vpc-a", {**DOC, "id": "vpc-b"})
        with pytest.raises(InvalidParameterValueException, match="overlap"):
            await svc.put_vpc("vpc-a", {"cidr": "10.254.0.0/16"})  # the default network
        declared = parse_vpc({"id": "vpc-c", "cidr": "10.3.0.0/16"})
        svc.vpcs.config_vpcs["vpc-c"] = svc.vpcs.by_id["vpc-c"] = declared
        with pytest.raises(ResourceConflictException, match="configuration file"):
            await svc.delete_vpc("vpc-c")
        assert nft.applied == []  # nothing reached the kernel
