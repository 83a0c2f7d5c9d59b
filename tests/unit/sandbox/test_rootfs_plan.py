"""What a sandbox sees: the pure mount plans and the specs' wire forms."""

from __future__ import annotations

import pytest

from sandbox import _syscalls as sc
from sandbox.rootfs import (
    CODE_MOUNT_ATTRS,
    DEFAULT_TMP_MB,
    Bind,
    CopyFiles,
    Device,
    HostLayout,
    Mkdir,
    Symlink,
    Tmpfs,
    finish_child_rootfs,
    plan_stem_rootfs,
    tmp_options,
)
from sandbox.spec import MAX_INIT_FDS, InitFds, SandboxSpec, StemSpec

STEM = StemSpec(
    sandbox_id="abc123",
    rootfs_dir="/state/rootfs",
    etc_dir="/state/etc",
    cgroup_procs=("/sys/fs/cgroup/memory/lambdalet/sb-abc123/cgroup.procs",),
)
MERGED_USR = HostLayout(dirs=("/usr",), links=(("/bin", "usr/bin"), ("/lib", "usr/lib")))


def spec(**changes: object) -> SandboxSpec:
    base: dict[str, object] = dict(
        sandbox_id="abc123",
        runtime="python3.11",
        handler="lambda_function.handler",
        uid=200001,
        gid=200001,
        hostname="lambdalet-abc123",
        code_dir="/state/code/ff",
        runtime_dir="/venv/sandbox/runtimes/python",
        tmp_size_mb=512,
        env={"A": "1"},
    )
    base.update(changes)
    return SandboxSpec(**base)  # type: ignore[arg-type]


def test_system_dirs_and_runtime_are_read_only_binds_and_etc_a_copy() -> None:
    ops = plan_stem_rootfs(STEM, MERGED_USR)
    binds = {op.target: op for op in ops if isinstance(op, Bind)}
    assert "/var/runtime" not in binds  # attached at specialization: stems fit every runtime
    # /etc is copied into the (later read-only) root: a bind would name the state directory
    # in the sandbox's /proc/self/mountinfo.
    assert "/etc" not in binds
    assert CopyFiles("/state/etc", "/etc") in ops
    assert binds["/usr"].source == "/usr"
    assert all(op.readonly for op in binds.values())  # nothing of the host is writable


def test_code_is_attached_read_only_at_specialization_only() -> None:
    ops = plan_stem_rootfs(STEM, MERGED_USR)
    assert Mkdir("/var/task") in ops  # a mount point, empty until specialization
    assert not any(isinstance(op, Bind) and op.target == "/var/task" for op in ops)
    assert CODE_MOUNT_ATTRS & sc.MOUNT_ATTR_RDONLY
    assert CODE_MOUNT_ATTRS & sc.MOUNT_ATTR_NOSUID and CODE_MOUNT_ATTRS & sc.MOUNT_ATTR_NODEV


def test_tmp_is_a_tmpfs_without_suid_or_devices_at_the_default_size() -> None:
    (tmp,) = [op for op in plan_stem_rootfs(STEM, MERGED_USR) if op.target == "/tmp"]
    assert isinstance(tmp, Tmpfs)
    assert tmp.options == tmp_options(DEFAULT_TMP_MB) == "size=512m,mode=1777"
    assert tmp.flags & sc.MS_NOSUID and tmp.flags & sc.MS_NODEV


def test_merged_usr_symlinks_are_recreated_not_bound() -> None:
    ops = plan_stem_rootfs(STEM, MERGED_USR)
    assert Symlink("/bin", "usr/bin") in ops
    assert not any(isinstance(op, Bind) and op.target == "/bin" for op in ops)


def test_dev_holds_only_the_minimal_devices() -> None:
    ops = plan_stem_rootfs(STEM, MERGED_USR)
    devices = sorted(op.target for op in ops if isinstance(op, Device))
    assert devices == [f"/dev/{n}" for n in ("full", "null", "random", "tty", "urandom", "zero")]
    assert any(isinstance(op, Tmpfs) and op.target == "/dev/shm" for op in ops)


