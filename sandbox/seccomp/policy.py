"""The syscall policy every sandboxed process runs under, as data: a default-deny allow-list.

Built from Docker's default profile (moby/profiles `seccomp/default.json`) and narrowed to
what a Lambda runtime needs. Function code is untrusted from its first instruction and the
kernel is shared, so every call below is attack surface a function may use; everything else
answers `EPERM`, except where a C library needs `ENOSYS` to fall back to an older call.

Denied on purpose (a function never needs them, and each has a history of kernel exploits):
namespaces (`unshare`, `setns`, `clone` with namespace flags, `clone3` whose flags a filter
cannot read, hence `ENOSYS` so glibc falls back to `clone`), every mount call, the kernel
keyrings (`keyctl`, `add_key`, `request_key`), `bpf`, `perf_event_open`, `userfaultfd`,
`io_uring_*`, `ptrace`, `process_vm_readv`/`writev`, `kcmp`, `pidfd_getfd`,
`open_by_handle_at`, `kexec_*`, module loading, `acct`, `swapon`, `quotactl`, `reboot`,
`syslog`, clock and host-name changes, `personality` beyond Docker's five values, sockets
other than unix, IPv4, IPv6 and route netlink (so no `AF_VSOCK`, `AF_ALG`, `AF_PACKET`, other
netlink protocols), and the terminal-injection ioctls `TIOCSTI` / `TIOCLINUX`.
"""

from __future__ import annotations

import errno
from dataclasses import dataclass
from typing import Final, Literal

# Files and descriptors.
_FILES: Final = (
    "read", "write", "open", "openat", "openat2", "close", "close_range", "creat", "stat",
    "fstat", "lstat", "newfstatat", "statx", "statfs", "fstatfs", "access", "faccessat",
    "faccessat2", "lseek", "pread64", "pwrite64", "readv", "writev", "preadv", "pwritev",
    "preadv2", "pwritev2", "dup", "dup2", "dup3", "fcntl", "flock", "fsync", "fdatasync",
    "sync", "syncfs", "sync_file_range", "truncate", "ftruncate", "fallocate", "fadvise64",
    "readahead", "getdents", "getdents64", "getcwd", "chdir", "fchdir", "rename", "renameat",
    "renameat2", "mkdir", "mkdirat", "rmdir", "link", "linkat", "unlink", "unlinkat",
    "symlink", "symlinkat", "readlink", "readlinkat", "chmod", "fchmod", "fchmodat",
    "fchmodat2", "chown", "fchown", "lchown", "fchownat", "umask", "utime", "utimes",
    "utimensat", "futimesat", "mknod", "mknodat", "sendfile", "splice", "tee", "vmsplice",
    "copy_file_range", "getxattr", "lgetxattr", "fgetxattr", "listxattr", "llistxattr",
    "flistxattr", "setxattr", "lsetxattr", "fsetxattr", "removexattr", "lremovexattr",
    "fremovexattr", "getxattrat", "setxattrat", "listxattrat", "removexattrat",
    "inotify_init", "inotify_init1", "inotify_add_watch", "inotify_rm_watch",
    "name_to_handle_at", "memfd_create", "memfd_secret", "cachestat",
)  # fmt: skip
# Waiting on descriptors, and the descriptors made for waiting.
_EVENTS: Final = (
    "pipe", "pipe2", "select", "pselect6", "poll", "ppoll", "epoll_create", "epoll_create1",
    "epoll_ctl", "epoll_wait", "epoll_pwait", "epoll_pwait2", "eventfd", "eventfd2",
    "signalfd", "signalfd4", "timerfd_create", "timerfd_settime", "timerfd_gettime",
    "io_setup", "io_destroy", "io_submit", "io_cancel", "io_getevents", "io_pgetevents",
)  # fmt: skip
_MEMORY: Final = (
    "brk", "mmap", "munmap", "mremap", "mprotect", "madvise", "mincore", "msync", "mlock",
    "mlock2", "munlock", "mlockall", "munlockall", "remap_file_pages", "membarrier",
    "pkey_alloc", "pkey_free", "pkey_mprotect", "mseal", "map_shadow_stack",
)  # fmt: skip
# Processes, threads, identity (without capabilities, changing it does nothing), signals, time.
_PROCESSES: Final = (
    "fork", "vfork", "execve", "execveat", "exit", "exit_group", "wait4", "waitid", "kill",
    "tkill", "tgkill", "getpid", "getppid", "gettid", "getpgid", "setpgid", "getpgrp",
    "getsid", "setsid", "getuid", "geteuid", "getgid", "getegid", "getresuid", "getresgid",
    "getgroups", "setuid", "setgid", "setreuid", "setregid", "setresuid", "setresgid",
    "setfsuid", "setfsgid", "setgroups", "capget", "capset", "prctl", "arch_prctl",
    "set_tid_address", "set_robust_list", "get_robust_list", "rseq", "futex", "futex_waitv",
    "futex_wake", "futex_wait", "futex_requeue", "sched_yield", "sched_getaffinity",
    "sched_setaffinity", "sched_getparam", "sched_setparam", "sched_getscheduler",
    "sched_setscheduler", "sched_get_priority_max", "sched_get_priority_min",
    "sched_rr_get_interval", "sched_getattr", "sched_setattr", "getpriority", "setpriority",
    "ioprio_get", "ioprio_set", "getrlimit", "setrlimit", "prlimit64", "getrusage", "times",
    "uname", "sysinfo", "getcpu", "pidfd_open", "pidfd_send_signal", "process_mrelease",
    "restart_syscall", "rt_sigaction", "rt_sigprocmask", "rt_sigreturn", "rt_sigpending",
    "rt_sigsuspend", "rt_sigtimedwait", "rt_sigqueueinfo", "rt_tgsigqueueinfo", "sigaltstack",
    "pause", "alarm", "nanosleep", "clock_nanosleep", "clock_gettime", "clock_getres",
    "gettimeofday", "time", "getitimer", "setitimer", "timer_create", "timer_settime",
    "timer_gettime", "timer_getoverrun", "timer_delete", "getrandom", "seccomp",
    "landlock_create_ruleset", "landlock_add_rule", "landlock_restrict_self",
)  # fmt: skip
# System V IPC and POSIX message queues: the sandbox has its own IPC namespace.
_IPC: Final = (
    "shmget", "shmat", "shmdt", "shmctl", "semget", "semop", "semtimedop", "semctl", "msgget",
    "msgsnd", "msgrcv", "msgctl", "mq_open", "mq_unlink", "mq_timedsend", "mq_timedreceive",
    "mq_notify", "mq_getsetattr",
)  # fmt: skip
_SOCKETS: Final = (
    "bind", "listen", "accept", "accept4", "connect", "getsockname", "getpeername", "sendto",
    "recvfrom", "sendmsg", "recvmsg", "sendmmsg", "recvmmsg", "shutdown", "setsockopt",
    "getsockopt",
)  # fmt: skip
ALLOWED: Final = (*_FILES, *_EVENTS, *_MEMORY, *_PROCESSES, *_IPC, *_SOCKETS)

