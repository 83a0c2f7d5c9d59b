"""The daemon's side of systemd's notify protocol: READY=1, STATUS=, RELOADING=1, STOPPING=1
and WATCHDOG=1 as datagrams to `$NOTIFY_SOCKET`; a no-op when not run by systemd.

One socket, opened once and never connected (`sendto` per message, so a restarted manager's
socket is found again), non-blocking: a message the manager cannot take at once is dropped and
logged, never waited for. Closed by `close()` (the daemon's exit).
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

logger = logging.getLogger(__name__)

STATUS_MAX_CHARS = 400  # systemctl status shows one line; keep it readable


def notify_address(environ: Mapping[str, str]) -> str | bytes | None:
    """`$NOTIFY_SOCKET` as a socket address: a path, or an abstract name (leading "@")."""
    addr = environ.get("NOTIFY_SOCKET", "")
    if not addr:
        return None
    if addr.startswith("@"):
        return b"\0" + addr[1:].encode()
    return addr


def watchdog_period_s(environ: Mapping[str, str], pid: int) -> float | None:
    """The watchdog period systemd asks for (`$WATCHDOG_USEC`), if it is meant for `pid`
    (`$WATCHDOG_PID` unset or equal to it); None: no watchdog."""
    usec = environ.get("WATCHDOG_USEC", "")
    owner = environ.get("WATCHDOG_PID", "")
    if not usec.isdigit() or int(usec) == 0:
        return None
    if owner and (not owner.isdigit() or int(owner) != pid):
        return None
    return int(usec) / 1_000_000


def monotonic_usec() -> int:
    """CLOCK_MONOTONIC in microseconds, as RELOADING=1's MONOTONIC_USEC= wants it."""
    return time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000


def status_line(text: str) -> str:
    """One line of at most STATUS_MAX_CHARS: newlines would end the STATUS= field."""
    line = " ".join(text.split())
    return line if len(line) <= STATUS_MAX_CHARS else line[: STATUS_MAX_CHARS - 1] + "…"


class Notifier:
    """Messages to the service manager. Without `$NOTIFY_SOCKET` every method does nothing."""

    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        environ = os.environ if environ is None else environ
        self.address = notify_address(environ)
        self.watchdog_s = watchdog_period_s(environ, os.getpid())
        self._sock: socket.socket | None = None
        if self.address is not None:
            self._sock = socket.socket(
                socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC | socket.SOCK_NONBLOCK
            )
        self._failures_logged = 0

    @property
    def enabled(self) -> bool:
        return self._sock is not None

    def send(self, **fields: str | int) -> bool:
        """One datagram of KEY=VALUE lines (`send(READY=1, STATUS="serving")`); True if the
        manager took it."""
        if self._sock is None or self.address is None:
            return False
        if "STATUS" in fields:
            fields["STATUS"] = status_line(str(fields["STATUS"]))
        message = "\n".join(f"{key}={value}" for key, value in fields.items())
        try:
            self._sock.sendto(message.encode(), self.address)
        except OSError as exc:  # the manager's queue is full, or it went away
            if self._failures_logged < 5:
                self._failures_logged += 1
                logger.warning("sd_notify(%s) failed: %s", ", ".join(fields), exc)
            return False
        return True

    def status(self, text: str) -> None:
        self.send(STATUS=text)

    def ready(self, status: str) -> None:
        self.send(READY=1, STATUS=status)

    def reloading(self) -> None:
        self.send(
            RELOADING=1, MONOTONIC_USEC=monotonic_usec(), STATUS="reloading the configuration"
        )

    def stopping(self, status: str) -> None:
        self.send(STOPPING=1, STATUS=status)

    def keep_alive(self) -> bool:
        return self.send(WATCHDOG=1)

    def close(self) -> None:
        if self._sock is not None:
            self._sock.close()
            self._sock = None
