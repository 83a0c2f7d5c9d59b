"""Cgroups against fake cgroup trees: hybrid v1 (this dev host), co-mounted cpu,cpuacct, pure v2.

``FakeKernel`` is the MockCgroupFs idea: a mountinfo file pointing at tmp dirs, and a mkdir that
populates control files the way the kernel does. It never signals a real process.
"""

from __future__ import annotations

import errno
import os
import signal
from collections.abc import Callable
from pathlib import Path

import pytest

from sandbox.cgroups import (
    Cgroups,
    HostOps,
    files,
    parse_flat_keyed,
    parse_mountinfo,
    parse_own_cgroup,
)
from sandbox.cgroups import v1 as cgroups_v1
from sandbox.errors import SandboxSetupError
from sandbox.limits import MIB, CgroupLimits, limits_for

PARENT = "lambdalet-test"
SELF_PID = 777  # the fake daemon's pid; never a real process of ours
LIMITS = limits_for(memory_mb=128, host_cpus=2)  # 128 MiB, quota 7236 / 100000, 1024 pids

V1_FILES: dict[str, dict[str, str]] = {
    "memory": {
        "memory.limit_in_bytes": "9223372036854771712\n",
        "memory.memsw.limit_in_bytes": "9223372036854771712\n",
        "memory.swappiness": "60\n",
        "memory.max_usage_in_bytes": "0\n",
        "memory.failcnt": "0\n",
        "memory.oom_control": "oom_kill_disable 0\nunder_oom 0\noom_kill 0\n",
    },
    "cpu": {"cpu.cfs_period_us": "100000\n", "cpu.cfs_quota_us": "-1\n", "cpu.shares": "1024\n"},
    "cpuacct": {"cpuacct.usage": "0\n", "cpuacct.stat": "user 0\nsystem 0\n"},
    "pids": {"pids.max": "max\n", "pids.current": "0\n"},
    "freezer": {"freezer.state": "THAWED\n"},
}
V2_FILES = {
    "cgroup.controllers": "",
    "cgroup.subtree_control": "",
    "cgroup.events": "populated 0\nfrozen 0\n",
    "cgroup.kill": "",
    "cgroup.freeze": "0\n",
    "cpu.stat": "usage_usec 0\nuser_usec 0\nsystem_usec 0\n",
    "memory.max": "max\n",
    "memory.swap.max": "max\n",
    "memory.oom.group": "0\n",
    "memory.peak": "0\n",
    "memory.current": "0\n",
    "memory.events": "low 0\nhigh 0\nmax 0\noom 0\noom_kill 0\noom_group_kill 0\n",
    "cpu.max": "max 100000\n",
    "cpu.weight": "100\n",
    "pids.max": "max\n",
}
ALL_V2 = "cpuset cpu io memory hugetlb pids rdma misc"


