"""What to build for one execution environment: a pure, serialisable description.

The engine fills a `SandboxSpec`; the spawner receives it as a msgpack map and builds it.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
OPT_DIR = "/opt"


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxSpec:
    """One sandbox. Host paths are absolute paths in the daemon's mount namespace."""

    sandbox_id: str  # short hex id; appears in cgroup names and the hostname
    runtime: str  # e.g. "python3.11"
    handler: str  # "module.function"
    uid: int  # unprivileged, distinct per live sandbox, never 0
    gid: int
    hostname: str
    code_dir: str  # bind-mounted read-only at /var/task
    runtime_dir: str  # bind-mounted read-only at /var/runtime
    rootfs_dir: str  # empty host directory used as the mount point of the new root
    etc_dir: str  # minimal /etc, bind-mounted read-only
    tmp_size_mb: int  # size of the /tmp tmpfs (ephemeral storage)
    cgroup_procs: tuple[str, ...]  # cgroup.procs files to join before any user code runs
    env: dict[str, str] = field(default_factory=dict)  # the runtime's entire environment
    nofile: int = 1024
    nproc_note: str = "pids.max in the cgroup"  # RLIMIT_NPROC is per-uid; pids.max is used

    def __post_init__(self) -> None:
        if self.uid <= 0 or self.gid <= 0:
            raise ValueError("a sandbox never runs as uid/gid 0")
        if self.tmp_size_mb <= 0:
            raise ValueError("tmp_size_mb must be positive")

    def to_wire(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        d["cgroup_procs"] = list(self.cgroup_procs)
        return d

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> SandboxSpec:
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ValueError(f"unknown spec fields: {sorted(unknown)}")
        args = dict(d)
        args["cgroup_procs"] = tuple(args.get("cgroup_procs", ()))
        return cls(**args)
