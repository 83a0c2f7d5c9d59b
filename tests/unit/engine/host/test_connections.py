"""Connection limits: a full listener evicts the client that owes a request head the longest,
refuses a new one when every connection is busy, and caps unix peers per uid."""

from __future__ import annotations

import os
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import trio

from engine.host.connections import ConnectionLimits, GuardedListener, GuardedStream

HEAD = b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"
EVICT_AFTER_S = 0.05


@asynccontextmanager
async def tcp_listener(limits: ConnectionLimits) -> AsyncIterator[GuardedListener]:
    sock = trio.socket.socket()
    await sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    listener = GuardedListener(trio.SocketListener(sock), limits, name="test")
    try:
        yield listener
    finally:
        for stream in list(listener.active):
            await stream.aclose()
        await listener.aclose()


async def connect(listener: GuardedListener) -> trio.SocketStream:
    sock = trio.socket.socket()
    await sock.connect(listener.inner.socket.getsockname())
    return trio.SocketStream(sock)


def owes_a_head(stream: GuardedStream) -> bool:
    return stream.waiting


async def closed_by_server(stream: trio.abc.Stream) -> bool:
    with trio.move_on_after(2):
        try:
            return await stream.receive_some(1) == b""
        except trio.BrokenResourceError:
            return True
    return False


async def test_a_full_listener_evicts_the_connection_that_owes_a_head_the_longest() -> None:
    limits = ConnectionLimits(max_connections=2, evict_after_s=EVICT_AFTER_S)
    async with tcp_listener(limits) as listener:
        slow = await connect(listener)
        await slow.send_all(b"GET / HTTP/1.1\r\nHo")  # a slowloris: part of a head
        accepted_slow = await listener.accept()
        await trio.sleep(EVICT_AFTER_S)
        idle = await connect(listener)
        accepted_idle = await listener.accept()
        await trio.sleep(EVICT_AFTER_S)  # both may be evicted now; `slow` waited the longest
        fresh = await connect(listener)
        await fresh.send_all(HEAD)
        accepted_fresh = await listener.accept()
        assert await closed_by_server(slow)
        assert accepted_slow.evicted and not accepted_idle.evicted
        assert listener.active == {accepted_idle, accepted_fresh}
        assert listener.evictions == 1
        for s in (slow, idle, fresh):
            await s.aclose()


async def test_a_flood_of_fresh_connections_makes_the_newcomer_wait_not_fail() -> None:
    # A slowloris that fills the listener faster than `evict_after_s`: the next client (who
    # sends its head at once) is let in once the oldest flooder has waited long enough,
    # instead of being refused while every flooder is still young.
    limits = ConnectionLimits(max_connections=2, evict_after_s=0.3)
    async with tcp_listener(limits) as listener:
        flood = [await connect(listener) for _ in range(2)]
        accepted = [await listener.accept() for _ in flood]
        honest = await connect(listener)
        await honest.send_all(HEAD)
        started = trio.current_time()
        let_in = await listener.accept()
        assert 0.2 <= trio.current_time() - started <= 0.6
        assert await let_in.receive_some(1024) == HEAD
        assert accepted[0].evicted and not accepted[1].evicted
        assert listener.refused == 0 and listener.evictions == 1
        for s in (*flood, honest):
            await s.aclose()


async def test_busy_connections_are_not_evicted_and_a_newcomer_is_refused() -> None:
    limits = ConnectionLimits(max_connections=1, evict_after_s=EVICT_AFTER_S)
    async with tcp_listener(limits) as listener:
        busy = await connect(listener)
        await busy.send_all(HEAD)
        accepted = await listener.accept()
        assert await accepted.receive_some(1024) == HEAD
        accepted.head_received()  # as the HTTP server says once it has parsed the head
        assert owes_a_head(accepted) is False  # a request is being served: no response yet
        await trio.sleep(EVICT_AFTER_S * 2)
        late = await connect(listener)
        async with trio.open_nursery() as nursery:
            nursery.start_soon(listener.accept)  # refuses `late`, then waits for another
            assert await closed_by_server(late)
            nursery.cancel_scope.cancel()
        assert listener.refused == 1 and listener.active == {accepted}
        await accepted.send_all(b"HTTP/1.1 200 OK\r\n\r\n")
        accepted.owes_head()  # the response went out: the next head is owed
        assert owes_a_head(accepted) is True
        for s in (busy, late):
            await s.aclose()


async def test_unix_peers_are_capped_per_uid(tmp_path: Path) -> None:
    path = os.fspath(tmp_path / "api.sock")
    sock = trio.socket.socket(socket.AF_UNIX)
    await sock.bind(path)
    sock.listen(16)
    limits = ConnectionLimits(max_connections=10, max_per_peer=2, evict_after_s=3600)
    listener = GuardedListener(trio.SocketListener(sock), limits, name="unix")
    clients = [await trio.open_unix_socket(path) for _ in range(2)]
    accepted = [await listener.accept() for _ in clients]
    assert all(isinstance(a, GuardedStream) and a.peer == os.getuid() for a in accepted)
    assert listener.per_peer == {os.getuid(): 2}
    third = await trio.open_unix_socket(path)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(listener.accept)
        assert await closed_by_server(third)  # same uid, none evictable yet: refused
        nursery.cancel_scope.cancel()
    await accepted[0].aclose()
    assert listener.per_peer == {os.getuid(): 1}
    for stream in (*accepted, *clients, third):
        await stream.aclose()
    await listener.aclose()
