"""The compiled syscall filter, run in a classic-BPF interpreter: what each call gets."""

from __future__ import annotations

import errno
import struct

import pytest

from sandbox.seccomp.bpf import (
    AARCH64,
    ARCHES,
    RET_ALLOW,
    X86_64,
    Arch,
    compile_policy,
    host_program,
    ret_errno,
)
from sandbox.seccomp.policy import (
    AF_INET,
    AF_INET6,
    AF_NETLINK,
    AF_UNIX,
    ALLOWED,
    CLONE_NAMESPACES,
    NETLINK_ROUTE,
    TIOCLINUX,
    TIOCSTI,
)

EPERM = ret_errno(errno.EPERM)
ENOSYS = ret_errno(errno.ENOSYS)
CLONE_NEWUSER = 0x10000000
CLONE_NEWNET = 0x40000000
THREAD_FLAGS = 0x3D0F00  # what glibc's pthread_create passes
AF_PACKET, AF_ALG, AF_VSOCK = 17, 38, 40
NETLINK_AUDIT, NETLINK_NETFILTER = 9, 12


def run_filter(program: bytes, *, nr: int, arch: int, args: tuple[int, ...] = ()) -> int:
    """A classic-BPF interpreter for the instructions the compiler emits."""
    padded = (*args, *([0] * (6 - len(args))))
    data = struct.pack("<iIQ6Q", nr, arch, 0, *[a & (2**64 - 1) for a in padded])
    insns = [struct.unpack_from("<HBBI", program, i) for i in range(0, len(program), 8)]
    acc, pc = 0, 0
    for _ in range(10_000):
        code, jt, jf, k = insns[pc]
        if code == 0x20:  # ld [k]
            (acc,) = struct.unpack_from("<I", data, k)
            pc += 1
        elif code == 0x06:  # ret k
            return int(k)
        elif code in (0x15, 0x25, 0x35, 0x45):
            taken = {
                0x15: acc == k,
                0x25: acc > k,
                0x35: acc >= k,
                0x45: bool(acc & k),
            }[code]
            pc += 1 + (jt if taken else jf)
        else:
            raise AssertionError(f"unexpected opcode {code:#x}")
    raise AssertionError("the program did not return")


def call(name: str, *args: int, arch: Arch = X86_64) -> int:
    program = compile_policy(arch)
    return run_filter(program, nr=arch.numbers[name], arch=arch.audit_arch, args=args)


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=lambda a: a.name)
def test_every_allowed_call_is_allowed_and_others_denied(arch: Arch) -> None:
    program = compile_policy(arch)
    allowed = {arch.numbers[n] for n in ALLOWED if n in arch.numbers}
    ruled = {arch.numbers[n] for n in ("clone", "clone3", "socket", "socketpair", "ioctl",
                                         "personality") if n in arch.numbers}  # fmt: skip
    for name, nr in arch.numbers.items():
        got = run_filter(program, nr=nr, arch=arch.audit_arch)
        if nr in ruled:
            continue
        expected = RET_ALLOW if nr in allowed else EPERM
        assert got == expected, (name, nr, hex(got))


@pytest.mark.parametrize(
    "name",
    [
        "unshare", "setns", "mount", "umount2", "pivot_root", "chroot", "open_tree",
        "move_mount", "fsopen", "fsmount", "mount_setattr", "keyctl", "add_key",
        "request_key", "bpf", "perf_event_open", "userfaultfd", "io_uring_setup",
        "io_uring_enter", "io_uring_register", "ptrace", "process_vm_readv",
        "process_vm_writev", "kcmp", "pidfd_getfd", "open_by_handle_at", "kexec_load",
        "init_module", "finit_module", "delete_module", "acct", "swapon", "quotactl",
        "reboot", "syslog", "sethostname", "settimeofday", "clock_settime", "statmount",
        "listmount",
    ],
)  # fmt: skip
def test_dangerous_calls_are_denied_with_eperm(name: str) -> None:
    for arch in (X86_64, AARCH64):
        if name in arch.numbers:
            assert call(name, arch=arch) == EPERM, (arch.name, name)