# Calls that must fail with another errno than the default's.
ERRNO_OVERRIDES: Final = {"clone3": errno.ENOSYS}  # glibc falls back to clone on ENOSYS only

# Namespace flags of clone(2) (CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET).
CLONE_NAMESPACES: Final = 0x7E020000
AF_UNIX: Final = 1
AF_INET: Final = 2
AF_INET6: Final = 10
AF_NETLINK: Final = 16
NETLINK_ROUTE: Final = 0  # glibc's getaddrinfo(AI_ADDRCONFIG) reads the addresses this way
TIOCSTI: Final = 0x5412
TIOCLINUX: Final = 0x541C
# Docker's personality values: PER_LINUX, with ADDR_NO_RANDOMIZE, UNAME26, both; the query.
PERSONALITIES: Final = (0x0, 0x8, 0x20000, 0x20008, 0xFFFFFFFF)


@dataclass(frozen=True, slots=True)
class Cond:
    """A test of one argument's low 32 bits (the kernel truncates every argument checked here
    to 32 bits, so the high half cannot smuggle anything past the filter)."""

    arg: int  # 0..5
    op: Literal["eq", "no_bits"]  # equals `value` / has none of the bits of `value`
    value: int


@dataclass(frozen=True, slots=True)
class ArgRule:
    """A call allowed or denied by its arguments: the first alternative whose conditions all
    hold decides `then`; when none does, `otherwise`."""

    syscall: str
    alternatives: tuple[tuple[Cond, ...], ...]
    then: Literal["allow", "deny"]
    otherwise: Literal["allow", "deny"]


def _one_of(arg: int, values: tuple[int, ...]) -> tuple[tuple[Cond, ...], ...]:
    return tuple((Cond(arg, "eq", v),) for v in values)


ARG_RULES: Final = (
    ArgRule("clone", ((Cond(0, "no_bits", CLONE_NAMESPACES),),), "allow", "deny"),
    ArgRule(
        "socket",
        (
            *_one_of(0, (AF_UNIX, AF_INET, AF_INET6)),
            (Cond(0, "eq", AF_NETLINK), Cond(2, "eq", NETLINK_ROUTE)),
        ),
        "allow",
        "deny",
    ),
    ArgRule("socketpair", _one_of(0, (AF_UNIX,)), "allow", "deny"),
    ArgRule("personality", _one_of(0, PERSONALITIES), "allow", "deny"),
    ArgRule("ioctl", _one_of(1, (TIOCSTI, TIOCLINUX)), "deny", "allow"),
)
