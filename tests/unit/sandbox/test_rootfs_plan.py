"""What a sandbox sees: the pure mount plan and the spec's wire form."""

from __future__ import annotations

import pytest

from sandbox.rootfs import Bind, Device, HostLayout, Symlink, Tmpfs, plan_rootfs
from sandbox.spec import SandboxSpec


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
        rootfs_dir="/state/rootfs",
        etc_dir="/state/etc",
        tmp_size_mb=512,
        cgroup_procs=("/sys/fs/cgroup/memory/lambdalet/sb-abc123/cgroup.procs",),
        env={"A": "1"},
    )
    base.update(changes)
    return SandboxSpec(**base)  # type: ignore[arg-type]


MERGED_USR = HostLayout(dirs=("/usr",), links=(("/bin", "usr/bin"), ("/lib", "usr/lib")))


def test_code_runtime_and_etc_are_read_only_binds() -> None:
    ops = plan_rootfs(spec(), MERGED_USR)
    binds = {op.target: op for op in ops if isinstance(op, Bind)}
    assert binds["/var/task"] == Bind("/state/code/ff", "/var/task", readonly=True)
    assert binds["/var/runtime"].readonly
    assert binds["/etc"].source == "/state/etc" and binds["/etc"].readonly
    assert binds["/usr"].readonly
    # Nothing of the host is writable through a bind.
    assert all(op.readonly for op in binds.values())


def test_tmp_is_a_tmpfs_of_the_ephemeral_size_without_suid_or_devices() -> None:
    ops = plan_rootfs(spec(tmp_size_mb=2048), MERGED_USR)
    (tmp,) = [op for op in ops if isinstance(op, Tmpfs) and op.target == "/tmp"]
    assert "size=2048m" in tmp.options
    from sandbox import _syscalls as sc

    assert tmp.flags & sc.MS_NOSUID and tmp.flags & sc.MS_NODEV


def test_merged_usr_symlinks_are_recreated_not_bound() -> None:
    ops = plan_rootfs(spec(), MERGED_USR)
    assert Symlink("/bin", "usr/bin") in ops
    assert not any(isinstance(op, Bind) and op.target == "/bin" for op in ops)


def test_dev_holds_only_the_minimal_devices() -> None:
    ops = plan_rootfs(spec(), MERGED_USR)
    devices = sorted(op.target for op in ops if isinstance(op, Device))
    assert devices == [f"/dev/{n}" for n in ("full", "null", "random", "tty", "urandom", "zero")]
    assert any(isinstance(op, Tmpfs) and op.target == "/dev/shm" for op in ops)


def test_opt_exists_and_is_read_only() -> None:
    from sandbox import _syscalls as sc

    (opt,) = [op for op in plan_rootfs(spec(), MERGED_USR) if op.target == "/opt"]
    assert isinstance(opt, Tmpfs) and opt.flags & sc.MS_RDONLY


def test_spec_wire_round_trip() -> None:
    s = spec()
    assert SandboxSpec.from_wire(s.to_wire()) == s


def test_spec_rejects_root_and_unknown_fields() -> None:
    with pytest.raises(ValueError, match="uid/gid 0"):
        spec(uid=0)
    wire = spec().to_wire()
    wire["evil"] = 1
    with pytest.raises(ValueError, match="unknown spec fields"):
        SandboxSpec.from_wire(wire)
