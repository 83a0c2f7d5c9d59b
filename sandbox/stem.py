"""Child side of a sandbox: its init (pid 1) and its runtime (pid 2), as checklists.

A stem is built ahead of demand by `run_stem_init()` in a process the spawner forked into a
new pid namespace. Specialization arrives later on the stem's control socket: a
`SandboxSpec` plus descriptors in `InitFds` order (the Runtime API socket, the log pipe,
the code, runtime and optional /opt trees, the optional netns).

    init (pid 1)                              runtime (pid 2)
    join cgroup, unshare namespaces,
    assemble root, pivot_root, seal /,
    loopback up, fork ──────────────────────► setsid, rlimits, close fds, empty the
                                               bounding set, prepare the runtime
    --- stem ready; the rest is a cold start ---------------------------------------
    receive spec + fds (control socket)
    pass spec + fds to the runtime ─────────► join the ENI's netns (if any); for an HTTP
                                               runtime, open 127.0.0.1:9001 there and hand
    attach /var/runtime, /var/task, /opt       the listener to the daemon; stdio to the log
    (move_mount), size /tmp, hostname          pipe, become the sandbox uid (no
                                               capabilities, no_new_privs), the syscall
                                               filter (`sandbox.seccomp`), environment
    "go" ───────────────────────────────────► chdir /var/task, run the language runtime:
    drop privileges, syscall filter,           in process (python3.11) or by exec (node,
    reap orphans, exit with the runtime's      custom bootstrap, other pythons)
    status

Nothing here returns: every path ends in `os._exit` or the runtime. A failure before user
code runs is reported as `SetupFailed` on the Runtime API socket once there is one, and on
stderr (the daemon's log) before that.
"""

from __future__ import annotations

import fcntl
import os
import signal
import socket
from typing import NoReturn

from sandbox import _syscalls as sc
from sandbox.netdev import bring_up_loopback
from sandbox.privileges import (
    become_unprivileged,
    drop_bounding_set,
    drop_child_privileges,
    set_child_rlimits,
)
from sandbox.protocol import Connection, ErrorInfo, InitError, Listening, SetupFailed
from sandbox.rootfs import HostLayout, finish_child_rootfs, prepare_child_rootfs
from sandbox.runtimes.python import bootstrap
from sandbox.seccomp.bpf import host_program, template_program
from sandbox.snapshot.template import DELIVERY_FD, TemplateInit
from sandbox.spec import (
    API_HTTP,
    API_MSGPACK,
    EXIT_SETUP_FAILED,
    MAX_INIT_FDS,
    RUNTIME_API_HOST,
    RUNTIME_API_PORT,
    RUNTIME_FD,
    TASK_ROOT,
    InitFds,
    SandboxSpec,
    StemSpec,
)

_NAMESPACES = sc.CLONE_NEWNS | sc.CLONE_NEWUTS | sc.CLONE_NEWIPC
_MAX_SPEC = 256 * 1024
_HIGH_FD = 10  # above every descriptor a template's runtime places
_LISTEN_BACKLOG = 16
EXIT_NO_ENTRYPOINT = 127  # the runtime could not be exec'd (reported as an init error first)


def encode_exit(status: int) -> int:
    """Map the runtime's wait status to init's exit code: n for exit(n), 128+sig for a signal."""
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.waitstatus_to_exitcode(status) & 0xFF


def _join_cgroups(procs_files: tuple[str, ...]) -> None:
    # Our pid is 1 in our own namespace; "0" written to cgroup.procs means "the writer".
    for path in procs_files:
        with open(path, "w") as f:
            f.write("0")


def _receive_spec(sock: socket.socket, *, max_fds: int) -> tuple[SandboxSpec, list[int]] | None:
    """The spec and up to `max_fds` descriptors; None when the other end let us go. The
    caller checks the count, which depends on the spec."""
    import msgpack

    data, fds, _flags, _addr = socket.recv_fds(sock, _MAX_SPEC, max_fds)
    if not data:
        for fd in fds:
            os.close(fd)
        return None
    return SandboxSpec.from_wire(msgpack.unpackb(data, raw=False)), fds


