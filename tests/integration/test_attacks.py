"""Attacks from inside functions and from outside, each performed for real against the daemon,
each with a negative control that shows the test would see the attack succeed.

The syscall rows follow bubblewrap's try-syscall idea: every call gets arguments that an
unfiltered kernel rejects with its own error (EBADF, EFAULT, EINVAL, ...) or accepts, so the
filter's EPERM is unmistakable; the control is the same probe run on the host, where nothing
filters it. Other rows that already held before the syscall filter (fork bombs, memory, /tmp,
timeouts, host and cross-sandbox network, zip-slip and zip bombs) are in
test_sandbox_limits.py, test_network_default.py and test_api.py.
"""

from __future__ import annotations

import json
import os
import re
import resource
import socket
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import sandbox
from engine.cli.client import Client
from sandbox.seccomp.bpf import host_arch
from tests.integration.conftest import FUNCTIONS, Daemon, wait_until
from tests.integration.test_runtime_provided import SHELL_BOOTSTRAP

# Every test that deploys runs against ordinary and SnapStart-restored environments.
pytestmark = [pytest.mark.privileged, pytest.mark.both_kinds]

NOBODY = 65534
CLONE_NEWUSER = 0x10000000
SIGCHLD = 17

# A probe library shared by the function (in the sandbox) and the control (on the host).
PROBES = """
import ctypes, errno, fcntl, json, os, socket
libc = ctypes.CDLL(None, use_errno=True)
NR = __NUMBERS__

def name(err):
    return errno.errorcode.get(err, str(err))

def call(nr_name, *args):
    r = libc.syscall(NR[nr_name], *[ctypes.c_long(a) for a in args])
    return "ok" if r >= 0 else name(ctypes.get_errno())

def in_child(fn, *args):
    # a probe that changes the process (a new namespace) runs in a throwaway child
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, fn(*args).encode())
        os._exit(0)
    os.close(w)
    os.waitpid(pid, 0)
    with os.fdopen(r) as f:
        return f.read()

def clone_flags(flags):
    r = libc.syscall(NR["clone"], ctypes.c_long(flags), 0, 0, 0, 0)
    if r == 0:
        os._exit(0)  # the child of a raw clone leaves at once
    if r > 0:
        os.waitpid(r, 0)
        return "ok"
    return name(ctypes.get_errno())

def open_socket(family, kind, proto):
    try:
        socket.socket(family, kind, proto).close()
        return "ok"
    except OSError as exc:
        return name(exc.errno)

def tiocsti():
    try:
        fcntl.ioctl(0, 0x5412, b"x")
        return "ok"
    except OSError as exc:
        return name(exc.errno)

def probes():
    return {
        "unshare(CLONE_NEWUSER)": in_child(call, "unshare", 0x10000000),
        "clone(CLONE_NEWUSER)": clone_flags(0x10000000 | 17),
        "clone3": call("clone3", 0, 0),
        "setns": call("setns", -1, 0),
        "mount": call("mount", 0, 1, 0, 0, 0),
        "umount2": call("umount2", 1, 0),
        "chroot": call("chroot", 1),
        "open_tree": call("open_tree", -1, 1, 0),
        "keyctl": call("keyctl", 0, -2, 0),
        "add_key": call("add_key", 0, 0, 0, 0, 0),
        "request_key": call("request_key", 0, 0, 0, 0),
        "bpf": call("bpf", 9999, 0, 0),
        "perf_event_open": call("perf_event_open", 0, 0, -1, -1, 0),
        "userfaultfd": call("userfaultfd", 0xFFFF),
        "io_uring_setup": call("io_uring_setup", 1, 0),
        "io_uring_enter": call("io_uring_enter", -1, 0, 0, 0, 0, 0),
        "io_uring_register": call("io_uring_register", -1, 0, 0, 0),
        "ptrace": call("ptrace", 2, -1, 0, 0),
        "process_vm_readv": call("process_vm_readv", -1, 0, 0, 0, 0, 0),
        "kcmp": call("kcmp", -1, -1, 0, 0, 0),
        "pidfd_getfd": call("pidfd_getfd", -1, 0, 0),
        "open_by_handle_at": call("open_by_handle_at", -1, 0, 0),
        "socket(AF_VSOCK)": open_socket(40, socket.SOCK_STREAM, 0),
        "socket(AF_ALG)": open_socket(38, socket.SOCK_SEQPACKET, 0),
        "socket(AF_NETLINK, NETLINK_NETFILTER)": open_socket(16, socket.SOCK_RAW, 12),
        "ioctl(TIOCSTI)": tiocsti(),
        # What the filter lets through, so that the rows above cannot pass by breaking calls.
        "allowed: socket(AF_NETLINK, NETLINK_ROUTE)": open_socket(16, socket.SOCK_RAW, 0),
        "allowed: socket(AF_INET6)": open_socket(socket.AF_INET6, socket.SOCK_DGRAM, 0),
        "allowed: clone(thread-like)": clone_flags(17),
    }
"""
DENIED_WITH = {"clone3": "ENOSYS"}  # glibc falls back to clone on ENOSYS only


