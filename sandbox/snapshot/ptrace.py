"""Make a stopped process run system calls of our choosing (x86_64), and nothing else.

The template's init uses this to clone a template that ran user code without letting one
user instruction run in between: every thread of the template is held in a ptrace stop, and
a call is *injected* by pointing the stopped thread's registers at a ``syscall`` instruction
(the one it is blocked behind), running it between its syscall-entry and syscall-exit stops,
and putting the registers back. A clone made that way starts in a ptrace stop too
(``PTRACE_O_TRACEFORK``/``TRACECLONE``), so its set-up is injected the same way before it runs
its first instruction.

Only the thread's registers, a scratch area below its stack pointer and one mapping of our
own are touched: the template's memory is otherwise unchanged, and a clone resumes where the
template was, with the interrupted call restarted (`Tracee.resume_as`). The mapping is the
batch runner (`install_runner`, once per template): a few dozen bytes of machine code that
run a table of system calls and trap back, so that a fixed sequence of calls costs one
ptrace round trip instead of one per call. Clones that share the template's memory run it;
clones with a copy of it must unmap it (`Runner.size`) before they run anything else.
"""

from __future__ import annotations

import ctypes
import os
import signal
import struct
from collections.abc import Callable, Sequence
from typing import Any, Final, NamedTuple

_libc = ctypes.CDLL(None, use_errno=True)
_libc.ptrace.restype = ctypes.c_long
_libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]


class _IoVec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]


_VM_ARGTYPES: list[Any] = [
    ctypes.c_int,
    ctypes.POINTER(_IoVec),
    ctypes.c_ulong,
    ctypes.POINTER(_IoVec),
    ctypes.c_ulong,
    ctypes.c_ulong,
]
_libc.process_vm_readv.restype = ctypes.c_ssize_t
_libc.process_vm_readv.argtypes = _VM_ARGTYPES
_libc.process_vm_writev.restype = ctypes.c_ssize_t
_libc.process_vm_writev.argtypes = _VM_ARGTYPES

PTRACE_GETREGS: Final = 12
PTRACE_SETREGS: Final = 13
PTRACE_DETACH: Final = 17
PTRACE_CONT: Final = 7
PTRACE_SINGLESTEP: Final = 9
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


# The batch runner. Registers on entry: rbx the first entry of the table, r12 the number of
# entries, r15 the table, r13 the FIRST_RESULT marker. An entry is eight words: nr, six
# arguments, the result (written back). It stops at the first negative result or at the end,
# on int3 (a SIGTRAP stop): then rbx is the entry it stopped at and rax its result.
_RUNNER_CODE: Final = b"".join(
    (
        b"\x4d\x85\xe4",  # 00 top:  test r12, r12
        b"\x74\x37",  # 03        je done            (no entry left)
        b"\x48\x8b\x03",  # 05        mov rax, [rbx]     (nr)
        b"\x48\x8b\x7b\x08",  # 08        mov rdi, [rbx+8]
        b"\x4c\x39\xef",  # 0c        cmp rdi, r13       (the FIRST_RESULT marker?)
        b"\x49\x0f\x44\x7f\x38",  # 0f        cmove rdi, [r15+56] (then the first entry's result)
        b"\x48\x8b\x73\x10",  # 14        mov rsi, [rbx+16]
        b"\x48\x8b\x53\x18",  # 18        mov rdx, [rbx+24]
        b"\x4c\x8b\x53\x20",  # 1c        mov r10, [rbx+32]
        b"\x4c\x8b\x43\x28",  # 20        mov r8, [rbx+40]
        b"\x4c\x8b\x4b\x30",  # 24        mov r9, [rbx+48]
        b"\x0f\x05",  # 28        syscall            (clobbers rcx, r11 only)
        b"\x48\x89\x43\x38",  # 2a        mov [rbx+56], rax  (the result)
        b"\x48\x85\xc0",  # 2e        test rax, rax
        b"\x78\x09",  # 31        js done            (-errno: stop here)
        b"\x48\x83\xc3\x40",  # 33        add rbx, 64
        b"\x49\xff\xcc",  # 37        dec r12
        b"\xeb\xc4",  # 3a        jmp top
        b"\xcc",  # 3c done: int3               (back to the tracer)
    )
)
_ENTRY: Final = struct.Struct("<8Q")
FIRST_RESULT: Final = 0x7E57_F125_7000_0001  # as argument 0: the first entry's result
_PAGE: Final = 4096
_PROT_READ, _PROT_WRITE, _PROT_EXEC = 1, 2, 4
_MAP_PRIVATE, _MAP_ANONYMOUS = 0x02, 0x20
_NR_MMAP, _NR_MPROTECT = 9, 10