def _report(step: str, exc: BaseException, *, sandbox_id: str, runtime_fd: int | None) -> None:
    text = f"{type(exc).__name__}: {exc}"
    if runtime_fd is not None:
        try:
            os.write(runtime_fd, Connection().send(SetupFailed(step=step, message=text)))
            return
        except OSError:
            pass
    try:
        os.write(2, f"lambdalet sandbox {sandbox_id}: set-up failed at '{step}': {text}\n".encode())
    except OSError:
        pass


def run_stem_init(stem: StemSpec, *, layout: HostLayout, control: socket.socket) -> NoReturn:
    """The sandbox's pid 1. Never returns."""
    runtime_fd: int | None = None
    step = "join cgroup"
    try:
        _join_cgroups(stem.cgroup_procs)  # first: everything below is accounted and limited
        step = "unshare namespaces"
        sc.unshare(_NAMESPACES | (sc.CLONE_NEWNET if stem.own_netns else 0))
        sc.unshare(sc.CLONE_NEWCGROUP)  # after the join, so the sandbox sees its group as /
        step = "assemble root filesystem"
        prepare_child_rootfs(stem, layout)
        if stem.own_netns:
            step = "bring up loopback"
            bring_up_loopback()
        step = "fork runtime"
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        # A template's environments get their descriptors on this line (`sandbox.snapshot`).
        delivery = None
        if stem.template:
            delivery = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        runtime_pid = os.fork()
        if runtime_pid == 0:
            ours.close()
            control.close()
            if delivery is not None:
                delivery[0].close()
            run_stem_runtime(stem, theirs, delivery=delivery[1] if delivery else None)
        theirs.close()
        delivery_inode = 0
        if delivery is not None:
            delivery_inode = os.fstat(delivery[1].fileno()).st_ino
            delivery[1].close()
        step = "wait for specialization"
        received = _receive_spec(control, max_fds=MAX_INIT_FDS)
        if received is None:  # the pool let this stem go
            os._exit(0)
        spec, fds = received
        given = InitFds.unpack(spec, fds)
        runtime_fd = given.runtime
        if not stem.own_netns:
            # Until now init shared the host's network namespace (nothing of the function
            # ran); it joins the ENI's before the runtime may start the function.
            step = "join the ENI's network namespace"
            if given.netns is None:
                raise ValueError("this stem has no network namespace of its own: it needs an ENI")
            sc.setns(given.netns, sc.CLONE_NEWNET)
        step = "hand the spec to the runtime"
        netns_fd = [] if given.netns is None else [given.netns]
        socket.send_fds(ours, [_pack(spec)], [given.runtime, given.log, *netns_fd])
        step = "attach the runtime, the function's code and its layers"
        finish_child_rootfs(
            spec,
            code_tree_fd=given.code_tree,
            runtime_tree_fd=given.runtime_tree,
            opt_tree_fd=given.opt_tree,
        )
        for tree in given.trees():
            os.close(tree)
        step = "set hostname"
        sc.sethostname(spec.hostname)
        ours.send(b"go")
        step = "drop init privileges"
        os.setsid()
        _protect_from_oom_killer()
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        if delivery is not None:
            step = "serve as a template"
            os.close(null)
            ours.close()
            runtime_fd = None
            TemplateInit(
                control,
                runtime_pid=runtime_pid,
                delivery=delivery[0],
                owner=(spec.uid, spec.gid),
                program=host_program(),
                delivery_inode=delivery_inode,
            ).serve()
        os.closerange(3, 1 << 20)
        runtime_fd = None
        drop_child_privileges(uid=spec.uid, gid=spec.gid)
        sc.prctl(sc.PR_SET_DUMPABLE, 0)
        sc.prctl(sc.PR_SET_PDEATHSIG, signal.SIGKILL)
        step = "install the syscall filter"
        sc.install_seccomp_filter(host_program())
    except BaseException as exc:
        _report(step, exc, sandbox_id=stem.sandbox_id, runtime_fd=runtime_fd)
        os._exit(EXIT_SETUP_FAILED)
    _reap_until(runtime_pid)


