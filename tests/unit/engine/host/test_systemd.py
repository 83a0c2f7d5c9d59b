"""The notify protocol against a datagram socket the test binds, as systemd's would be."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.host.systemd import (
    STATUS_MAX_CHARS,
    Notifier,
    notify_address,
    status_line,
    watchdog_period_s,
)


@pytest.fixture
def manager(tmp_path: Path) -> Iterator[socket.socket]:
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(str(tmp_path / "notify"))
    sock.settimeout(2)
    yield sock
    sock.close()


def fields(sock: socket.socket) -> dict[str, str]:
    return dict(line.split("=", 1) for line in sock.recv(4096).decode().splitlines())


def test_the_address_is_a_path_or_an_abstract_name() -> None:
    assert notify_address({"NOTIFY_SOCKET": "/run/systemd/notify"}) == "/run/systemd/notify"
    assert notify_address({"NOTIFY_SOCKET": "@/org/systemd/x"}) == b"\0/org/systemd/x"
    assert notify_address({"NOTIFY_SOCKET": ""}) is None
    assert notify_address({}) is None


@pytest.mark.parametrize(
    ("environ", "period"),
    [
        ({"WATCHDOG_USEC": "30000000"}, 30.0),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "4242"}, 0.5),
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1"}, None),  # meant for another process
        ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "x"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({}, None),
    ],
)
def test_the_watchdog_is_honoured_only_when_meant_for_us(
    environ: dict[str, str], period: float | None
) -> None:
    assert watchdog_period_s(environ, 4242) == period


def test_messages_arrive_as_key_value_lines_on_one_socket(
    manager: socket.socket, tmp_path: Path
) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
    assert notifier.enabled
    sock = notifier._sock
    notifier.status("preparing cgroups")
    assert fields(manager) == {"STATUS": "preparing cgroups"}
    notifier.ready("serving")
    assert fields(manager) == {"READY": "1", "STATUS": "serving"}
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    notifier.reloading()
    got = fields(manager)
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    assert got["RELOADING"] == "1" and before <= int(got["MONOTONIC_USEC"]) <= after
    notifier.stopping("stopping: 2 invokes in flight")
    assert fields(manager) == {"STOPPING": "1", "STATUS": "stopping: 2 invokes in flight"}
    assert notifier.keep_alive()
    assert fields(manager) == {"WATCHDOG": "1"}
    assert notifier._sock is sock  # opened once, not per message
    notifier.close()
    assert not notifier.send(READY=1)


def test_an_abstract_socket_works(tmp_path: Path) -> None:
    name = f"lambdalet-test-notify-{os.getpid()}"
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as manager:
        manager.bind("\0" + name)
        manager.settimeout(2)
        notifier = Notifier({"NOTIFY_SOCKET": "@" + name})
        notifier.ready("serving")
        assert fields(manager)["READY"] == "1"
        notifier.close()


def test_without_notify_socket_nothing_is_sent() -> None:
    notifier = Notifier({})
    assert not notifier.enabled
    assert not notifier.send(READY=1)
    notifier.close()


def test_a_full_or_missing_manager_never_blocks_nor_raises(
    manager: socket.socket, tmp_path: Path
) -> None:
    notifier = Notifier({"NOTIFY_SOCKET": str(tmp_path / "notify")})
    sent = [notifier.keep_alive() for _ in range(2000)]  # nobody reads: the queue fills
    assert sent[0] and not sent[-1]
    notifier.close()
    gone = Notifier({"NOTIFY_SOCKET": str(tmp_path / "nobody-here")})
    assert not gone.send(READY=1)
    gone.close()


def test_status_is_one_bounded_line() -> None:
    assert status_line("reload failed:\nline 3\tcolumn 4") == "reload failed: line 3 column 4"
    long = status_line("x" * 1000)
    assert len(long) == STATUS_MAX_CHARS and long.endswith("…")
