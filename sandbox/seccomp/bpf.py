"""Compile the syscall policy into a classic BPF program for `seccomp(SECCOMP_SET_MODE_FILTER)`.

Pure: a policy and an architecture in, the program's bytes out (struct sock_filter, 8 bytes an
instruction), so the same program can be checked by an interpreter in the unit tests. Layout:

    arch is not ours (a 32-bit call from a 64-bit process) → EPERM
    x86_64: the x32 bit is set                              → EPERM
    one block per run of numbers, in increasing order:
        simple runs:   nr in [lo, hi]       → ALLOW or ERRNO
        argument rules: nr == n             → the rule's alternatives, then its fallback
    nr above every number the table knows                  → ENOSYS (a newer kernel's call:
                                                              let the C library fall back)
    anything else                                          → EPERM

Every jump is forward and local to its block, so no conditional jump exceeds BPF's 255.
"""

from __future__ import annotations

import errno
import functools
import os
import struct
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from sandbox.errors import SandboxSetupError
from sandbox.seccomp import numbers
from sandbox.seccomp.policy import ALLOWED, ARG_RULES, ERRNO_OVERRIDES, ArgRule, Cond

# Return values (linux/seccomp.h) and BPF opcodes (linux/bpf_common.h, linux/filter.h).
RET_ALLOW: Final = 0x7FFF0000
RET_ERRNO: Final = 0x00050000
RET_TRACE: Final = 0x7FF00000  # the tracer decides; without one the call fails with ENOSYS
_LD_W_ABS: Final = 0x20
_JMP_JEQ_K: Final = 0x15
_JMP_JGT_K: Final = 0x25
_JMP_JGE_K: Final = 0x35
_JMP_JSET_K: Final = 0x45
_RET_K: Final = 0x06
# struct seccomp_data: int nr; __u32 arch; __u64 instruction_pointer; __u64 args[6].
OFFSET_NR: Final = 0
OFFSET_ARCH: Final = 4
OFFSET_ARGS: Final = 16
X32_SYSCALL_BIT: Final = 0x40000000
INSTRUCTION_BYTES: Final = 8
_MAX_JUMP: Final = 255


@dataclass(frozen=True, slots=True)
class Arch:
    name: str
    audit_arch: int  # AUDIT_ARCH_* of linux/audit.h
    numbers: Mapping[str, int]
    x32_bit: bool  # x86_64: refuse the x32 ABI's numbers


X86_64: Final = Arch("x86_64", 0xC000003E, numbers.X86_64, x32_bit=True)
AARCH64: Final = Arch("aarch64", 0xC00000B7, numbers.AARCH64, x32_bit=False)
ARCHES: Final = {a.name: a for a in (X86_64, AARCH64)}


def ret_errno(err: int) -> int:
    return RET_ERRNO | (err & 0xFFFF)


def _insn(code: int, jt: int, jf: int, k: int) -> bytes:
    if not (0 <= jt <= _MAX_JUMP and 0 <= jf <= _MAX_JUMP):
        raise ValueError(f"BPF jump out of range: jt={jt} jf={jf}")
    return struct.pack("<HBBI", code, jt, jf, k & 0xFFFFFFFF)


def _ld(offset: int) -> bytes:
    return _insn(_LD_W_ABS, 0, 0, offset)


def _ret(value: int) -> bytes:
    return _insn(_RET_K, 0, 0, value)


def _arg_low(arg: int) -> int:
    return OFFSET_ARGS + 8 * arg  # little-endian: the low word comes first


def _rule_block(rule: ArgRule, *, deny: int) -> list[bytes]:
    """Instructions that decide `rule` (the accumulator holds anything on entry; every path
    returns)."""
    actions = {"allow": RET_ALLOW, "deny": deny}
    block: list[bytes] = []
    for conditions in rule.alternatives:
        # Each condition is two instructions (load, test); a failed test skips to the next
        # alternative, past the remaining conditions and this alternative's return.
        for i, cond in enumerate(conditions):
            remaining = 2 * (len(conditions) - i - 1) + 1  # after this test: to the next alt
            block.append(_ld(_arg_low(cond.arg)))
            block.append(_test(cond, fail_skip=remaining))
        block.append(_ret(actions[rule.then]))
    block.append(_ret(actions[rule.otherwise]))
    return block