def _protect_from_oom_killer() -> None:
    """The OOM killer should pick the function, not its init. Needs CAP_SYS_RESOURCE, which
    some hosts (containers) withhold from root: then init stays an ordinary candidate."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("-1000")
    except PermissionError:
        pass


def _ordinary_oom_candidate() -> None:
    """The runtime inherits the daemon's protection from the OOM killer (-900): back to 0, so
    that on a host out of memory a function is killed before the daemon (raising the value
    needs no privilege)."""
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write("0")
    except OSError:  # a read-only /proc: the function keeps the daemon's value
        pass


def _pack(spec: SandboxSpec) -> bytes:
    import msgpack

    data: bytes = msgpack.packb(spec.to_wire(), use_bin_type=True)
    return data


def _reap_until(runtime_pid: int) -> NoReturn:
    """Reap every orphan in the namespace; leave with the runtime's status when it ends."""
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            os._exit(126)
        except InterruptedError:
            continue
        if pid == runtime_pid:
            os._exit(encode_exit(status))


def run_stem_runtime(
    stem: StemSpec, init: socket.socket, *, delivery: socket.socket | None = None
) -> NoReturn:
    """The sandbox's pid 2: get ready, wait to be specialized, lose every privilege, run.
    A template's runtime (`delivery` given) keeps its end of the delivery line."""
    runtime_fd: int | None = None
    step = "prepare the runtime"
    try:
        # Ahead of demand: everything that does not depend on the function.
        os.setsid()
        _ordinary_oom_candidate()
        set_child_rlimits(nofile=stem.nofile)
        null = os.open("/dev/null", os.O_RDONLY)
        os.dup2(null, 0)
        for low, high in descriptor_gaps(3, sorted(s.fileno() for s in (init, delivery) if s)):
            os.closerange(low, high)
        drop_bounding_set()
        bootstrap.prepare_stem()
        step = "wait for specialization"
        received = _receive_spec(init, max_fds=3)
        if received is None:
            os._exit(0)
        spec, fds = received
        expected = 3 if spec.netns else 2  # runtime socket, log pipe, (netns)
        if len(fds) != expected:
            raise ValueError(f"expected {expected} descriptors with the spec, got {len(fds)}")
        runtime_fd, log_fd, *netns_fd = fds
        if netns_fd:
            step = "join the ENI's network namespace"
            sc.setns(netns_fd[0], sc.CLONE_NEWNET)
            os.close(netns_fd[0])
        elif not stem.own_netns:  # never run a function in the host's network namespace
            raise ValueError("this stem has no network namespace of its own: it needs an ENI")
        if spec.api == API_HTTP:
            step = "open the Runtime API listener"
            _hand_over_runtime_api(runtime_fd)
        step = "drop runtime privileges"
        os.dup2(log_fd, 1)
        os.dup2(log_fd, 2)
        os.close(log_fd)
        if delivery is not None:
            if spec.entrypoint:
                raise ValueError("a template runs the in-process Python runtime")
            init, runtime_fd = _template_fds(init, runtime_fd, delivery)
        become_unprivileged(uid=spec.uid, gid=spec.gid)
        step = "install the syscall filter"
        program = host_program() if delivery is None else template_program()
        sc.install_seccomp_filter(program)  # after no_new_privs, before any user code
        os.environ.clear()
        os.environ.update(spec.env)
        os.umask(0o022)
        step = "wait for the function's code"
        if init.recv(16) != b"go":
            os._exit(EXIT_SETUP_FAILED)  # init failed and reported it; it is exiting too
        init.close()
        os.chdir(TASK_ROOT)
        if spec.entrypoint:
            step = "start the runtime"
            runtime_fd = _to_runtime_fd(runtime_fd, keep_on_exec=spec.api == API_MSGPACK)
    except BaseException as exc:
        _report(step, exc, sandbox_id=stem.sandbox_id, runtime_fd=runtime_fd)
        os._exit(EXIT_SETUP_FAILED)
    if spec.entrypoint:
        _exec_runtime(spec)
    bootstrap.run(runtime_fd, handler=spec.handler)


