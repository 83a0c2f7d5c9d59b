"""Thin kernel adapter for sandbox cgroups: a v1 and a v2 driver, chosen per controller.

``Cgroups`` (facade.py) is the API; drivers, mountinfo parsing and control-file I/O sit below it.
"""

from __future__ import annotations

from sandbox.cgroups.facade import Cgroups
from sandbox.cgroups.files import HostOps, parse_flat_keyed
from sandbox.cgroups.mounts import (
    REQUIRED_CONTROLLERS,
    V1_CONTROLLERS,
    CgroupMounts,
    hierarchy_mode,
    parse_mountinfo,
    parse_own_cgroup,
)
from sandbox.cgroups.v2 import SUPERVISOR_LEAF

__all__ = [
    "REQUIRED_CONTROLLERS",
    "SUPERVISOR_LEAF",
    "V1_CONTROLLERS",
    "CgroupMounts",
    "Cgroups",
    "HostOps",
    "hierarchy_mode",
    "parse_flat_keyed",
    "parse_mountinfo",
    "parse_own_cgroup",
]
