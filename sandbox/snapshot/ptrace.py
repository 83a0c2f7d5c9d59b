"""Make a stopped process run system calls of our choosing (x86_64), and nothing else.

The template's init uses this to clone a template that ran user code without letting one
user instruction run in between: every thread of the template is held in a ptrace stop, and
a call is *injected* by pointing the stopped thread's registers at a ``syscall`` instruction
(the one it is blocked behind), running it between its syscall-entry and syscall-exit stops,
and putting the registers back. A clone made that way starts in a ptrace stop too
(``PTRACE_O_TRACEFORK``/``TRACECLONE``), so its set-up is injected the same way before it runs
its first instruction.

Only the thread's registers and a scratch area below its stack pointer are touched: the
template's memory is otherwise unchanged, and a clone resumes where the template was, with
the interrupted call restarted (`Tracee.resume_as`).
"""

from __future__ import annotations

import ctypes
import os
import signal
from collections.abc import Callable
from typing import Final

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]

PTRACE_GETREGS: Final = 12
PTRACE_SETREGS: Final = 13
PTRACE_DETACH: Final = 17
PTRACE_SYSCALL: Final = 24
PTRACE_GETEVENTMSG: Final = 0x4201
PTRACE_SEIZE: Final = 0x4206
PTRACE_INTERRUPT: Final = 0x4207
PTRACE_O_TRACESYSGOOD: Final = 0x1
PTRACE_O_TRACEFORK: Final = 0x2
PTRACE_O_TRACECLONE: Final = 0x8
PTRACE_O_TRACESECCOMP: Final = 0x80
PTRACE_O_EXITKILL: Final = 0x100000
EVENT_FORK: Final = 1
EVENT_CLONE: Final = 3
EVENT_SECCOMP: Final = 7
EVENT_STOP: Final = 128
# Every tracee: clones are born traced and stopped, injected calls that the template's
# filter marks SECCOMP_RET_TRACE may run, and a dying tracer takes its tracees with it.
OPTIONS: Final = (
    PTRACE_O_TRACESYSGOOD
    | PTRACE_O_TRACEFORK
    | PTRACE_O_TRACECLONE
    | PTRACE_O_TRACESECCOMP
    | PTRACE_O_EXITKILL
)
SYSCALL_INSN: Final = 0x050F  # "syscall", little-endian
SCRATCH_BELOW_SP: Final = 64 * 1024  # past the red zone and any signal frame
_WALL: Final = 0x40000000
_ERESTARTSYS: Final = 512
_ERESTARTNOINTR: Final = 513
_ERESTARTNOHAND: Final = 514
_ERESTART_RESTARTBLOCK: Final = 516
_NR_RESTART_SYSCALL: Final = 219
_U64: Final = (1 << 64) - 1
_NO_SYSCALL: Final = _U64  # orig_rax = -1: no restart logic on resume

_FIELDS: Final = (
    *("r15", "r14", "r13", "r12", "rbp", "rbx", "r11", "r10", "r9", "r8", "rax", "rcx", "rdx"),
    *("rsi", "rdi", "orig_rax", "rip", "cs", "eflags", "rsp", "ss", "fs_base", "gs_base"),
    *("ds", "es", "fs", "gs"),
)
_ARG_REGS: Final = ("rdi", "rsi", "rdx", "r10", "r8", "r9")


class Regs(ctypes.Structure):
    """struct user_regs_struct (x86_64)."""

    _fields_ = [(name, ctypes.c_ulonglong) for name in _FIELDS]

    def copy(self) -> Regs:
        return Regs.from_buffer_copy(self)


class TraceError(OSError):
    """A ptrace request failed, or a tracee stopped or ended where it should not have."""


def _ptrace(request: int, pid: int, addr: int = 0, data: int | ctypes.c_void_p = 0) -> int:
    ctypes.set_errno(0)
    arg = data if isinstance(data, ctypes.c_void_p) else ctypes.c_void_p(data)
    ret: int = _libc.ptrace(request, pid, ctypes.c_void_p(addr), arg)
    err = ctypes.get_errno()
    if ret == -1 and err:
        raise TraceError(err, f"ptrace({request:#x}, {pid}): {os.strerror(err)}")
    return ret


def wait_stop(pid: int) -> int:
    """The next wait status of `pid` (any kind of child, traced or not)."""
    while True:
        try:
            _, status = os.waitpid(pid, _WALL)
            return status
        except InterruptedError:
            continue


def seize(pid: int) -> None:
    """Trace `pid` (one thread) without stopping it; then `interrupt` it."""
    _ptrace(PTRACE_SEIZE, pid, 0, OPTIONS)


def interrupt(pid: int) -> None:
    """Stop a seized thread wherever it is and wait until it is stopped."""
    _ptrace(PTRACE_INTERRUPT, pid)
    status = wait_stop(pid)
    if not os.WIFSTOPPED(status):
        raise TraceError(0, f"thread {pid} ended instead of stopping ({status:#x})")


