"""The CLI's HTTP client: kept-alive connections the daemon closed are retried once."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.cli.client import Client, ClientError

RESPONSE = b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok"


@pytest.fixture
def one_answer_per_connection(tmp_path: Path) -> Iterator[tuple[Path, list[bytes]]]:
    """A server that answers one request per connection, then closes it (as a server whose
    keep-alive ran out does); records every request line it got."""
    path = tmp_path / "s.sock"
    seen: list[bytes] = []
    server = socket.socket(socket.AF_UNIX)
    server.bind(str(path))
    server.listen()
    server.settimeout(5)

    def serve() -> None:
        for _ in range(2):  # bounded: the two requests of the test
            try:
                conn, _ = server.accept()
            except OSError:
                return
            with conn:
                data = conn.recv(65536)
                seen.append(data.split(b"\r\n", 1)[0])
                conn.sendall(RESPONSE)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield path, seen
    server.close()
    thread.join(5)


def test_a_closed_kept_alive_connection_is_retried_once(
    one_answer_per_connection: tuple[Path, list[bytes]],
) -> None:
    path, seen = one_answer_per_connection
    client = Client(path, timeout_s=5)
    try:
        assert client.request("GET", "/a").body == b"ok"
        assert client.request("GET", "/b").body == b"ok"  # the first connection is gone
    finally:
        client.close()
    assert seen == [b"GET /a HTTP/1.1", b"GET /b HTTP/1.1"]  # each request reached it once


def test_no_daemon_is_a_clear_error(tmp_path: Path) -> None:
    client = Client(tmp_path / "missing.sock")
    with pytest.raises(ClientError, match="no lambdalet daemon at"):
        client.request("GET", "/")
