"""``lambdalet top``: a live table of the daemon's functions (invocations per second, errors,
p50/p99 duration, concurrency, environments, memory), read from its ``GET /metrics`` over the
API socket every `--interval` seconds.

Plain ANSI for any terminal, over SSH too: the alternate screen, the cursor home and each line
cleared to its end (no flicker), keys read in cbreak mode. ``q`` or Ctrl-C leaves, and the
terminal is given back as it was (its mode, the main screen, the cursor) however the loop
ends. ``--once`` prints one frame without escapes (two readings `--interval` apart, for the
rates) and exits: for scripts and tests.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import sys
import termios
import time
import tty
from collections.abc import Callable
from datetime import datetime
from typing import TextIO

from engine.cli.client import Client, ClientError
from engine.cli.top_view import Reading, frame, parse

ENTER = "\x1b[?1049h\x1b[?25l"  # the alternate screen, cursor hidden
LEAVE = "\x1b[?25h\x1b[?1049l"  # cursor shown, the main screen back
HOME = "\x1b[H"
CLEAR_LINE = "\x1b[K"
CLEAR_BELOW = "\x1b[J"
WIDE = 1000  # --once into a pipe: nothing is cut


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    t = sub.add_parser("top", help="a live view of the functions (q quits)", parents=[common])
    t.add_argument(
        "--interval", type=float, default=1.0, help="seconds between refreshes (default 1)"
    )
    t.add_argument("--once", action="store_true", help="print one frame and exit")


def reader(client: Client) -> Callable[[], Reading]:
    def read() -> Reading:
        resp = client.request("GET", "/metrics")
        if resp.status != 200:
            raise ClientError(f"GET /metrics answered {resp.status}: is [metrics] enabled = false?")
        return parse(resp.body.decode("utf-8", "replace"))

    return read


def run(client: Client, args: argparse.Namespace) -> int:
    if args.interval <= 0:
        raise ValueError("--interval must be a positive number of seconds")
    read = reader(client)
    if args.once:
        return once(read, args.interval, sys.stdout)
    return live(read, args.interval, sys.stdout, sys.stdin)


def once(read: Callable[[], Reading], interval_s: float, out: TextIO) -> int:
    before = read()
    started = time.monotonic()
    time.sleep(interval_s)
    now = read()
    width = shutil.get_terminal_size().columns if out.isatty() else WIDE
    lines = frame(
        before,
        now,
        elapsed_s=time.monotonic() - started,
        at=datetime.now(),
        interval_s=interval_s,
        width=width,
    )
    out.write("\n".join(lines) + "\n")
    return 0


def live(read: Callable[[], Reading], interval_s: float, out: TextIO, keys: TextIO) -> int:
    fd = keys.fileno() if keys.isatty() else None
    saved = termios.tcgetattr(fd) if fd is not None else None
    out.write(ENTER)
    try:
        if fd is not None:
            tty.setcbreak(fd)  # keys one at a time, unechoed; Ctrl-C still interrupts
        before: Reading | None = None
        then = time.monotonic()
        while True:
            size = shutil.get_terminal_size()
            try:
                now = read()
            except (ClientError, OSError) as exc:
                draw(out, [f"lambdalet top: {exc}"], size.columns)
            else:
                at = time.monotonic()
                lines = frame(
                    before,
                    now,
                    elapsed_s=at - then,
                    at=datetime.now(),
                    interval_s=interval_s,
                    width=size.columns,
                    height=size.lines,
                )
                draw(out, lines, size.columns)
                before, then = now, at
            if wait_for_quit(fd, interval_s):
                return 0
    except KeyboardInterrupt:
        return 0
    finally:
        out.write(LEAVE)
        out.flush()
        if fd is not None and saved is not None:
            termios.tcsetattr(fd, termios.TCSADRAIN, saved)


def draw(out: TextIO, lines: list[str], width: int) -> None:
    body = "\r\n".join(line[:width] + CLEAR_LINE for line in lines)
    out.write(HOME + body + CLEAR_BELOW)
    out.flush()


def wait_for_quit(fd: int | None, timeout_s: float) -> bool:
    """Wait up to `timeout_s`; True once `q` is pressed."""
    deadline = time.monotonic() + timeout_s
    while (left := deadline - time.monotonic()) > 0:
        if fd is None:
            time.sleep(left)
            return False
        ready, _, _ = select.select([fd], [], [], left)
        if ready:
            key = os.read(fd, 1)
            if key in (b"q", b"Q"):
                return True
            if not key:  # the terminal is gone
                return True
    return False