def probe_library() -> str:
    return PROBES.replace("__NUMBERS__", json.dumps(dict(host_arch().numbers)))


def run_on_host(code: str, *, user: int | None = None) -> Any:
    """`code` (which prints JSON) in a throwaway interpreter on the host: the control."""
    done = subprocess.run(
        [sys.executable, "-I", "-c", code],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
        user=user,
    )
    return json.loads(done.stdout)


def function_code(body: str) -> str:
    """A python3.11 handler: the probe library, then `body` (which defines handler)."""
    return probe_library() + "\n" + textwrap.dedent(body)


def invoke_ok(daemon: Daemon, name: str, payload: Any = None) -> Any:
    resp = daemon.invoke(name, payload or {})
    assert resp.status == 200, resp.body
    assert "x-amz-function-error" not in resp.headers, resp.body
    return resp.json()


# --- The syscall filter --------------------------------------------------------------------


def test_the_filter_refuses_what_functions_never_need_and_the_host_would_allow(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    inside = invoke_ok(daemon, deploy(function_code("def handler(e, c):\n    return probes()\n")))
    outside = run_on_host(probe_library() + "\nprint(json.dumps(probes()))", user=NOBODY)
    for call, got in inside.items():
        if call.startswith("allowed: "):
            assert got == outside[call] == "ok", (call, got, outside[call])
            continue
        # The control: unfiltered, the kernel answers something else (the call reached it).
        assert outside[call] not in ("EPERM", "ENOSYS"), (call, outside[call])
        assert got == DENIED_WITH.get(call, "EPERM"), (call, got)


def test_every_thread_of_every_runtime_runs_under_the_filter(
    daemon: Daemon, deploy: Callable[..., str], functions: Any
) -> None:
    python = deploy(
        """
        import threading
        def status(path):
            return {k: v.strip() for k, v in (l.split(":", 1) for l in open(path))}
        def handler(e, c):
            seen = {}
            t = threading.Thread(target=lambda: seen.update(status("/proc/thread-self/status")))
            t.start(); t.join()
            main = status("/proc/self/status")
            return [{k: s[k] for k in ("Seccomp", "NoNewPrivs", "CapEff")} for s in (main, seen)]
        """
    )
    for thread in invoke_ok(daemon, python):
        assert thread == {"Seccomp": "2", "NoNewPrivs": "1", "CapEff": "0000000000000000"}
    shell = functions.create(
        "provided.al2023",
        "function.probe",
        {"bootstrap": SHELL_BOOTSTRAP, "function.sh": SHELL_PROBE},
        executable=("bootstrap",),
    )
    assert functions.invoke(shell).ok() == {"seccomp": "2", "userns": "no"}
    # The control: the same command works on the host.
    assert subprocess.run(["unshare", "-U", "true"], user=NOBODY, check=False).returncode == 0


SHELL_PROBE = """
probe() {
  if unshare -U true 2>/dev/null; then userns=yes; else userns=no; fi
  seccomp="$(sed -n 's/^Seccomp:[[:space:]]*//p' /proc/self/status)"
  printf '{"seccomp": "%s", "userns": "%s"}' "$seccomp" "$userns"
}
"""


def test_node_runs_under_the_filter_too(functions: Any) -> None:
    from tests.integration.fnhelpers import host_node_runtime

    runtime = host_node_runtime()
    if runtime is None:
        pytest.skip("no node on this host")
    name = functions.create(
        runtime,
        "index.handler",
        {
            "index.js": """\
                const fs = require("fs");
                const { spawnSync } = require("child_process");
                exports.handler = async () => {
                  const status = fs.readFileSync("/proc/self/status", "utf8");
                  const seccomp = /Seccomp:\\s*(\\d)/.exec(status)[1];
                  const userns = spawnSync("unshare", ["-U", "true"]).status === 0;
                  return { seccomp, userns };
                };
                """
        },
    )
    assert functions.invoke(name).ok() == {"seccomp": "2", "userns": False}


# --- Kernel state shared between functions -------------------------------------------------

KEYRING = """
import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
NR = __NUMBERS__
KEY_SPEC_USER_KEYRING = -4
def add(data):
    r = libc.syscall(NR["add_key"], b"user", b"lambdalet-probe", data, len(data),
                     ctypes.c_long(KEY_SPEC_USER_KEYRING))
    return r if r >= 0 else -ctypes.get_errno()
def read():
    key = libc.syscall(NR["keyctl"], 10, ctypes.c_long(KEY_SPEC_USER_KEYRING), b"user",
                       b"lambdalet-probe", 0)  # KEYCTL_SEARCH
    if key < 0:
        return -ctypes.get_errno()
    buf = ctypes.create_string_buffer(256)
    n = libc.syscall(NR["keyctl"], 11, ctypes.c_long(key), buf, 256)  # KEYCTL_READ
    return buf.raw[:n].decode() if n >= 0 else -ctypes.get_errno()
def clear():
    libc.syscall(NR["keyctl"], 7, ctypes.c_long(KEY_SPEC_USER_KEYRING))  # KEYCTL_CLEAR
"""


def test_no_data_passes_between_functions_through_the_kernel_keyring(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    lib = KEYRING.replace("__NUMBERS__", json.dumps(dict(host_arch().numbers)))
    writer = deploy(lib + "\ndef handler(e, c):\n    return add(b'left by another function')\n")
    reader = deploy(lib + "\ndef handler(e, c):\n    return read()\n")
    eperm = -1  # -errno.EPERM
    assert invoke_ok(daemon, writer) == eperm
    assert invoke_ok(daemon, reader) == eperm
    # The control: unfiltered, two processes of one uid (as two environments reusing a uid
    # would be) pass data through that uid's keyring.
    uid = 299_999  # outside every test daemon's uid range
    try:
        run_on_host(lib + "\nprint(json.dumps(add(b'left by another function')))", user=uid)
        assert run_on_host(lib + "\nprint(json.dumps(read()))", user=uid) == (
            "left by another function"
        )
    finally:
        run_on_host(lib + "\nclear()\nprint('null')", user=uid)


# --- Other functions' secrets and the daemon's environment ----------------------------------

SCAN = """
import os
def scan(pid, needles):
    # Each needle comes as two halves, counted only where they stand side by side: the
    # scanner itself then never holds a whole copy it could find (its halves are separate
    # objects, a bytes header apart).
    counts = {i: 0 for i in range(len(needles))}
    with open(f"/proc/{pid}/maps") as maps, open(f"/proc/{pid}/mem", "rb", 0) as mem:
        for line in maps:
            span, perms = line.split()[:2]
            if not perms.startswith("r") or "[vvar" in line or "[vsyscall" in line:
                continue
            start, end = (int(x, 16) for x in span.split("-"))
            if end - start > 1 << 30:
                continue
            try:
                mem.seek(start)
                data = mem.read(end - start)
            except OSError:
                continue
            for i, (head, tail) in enumerate(needles):
                at = data.find(head)
                while at >= 0:
                    if data[at + len(head) : at + len(head) + len(tail)] == tail:
                        counts[i] += 1
                    at = data.find(head, at + 1)
    return [counts[i] for i in range(len(needles))]
"""


def halves(secret: str) -> list[bytes]:
    """A needle for `SCAN`: hex-encoded halves (the plain secret travels nowhere)."""
    middle = len(secret) // 2
    return [secret[:middle].encode().hex().encode(), secret[middle:].encode().hex().encode()]


def sandbox_pids(daemon: Daemon) -> dict[str, list[int]]:
    """Sandbox id -> the pids in its cgroup (stems and environments)."""
    out: dict[str, list[int]] = {}
    for procs in Path("/sys/fs/cgroup/pids").glob(f"{daemon.cgroup_parent}/sb-*/cgroup.procs"):
        pids = [int(p) for p in procs.read_text().split()]
        out[procs.parent.name.removeprefix("sb-")] = pids
    return out


def spawner_pid(daemon: Daemon) -> int:
    """The daemon's spawner: its child running sandbox.spawner (stems share its command line,
    but their parent is the spawner)."""
    assert daemon.process is not None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
        except OSError:
            continue
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        if ppid == daemon.process.pid and b"sandbox.spawner" in cmdline:
            return int(entry)
    raise AssertionError(f"no spawner for {daemon.cgroup_parent}")


@pytest.fixture
def one_stem(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    """A daemon that keeps one stem ready: the stem a cold start takes after another one was
    forked from the spawner after that other one's specialization."""
    marker = f"lambdalet-daemon-env-{uuid.uuid4().hex}"
    d = daemon_factory()
    d.start(sandbox_toml="prewarm = 1", extra_env={"LAMBDALET_TEST_OPERATOR_SECRET": marker})
    d.operator_secret = marker  # type: ignore[attr-defined]
    yield d
    d.stop()


def create(daemon: Daemon, code: str, **settings: Any) -> str:
    name = f"a-{uuid.uuid4().hex[:10]}"
    resp = daemon.create(name, code, **settings)
    assert resp.status == 201, resp.body
    return name


def test_a_function_never_holds_another_functions_secrets(one_stem: Daemon) -> None:
    daemon = one_stem
    secret_v = f"victim-secret-{uuid.uuid4().hex}"
    secret_a = f"attacker-own-{uuid.uuid4().hex}"
    victim = create(
        daemon,
        "import os\ndef handler(e, c):\n    return os.uname().nodename\n",
        Environment={"Variables": {"DB_PASSWORD": secret_v}},
    )
    victim_id = invoke_ok(daemon, victim).removeprefix("lambdalet-")
    # The stem that replaces the one the victim took is forked after its specialization.
    assert wait_until(lambda: len(sandbox_pids(daemon)) >= 2, 20)
    attacker = create(
        daemon,
        SCAN
        + "\nimport ctypes\n"
        + "def handler(e, c):\n"
        + "    ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/self/mem\n"
        + "    needles = [[bytes.fromhex(h) for h in n] for n in e['needles']]\n"
        + "    return scan('self', needles)\n",
        Environment={"Variables": {"MY_TOKEN": secret_a}},
        MemorySize=512,
    )
    needles = [[h.decode() for h in halves(s)] for s in (secret_v, secret_a)]
    found_v, found_a = invoke_ok(daemon, attacker, {"needles": needles})
    assert found_a >= 1  # the control: the scan finds the attacker's own secret
    assert found_v == 0
    # From the host: no stem, no other environment and not the spawner holds it; the
    # victim's own runtime does (the control for the host-side scan).
    scanner: dict[str, Any] = {}
    exec(SCAN, scanner)
    needle = [bytes.fromhex(h.decode()) for h in halves(secret_v)]
    found = {
        sid: sum(scanner["scan"](pid, [needle])[0] for pid in pids)
        for sid, pids in sandbox_pids(daemon).items()
    }
    assert found.pop(victim_id) >= 1
    assert found and all(count == 0 for count in found.values()), found
    assert scanner["scan"](spawner_pid(daemon), [needle])[0] == 0


def test_the_daemons_environment_does_not_reach_functions(one_stem: Daemon) -> None:
    daemon = one_stem
    marker: str = daemon.operator_secret  # type: ignore[attr-defined]
    code = """
        import ctypes
        def handler(e, c):
            ctypes.CDLL(None).prctl(4, 1, 0, 0, 0)  # PR_SET_DUMPABLE: /proc/self/environ readable
            return open("/proc/self/environ", "rb").read().decode(errors="replace")
    """
    environ = invoke_ok(daemon, create(daemon, textwrap.dedent(code)))
    assert "PATH=" in environ  # the control: the read works
    assert marker not in environ
    assert daemon.process is not None
    # The control: the daemon itself has it.
    assert marker in Path(f"/proc/{daemon.process.pid}/environ").read_text(errors="replace")


# --- Host information ----------------------------------------------------------------------

HOST_FILES = (
    "/proc/cmdline", "/proc/key-users", "/proc/interrupts", "/proc/softirqs", "/proc/iomem",
    "/proc/ioports", "/proc/kallsyms", "/proc/keys", "/proc/timer_list", "/proc/sched_debug",
    "/proc/config.gz", "/proc/vmallocinfo",
)  # fmt: skip


def test_host_wide_proc_files_are_masked(daemon: Daemon, deploy: Callable[..., str]) -> None:
    fn = deploy(
        """
        import os
        def read(path):
            try:
                return len(open(path, "rb").read())
            except FileNotFoundError:
                return None
            except PermissionError:
                return -1
        def handler(e, c):
            return {
                "files": {p: read(p) for p in e["files"]},
                "sysvipc": os.listdir("/proc/sysvipc"),
                "meminfo": read("/proc/meminfo"),
            }
        """
    )
    got = invoke_ok(daemon, fn, {"files": list(HOST_FILES)})
    assert got["meminfo"] > 0  # the control inside: what a runtime needs stays readable
    for path, size in got["files"].items():
        if os.path.exists(path):
            assert size in (0, -1), (path, size)
    assert got["sysvipc"] == []
    # The control: on the host, these say something.
    readable = [p for p in HOST_FILES if os.path.exists(p) and Path(p).read_bytes()]
    assert {"/proc/cmdline", "/proc/interrupts", "/proc/iomem"} <= set(readable)


def test_mountinfo_names_no_install_path_and_no_etc_bind(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    fn = deploy("def handler(e, c):\n    return open('/proc/self/mountinfo').read()\n")
    mountinfo: str = invoke_ok(daemon, fn)
    mounts = {line.split()[4] for line in mountinfo.splitlines()}
    assert {"/", "/var/task", "/var/runtime", "/proc"} <= mounts  # the control: it is read
    assert "/etc" not in mounts  # copied into the root, not bound from the state directory
    install = str(Path(sandbox.__file__).parent)
    assert install not in mountinfo
    # What remains of host paths: the function's own code and runtime, under the state
    # directory (README, Security model), and the host's system directories themselves.
    host_paths = set()
    for line in mountinfo.splitlines():
        fields = line.split()
        fstype = fields[fields.index("-") + 1]
        if fstype not in ("tmpfs", "proc") and fields[3] not in ("/usr", "/bin", "/lib"):
            host_paths.add(fields[3])
    assert host_paths and all(p.startswith(f"{daemon.state_dir}/") for p in host_paths)


def test_the_python_runtime_holds_only_its_channel(
    daemon: Daemon, deploy: Callable[..., str], sandbox_kind: str
) -> None:
    fn = deploy(
        """
        import os
        def fds():
            out = {}
            for fd in os.listdir("/proc/self/fd"):
                try:
                    out[fd] = os.readlink(f"/proc/self/fd/{fd}")
                except OSError:
                    pass  # the directory listing's own descriptor, closed by now
            return out
        AT_INIT = fds()
        def handler(e, c):
            return [AT_INIT, fds()]
        """
    )
    at_init, at_invoke = invoke_ok(daemon, fn)
    for fds in (at_init, at_invoke):
        kinds = {fd: re.sub(r"\[\d+\]", "", target) for fd, target in fds.items()}
        if fds is at_init and sandbox_kind == "snap-start":
            # A template's init also holds the line its clones' descriptors arrive on; no
            # clone has it (its number is /dev/null there, see the next round).
            assert kinds.pop("4") == "socket:", fds
        # stdin from /dev/null, stdout and stderr the log pipe, fd 3 the Runtime API socket.
        assert kinds == {"0": "/dev/null", "1": "pipe:", "2": "pipe:", "3": "socket:"}, fds


# --- A daemon that cannot be starved ------------------------------------------------------

SLOW_CONNECTIONS = 900


def daemon_fds(daemon: Daemon) -> int:
    assert daemon.process is not None
    return len(os.listdir(f"/proc/{daemon.process.pid}/fd"))


def test_slow_clients_cannot_starve_the_daemon(daemon_factory: Callable[[], Daemon]) -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 4096)), hard))  # the attacker
    daemon = daemon_factory()
    daemon.start()
    try:
        name = f"a-{uuid.uuid4().hex[:10]}"
        assert daemon.create(name, "def handler(e, c):\n    return 'alive'\n").status == 201
        assert daemon.invoke(name).json() == "alive"
        before = daemon_fds(daemon)
        slow: list[socket.socket] = []
        deadline = time.monotonic() + 60
        try:
            for _ in range(SLOW_CONNECTIONS):
                assert time.monotonic() < deadline
                s = socket.create_connection(("127.0.0.1", daemon.port), timeout=5)
                s.sendall(b"POST /2015-03-31/functions HTTP/1.1\r\nHost: 127.0.0.1\r\n")
                slow.append(s)
            # The control: the daemon did take the slow clients on (they hold descriptors).
            held = daemon_fds(daemon) - before
            assert held >= 100, held
            # Meanwhile the unix socket and signed TCP requests are served.
            started = time.monotonic()
            assert daemon.invoke(name).json() == "alive"
            client = daemon.lambda_client()
            assert client.get_function(FunctionName=name)["Configuration"]["FunctionName"] == name
            assert time.monotonic() - started < 15
            assert daemon_fds(daemon) < before + 600  # capped, far below its limit
            # Connections that never finish their head are closed by the daemon.
            assert wait_until(lambda: all(closed(s) for s in slow), 20)
        finally:
            for s in slow:
                s.close()
        assert daemon.invoke(name).json() == "alive"
    finally:
        daemon.stop()