def detach(pid: int) -> None:
    _ptrace(PTRACE_DETACH, pid, 0, 0)


def get_regs(pid: int) -> Regs:
    regs = Regs()
    _ptrace(PTRACE_GETREGS, pid, 0, ctypes.cast(ctypes.byref(regs), ctypes.c_void_p))
    return regs


def set_regs(pid: int, regs: Regs) -> None:
    _ptrace(PTRACE_SETREGS, pid, 0, ctypes.cast(ctypes.byref(regs), ctypes.c_void_p))


def event_message(pid: int) -> int:
    value = ctypes.c_ulong()
    _ptrace(PTRACE_GETEVENTMSG, pid, 0, ctypes.cast(ctypes.byref(value), ctypes.c_void_p))
    return value.value


def signed(value: int) -> int:
    return value - (1 << 64) if value >= 1 << 63 else value


def restarted(regs: Regs) -> Regs:
    """`regs` as they must be to resume a thread stopped inside a system call: the call
    restarted (as the kernel does when a signal handler did not interrupt it), and no restart
    logic left for the kernel to apply on top."""
    out = regs.copy()
    result = signed(out.rax)
    if out.orig_rax != _NO_SYSCALL:
        if -result in (_ERESTARTSYS, _ERESTARTNOINTR, _ERESTARTNOHAND):
            out.rax = out.orig_rax
            out.rip -= 2
        elif -result == _ERESTART_RESTARTBLOCK:
            out.rax = _NR_RESTART_SYSCALL
            out.rip -= 2
    out.orig_rax = _NO_SYSCALL
    return out


class Tracee:
    """A thread held in a ptrace stop, into which system calls are injected.

    `saved` are its registers at the stop. The ``syscall`` instruction used is the one just
    before its instruction pointer: the thread must be stopped inside a system call (the
    template always is: blocked in a receive).
    """

    def __init__(self, pid: int, *, on_child: Callable[[int], None] | None = None) -> None:
        self.pid = pid
        self.saved = get_regs(pid)
        self.on_child = on_child
        if self.saved.orig_rax == _NO_SYSCALL:
            raise TraceError(0, f"thread {pid} is not stopped in a system call")
        self.syscall_at = self.saved.rip - 2
        insn = self.peek(self.syscall_at) & 0xFFFF
        if insn != SYSCALL_INSN:
            raise TraceError(0, f"no syscall instruction before {self.saved.rip:#x} in {pid}")

    def peek(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def read(self, addr: int, size: int) -> bytes:
        fd = os.open(f"/proc/{self.pid}/mem", os.O_RDONLY | os.O_CLOEXEC)
        try:
            return os.pread(fd, size, addr)
        finally:
            os.close(fd)

    def write(self, addr: int, data: bytes) -> None:
        fd = os.open(f"/proc/{self.pid}/mem", os.O_RDWR | os.O_CLOEXEC)
        try:
            if os.pwrite(fd, data, addr) != len(data):
                raise TraceError(0, f"short write into {self.pid}'s memory")
        finally:
            os.close(fd)

    @property
    def scratch(self) -> int:
        """An address below the stack pointer that no frame of the thread uses."""
        rsp: int = self.saved.rsp
        return (rsp - SCRATCH_BELOW_SP) & ~0xF

    def call(self, nr: int, *args: int) -> int:
        """Run system call `nr` in the thread; its result (negative: -errno)."""
        regs = self.saved.copy()
        regs.rax = nr
        for name, value in zip(_ARG_REGS, args, strict=False):
            setattr(regs, name, value & _U64)
        regs.rip = self.syscall_at
        regs.orig_rax = _NO_SYSCALL
        set_regs(self.pid, regs)
        entered = False
        while True:
            _ptrace(PTRACE_SYSCALL, self.pid)
            status = wait_stop(self.pid)
            if not os.WIFSTOPPED(status):
                raise TraceError(0, f"thread {self.pid} ended during call {nr} ({status:#x})")
            sig, event = os.WSTOPSIG(status), status >> 16
            if sig == signal.SIGTRAP | 0x80:
                if entered:
                    break
                entered = True
            elif event in (EVENT_FORK, EVENT_CLONE):
                if self.on_child is not None:
                    self.on_child(event_message(self.pid))
            elif event in (EVENT_SECCOMP, EVENT_STOP):
                continue
            else:  # a signal: the tracee is held, it is not delivered now
                raise TraceError(0, f"thread {self.pid} got signal {sig} during call {nr}")
        result: int = get_regs(self.pid).rax
        return signed(result)

    def check(self, nr: int, *args: int, what: str) -> int:
        result = self.call(nr, *args)
        if result < 0:
            raise TraceError(-result, f"{what} in {self.pid}: {os.strerror(-result)}")
        return result

    def resume_as(self, regs: Regs) -> None:
        """Leave the thread's registers as `regs` with its interrupted call restarted."""
        set_regs(self.pid, restarted(regs))