def _test(cond: Cond, *, fail_skip: int) -> bytes:
    if cond.op == "eq":
        return _insn(_JMP_JEQ_K, 0, fail_skip, cond.value)
    return _insn(_JMP_JSET_K, fail_skip, 0, cond.value)  # "no_bits": any bit set fails


def _runs(entries: Sequence[tuple[int, int]]) -> list[tuple[int, int, int]]:
    """(lo, hi, action) runs of consecutive numbers that share an action."""
    runs: list[tuple[int, int, int]] = []
    for nr, action in entries:
        if runs and runs[-1][1] == nr - 1 and runs[-1][2] == action:
            runs[-1] = (runs[-1][0], nr, action)
        else:
            runs.append((nr, nr, action))
    return runs


def compile_policy(
    arch: Arch,
    *,
    allowed: Iterable[str] = ALLOWED,
    errno_overrides: Mapping[str, int] = ERRNO_OVERRIDES,
    arg_rules: Iterable[ArgRule] = ARG_RULES,
    default_errno: int = errno.EPERM,
    traced: Iterable[str] = (),
) -> bytes:
    """The program for `arch`. Names the architecture does not have are skipped. `traced`
    calls are left to a ptrace tracer (`RET_TRACE`): they run only when one lets them."""
    deny = ret_errno(default_errno)
    simple: dict[int, int] = {}
    for name in allowed:
        if name in arch.numbers:
            simple[arch.numbers[name]] = RET_ALLOW
    for name, err in errno_overrides.items():
        if name in arch.numbers:
            simple[arch.numbers[name]] = ret_errno(err)
    for name in traced:
        if name in arch.numbers:
            simple[arch.numbers[name]] = RET_TRACE
    rules = {arch.numbers[r.syscall]: r for r in arg_rules if r.syscall in arch.numbers}
    for nr in rules:
        simple.pop(nr, None)

    program = [_ld(OFFSET_ARCH), _insn(_JMP_JEQ_K, 1, 0, arch.audit_arch), _ret(deny)]
    program.append(_ld(OFFSET_NR))
    if arch.x32_bit:
        program += [_insn(_JMP_JGE_K, 0, 1, X32_SYSCALL_BIT), _ret(deny)]
    blocks: list[tuple[int, list[bytes]]] = []
    for lo, hi, action in _runs(sorted(simple.items())):
        blocks.append((lo, _range_block(lo, hi, action)))
    for nr, rule in rules.items():
        body = _rule_block(rule, deny=deny)
        # The rule's block clobbers the accumulator but always returns, so only a miss
        # (nr != n) goes on to the next block with the number still loaded.
        blocks.append((nr, [_insn(_JMP_JEQ_K, 0, len(body), nr), *body]))
    for _, block in sorted(blocks, key=lambda b: b[0]):
        program += block
    highest = max(arch.numbers.values())
    program += [_insn(_JMP_JGT_K, 0, 1, highest), _ret(ret_errno(errno.ENOSYS)), _ret(deny)]
    return b"".join(program)


def _range_block(lo: int, hi: int, action: int) -> list[bytes]:
    if lo == hi:
        return [_insn(_JMP_JEQ_K, 0, 1, lo), _ret(action)]
    return [_insn(_JMP_JGE_K, 0, 2, lo), _insn(_JMP_JGT_K, 1, 0, hi), _ret(action)]


def host_arch() -> Arch:
    """This machine's architecture; the sandbox refuses to run anywhere it has no table for."""
    machine = os.uname().machine
    arch = ARCHES.get(machine)
    if arch is None:
        raise SandboxSetupError(
            "build the syscall filter",
            machine,
            f"lambdalet's seccomp policy covers {', '.join(ARCHES)} only",
        )
    return arch


@functools.cache
def host_program() -> bytes:
    """The compiled policy for this machine (compiled once, in the spawner, before any fork)."""
    return compile_policy(host_arch())


TEMPLATE_TRACED: Final = ("setns",)


@functools.cache
def template_program() -> bytes:
    """A SnapStart template's filter: the sandbox's, except that `setns` is left to the
    template's init (the only tracer it ever has), which injects it into clones entering an
    environment shell. Untraced (during init, in environments) it fails with ENOSYS."""
    return compile_policy(host_arch(), traced=TEMPLATE_TRACED)
