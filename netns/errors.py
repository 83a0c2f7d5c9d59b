"""Networking errors: one base; configuration errors name the field and say why."""

from __future__ import annotations


class NetnsError(Exception):
    """Base of every error raised by the netns package."""


class VpcConfigError(NetnsError):
    """A VPC document (daemon config or API request) is invalid.

    The message names the VPC, the field's path and the reason, e.g.
    ``vpc-dev: subnets[1].cidr 10.1.0.0/24 is not inside the VPC's 10.0.0.0/16``.
    """


class FirewallStateError(NetnsError):
    """The state handed to the firewall renderer is inconsistent (a daemon bug).

    For instance an attachment names a subnet its VPC does not have, or two attachments
    share an address; rendering it would give rules that do not mean what the state says.
    """
