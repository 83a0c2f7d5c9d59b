"""The watchdog task on a real Trio loop and a real datagram socket: keep-alives every half
period, none while the loop is blocked, and the late tick after a stall withheld."""

from __future__ import annotations

import socket
import threading
import time
from pathlib import Path

import pytest
import trio

from engine.host.systemd import Notifier
from engine.host.watchdog import Watchdog

PERIOD_S = 0.2  # keep-alives every 0.1 s
BLOCK_S = 0.5


class Receiver:
    """Records when each WATCHDOG=1 arrives (a thread, so the blocked loop cannot delay it)."""

    def __init__(self, path: Path) -> None:
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.05)
        self.times: list[float] = []
        self.done = False
        self.thread = threading.Thread(target=self.read)
        self.thread.start()

    def read(self) -> None:
        while not self.done:
            try:
                if self.sock.recv(100) == b"WATCHDOG=1":
                    self.times.append(time.monotonic())
            except TimeoutError:
                pass

    def close(self) -> None:
        self.done = True
        self.thread.join()
        self.sock.close()


async def test_keep_alives_stop_while_the_loop_is_blocked(tmp_path: Path) -> None:
    receiver = Receiver(tmp_path / "notify")
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
    watchdog = Watchdog(period_s=PERIOD_S, keep_alive=notifier.keep_alive)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(watchdog.run)
            await trio.sleep(0.55)
            blocked_at = time.monotonic()
            time.sleep(BLOCK_S)  # noqa: ASYNC251 - a synchronous call wedges the event loop
            unblocked_at = time.monotonic()
            await trio.sleep(0.45)
            nursery.cancel_scope.cancel()
    finally:
        notifier.close()
        time.sleep(0.1)  # noqa: ASYNC251 - the last datagrams reach the reader thread
        receiver.close()
    before = [t for t in receiver.times if t < blocked_at]
    during = [t for t in receiver.times if blocked_at < t < unblocked_at]
    after = [t for t in receiver.times if t >= unblocked_at]
    assert len(before) >= 4  # at once, then every 0.1 s
    assert during == []
    # The tick due during the block ran 0.4 s late: withheld, not sent at unblocking.
    assert watchdog.skipped == 1
    assert watchdog.max_lag_s >= BLOCK_S - 0.15
    assert after and after[0] - unblocked_at >= watchdog.interval_s * 0.8
    assert len(after) >= 2  # and they resume on a healthy loop


def test_a_tick_late_by_more_than_half_a_period_is_withheld() -> None:
    sent: list[int] = []
    watchdog = Watchdog(period_s=1.0, keep_alive=lambda: sent.append(1))
    assert watchdog.tick(0.01)
    assert watchdog.tick(0.49)
    assert not watchdog.tick(0.6)  # the last keep-alive is then 1.1 s old
    assert watchdog.tick(0.0)
    assert (len(sent), watchdog.sent, watchdog.skipped) == (3, 3, 1)
    assert watchdog.lag_s == 0.0 and watchdog.max_lag_s == 0.6


def test_a_period_must_be_positive() -> None:
    with pytest.raises(ValueError, match="positive"):
        Watchdog(period_s=0, keep_alive=lambda: None)
