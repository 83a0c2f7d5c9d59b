"""The batch runner of `sandbox.snapshot.ptrace`, on a plain child of the test (blocked in a
read, traced by us: no root needed), which must run on unharmed once let go."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from sandbox.seccomp.numbers import X86_64 as NR
from sandbox.snapshot import ptrace
from sandbox.snapshot.ptrace import Call, Tracee, TraceError

pytestmark = pytest.mark.skipif(os.uname().machine != "x86_64", reason="x86_64 machine code")


@pytest.fixture
def child() -> Iterator[tuple[int, int]]:
    """A child blocked in os.read(pipe), seized and held; its pid and the pipe's write end.
    It exits with the byte it reads. Killed and reaped whatever the test did."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover (the child)
        os.close(w)
        try:
            os._exit(os.read(r, 1)[0])
        finally:
            os._exit(99)
    os.close(r)
    try:
        ptrace.seize(pid)
        deadline = time.monotonic() + 10  # a loaded machine may take a while to get there
        while True:  # until it is blocked in its read
            with open(f"/proc/{pid}/syscall") as f:
                if f.read().split()[0] == str(NR["read"]):
                    break
            assert time.monotonic() < deadline, "the child never blocked in its read"
            time.sleep(0.001)
        ptrace.interrupt(pid)
        yield pid, w
    finally:
        os.close(w)
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass


def _let_go(t: Tracee, w: int, byte: int) -> int:
    t.resume_as(t.saved)
    ptrace.detach(t.pid)
    os.write(w, bytes([byte]))
    _, status = os.waitpid(t.pid, 0)
    return os.waitstatus_to_exitcode(status)


def test_a_batch_runs_every_call_in_one_go_and_the_child_runs_on(child: tuple[int, int]) -> None:
    pid, w = child
    t = Tracee(pid)
    runner = t.install_runner()
    with open(f"/proc/{pid}/maps") as f:
        maps = f.read()
    assert f"{runner.at:x}-" in maps  # mapped in the child, code page read+exec only
    assert f"{runner.at:x}-{runner.at + 4096:x} r-xp" in maps
    assert t.batch([Call("getpid", NR["getpid"]), Call("getppid", NR["getppid"])]) == os.getpid()
    assert t.batch([Call("getpid", NR["getpid"])]) == pid  # reusable
    assert t.batch([]) == 0
    assert _let_go(t, w, 7) == 7


def test_a_batch_stops_at_the_first_failure_and_names_it(child: tuple[int, int]) -> None:
    pid, w = child
    t = Tracee(pid)
    t.install_runner()
    calls = [
        Call("getpid", NR["getpid"]),
        Call("close a bad fd", NR["close"], (-1,)),
        Call("kill", NR["kill"], (pid, signal.SIGKILL)),  # never runs
    ]
    with pytest.raises(TraceError, match="close a bad fd") as failed:
        t.batch(calls)
    assert failed.value.errno == 9  # EBADF
    assert _let_go(t, w, 3) == 3  # alive: the kill after the failure did not run


def test_first_result_feeds_the_first_calls_result_to_later_calls(
    child: tuple[int, int],
) -> None:
    pid, w = child
    t = Tracee(pid)
    t.install_runner()
    before = set(os.listdir(f"/proc/{pid}/fd"))
    calls = [
        Call("dup", NR["dup"], (0,)),
        Call("fcntl", NR["fcntl"], (ptrace.FIRST_RESULT, 1)),  # F_GETFD of the new fd
        Call("close", NR["close"], (ptrace.FIRST_RESULT,)),
    ]
    assert t.batch(calls) == 0
    assert set(os.listdir(f"/proc/{pid}/fd")) == before  # the dup'd one was closed
    with pytest.raises(TraceError, match="close"):  # and only it: it is gone now
        t.batch([Call("dup", NR["dup"], (0,)), *calls[2:], *calls[2:]])
    assert _let_go(t, w, 5) == 5


def test_a_single_stepped_call_runs_once_and_the_child_runs_on(child: tuple[int, int]) -> None:
    pid, w = child
    t = Tracee(pid)
    assert t.step_call(NR["getppid"], what="getppid") == os.getpid()
    with pytest.raises(TraceError, match="close"):
        t.step_call(NR["close"], -1, what="close")
    assert _let_go(t, w, 11) == 11


def test_a_batch_that_makes_a_child_can_stop_there(child: tuple[int, int]) -> None:
    pid, w = child
    t = Tracee(pid)
    t.install_runner()
    # A fork that signals nobody when it ends (exit signal 0): the child stays unbothered.
    forked = t.batch([Call("clone", NR["clone"], (0, 0, 0, 0, 0))], until_child=True)
    try:
        status = ptrace.wait_stop(forked)  # born traced, held before its first instruction
        assert os.WIFSTOPPED(status)
        assert forked != pid and os.path.exists(f"/proc/{forked}")
    finally:
        os.kill(forked, signal.SIGKILL)
        os.waitpid(forked, ptrace._WALL)
    assert t.batch([Call("getpid", NR["getpid"])]) == pid  # from the fork's event stop on
    assert _let_go(t, w, 2) == 2