def descriptor_gaps(low: int, keep: list[int]) -> list[tuple[int, int]]:
    """[low, 2**20) without the descriptors in `keep` (sorted), as closerange arguments."""
    out = []
    for fd in keep:
        out.append((low, fd))
        low = fd + 1
    out.append((low, 1 << 20))
    return out


def _template_fds(
    init: socket.socket, runtime_fd: int, delivery: socket.socket
) -> tuple[socket.socket, int]:
    """Put a template's runtime socket and delivery line where its init expects them in
    every clone (`RUNTIME_FD`, `DELIVERY_FD`); the line to init moves out of the way."""
    moved_init = socket.socket(fileno=fcntl.fcntl(init.fileno(), fcntl.F_DUPFD, _HIGH_FD))
    high = [fcntl.fcntl(fd, fcntl.F_DUPFD, _HIGH_FD) for fd in (runtime_fd, delivery.fileno())]
    for fd in (init.detach(), runtime_fd, delivery.detach()):
        os.close(fd)
    for fd, target in zip(high, (RUNTIME_FD, DELIVERY_FD), strict=True):
        os.dup2(fd, target)
        os.close(fd)
    return moved_init, RUNTIME_FD


def _hand_over_runtime_api(runtime_fd: int) -> None:
    """Listen on 127.0.0.1:9001 in the sandbox's network namespace and give the listener to
    the daemon, which serves the HTTP Runtime API on it from the host. Nothing in the
    sandbox keeps it: the function can connect to it, never accept on it."""
    channel = socket.socket(fileno=runtime_fd)
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
            listener.bind((RUNTIME_API_HOST, RUNTIME_API_PORT))
            listener.listen(_LISTEN_BACKLOG)
            socket.send_fds(channel, [Connection().send(Listening())], [listener.fileno()])
    finally:
        channel.detach()


def _to_runtime_fd(runtime_fd: int, *, keep_on_exec: bool) -> int:
    """Move the runtime socket to fd 3 and close every other descriptor above stderr. A
    msgpack runtime inherits it across exec; an HTTP runtime's copy closes at exec, so it
    only serves to report a failed exec."""
    if runtime_fd != RUNTIME_FD:
        os.dup2(runtime_fd, RUNTIME_FD)
        os.close(runtime_fd)
    os.closerange(RUNTIME_FD + 1, 1 << 20)
    os.set_inheritable(RUNTIME_FD, keep_on_exec)
    return RUNTIME_FD


def _exec_runtime(spec: SandboxSpec) -> NoReturn:
    """Replace this process with the runtime: the first entrypoint candidate that exists.
    Failing that, report Lambda's Runtime.InvalidEntrypoint as the init error."""
    path = next((p for p in spec.entrypoint if os.path.exists(p)), None)
    if path is None:
        candidates = " ".join(spec.entrypoint)
        kind = "bootstrap(s)" if spec.api == API_HTTP else "runtime executable"
        _init_error("Runtime.InvalidEntrypoint", f"Couldn't find valid {kind}: [{candidates}]")
    try:
        os.execve(path, [path, *spec.args], os.environ)
    except OSError as exc:
        _init_error(
            "Runtime.InvalidEntrypoint", f"fork/exec {path}: {(exc.strerror or str(exc)).lower()}"
        )


def _init_error(error_type: str, message: str) -> NoReturn:
    msg = InitError(error=ErrorInfo(error_type=error_type, error_message=message))
    try:
        os.write(RUNTIME_FD, Connection().send(msg))
    except OSError:
        pass
    os._exit(EXIT_NO_ENTRYPOINT)