class FakeKernel:
    """A cgroup tree in tmp_path plus the kernel behaviour a plain directory lacks."""

    def __init__(self, root: Path, *, v1: dict[str, list[str]], v2: str | None = None) -> None:
        """``v1``: mount dir name -> controllers; ``v2``: cgroup.controllers of a cgroup2 mount."""
        self.root = root
        self.proc_dir = root / "proc"
        self.proc_dir.mkdir(parents=True)
        self.mounts: dict[Path, list[str]] = {}  # mount point -> controllers (v2: ["v2"])
        self.lacking: set[str] = set()  # control files new groups do not get
        self.killed: list[tuple[int, int, str]] = []  # (pid, signal, freezer state at the time)
        self.dead_on_arrival: set[int] = set()  # pids whose kill raises ESRCH
        self.immortal: set[int] = set()
        self.fork_budget = 0  # a fork bomb: each kill of a thawed process first forks a child
        self.sleeps: list[float] = []
        lines = []
        for i, (dirname, controllers) in enumerate(v1.items()):
            mount = root / "cgroup" / dirname
            mount.mkdir(parents=True)
            self.mounts[mount] = controllers
            self._populate(mount, is_root=True)
            opts = ",".join(["rw", *controllers])
            lines.append(f"{32 + i} 31 0:{29 + i} / {mount} rw,relatime - cgroup cgroup {opts}")
        if v2 is not None:
            mount = root / "cgroup" / "unified" if v1 else root / "cgroup"
            mount.mkdir(parents=True, exist_ok=True)
            self.v2_mount = mount
            self.mounts[mount] = ["v2"]
            self._populate(mount, is_root=True)
            (mount / "cgroup.controllers").write_text(v2 + "\n")
            lines.append(f"41 31 0:38 / {mount} rw,nosuid,relatime - cgroup2 cgroup2 rw")
        lines.append("22 1 0:21 / /proc rw,nosuid - proc proc rw")
        self.mountinfo = self.proc_dir / "mountinfo"
        self.mountinfo.write_text("\n".join(lines) + "\n")
        self.proc_self_cgroup = self.proc_dir / "cgroup"
        self.set_own_cgroup("/")
        self.ops = HostOps(
            mkdir=self.mkdir, rmdir=self.rmdir, kill=self.kill, sleep=self.sleep, getpid=lambda: 777
        )

    def set_own_cgroup(self, path: str) -> None:
        self.proc_self_cgroup.write_text(f"1:cpu:/\n0::{path}\n")

    def detect(self) -> Cgroups:
        return Cgroups.detect(
            parent_name=PARENT,
            mountinfo=self.mountinfo,
            proc_self_cgroup=self.proc_self_cgroup,
            ops=self.ops,
        )

    def _mount_of(self, path: Path) -> Path:
        return next(m for m in self.mounts if path == m or m in path.parents)

    def _populate(self, path: Path, *, is_root: bool = False) -> None:
        (path / "cgroup.procs").write_text("")
        controllers = self.mounts[self._mount_of(path)]
        files: dict[str, str] = {}
        for controller in controllers:
            files.update(V2_FILES if controller == "v2" else V1_FILES.get(controller, {}))
        if is_root:  # like the kernel: no limits on a root cgroup
            files = {k: v for k, v in files.items() if k.startswith(("cgroup.", "cpu.stat"))}
        for filename, content in files.items():
            if filename not in self.lacking:
                (path / filename).write_text(content)
        if "v2" in controllers and not is_root:
            (path / "cgroup.controllers").write_text("cpu memory pids\n")

    # --- HostOps -------------------------------------------------------------------------------

    def mkdir(self, path: str) -> None:
        os.mkdir(path)
        self._populate(Path(path))

    def rmdir(self, path: str) -> None:
        p = Path(path)
        if not p.is_dir():
            raise FileNotFoundError(errno.ENOENT, "No such file or directory", path)
        if any(c.is_dir() for c in p.iterdir()) or (p / "cgroup.procs").read_text().strip():
            raise OSError(errno.EBUSY, "Device or resource busy", path)
        for child in p.iterdir():
            child.unlink()
        p.rmdir()

    def kill(self, pid: int, sig: int) -> None:
        procs = [f for f in self.root.rglob("cgroup.procs") if str(pid) in f.read_text().split()]
        frozen = any(self._frozen(f.parent) for f in procs)
        self.killed.append((pid, sig, "FROZEN" if frozen else "THAWED"))
        if pid in self.dead_on_arrival:
            self._remove_pid(pid)
            raise ProcessLookupError(errno.ESRCH, "No such process")
        if not frozen and self.fork_budget > 0:  # it forks before the signal lands
            self.fork_budget -= 1
            for f in procs:
                f.write_text(f.read_text() + f"{pid + 1000}\n")
        if pid not in self.immortal:
            self._remove_pid(pid)

    @staticmethod
    def _frozen(group: Path) -> bool:
        v1, v2 = group / "freezer.state", group / "cgroup.freeze"
        return (v1.exists() and text(v1) == "FROZEN") or (v2.exists() and text(v2) == "1")

    def sleep(self, seconds: float) -> None:
        # The kernel's side of cgroup.kill: the group empties while we sleep.
        self.sleeps.append(seconds)
        for kill_file in self.root.rglob("cgroup.kill"):
            if kill_file.read_text().strip() == "1":
                (kill_file.parent / "cgroup.procs").write_text("")
                kill_file.write_text("")

    def _remove_pid(self, pid: int) -> None:
        for f in self.root.rglob("cgroup.procs"):
            pids = f.read_text().split()
            if str(pid) in pids:
                f.write_text("".join(f"{p}\n" for p in pids if p != str(pid)))

    # --- helpers for tests ---------------------------------------------------------------------

    def put(self, procs_files: list[str], pids: list[int]) -> None:
        for path in procs_files:
            Path(path).write_text("".join(f"{p}\n" for p in pids))


def hybrid(tmp_path: Path) -> FakeKernel:
    """This dev host: separate v1 hierarchies, an empty cgroup2 at unified/."""
    names = ["cpu", "cpuacct", "cpuset", "memory", "devices", "freezer", "blkio", "pids"]
    v1 = {name: [name] for name in names}
    v1["systemd"] = ["name=systemd"]
    return FakeKernel(tmp_path, v1=v1, v2="hugetlb")


def comounted(tmp_path: Path, *, freezer: bool = True) -> FakeKernel:
    v1 = {"cpu,cpuacct": ["cpu", "cpuacct"], "memory": ["memory"], "pids": ["pids"]}
    if freezer:
        v1["freezer"] = ["freezer"]
    return FakeKernel(tmp_path, v1=v1)


