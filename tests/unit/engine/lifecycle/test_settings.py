"""Which settings differ between two configurations, and taking some of them."""

from __future__ import annotations

import dataclasses

from engine.config import ConcurrencyConfig, Config, DaemonConfig, SandboxConfig
from engine.lifecycle.settings import changed_settings, take_settings
from netns.model import parse_vpc

VPC = parse_vpc(
    {
        "id": "vpc-1",
        "cidr": "10.20.0.0/16",
        "subnets": [{"id": "subnet-a", "cidr": "10.20.1.0/24"}],
        "security_groups": [{"id": "sg-1"}],
    }
)


def test_nothing_changed() -> None:
    assert changed_settings(Config(), Config()) == []


def test_changes_are_named_by_their_place_in_the_file() -> None:
    old = Config()
    new = Config(
        region="eu-west-1",
        vpcs=(VPC,),
        concurrency=ConcurrencyConfig(account_limit=50, unreserved_minimum=10),
        sandbox=SandboxConfig(prewarm=4),
        daemon=DaemonConfig(log_levels={"engine.sources": "DEBUG"}),
    )
    assert changed_settings(old, new) == [
        "region",
        "sandbox.prewarm",
        "concurrency.account_limit",
        "concurrency.unreserved_minimum",
        "daemon.log_levels",
        "vpcs",
    ]


def test_taking_some_settings_keeps_the_others() -> None:
    old = Config()
    new = Config(
        region="eu-west-1",
        vpcs=(VPC,),
        concurrency=ConcurrencyConfig(account_limit=50, unreserved_minimum=10),
    )
    taken = take_settings(old, new, {"concurrency.account_limit", "vpcs"})
    assert taken.concurrency.account_limit == 50
    assert taken.concurrency.unreserved_minimum == old.concurrency.unreserved_minimum
    assert taken.vpcs == (VPC,)
    assert taken.region == old.region
    assert changed_settings(taken, new) == ["region", "concurrency.unreserved_minimum"]
    assert take_settings(old, new, set()) == old
    assert dataclasses.replace(old) == old
