"""The pure parts of SnapStart's sandbox layer: restarting an interrupted call, wait statuses
from waitid, the descriptor ranges a template's runtime closes."""

from __future__ import annotations

import os
import signal

from sandbox.snapshot.ptrace import Regs, restarted
from sandbox.snapshot.template import wait_status_of
from sandbox.stem import descriptor_gaps

NO_SYSCALL = (1 << 64) - 1
READ = 0


def regs(*, rax: int, orig_rax: int, rip: int = 0x1002) -> Regs:
    r = Regs()
    r.rax, r.orig_rax, r.rip = rax & NO_SYSCALL, orig_rax & NO_SYSCALL, rip
    return r


def test_an_interrupted_call_is_restarted_at_its_syscall_instruction() -> None:
    for errno_ in (512, 513, 514):  # ERESTARTSYS, ERESTARTNOINTR, ERESTARTNOHAND
        out = restarted(regs(rax=-errno_, orig_rax=READ))
        assert (out.rax, out.rip, out.orig_rax) == (READ, 0x1000, NO_SYSCALL)


def test_a_restart_block_call_resumes_through_restart_syscall() -> None:
    out = restarted(regs(rax=-516, orig_rax=35))  # nanosleep's ERESTART_RESTARTBLOCK
    assert (out.rax, out.rip) == (219, 0x1000)


def test_a_finished_call_or_no_call_is_left_alone() -> None:
    done = restarted(regs(rax=5, orig_rax=READ))
    assert (done.rax, done.rip, done.orig_rax) == (5, 0x1002, NO_SYSCALL)
    user = restarted(regs(rax=-512, orig_rax=-1))  # not in a system call at all
    assert (user.rax & NO_SYSCALL, user.rip) == (-512 & NO_SYSCALL, 0x1002)


def test_wait_statuses_from_waitid_read_as_waitpids() -> None:
    child = os.fork()
    if child == 0:
        os._exit(3)
    info = os.waitid(os.P_PID, child, os.WEXITED)
    assert info is not None
    assert os.waitstatus_to_exitcode(wait_status_of(info)) == 3
    child = os.fork()
    if child == 0:
        signal.pause()
        os._exit(0)
    os.kill(child, signal.SIGKILL)
    info = os.waitid(os.P_PID, child, os.WEXITED)
    assert info is not None
    status = wait_status_of(info)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL


def test_the_gaps_around_kept_descriptors() -> None:
    assert descriptor_gaps(3, [5, 9]) == [(3, 5), (6, 9), (10, 1 << 20)]
    assert descriptor_gaps(3, []) == [(3, 1 << 20)]