def pure_v2(tmp_path: Path, *, own: str = "/system.slice/lambdalet.service") -> FakeKernel:
    kernel = FakeKernel(tmp_path, v1={}, v2=ALL_V2)
    delegated = kernel.v2_mount / own.strip("/")
    delegated.mkdir(parents=True)
    for filename in ("cgroup.controllers", "cgroup.subtree_control", "cgroup.procs"):
        (delegated / filename).write_text("")
    (delegated / "cgroup.controllers").write_text("cpu memory pids\n")
    (delegated / "cgroup.procs").write_text(f"{SELF_PID}\n")
    kernel.set_own_cgroup(own)
    return kernel


LAYOUTS: dict[str, Callable[[Path], FakeKernel]] = {
    "hybrid": hybrid,
    "comounted": comounted,
    "v2": pure_v2,
}


@pytest.fixture(params=sorted(LAYOUTS))
def kernel(request: pytest.FixtureRequest, tmp_path: Path) -> FakeKernel:
    factory: Callable[[Path], FakeKernel] = LAYOUTS[request.param]
    return factory(tmp_path)


def text(path: Path) -> str:
    return path.read_text().strip()


# --- parsing -----------------------------------------------------------------------------------

REAL_HYBRID_MOUNTINFO = """\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
"""


def test_parse_mountinfo_maps_each_controller_to_its_hierarchy() -> None:
    mounts = parse_mountinfo(REAL_HYBRID_MOUNTINFO)
    assert mounts.v1 == {
        c: Path(f"/sys/fs/cgroup/{c}") for c in ("cpu", "cpuacct", "memory", "freezer", "pids")
    }
    assert mounts.v2 == Path("/sys/fs/cgroup/unified")
    assert mounts.v2_root == "/"


def test_parse_mountinfo_comounted_escaped_and_bind_mounted() -> None:
    text = (
        "50 1 0:40 /docker/abc /mnt/in\\040ctr rw - cgroup cgroup rw,memory\n"
        "51 1 0:40 / /sys/fs/cgroup/memory rw - cgroup cgroup rw,memory\n"
        "52 1 0:41 / /sys/fs/cgroup/cpu,cpuacct rw,nosuid shared:9 - cgroup cgroup rw,cpu,cpuacct\n"
        "53 1 0:42 /docker/abc /sys/fs/cgroup/x rw - cgroup cgroup rw,pids\n"
        "54 1 0:43 /docker/abc /sys/fs/cgroup rw - cgroup2 cgroup2 rw,nsdelegate\n"
        "garbage line\n"
    )
    mounts = parse_mountinfo(text)
    assert mounts.v1["memory"] == Path("/sys/fs/cgroup/memory")  # the hierarchy root wins
    assert mounts.v1["cpu"] == mounts.v1["cpuacct"] == Path("/sys/fs/cgroup/cpu,cpuacct")
    assert mounts.v1["pids"] == Path("/sys/fs/cgroup/x")  # only a bind mount: still usable
    assert (mounts.v2, mounts.v2_root) == (Path("/sys/fs/cgroup"), "/docker/abc")
    assert parse_mountinfo(text.replace("/sys/fs/cgroup/memory", "/a\\040b", 1)).v1[
        "memory"
    ] == Path("/a b")


def test_parse_own_cgroup_and_flat_keyed() -> None:
    assert parse_own_cgroup("4:memory:/x\n0::/system.slice/a.service\n") == (
        "/system.slice/a.service"
    )
    assert parse_own_cgroup("0::\n") == "/"
    assert parse_own_cgroup("4:memory:/x\n") is None
    assert parse_flat_keyed("oom 1\noom_kill 3\nbad\nx y\nneg -1\n") == {
        "oom": 1,
        "oom_kill": 3,
        "neg": -1,
    }


# --- detection ---------------------------------------------------------------------------------


def test_detect_hybrid_uses_v1_controllers_and_freezes_in_the_unified_tree(tmp_path: Path) -> None:
    kernel = hybrid(tmp_path)
    mnt = tmp_path / "cgroup"
    assert kernel.detect().describe() == {
        "cpu": f"v1:{mnt}/cpu/{PARENT}",
        "cpuacct": f"v1:{mnt}/cpuacct/{PARENT}",
        "freezer": f"v1:{mnt}/freezer/{PARENT}",
        "memory": f"v1:{mnt}/memory/{PARENT}",
        "pids": f"v1:{mnt}/pids/{PARENT}",
        "freeze": f"v2:{mnt}/unified/{PARENT}",
    }


