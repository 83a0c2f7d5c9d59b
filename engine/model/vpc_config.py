"""A function's `VpcConfig` as requested. The model's constraints (id patterns, at most 16 subnets
and 5 security groups) are checked at the API boundary; here, the rules past them. Whether its
subnets and security groups exist is the network's business (`engine.network`).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from engine.errors import InvalidParameterValueException, NotImplementedApiError
from engine.model.json_types import opt_bool, opt_object, opt_str_list


@dataclass(frozen=True, slots=True, kw_only=True)
class VpcSelection:
    """A VpcConfig as requested; `vpc_id` is filled in once the network knows the subnets.
    Empty lists detach the function from its VPC (AWS's way)."""

    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    vpc_id: str = ""


def parse_vpc_config(body: Mapping[str, Any]) -> VpcSelection | None:
    """The shape of VpcConfig (whether its subnets exist is the network's business)."""
    vpc = opt_object(body, "VpcConfig")
    if vpc is None:
        return None
    subnets = opt_str_list(vpc, "SubnetIds") or []
    groups = opt_str_list(vpc, "SecurityGroupIds") or []
    if opt_bool(vpc, "Ipv6AllowedForDualStack"):
        raise NotImplementedApiError(
            "VpcConfig.Ipv6AllowedForDualStack is not supported by this lambdalet host: "
            "ENIs are IPv4 only"
        )
    if bool(subnets) != bool(groups):
        raise InvalidParameterValueException(
            "VpcConfig needs both SubnetIds and SecurityGroupIds, or neither (to leave the VPC)"
        )
    return VpcSelection(
        subnet_ids=tuple(dict.fromkeys(subnets)), security_group_ids=tuple(dict.fromkeys(groups))
    )
