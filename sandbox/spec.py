"""What to build: pure, serialisable descriptions of a stem and of the sandbox it becomes.

A *stem* is a sandbox prepared ahead of demand: namespaces made, cgroup joined, root
filesystem assembled, runtime forked, still privileged and not yet any function's. A
`SandboxSpec` *specializes* a stem into one function's execution environment.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Self

TASK_ROOT = "/var/task"
RUNTIME_DIR = "/var/runtime"
OPT_DIR = "/opt"
EXIT_SETUP_FAILED = 125  # a sandbox's init exits with this when building it failed
RUNTIME_API_HOST = "127.0.0.1"  # the HTTP Runtime API inside every sandbox that uses it
RUNTIME_API_PORT = 9001
RUNTIME_FD = 3  # where an exec'd msgpack runtime (node, other pythons) finds its socket
API_MSGPACK = "msgpack"  # the runtime speaks lambdalet's msgpack protocol on its socket
API_HTTP = "http"  # the runtime speaks AWS's HTTP Runtime API at 127.0.0.1:9001
MAX_CONTROL_PACKET = 256 * 1024  # one spawner request or reply (a spec with a 4 KB env fits)
MAX_INIT_FDS = 6  # descriptors a stem's init receives with a spec: `InitFds`, all of them


class _Wire:
    """msgpack-friendly dict form; unknown fields are refused."""

    def to_wire(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in d.items()}

    @classmethod
    def from_wire(cls, d: dict[str, Any]) -> Self:
        fields = {f.name: f for f in dataclasses.fields(cls)}  # type: ignore[arg-type]
        unknown = set(d) - set(fields)
        if unknown:
            raise ValueError(f"unknown spec fields: {sorted(unknown)}")
        args = {k: tuple(v) if isinstance(v, list) else v for k, v in d.items()}
        return cls(**args)


@dataclass(frozen=True, slots=True, kw_only=True)
class StemSpec(_Wire):
    """A prepared, unspecialized sandbox. Host paths are in the daemon's mount namespace."""

    sandbox_id: str  # short hex id; names its cgroup and, later, its hostname
    rootfs_dir: str  # empty host directory used as the mount point of the new root
    etc_dir: str  # minimal /etc, bind-mounted read-only
    cgroup_procs: tuple[str, ...]  # cgroup.procs files joined before anything else
    nofile: int = 1024  # RLIMIT_NOFILE (processes are limited by the cgroup's pids.max)
    # False when every specialization brings an ENI: the stem makes no network namespace of
    # its own (one namespace fewer to make and clean up per sandbox), and init and runtime
    # join the ENI's before the function's first instruction; a spec without one is refused.
    own_netns: bool = True
    # A SnapStart template (`sandbox.snapshot`): init stays privileged to clone environments
    # from the initialised runtime, which runs under the template filter.
    template: bool = False


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxSpec(_Wire):
    """One function's execution environment, applied to a stem."""

    sandbox_id: str  # the stem's id
    runtime: str  # e.g. "python3.11"
    handler: str  # "module.function"
    uid: int  # unprivileged, distinct per live sandbox, never 0
    gid: int
    hostname: str
    code_dir: str  # host path, attached read-only at /var/task
    runtime_dir: str  # host path, attached read-only at /var/runtime
    tmp_size_mb: int  # size of the /tmp tmpfs (ephemeral storage)
    env: dict[str, str] = field(default_factory=dict)  # the runtime's entire environment
    netns: bool = False  # a network namespace (an ENI) comes with the spec and is joined
    # Empty: the in-process Python runtime. Otherwise the runtime is exec'd: the first of
    # these sandbox paths that exists (custom runtimes: /var/task/bootstrap, /opt/bootstrap).
    entrypoint: tuple[str, ...] = ()
    args: tuple[str, ...] = ()  # argv after the entrypoint
    api: str = API_MSGPACK  # API_HTTP: a Runtime API listener is made and handed over
    opt_dir: str = ""  # host path attached read-only at /opt (merged layers); "" keeps it empty

    def __post_init__(self) -> None:
        if self.uid <= 0 or self.gid <= 0:
            raise ValueError("a sandbox never runs as uid/gid 0")
        if self.tmp_size_mb <= 0:
            raise ValueError("tmp_size_mb must be positive")
        if self.api not in (API_MSGPACK, API_HTTP):
            raise ValueError(f"unknown runtime api {self.api!r}")
        if self.api == API_HTTP and not self.entrypoint:
            raise ValueError("an HTTP Runtime API runtime needs an entrypoint to exec")
        if any(not p.startswith("/") for p in self.entrypoint):
            raise ValueError("entrypoint candidates are absolute sandbox paths")
        if self.opt_dir and not self.opt_dir.startswith("/"):
            raise ValueError("opt_dir is an absolute host path (or empty)")


@dataclass(frozen=True, slots=True, kw_only=True)
class InitFds:
    """The descriptors a stem's init receives with a spec, in this wire order:

        runtime socket, log pipe, code tree, runtime tree, [opt tree], [netns]

    The first two come from the daemon; the trees are detached read-only mounts the spawner
    cloned (`sandbox.rootfs.clone_tree`); the opt tree is there only with ``spec.opt_dir``,
    the netns (from the daemon) only with ``spec.netns``.
    """

    runtime: int
    log: int
    code_tree: int
    runtime_tree: int
    opt_tree: int | None = None
    netns: int | None = None

    @staticmethod
    def count(spec: SandboxSpec) -> int:
        return 4 + bool(spec.opt_dir) + bool(spec.netns)

    @classmethod
    def unpack(cls, spec: SandboxSpec, fds: Sequence[int]) -> InitFds:
        """Name the descriptors that came with `spec`; refuses the wrong number."""
        expected = cls.count(spec)
        if len(fds) != expected:
            raise ValueError(f"expected {expected} descriptors with the spec, got {len(fds)}")
        rest = list(fds[4:])
        opt_tree = rest.pop(0) if spec.opt_dir else None
        netns = rest.pop(0) if spec.netns else None
        return cls(
            runtime=fds[0],
            log=fds[1],
            code_tree=fds[2],
            runtime_tree=fds[3],
            opt_tree=opt_tree,
            netns=netns,
        )

    def to_list(self) -> list[int]:
        """The descriptors in wire order, for SCM_RIGHTS."""
        optional = [fd for fd in (self.opt_tree, self.netns) if fd is not None]
        return [self.runtime, self.log, self.code_tree, self.runtime_tree, *optional]

    def trees(self) -> list[int]:
        """The detached mounts among them (init closes each once it is attached)."""
        trees = [self.code_tree, self.runtime_tree]
        return trees if self.opt_tree is None else [*trees, self.opt_tree]