def test_detect_comounted_shares_one_directory(tmp_path: Path) -> None:
    cg = comounted(tmp_path).detect()
    assert cg.describe()["cpu"] == cg.describe()["cpuacct"]
    assert cg.describe()["cpu"] == f"v1:{tmp_path}/cgroup/cpu,cpuacct/{PARENT}"
    assert len(cg.procs_files("fn")) == 4  # cpu,cpuacct + memory + pids + freezer


def test_detect_pure_v2_uses_the_delegated_subtree(tmp_path: Path) -> None:
    cg = pure_v2(tmp_path).detect()
    group = f"v2:{tmp_path}/cgroup/system.slice/lambdalet.service/{PARENT}"
    assert cg.describe() == {"memory": group, "cpu": group, "pids": group}
    assert cg.procs_files("fn") == [f"{group[3:]}/fn/cgroup.procs"]


def test_detect_from_inside_the_supervisor_leaf(tmp_path: Path) -> None:
    kernel = pure_v2(tmp_path)
    kernel.set_own_cgroup("/system.slice/lambdalet.service/supervisor")
    assert kernel.detect().describe()["memory"].endswith(f"/lambdalet.service/{PARENT}")


def test_detect_chooses_per_controller(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path, v1={"memory": ["memory"]}, v2="cpu pids")
    described = kernel.detect().describe()
    assert described["memory"] == f"v1:{tmp_path}/cgroup/memory/{PARENT}"
    assert described["cpu"] == described["pids"] == f"v2:{tmp_path}/cgroup/unified/{PARENT}"


def test_detect_fails_when_a_controller_is_nowhere(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path, v1={"memory": ["memory"], "cpu": ["cpu", "cpuacct"]}, v2="io")
    with pytest.raises(SandboxSetupError, match="pids"):
        kernel.detect()
    legacy = FakeKernel(tmp_path / "b", v1={"memory": ["memory"], "cpu": ["cpu", "cpuacct"]})
    with pytest.raises(SandboxSetupError, match="no cgroup hierarchy carries pids"):
        legacy.detect()


def test_detect_needs_a_cpu_usage_source(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path, v1={"memory": ["memory"], "cpu": ["cpu"], "pids": ["pids"]})
    with pytest.raises(SandboxSetupError, match="cpuacct"):
        kernel.detect()


@pytest.mark.parametrize("parent", ["sandboxes", "lambdalet/x", "..", ""])
def test_detect_rejects_bad_parent_names(tmp_path: Path, parent: str) -> None:
    kernel = hybrid(tmp_path)
    with pytest.raises(ValueError, match="parent_name"):
        Cgroups.detect(parent_name=parent, mountinfo=kernel.mountinfo, ops=kernel.ops)


def test_detect_without_mountinfo_is_a_setup_error(tmp_path: Path) -> None:
    with pytest.raises(SandboxSetupError, match="read mountinfo") as info:
        Cgroups.detect(parent_name=PARENT, mountinfo=tmp_path / "missing")
    assert isinstance(info.value.__cause__, FileNotFoundError)


# --- prepare / create --------------------------------------------------------------------------


def test_prepare_is_idempotent(kernel: FakeKernel) -> None:
    cg = kernel.detect()
    cg.prepare()
    cg.prepare()
    for described in cg.describe().values():
        assert Path(described[3:]).is_dir()