def closed(s: socket.socket) -> bool:
    s.setblocking(False)
    try:
        return s.recv(1) == b""
    except BlockingIOError:
        return False
    except OSError:
        return True


# --- CPU ---------------------------------------------------------------------------------


def cpu_file(daemon: Daemon, sandbox_id: str, name: str) -> str:
    path = Path("/sys/fs/cgroup/cpu") / daemon.cgroup_parent / f"sb-{sandbox_id}" / name
    return path.read_text().strip()


def limited_sandboxes(daemon: Daemon) -> set[str]:
    """Sandboxes with a CPU quota: environments (a stem has none until it is specialized)."""
    out = set()
    for sid in sandbox_pids(daemon):
        try:
            if cpu_file(daemon, sid, "cpu.cfs_quota_us") != "-1":
                out.add(sid)
        except FileNotFoundError:
            pass  # torn down meanwhile
    return out


def init_quotas(
    daemon: Daemon, name: str, *, at: tuple[float, ...], expect_error: bool = False
) -> tuple[str, list[int]]:
    """Invoke `name` (a cold start, in the background); return its sandbox and its CPU quota
    read `at` seconds into its init."""
    before = limited_sandboxes(daemon)
    result: dict[str, Any] = {}
    worker = threading.Thread(
        target=lambda: result.update(r=invoke_on_new_connection(daemon, name))
    )
    started = time.monotonic()
    worker.start()
    assert wait_until(lambda: bool(limited_sandboxes(daemon) - before), 10)
    (sid,) = limited_sandboxes(daemon) - before
    quotas = []
    for t in at:
        time.sleep(max(0.0, started + t - time.monotonic()))
        quotas.append(int(cpu_file(daemon, sid, "cpu.cfs_quota_us")))
    worker.join(60)
    resp = result["r"]
    assert ("x-amz-function-error" in resp.headers) == expect_error, resp.body
    return sid, quotas


