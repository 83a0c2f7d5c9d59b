"""`lambdalet top` against a real daemon: drawn in a pseudo-terminal (the workload's functions,
the busiest first, every line within the terminal's width; `q` and Ctrl-C leave with the
terminal's mode, screen and cursor given back), and `--once` for scripts."""

from __future__ import annotations

import fcntl
import os
import re
import select
import signal
import struct
import subprocess
import sys
import termios
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from tests.integration.conftest import Daemon

HANDLER = """
def handler(event, context):
    if event.get("fail"):
        raise ValueError("no")
    return event
"""
ESCAPE = re.compile(rb"\x1b\[[0-9;?]*[A-Za-z]")
LEAVE = b"\x1b[?25h\x1b[?1049l"
COLUMNS, LINES = 100, 30


def top_command(daemon: Daemon, *args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", "top", "--socket", str(daemon.socket_path), *args]


@pytest.fixture
def busy(daemon: Daemon) -> Iterator[Callable[[str], None]]:
    """Keeps invoking a function in a thread until the test ends."""
    stop = threading.Event()
    threads: list[threading.Thread] = []

    def start(name: str) -> None:
        def loop() -> None:
            from engine.cli.client import Client

            client = Client(daemon.socket_path, timeout_s=30)
            try:
                while not stop.is_set():
                    client.request("POST", f"/2015-03-31/functions/{name}/invocations", b"{}")
                    time.sleep(0.01)
            finally:
                client.close()

        thread = threading.Thread(target=loop)
        thread.start()
        threads.append(thread)

    yield start
    stop.set()
    for thread in threads:
        thread.join(10)


def test_once_prints_one_frame_of_the_workload(daemon: Daemon, deploy: Callable[..., str]) -> None:
    quiet, failing = deploy(HANDLER), deploy(HANDLER)
    assert daemon.invoke(quiet, {}).status == 200
    for _ in range(3):
        assert daemon.invoke(failing, {"fail": True}).status == 200
    out = subprocess.run(
        top_command(daemon, "--once", "--interval", "0.2"),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    assert "\x1b" not in out  # no escapes into a pipe
    lines = out.splitlines()
    assert lines[0].startswith("lambdalet top")
    heading = lines[3].split()
    assert heading[:2] == ["FUNCTION", "INV/S"] and "INVOKES" in heading and "ERRORS" in heading
    rows = {line.split()[0]: line.split() for line in lines[4:]}
    invokes, errors = heading.index("INVOKES"), heading.index("ERRORS")
    assert rows[quiet][invokes] == "1" and rows[quiet][errors] == "0"
    assert rows[failing][invokes] == "3" and rows[failing][errors] == "3"
    assert rows[quiet][heading.index("MEM(MB)")].endswith("/128")  # used / MemorySize
    assert rows[quiet][heading.index("WARM")] in ("0", "1")  # idle, or frozen by now


def read_until(fd: int, done: Callable[[bytes], bool], timeout_s: float) -> bytes:
    out = b""
    deadline = time.monotonic() + timeout_s
    while not done(out) and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.1)
        if ready:
            try:
                out += os.read(fd, 65536)
            except OSError:  # the child closed its end
                break
    return out


def start_in_pty(daemon: Daemon) -> tuple[subprocess.Popen[bytes], int, int, list[object]]:
    master, slave = os.openpty()
    fcntl.ioctl(slave, termios.TIOCSWINSZ, struct.pack("HHHH", LINES, COLUMNS, 0, 0))
    before = termios.tcgetattr(slave)
    env = {k: v for k, v in os.environ.items() if k not in ("COLUMNS", "LINES")}
    process = subprocess.Popen(
        top_command(daemon, "--interval", "0.3"),
        stdin=slave,
        stdout=slave,
        stderr=slave,
        env={**env, "TERM": "xterm"},
        start_new_session=True,
        # The pty becomes the child's controlling terminal, so Ctrl-C reaches it as SIGINT.
        preexec_fn=lambda: fcntl.ioctl(0, termios.TIOCSCTTY, 0),
    )
    return process, master, slave, before


def frames(raw: bytes) -> list[list[str]]:
    """The screens drawn: each starts at the cursor-home escape."""
    return [
        [ESCAPE.sub(b"", line).decode(errors="replace").strip("\r") for line in screen.split(b"\n")]
        for screen in raw.split(b"\x1b[H")[1:]
    ]


@pytest.mark.parametrize("key", [b"q", b"\x03"], ids=["q", "ctrl-c"])
def test_top_draws_the_workload_in_a_terminal_and_gives_it_back(
    daemon: Daemon, deploy: Callable[..., str], busy: Callable[[str], None], key: bytes
) -> None:
    hot, cold = deploy(HANDLER), deploy(HANDLER)
    assert daemon.invoke(cold, {}).status == 200
    busy(hot)
    process, master, slave, before = start_in_pty(daemon)
    try:

        def hot_on_top(raw: bytes) -> bool:
            for screen in frames(raw):
                rows = [line.split() for line in screen[4:] if line.strip()]
                names = [row[0] for row in rows]
                if hot in names and cold in names and rows[0][1] not in ("-", "0.0"):
                    return rows[0][0] == hot  # the busiest first
            return False

        raw = read_until(master, hot_on_top, 20)
        assert hot_on_top(raw), raw[-3000:]
        assert raw.startswith(b"\x1b[?1049h")  # the alternate screen
        for screen in frames(raw):
            assert all(len(line) <= COLUMNS for line in screen), screen
        os.write(master, key)
        assert process.wait(10) == 0
        rest = read_until(master, lambda out: out.endswith(LEAVE), 5)
        assert (raw + rest).endswith(LEAVE)  # cursor and main screen back, last
        assert termios.tcgetattr(slave) == before  # cbreak undone
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            process.wait()
        os.close(master)
        os.close(slave)