def test_create_v1_writes_limits(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    written: list[str] = []
    real_write = files.write

    def recording_write(path: str | bytes, value: str) -> None:
        written.append(os.path.basename(os.fsdecode(path)))
        real_write(path, value)

    monkeypatch.setattr(cgroups_v1, "write", recording_write)
    cg = hybrid(tmp_path).detect()
    cg.prepare()
    cg.create("fn1", LIMITS)
    mnt = tmp_path / "cgroup"
    memory = mnt / "memory" / PARENT / "fn1"
    assert text(memory / "memory.limit_in_bytes") == str(128 * MIB)
    assert text(memory / "memory.memsw.limit_in_bytes") == str(128 * MIB)
    assert text(memory / "memory.swappiness") == "0"
    assert text(mnt / "cpu" / PARENT / "fn1" / "cpu.cfs_period_us") == "100000"
    assert text(mnt / "cpu" / PARENT / "fn1" / "cpu.cfs_quota_us") == "7236"
    assert text(mnt / "cpu" / PARENT / "fn1" / "cpu.shares") == "74"  # 128/1769 of 1024
    assert text(mnt / "pids" / PARENT / "fn1" / "pids.max") == "1024"
    assert (mnt / "cpuacct" / PARENT / "fn1").is_dir()
    assert (mnt / "freezer" / PARENT / "fn1").is_dir()
    assert not (mnt / "cpuset" / PARENT).exists()
    # memsw must never be below limit_in_bytes; the quota is checked against the period.
    assert written == [
        "memory.limit_in_bytes",
        "memory.memsw.limit_in_bytes",
        "memory.swappiness",
        "cpu.cfs_period_us",
        "cpu.cfs_quota_us",
        "cpu.shares",
        "pids.max",
    ]


def test_create_v1_without_swap_accounting(tmp_path: Path) -> None:
    kernel = comounted(tmp_path)
    kernel.lacking = {"memory.memsw.limit_in_bytes", "memory.swappiness"}
    cg = kernel.detect()
    cg.prepare()
    cg.create("fn1", LIMITS)
    group = tmp_path / "cgroup" / "cpu,cpuacct" / PARENT / "fn1"
    assert text(group / "cpu.cfs_quota_us") == "7236"
    assert not (tmp_path / "cgroup/memory" / PARENT / "fn1/memory.memsw.limit_in_bytes").exists()


def test_create_v2_writes_limits(tmp_path: Path) -> None:
    cg = pure_v2(tmp_path).detect()
    cg.prepare()
    cg.create("fn1", CgroupLimits(memory_max_bytes=256 * MIB, cpu_quota_us=14_472,
                                  cpu_period_us=100_000, pids_max=64))  # fmt: skip
    group = tmp_path / "cgroup/system.slice/lambdalet.service" / PARENT / "fn1"
    assert text(group / "memory.max") == str(256 * MIB)
    assert text(group / "memory.swap.max") == "0"
    assert text(group / "memory.oom.group") == "1"
    assert text(group / "cpu.max") == "14472 100000"
    assert text(group / "cpu.weight") == "100"  # CgroupLimits' default share: one vCPU's
    assert text(group / "pids.max") == "64"


def test_create_v2_without_swap_controller_files(tmp_path: Path) -> None:
    kernel = pure_v2(tmp_path)
    kernel.lacking = {"memory.swap.max"}
    cg = kernel.detect()
    cg.prepare()
    cg.create("fn1", LIMITS)
    assert cg.children() == ["fn1"]


@pytest.mark.parametrize(
    ("layout", "missing"),
    [
        ("hybrid", "pids.max"),
        ("hybrid", "cpu.cfs_quota_us"),
        ("comounted", "memory.limit_in_bytes"),
        ("v2", "memory.oom.group"),
        ("v2", "pids.max"),
    ],
)
def test_create_failure_removes_what_it_created(tmp_path: Path, layout: str, missing: str) -> None:
    kernel = LAYOUTS[layout](tmp_path)
    cg = kernel.detect()
    cg.prepare()
    kernel.lacking = {missing}
    with pytest.raises(SandboxSetupError, match="fn1") as info:
        cg.create("fn1", LIMITS)
    assert isinstance(info.value.__cause__, FileNotFoundError)
    assert info.value.path is not None
    assert info.value.path.endswith(f"/fn1/{missing}")
    assert cg.children() == []


def test_create_mixed_rolls_back_the_other_driver(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path, v1={"memory": ["memory"]}, v2="cpu memory pids")
    (kernel.v2_mount / "cgroup.controllers").write_text("cpu pids\n")
    cg = kernel.detect()
    cg.prepare()
    kernel.lacking = {"cpu.max"}
    with pytest.raises(SandboxSetupError, match=r"cpu\.max"):
        cg.create("fn1", LIMITS)
    assert cg.children() == []


def test_create_existing_group_is_an_error_and_keeps_it(kernel: FakeKernel) -> None:
    cg = kernel.detect()
    cg.prepare()
    cg.create("fn1", LIMITS)
    with pytest.raises(SandboxSetupError, match="destroy") as info:
        cg.create("fn1", LIMITS)
    assert isinstance(info.value.__cause__, FileExistsError)
    assert cg.children() == ["fn1"]


def test_create_without_privilege_says_what_to_do(tmp_path: Path) -> None:
    kernel = hybrid(tmp_path)

    def denied(path: str) -> None:
        raise PermissionError(errno.EACCES, "Permission denied", path)

    cg = Cgroups.detect(
        parent_name=PARENT,
        mountinfo=kernel.mountinfo,
        ops=HostOps(mkdir=denied, rmdir=kernel.rmdir, kill=kernel.kill, sleep=kernel.sleep),
    )
    with pytest.raises(SandboxSetupError, match="run as root") as info:
        cg.prepare()
    assert info.value.hint is not None
    assert "Delegate=yes" in info.value.hint


@pytest.mark.parametrize("name", ["", ".", "..", "a/b", "../escape"])
def test_group_names_are_single_components(kernel: FakeKernel, name: str) -> None:
    cg = kernel.detect()
    with pytest.raises(ValueError, match="single path component"):
        cg.create(name, LIMITS)
    with pytest.raises(ValueError, match="single path component"):
        cg.destroy(name)


# --- v2 delegation -----------------------------------------------------------------------------


def test_prepare_v2_moves_the_daemon_to_a_leaf_and_enables_controllers(tmp_path: Path) -> None:
    kernel = pure_v2(tmp_path)
    kernel.detect().prepare()
    service = tmp_path / "cgroup/system.slice/lambdalet.service"
    assert text(service / "supervisor" / "cgroup.procs") == str(SELF_PID)
    assert text(service / "cgroup.subtree_control") == "+memory +cpu +pids"
    assert text(service / PARENT / "cgroup.subtree_control") == "+memory +cpu +pids"


def test_prepare_v2_does_not_move_when_already_enabled(tmp_path: Path) -> None:
    kernel = pure_v2(tmp_path)
    service = tmp_path / "cgroup/system.slice/lambdalet.service"
    (service / "cgroup.subtree_control").write_text("cpu memory pids\n")
    kernel.detect().prepare()
    assert not (service / "supervisor").exists()
    assert (service / PARENT).is_dir()


def test_prepare_v2_at_the_root_cgroup_does_not_move(tmp_path: Path) -> None:
    kernel = FakeKernel(tmp_path, v1={}, v2=ALL_V2)
    (kernel.v2_mount / "cgroup.procs").write_text(f"1\n{SELF_PID}\n")
    kernel.detect().prepare()
    assert not (kernel.v2_mount / "supervisor").exists()
    assert text(kernel.v2_mount / "cgroup.subtree_control") == "+memory +cpu +pids"


def test_prepare_v2_without_delegation_says_what_to_do(tmp_path: Path) -> None:
    kernel = pure_v2(tmp_path)
    (tmp_path / "cgroup/system.slice/lambdalet.service/cgroup.controllers").write_text("cpu\n")
    with pytest.raises(SandboxSetupError, match="memory, pids are not delegated") as info:
        kernel.detect().prepare()
    assert info.value.hint is not None
    assert "Delegate=yes" in info.value.hint


# --- join and readings -------------------------------------------------------------------------


def test_join_writes_the_pid_into_every_hierarchy(kernel: FakeKernel) -> None:
    cg = kernel.detect()
    cg.prepare()
    cg.create("fn1", LIMITS)
    cg.join("fn1", 4242)
    files = cg.procs_files("fn1")
    assert files
    assert all(text(Path(f)) == "4242" for f in files)
    assert len(set(files)) == len(files)
    assert cg.pids("fn1") == {4242}


def test_join_a_missing_group_is_a_setup_error(kernel: FakeKernel) -> None:
    cg = kernel.detect()
    with pytest.raises(SandboxSetupError, match="move pid 4242") as info:
        cg.join("nope", 4242)
    assert isinstance(info.value.__cause__, FileNotFoundError)


def test_readings_v1(tmp_path: Path) -> None:
    cg = hybrid(tmp_path).detect()
    cg.prepare()
    cg.create("fn1", LIMITS)
    mnt = tmp_path / "cgroup"
    (mnt / "memory" / PARENT / "fn1/memory.max_usage_in_bytes").write_text("52428800\n")
    oom_control = mnt / "memory" / PARENT / "fn1/memory.oom_control"
    oom_control.write_text("oom_kill_disable 0\nunder_oom 0\noom_kill 2\n")
    (mnt / "cpuacct" / PARENT / "fn1/cpuacct.usage").write_text("123456789\n")
    (mnt / "memory" / PARENT / "fn1/memory.usage_in_bytes").write_text("6291456\n")
    assert cg.memory_peak_bytes("fn1") == 52_428_800
    assert cg.memory_usage_bytes("fn1") == 6_291_456
    assert cg.oom_kill_count("fn1") == 2
    assert cg.cpu_usage_ns("fn1") == 123_456_789
    oom_control.write_text("oom_kill_disable 0\nunder_oom 0\n")  # before Linux 4.13: unknown
    assert cg.oom_kill_count("fn1") == 0


def test_readings_comounted_cpuacct(tmp_path: Path) -> None:
    cg = comounted(tmp_path).detect()
    cg.prepare()
    cg.create("fn1", LIMITS)
    (tmp_path / "cgroup/cpu,cpuacct" / PARENT / "fn1/cpuacct.usage").write_text("42\n")
    assert cg.cpu_usage_ns("fn1") == 42


def test_readings_v2(tmp_path: Path) -> None:
    cg = pure_v2(tmp_path).detect()
    cg.prepare()
    cg.create("fn1", LIMITS)
    group = tmp_path / "cgroup/system.slice/lambdalet.service" / PARENT / "fn1"
    (group / "memory.peak").write_text("7340032\n")
    (group / "memory.current").write_text("4096\n")
    (group / "memory.events").write_text("low 0\nhigh 0\nmax 9\noom 1\noom_kill 1\n")
    (group / "cpu.stat").write_text("usage_usec 1500\nuser_usec 1000\nsystem_usec 500\n")
    assert cg.memory_peak_bytes("fn1") == 7_340_032
    assert cg.memory_usage_bytes("fn1") == 4096
    assert cg.oom_kill_count("fn1") == 1
    assert cg.cpu_usage_ns("fn1") == 1_500_000
    (group / "memory.peak").unlink()  # before Linux 5.19
    assert cg.memory_peak_bytes("fn1") == 4096


def test_reading_a_missing_group_is_a_setup_error(kernel: FakeKernel) -> None:
    cg = kernel.detect()
    for read in (cg.memory_peak_bytes, cg.memory_usage_bytes, cg.oom_kill_count, cg.cpu_usage_ns):
        with pytest.raises(SandboxSetupError) as info:
            read("nope")
        assert isinstance(info.value.__cause__, FileNotFoundError)


def test_pids_and_populated(kernel: FakeKernel) -> None:
    cg = kernel.detect()
    cg.prepare()
    cg.create("fn1", LIMITS)
    assert cg.pids("fn1") == set()
    assert not cg.populated("fn1")
    files = cg.procs_files("fn1")
    kernel.put(files[:1], [10, 11])
    kernel.put(files[1:], [11, 12])
    for path in files:  # v2 reports population in cgroup.events
        events = Path(path).parent / "cgroup.events"
        if events.exists():
            events.write_text("populated 1\nfrozen 0\n")
    assert cg.pids("fn1") == ({10, 11, 12} if len(files) > 1 else {10, 11})
    assert cg.populated("fn1")
    assert cg.pids("gone") == set()
    assert not cg.populated("gone")


# --- kill_all ----------------------------------------------------------------------------------


def started(kernel: FakeKernel, pids: list[int]) -> Cgroups:
    cg = kernel.detect()
    cg.prepare()
    cg.create("fn1", LIMITS)
    kernel.put(cg.procs_files("fn1"), pids)
    return cg


def test_kill_all_v1_freezes_kills_and_thaws(tmp_path: Path) -> None:
    kernel = hybrid(tmp_path)
    cg = started(kernel, [101, 102, 103])
    kernel.fork_budget = 50  # forks would happen only if a process were still running
    cg.kill_all("fn1")
    assert sorted(kernel.killed) == [(p, signal.SIGKILL, "FROZEN") for p in (101, 102, 103)]
    assert text(tmp_path / "cgroup/freezer" / PARENT / "fn1/freezer.state") == "THAWED"
    assert cg.pids("fn1") == set()
    assert kernel.fork_budget == 50


def test_kill_all_ignores_processes_that_are_already_gone(tmp_path: Path) -> None:
    kernel = hybrid(tmp_path)
    cg = started(kernel, [101, 102])
    kernel.dead_on_arrival = {101}
    cg.kill_all("fn1")
    assert {pid for pid, _, _ in kernel.killed} == {101, 102}
    assert not cg.populated("fn1")


def test_kill_all_outlasts_a_fork_bomb_without_a_freezer(tmp_path: Path) -> None:
    kernel = comounted(tmp_path, freezer=False)
    cg = started(kernel, [101, 102])
    kernel.fork_budget = 30
    cg.kill_all("fn1")
    assert cg.pids("fn1") == set()
    assert kernel.fork_budget == 0
    assert len(kernel.killed) == 32
    assert len(kernel.sleeps) > 1


def test_kill_all_gives_up_after_max_rounds(tmp_path: Path) -> None:
    kernel = hybrid(tmp_path)
    cg = started(kernel, [101])
    kernel.immortal = {101}  # stuck in D state, say
    cg.kill_all("fn1", max_rounds=5)
    assert len(kernel.killed) == 5
    assert kernel.sleeps == [0.001, 0.002, 0.003, 0.004]  # none after the last round
    assert cg.populated("fn1")


def test_kill_all_v2_uses_cgroup_kill(tmp_path: Path) -> None:
    kernel = pure_v2(tmp_path)
    cg = started(kernel, [101, 102])
    cg.kill_all("fn1")
    assert kernel.killed == []
    assert cg.pids("fn1") == set()


def test_kill_all_v2_without_cgroup_kill_freezes(tmp_path: Path) -> None:
    kernel = pure_v2(tmp_path)
    kernel.lacking = {"cgroup.kill"}
    cg = started(kernel, [101, 102])
    cg.kill_all("fn1")
    assert sorted(kernel.killed) == [
        (101, signal.SIGKILL, "FROZEN"),
        (102, signal.SIGKILL, "FROZEN"),
    ]
    group = tmp_path / "cgroup/system.slice/lambdalet.service" / PARENT / "fn1"
    assert text(group / "cgroup.freeze") == "0"


def test_kill_all_of_an_empty_or_missing_group_does_nothing(kernel: FakeKernel) -> None:
    cg = started(kernel, [])
    cg.kill_all("fn1")
    cg.kill_all("never-created")
    assert kernel.killed == []
    assert kernel.sleeps == []
    with pytest.raises(ValueError, match="max_rounds"):
        cg.kill_all("fn1", max_rounds=0)


# --- destroy, children, remove_parent ----------------------------------------------------------


def test_destroy_removes_every_hierarchy_and_tolerates_missing(kernel: FakeKernel) -> None:
    cg = kernel.detect()
    cg.prepare()
    cg.create("fn1", LIMITS)
    cg.destroy("fn1")
    assert cg.children() == []
    cg.destroy("fn1")
    cg.destroy("never-created")


def test_destroy_a_busy_group_raises_after_trying_all(tmp_path: Path) -> None:
    kernel = hybrid(tmp_path)
    cg = started(kernel, [])
    kernel.put(cg.procs_files("fn1")[:1], [101])  # still a process in memory/
    with pytest.raises(SandboxSetupError, match="kill_all") as info:
        cg.destroy("fn1")
    assert isinstance(info.value.__cause__, OSError)
    assert info.value.__cause__.errno == errno.EBUSY
    assert not (tmp_path / "cgroup/pids" / PARENT / "fn1").exists()
    assert cg.children() == ["fn1"]


def test_children_lists_groups_of_any_hierarchy(tmp_path: Path) -> None:
    kernel = hybrid(tmp_path)
    cg = kernel.detect()
    assert cg.children() == []  # no parent yet
    cg.prepare()
    cg.create("b", LIMITS)
    cg.create("a", LIMITS)
    os.mkdir(tmp_path / "cgroup/pids" / PARENT / "half-made")  # a crash between two mkdirs
    assert cg.children() == ["a", "b", "half-made"]


def test_remove_parent_keeps_a_parent_with_groups(kernel: FakeKernel) -> None:
    cg = kernel.detect()
    cg.prepare()
    cg.create("fn1", LIMITS)
    cg.remove_parent()
    parents = [Path(p[3:]) for p in cg.describe().values()]
    assert all(p.is_dir() for p in parents)
    cg.destroy("fn1")
    cg.remove_parent()
    assert not any(p.exists() for p in parents)
    cg.remove_parent()  # already gone


def test_set_cpu_quota_after_an_init_boost(tmp_path: Path) -> None:
    v1 = hybrid(tmp_path / "a").detect()
    v1.prepare()
    v1.create("fn1", LIMITS)
    v1.set_cpu_quota("fn1", quota_us=100_000, period_us=100_000)
    assert text(tmp_path / "a/cgroup/cpu" / PARENT / "fn1/cpu.cfs_quota_us") == "100000"
    v2 = pure_v2(tmp_path / "b").detect()
    v2.prepare()
    v2.create("fn1", LIMITS)
    v2.set_cpu_quota("fn1", quota_us=7236, period_us=100_000)
    group = tmp_path / "b/cgroup/system.slice/lambdalet.service" / PARENT / "fn1"
    assert text(group / "cpu.max") == "7236 100000"


def test_memory_peak_through_a_kept_descriptor(tmp_path: Path) -> None:
    v1 = hybrid(tmp_path / "a").detect()
    v1.prepare()
    v1.create("fn1", LIMITS)
    peak = tmp_path / "a/cgroup/memory" / PARENT / "fn1/memory.max_usage_in_bytes"
    peak.write_text("1048576\n")
    fd = v1.open_memory_peak("fn1")
    try:
        assert v1.read_memory_peak(fd) == 1_048_576
        peak.write_text("2097152\n")  # the kernel rewrites it in place; pread sees the new value
        assert v1.read_memory_peak(fd) == 2_097_152
    finally:
        os.close(fd)
    v2 = pure_v2(tmp_path / "b").detect()
    v2.prepare()
    v2.create("fn1", LIMITS)
    group = tmp_path / "b/cgroup/system.slice/lambdalet.service" / PARENT / "fn1"
    (group / "memory.current").write_text("4096\n")
    (group / "memory.peak").unlink(missing_ok=True)  # before Linux 5.19: current instead
    fd = v2.open_memory_peak("fn1")
    try:
        assert v2.read_memory_peak(fd) == 4096
    finally:
        os.close(fd)