def invoke_on_new_connection(daemon: Daemon, name: str) -> Any:
    client = Client(daemon.socket_path, timeout_s=60)
    try:
        return client.request("POST", f"{FUNCTIONS}/{name}/invocations", b"{}")
    finally:
        client.close()


def test_init_boost_is_bounded_and_withheld_from_a_crash_loop(
    daemon_factory: Callable[[], Daemon],
) -> None:
    daemon = daemon_factory()
    daemon.start(sandbox_toml="init_boost_s = 1.0")
    try:
        run_quota = 7236  # 128 MB of 1,769 MB per vCPU, of a 100 ms period
        boosted = min(os.cpu_count() or 1, 6) * 100_000
        slow = create(daemon, "import time\ntime.sleep(3)\ndef handler(e, c):\n    return 1\n")
        sid, quotas = init_quotas(daemon, slow, at=(0.4, 2.0))
        assert quotas == [boosted, run_quota], quotas  # boosted first (the control), then cut
        assert cpu_file(daemon, sid, "cpu.shares") == "74"  # 128/1769 of a vCPU's 1024
        crasher = create(
            daemon,
            "import time\ntime.sleep(1.5)\nraise RuntimeError('broken init')\n"
            "def handler(e, c):\n    return 1\n",
        )
        # The control: a version gets the boost until it has failed three times in a row.
        for _ in range(3):
            assert init_quotas(daemon, crasher, at=(0.4,), expect_error=True)[1] == [boosted]
        assert init_quotas(daemon, crasher, at=(0.4,), expect_error=True)[1] == [run_quota]
    finally:
        daemon.stop()