def test_clone_is_allowed_for_threads_and_processes_but_not_namespaces() -> None:
    assert call("clone", THREAD_FLAGS) == RET_ALLOW
    assert call("clone", 17) == RET_ALLOW  # fork(): SIGCHLD only
    assert call("clone", 17 | CLONE_NEWUSER) == EPERM
    assert call("clone", 17 | CLONE_NEWNET) == EPERM
    assert call("clone", CLONE_NAMESPACES) == EPERM
    # The kernel keeps only the low 32 bits of the flags: the high half changes nothing.
    assert call("clone", (1 << 40) | 17) == RET_ALLOW
    assert call("clone", (1 << 40) | CLONE_NEWUSER) == EPERM
    assert call("clone", 17 | CLONE_NEWUSER, arch=AARCH64) == EPERM


def test_clone3_is_enosys_so_glibc_falls_back_to_clone() -> None:
    assert call("clone3") == ENOSYS
    assert call("clone3", arch=AARCH64) == ENOSYS


@pytest.mark.parametrize(
    ("family", "protocol", "expected"),
    [
        (AF_UNIX, 0, RET_ALLOW),
        (AF_INET, 0, RET_ALLOW),
        (AF_INET6, 0, RET_ALLOW),
        (AF_NETLINK, NETLINK_ROUTE, RET_ALLOW),
        (AF_NETLINK, NETLINK_AUDIT, EPERM),
        (AF_NETLINK, NETLINK_NETFILTER, EPERM),
        (AF_PACKET, 0, EPERM),
        (AF_ALG, 0, EPERM),
        (AF_VSOCK, 0, EPERM),
    ],
)
def test_socket_families(family: int, protocol: int, expected: int) -> None:
    assert call("socket", family, 1, protocol) == expected
    assert call("socket", family, 1, protocol, arch=AARCH64) == expected


def test_socketpair_is_unix_only() -> None:
    assert call("socketpair", AF_UNIX, 1, 0) == RET_ALLOW
    assert call("socketpair", AF_INET, 1, 0) == EPERM


def test_ioctl_refuses_terminal_injection_even_with_high_bits_set() -> None:
    assert call("ioctl", 0, 0x5401) == RET_ALLOW  # TCGETS
    assert call("ioctl", 0, TIOCSTI) == EPERM
    assert call("ioctl", 0, TIOCLINUX) == EPERM
    assert call("ioctl", 0, (1 << 32) | TIOCSTI) == EPERM  # CVE-2019-10063's trick


def test_personality_values() -> None:
    assert call("personality", 0) == RET_ALLOW
    assert call("personality", 0xFFFFFFFF) == RET_ALLOW  # the query
    assert call("personality", 0x0040000) == EPERM  # READ_IMPLIES_EXEC


def test_other_abis_and_unknown_numbers() -> None:
    program = compile_policy(X86_64)
    i386 = 0x40000003
    assert run_filter(program, nr=X86_64.numbers["read"], arch=i386) == EPERM
    # x32: the same numbers with bit 30 set.
    assert run_filter(program, nr=0x40000000 | 0, arch=X86_64.audit_arch) == EPERM
    newest = max(X86_64.numbers.values())
    assert run_filter(program, nr=newest + 1, arch=X86_64.audit_arch) == ENOSYS
    assert run_filter(program, nr=newest + 100, arch=X86_64.audit_arch) == ENOSYS


def test_the_host_program_is_the_compiled_policy_for_this_machine() -> None:
    import os

    machine = os.uname().machine
    if machine not in ARCHES:
        pytest.skip(f"no table for {machine}")
    assert host_program() == compile_policy(ARCHES[machine])
    assert len(host_program()) % 8 == 0


@pytest.mark.parametrize("arch", [X86_64, AARCH64], ids=lambda a: a.name)
def test_a_templates_filter_leaves_only_setns_to_its_tracer(arch: Arch) -> None:
    from sandbox.seccomp.bpf import RET_TRACE, TEMPLATE_TRACED

    template = compile_policy(arch, traced=TEMPLATE_TRACED)
    ordinary = compile_policy(arch)
    assert TEMPLATE_TRACED == ("setns",)
    for name, nr in arch.numbers.items():
        got = run_filter(template, nr=nr, arch=arch.audit_arch)
        if name == "setns":
            assert got == RET_TRACE
            assert run_filter(ordinary, nr=nr, arch=arch.audit_arch) == EPERM  # control
        else:  # everything else exactly as any sandbox's filter decides
            assert got == run_filter(ordinary, nr=nr, arch=arch.audit_arch), name
    for flags in (CLONE_NEWUSER, CLONE_NEWNET):  # namespaces stay refused
        got = run_filter(template, nr=arch.numbers["clone"], arch=arch.audit_arch, args=(flags,))
        assert got == EPERM
