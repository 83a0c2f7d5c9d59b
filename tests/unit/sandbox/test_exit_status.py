"""How a sandbox's end is told: init's exit code, and Lambda's wording for it."""

from __future__ import annotations

import signal

import pytest

from sandbox.launcher import Stem
from sandbox.spec import EXIT_SETUP_FAILED
from sandbox.stem import encode_exit


def wait_status_exited(code: int) -> int:
    return code << 8


@pytest.mark.parametrize(
    ("runtime_status", "init_code"),
    [(wait_status_exited(0), 0), (wait_status_exited(3), 3), (signal.SIGKILL, 137)],
)
def test_init_passes_on_the_runtimes_status(runtime_status: int, init_code: int) -> None:
    assert encode_exit(runtime_status) == init_code


@pytest.mark.parametrize(
    ("init_status", "said"),
    [
        (wait_status_exited(3), "exit status 3"),
        (wait_status_exited(137), "signal: killed"),  # the runtime was SIGKILLed
        (wait_status_exited(128 + signal.SIGSEGV), "signal: segv"),
        (signal.SIGKILL, "signal: killed"),  # init itself was killed (timeout, teardown)
        (None, "still running"),
    ],
)
def test_lambda_wording(init_status: int | None, said: str) -> None:
    stem = Stem(sandbox_id="a", pid=1, exit_status=init_status)
    assert stem.exit_description() == said
    assert not stem.setup_failed


def test_setup_failure_is_recognised() -> None:
    assert Stem(
        sandbox_id="a", pid=1, exit_status=wait_status_exited(EXIT_SETUP_FAILED)
    ).setup_failed