class Call(NamedTuple):
    """One entry of a batch; `what` names it in the error if it fails."""

    what: str
    nr: int
    args: tuple[int, ...] = ()


class Runner(NamedTuple):
    """Where a tracee's batch runner lives: code page, then the table, then free data."""

    at: int
    size: int
    table_entries: int

    @property
    def table(self) -> int:
        return self.at + _PAGE

    @property
    def data(self) -> int:
        """Free for the caller's own structures, up to the end of the mapping."""
        return self.table + self.table_entries * _ENTRY.size


def batch_table(calls: Sequence[Call]) -> bytes:
    """`calls` as the runner reads them (for a caller that places the table itself)."""
    rows = []
    for call in calls:
        args = [a & _U64 for a in call.args] + [0] * (6 - len(call.args))
        rows.append(_ENTRY.pack(call.nr, *args, 0))
    return b"".join(rows)


def _vm(call: Callable[..., int], pid: int, addr: int, buf: ctypes.Array[ctypes.c_char]) -> int:
    local = _IoVec(ctypes.cast(buf, ctypes.c_void_p), len(buf))
    remote = _IoVec(ctypes.c_void_p(addr), len(buf))
    ctypes.set_errno(0)
    done = call(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    if done < 0:
        err = ctypes.get_errno()
        raise TraceError(err, f"memory of {pid} at {addr:#x}: {os.strerror(err)}")
    return done


class Tracee:
    """A thread held in a ptrace stop, into which system calls are injected.

    `saved` are its registers at the stop. The ``syscall`` instruction used is the one just
    before its instruction pointer: the thread must be stopped inside a system call (the
    template always is: blocked in a receive). A clone of the template, whose registers and
    memory are the template's, is made a Tracee with ``like=`` the template instead: no
    register or memory is read, and the template's syscall instruction and runner are used.
    """

    def __init__(
        self,
        pid: int,
        *,
        on_child: Callable[[int], None] | None = None,
        like: Tracee | None = None,
    ) -> None:
        self.pid = pid
        self.on_child = on_child
        self.runner: Runner | None
        self.saved: Regs
        self.syscall_at: int
        if like is not None:
            self.saved, self.syscall_at, self.runner = like.saved, like.syscall_at, like.runner
            return
        self.saved = get_regs(pid)
        self.runner = None
        if self.saved.orig_rax == _NO_SYSCALL:
            raise TraceError(0, f"thread {pid} is not stopped in a system call")
        self.syscall_at = self.saved.rip - 2
        insn = self.peek(self.syscall_at) & 0xFFFF
        if insn != SYSCALL_INSN:
            raise TraceError(0, f"no syscall instruction before {self.saved.rip:#x} in {pid}")

    def peek(self, addr: int) -> int:
        return int.from_bytes(self.read(addr, 8), "little")

    def read(self, addr: int, size: int) -> bytes:
        buf = ctypes.create_string_buffer(size)
        if _vm(_libc.process_vm_readv, self.pid, addr, buf) != size:
            raise TraceError(0, f"short read from {self.pid}'s memory")
        return buf.raw

    def write(self, addr: int, data: bytes) -> None:
        buf = ctypes.create_string_buffer(data, len(data))
        if _vm(_libc.process_vm_writev, self.pid, addr, buf) != len(data):
            raise TraceError(0, f"short write into {self.pid}'s memory")

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

    def install_runner(self, *, pages: int = 16) -> Runner:
        """Map the batch runner into the thread's process (code read+exec, the rest private
        read+write, nothing shared): what `batch` runs. Once, before any clone is made."""
        size = pages * _PAGE
        anon = _MAP_PRIVATE | _MAP_ANONYMOUS
        at = self.check(_NR_MMAP, 0, size, _PROT_READ | _PROT_WRITE, anon, -1, 0, what="mmap")
        runner = Runner(at=at, size=size, table_entries=64)
        self.write(at, _RUNNER_CODE)
        self.check(_NR_MPROTECT, at, _PAGE, _PROT_READ | _PROT_EXEC, what="mprotect")
        self.runner = runner
        return runner

    def batch(
        self, calls: Sequence[Call], *, table: int | None = None, until_child: bool = False
    ) -> int:
        """Run `calls` in order in the thread, one ptrace round trip for all, stopping at the
        first that fails (TraceError, naming it). The last call's result; with `until_child`
        the last call must make a traced child: its pid, and the thread is left stopped in
        that call (not finished: only `batch` or `resume_as` may follow). `table`: where the
        entries already are (written by the caller), else they are written here."""
        runner = self.runner
        if runner is None:
            raise TraceError(0, f"no batch runner in {self.pid}")
        if table is None:
            if len(calls) > runner.table_entries:
                raise TraceError(0, f"{len(calls)} calls: the runner's table holds fewer")
            table = runner.table
            self.write(table, batch_table(calls))
        regs = self.saved.copy()
        regs.rip, regs.orig_rax = runner.at, _NO_SYSCALL
        regs.rbx, regs.r15, regs.r12, regs.r13 = table, table, len(calls), FIRST_RESULT
        set_regs(self.pid, regs)
        while True:
            _ptrace(PTRACE_CONT, self.pid)
            status = wait_stop(self.pid)
            if not os.WIFSTOPPED(status):
                raise TraceError(0, f"thread {self.pid} ended during a batch ({status:#x})")
            sig, event = os.WSTOPSIG(status), status >> 16
            if event in (EVENT_FORK, EVENT_CLONE):
                child = event_message(self.pid)
                if until_child:
                    return child
                if self.on_child is not None:
                    self.on_child(child)
            elif event in (EVENT_SECCOMP, EVENT_STOP):
                continue
            elif sig == signal.SIGTRAP:  # the runner's int3: done, or stopped at a failure
                break
            else:  # a signal: the tracee is held, it is not delivered now
                raise TraceError(0, f"thread {self.pid} got signal {sig} during a batch")
        at = get_regs(self.pid)
        index, result = (at.rbx - table) // _ENTRY.size, signed(at.rax)
        if index < len(calls):
            what = calls[index].what
            raise TraceError(-result, f"{what} in {self.pid}: {os.strerror(-result)}")
        if until_child:
            raise TraceError(0, f"{calls[-1].what} in {self.pid} made no traced child")
        return signed(at.rax) if calls else 0

    def step_call(self, nr: int, *args: int, what: str) -> int:
        """`check` in one round trip instead of two: the thread single-steps over the
        syscall instruction (it traps right after the call, before the next instruction).
        For calls that make no child and meet no seccomp stop."""
        regs = self.saved.copy()
        regs.rax, regs.rip, regs.orig_rax = nr, self.syscall_at, _NO_SYSCALL
        for name, value in zip(_ARG_REGS, args, strict=False):
            setattr(regs, name, value & _U64)
        set_regs(self.pid, regs)
        _ptrace(PTRACE_SINGLESTEP, self.pid)
        status = wait_stop(self.pid)
        if not os.WIFSTOPPED(status) or os.WSTOPSIG(status) != signal.SIGTRAP:
            raise TraceError(0, f"{what} in {self.pid}: stopped with {status:#x}")
        at = get_regs(self.pid)
        if at.rip != self.syscall_at + 2:
            raise TraceError(0, f"{what} in {self.pid}: stopped at {at.rip:#x}")
        result = signed(at.rax)
        if result < 0:
            raise TraceError(-result, f"{what} in {self.pid}: {os.strerror(-result)}")
        return result

    def resume_as(self, regs: Regs) -> None:
        """Leave the thread's registers as `regs` with its interrupted call restarted."""
        set_regs(self.pid, restarted(regs))
