"""A function's `VpcConfig` as requested: its shape checked here; whether its subnets and security
groups exist is the network's business (`engine.network`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.errors import InvalidParameterValueException, NotImplementedApiError
from engine.model.json_types import opt_bool, opt_object, opt_str_list

MAX_VPC_SUBNETS: Final = 16
MAX_VPC_SECURITY_GROUPS: Final = 5
_SUBNET_ID_RE: Final = re.compile(r"^subnet-[0-9a-z][0-9a-z-]{0,62}$")
_SG_ID_RE: Final = re.compile(r"^sg-[0-9a-z][0-9a-z-]{0,62}$")


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
    if len(subnets) > MAX_VPC_SUBNETS:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value at 'vpcConfig.subnetIds' failed to satisfy "
            f"constraint: Member must have length less than or equal to {MAX_VPC_SUBNETS}"
        )
    if len(groups) > MAX_VPC_SECURITY_GROUPS:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value at 'vpcConfig.securityGroupIds' failed to "
            f"satisfy constraint: Member must have length less than or equal to "
            f"{MAX_VPC_SECURITY_GROUPS}"
        )
    if bool(subnets) != bool(groups):
        raise InvalidParameterValueException(
            "VpcConfig needs both SubnetIds and SecurityGroupIds, or neither (to leave the VPC)"
        )
    for subnet in subnets:
        if not _SUBNET_ID_RE.match(subnet):
            raise InvalidParameterValueException(
                f"Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.Malformed. "
                f'EC2 Error Message: Invalid id: "{subnet}"'
            )
    for group in groups:
        if not _SG_ID_RE.match(group):
            raise InvalidParameterValueException(
                f"Error occurred while DescribeSecurityGroups. EC2 Error Code: "
                f'InvalidGroupId.Malformed. EC2 Error Message: Invalid id: "{group}"'
            )
    return VpcSelection(
        subnet_ids=tuple(dict.fromkeys(subnets)), security_group_ids=tuple(dict.fromkeys(groups))
    )
