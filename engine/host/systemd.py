"""The daemon's side of systemd's notify protocol (READY=1, STOPPING=1); a no-op when not run by
systemd (`NOTIFY_SOCKET` unset)."""

from __future__ import annotations

import logging
import os
import socket

logger = logging.getLogger(__name__)


def sd_notify(state: str) -> None:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        try:
            s.connect(addr)
            s.sendall(state.encode())
        except OSError as exc:
            logger.warning("sd_notify(%s) failed: %s", state, exc)
