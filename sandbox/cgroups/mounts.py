"""Pure parsing of /proc/self/mountinfo and /proc/<pid>/cgroup: which hierarchy carries what."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

# Controllers a sandbox cannot do without, then v1-only helpers: cpuacct (CPU usage; v2 has it
# in the core cpu.stat) and freezer (kill_all; v2 has cgroup.kill / cgroup.freeze in the core).
REQUIRED_CONTROLLERS = ("memory", "cpu", "pids")
V1_CONTROLLERS = (*REQUIRED_CONTROLLERS, "cpuacct", "freezer")


@dataclass(frozen=True, slots=True, kw_only=True)
class CgroupMounts:
    """The cgroup mounts of /proc/self/mountinfo that matter to a sandbox."""

    v1: dict[str, Path]  # controller -> mount point of the v1 hierarchy carrying it
    v2: Path | None = None  # cgroup2 mount point
    v2_root: str = "/"  # what of the hierarchy the cgroup2 mount shows ("/" unless bind-mounted)


def parse_mountinfo(text: str) -> CgroupMounts:
    """v1 hierarchies per controller and the cgroup2 mount; a mount of a hierarchy's root wins."""
    v1: dict[str, Path] = {}
    rooted: set[str] = set()
    v2: Path | None = None
    v2_root = "/"
    for line in text.splitlines():
        left, sep, right = line.partition(" - ")
        fields, tail = left.split(), right.split()
        if not sep or len(fields) < 5 or len(tail) < 3:
            continue
        root, mount = _unescape(fields[3]), Path(_unescape(fields[4]))
        if tail[0] == "cgroup2" and v2 is None:
            v2, v2_root = mount, root
        elif tail[0] == "cgroup":
            for option in tail[2].split(","):  # super options name the controllers
                if option in V1_CONTROLLERS and option not in rooted:
                    v1.setdefault(option, mount)
                    if root == "/":
                        v1[option] = mount
                        rooted.add(option)
    return CgroupMounts(v1=v1, v2=v2, v2_root=v2_root)


def hierarchy_mode(root: Path = Path("/sys/fs/cgroup")) -> str:
    """How the host mounts cgroups: "unified" (v2 only: `cgroup.controllers` at the root),
    "hybrid" (v1 controllers, a cgroup2 at `unified/`) or "legacy" (v1 only). The daemon
    chooses drivers from mountinfo per controller; this names the layout for logs and docs."""
    if (root / "cgroup.controllers").is_file():
        return "unified"
    if (root / "unified" / "cgroup.controllers").is_file():
        return "hybrid"
    return "legacy"


def parse_own_cgroup(text: str) -> str | None:
    """The unified-hierarchy path on the ``0::`` line of /proc/<pid>/cgroup, if any."""
    for line in text.splitlines():
        if line.startswith("0::"):
            return line[3:].strip() or "/"
    return None


def _unescape(field: str) -> str:
    # mountinfo writes space, tab, newline and backslash as \ooo.
    return re.sub(r"\\([0-7]{3})", lambda m: chr(int(m.group(1), 8)), field)