def test_opt_exists_and_is_read_only() -> None:
    # The only op at /opt: layers are attached over it at specialization, never bound here.
    (opt,) = [op for op in plan_stem_rootfs(STEM, MERGED_USR) if op.target == "/opt"]
    assert isinstance(opt, Tmpfs)
    assert opt.flags & sc.MS_RDONLY
    assert opt.flags & sc.MS_NOSUID and opt.flags & sc.MS_NODEV


@pytest.mark.parametrize("value", [STEM, spec(), spec(opt_dir="/state/layers/merged/ab12")])
def test_wire_round_trip(value: StemSpec | SandboxSpec) -> None:
    assert type(value).from_wire(value.to_wire()) == value


def test_opt_dir_is_optional_and_absolute() -> None:
    assert spec().opt_dir == ""  # no layers: the stem's empty read-only /opt stays
    wire = spec().to_wire()
    del wire["opt_dir"]
    assert SandboxSpec.from_wire(wire) == spec()  # a wire form without it still loads
    with pytest.raises(ValueError, match="opt_dir is an absolute host path"):
        spec(opt_dir="layers/merged")


@pytest.mark.parametrize(
    ("changes", "names"),
    [
        ({}, ["runtime", "log", "code_tree", "runtime_tree"]),
        ({"opt_dir": "/o"}, ["runtime", "log", "code_tree", "runtime_tree", "opt_tree"]),
        ({"netns": True}, ["runtime", "log", "code_tree", "runtime_tree", "netns"]),
        (
            {"opt_dir": "/o", "netns": True},
            ["runtime", "log", "code_tree", "runtime_tree", "opt_tree", "netns"],
        ),
    ],
)
def test_init_fds_wire_order(changes: dict[str, object], names: list[str]) -> None:
    s = spec(**changes)
    fds = list(range(10, 10 + len(names)))
    assert InitFds.count(s) == len(names) <= MAX_INIT_FDS
    given = InitFds.unpack(s, fds)
    assert {n: getattr(given, n) for n in names} == dict(zip(names, fds, strict=True))
    assert given.to_list() == fds  # the spawner sends them in the order init unpacks them
    trees = [getattr(given, n) for n in names if n.endswith("_tree")]
    assert given.trees() == trees
    if "opt_tree" not in names:
        assert given.opt_tree is None
    if "netns" not in names:
        assert given.netns is None


@pytest.mark.parametrize("changes", [{}, {"opt_dir": "/o"}, {"netns": True}])
def test_init_fds_refuse_the_wrong_count(changes: dict[str, object]) -> None:
    s = spec(**changes)
    for count in (InitFds.count(s) - 1, InitFds.count(s) + 1):
        with pytest.raises(ValueError, match=f"expected {InitFds.count(s)} descriptors"):
            InitFds.unpack(s, list(range(count)))


@pytest.mark.parametrize(("opt_dir", "opt_tree_fd"), [("/o", None), ("", 7)])
def test_an_opt_tree_comes_with_opt_dir_only(opt_dir: str, opt_tree_fd: int | None) -> None:
    # Checked before any mount is touched, so this needs no namespace.
    with pytest.raises(ValueError, match="/opt tree"):
        finish_child_rootfs(
            spec(opt_dir=opt_dir), code_tree_fd=5, runtime_tree_fd=6, opt_tree_fd=opt_tree_fd
        )


def test_spec_rejects_root_and_unknown_fields() -> None:
    with pytest.raises(ValueError, match="uid/gid 0"):
        spec(uid=0)
    wire = spec().to_wire()
    wire["evil"] = 1
    with pytest.raises(ValueError, match="unknown spec fields"):
        SandboxSpec.from_wire(wire)
