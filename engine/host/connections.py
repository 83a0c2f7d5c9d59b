"""Connection limits for the daemon's listeners, so that slow or idle clients cannot starve it.

A root daemon that accepts whatever connects runs out of descriptors long before any request
is authenticated (a slowloris: hundreds of connections that send their request head a byte
at a time). Each listener therefore holds at most `max_connections`, and on the unix socket at
most `max_per_peer` per uid (`SO_PEERCRED`). When a listener is full, a new connection
evicts the connection that has waited longest for its next request head (idle, or sending a
head slowly) once that wait has lasted `evict_after_s` (when the waiters are all younger,
accepting waits up to half a second for the oldest to get there); if every connection is busy
with a request, or none gets there in time, the new one is closed instead. The deadline for a
request head itself is the binding's keep-alive timeout, which runs from accept (and from each
answer) until a whole head has been parsed.

Connections are tracked by a thin stream wrapper; the HTTP server (`engine.host.http1`) tells
it when the client owes a request head and when one has been parsed.
"""

from __future__ import annotations

import logging
import socket
import struct
from dataclasses import dataclass
from typing import Final

import trio

logger = logging.getLogger(__name__)

_PEERCRED: Final = struct.Struct("3i")  # struct ucred: pid, uid, gid
_WARN_EVERY_S: Final = 10.0
ADMIT_WAIT_MAX_S: Final = 0.5  # how long accepting waits for a waiter to become evictable


@dataclass(frozen=True, slots=True, kw_only=True)
class ConnectionLimits:
    max_connections: int  # open connections per listener
    max_per_peer: int | None = None  # per uid, on unix sockets (None: no per-peer cap)
    evict_after_s: float = 1.0  # a connection waiting this long for a head may be evicted


# The unix socket's peers are root and the socket group: generous, and capped per uid. The
# loopback TCP listeners are open to every local user (all of them 127.0.0.1, so a per-peer cap
# would be the listener's): fewer connections, and a request head within a few seconds.
UNIX_LIMITS: Final = ConnectionLimits(max_connections=1024, max_per_peer=512)
UNIX_KEEP_ALIVE_S: Final = 75.0
TCP_LIMITS: Final = ConnectionLimits(max_connections=512)
TCP_KEEP_ALIVE_S: Final = 5.0


class GuardedStream(trio.abc.HalfCloseableStream):
    """A `trio.SocketStream` that knows whether its client owes the server a request head:
    the HTTP server says so (`owes_head` when it waits for one, `head_received` once parsed)."""

    def __init__(self, inner: trio.SocketStream, guard: GuardedListener, peer: int | None):
        self.inner = inner
        self.guard = guard
        self.peer = peer  # the peer's uid on a unix socket
        self.waiting_since = trio.current_time()
        self.waiting = True  # False while a request is being served
        self.evicted = False

    @property
    def socket(self) -> trio.socket.SocketType:  # the server reads the peer's address here
        return self.inner.socket

    def owes_head(self) -> None:
        if not self.waiting:
            self.waiting = True
            self.waiting_since = trio.current_time()

    def head_received(self) -> None:
        self.waiting = False

    async def receive_some(self, max_bytes: int | None = None) -> bytes | bytearray:
        return await self.inner.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await self.inner.send_all(data)

    async def wait_send_all_might_not_block(self) -> None:
        await self.inner.wait_send_all_might_not_block()

    async def send_eof(self) -> None:
        await self.inner.send_eof()

    async def aclose(self) -> None:
        self.guard.forget(self)
        await self.inner.aclose()

    async def evict(self) -> None:
        """Close this connection under its server (whose reader sees the stream closed)."""
        self.evicted = True
        self.guard.forget(self)
        await self.inner.aclose()


class GuardedListener(trio.abc.Listener[GuardedStream]):
    def __init__(
        self,
        inner: trio.SocketListener,
        limits: ConnectionLimits,
        *,
        name: str,
        log_peer: bool = False,
    ) -> None:
        self.inner = inner
        self.limits = limits
        self.name = name
        self.log_peer = log_peer
        self.active: set[GuardedStream] = set()
        self.per_peer: dict[int, int] = {}
        self.refused = 0  # connections closed at accept because the listener was full
        self.evictions = 0
        self._warned_at = -_WARN_EVERY_S

    async def accept(self) -> GuardedStream:
        while True:
            stream = await self.inner.accept()
            peer = self._peer_uid(stream)
            if not await self._make_room(peer):
                self.refused += 1
                self._warn("refused a connection: the listener is full of busy connections")
                await stream.aclose()
                continue
            guarded = GuardedStream(stream, self, peer)
            self.active.add(guarded)
            if peer is not None:
                self.per_peer[peer] = self.per_peer.get(peer, 0) + 1
            return guarded

    def forget(self, stream: GuardedStream) -> None:
        if stream in self.active:
            self.active.discard(stream)
            if stream.peer is not None:
                left = self.per_peer.get(stream.peer, 1) - 1
                if left > 0:
                    self.per_peer[stream.peer] = left
                else:
                    self.per_peer.pop(stream.peer, None)

    async def aclose(self) -> None:
        await self.inner.aclose()

    async def _make_room(self, peer: int | None) -> bool:
        """Evict a connection that owes a head if this listener (or this peer) is full."""
        limits = self.limits
        peer_full = (
            peer is not None
            and limits.max_per_peer is not None
            and self.per_peer.get(peer, 0) >= limits.max_per_peer
        )
        if len(self.active) < limits.max_connections and not peer_full:
            return True
        candidates = self.active if not peer_full else {s for s in self.active if s.peer == peer}
        victim = self._longest_waiting(candidates)
        if victim is None:
            # Connections that owe a head but have not waited `evict_after_s` yet (a flood of
            # fresh ones): wait until the oldest has, rather than refuse a client that may
            # be the one sending its request at once. At most ADMIT_WAIT_MAX_S.
            owing = [s for s in candidates if s.waiting]
            if not owing:
                return False
            oldest = min(owing, key=lambda s: s.waiting_since)
            due = oldest.waiting_since + self.limits.evict_after_s
            await trio.sleep_until(min(due, trio.current_time() + ADMIT_WAIT_MAX_S))
            victim = self._longest_waiting(candidates)
            if victim is None:
                return False
        self.evictions += 1
        self._warn("evicted a connection that sent no complete request head")
        await victim.evict()
        return True

    def _longest_waiting(self, streams: set[GuardedStream]) -> GuardedStream | None:
        now = trio.current_time()
        waiting = [
            s for s in streams if s.waiting and now - s.waiting_since >= self.limits.evict_after_s
        ]
        return min(waiting, key=lambda s: s.waiting_since, default=None)

    def _peer_uid(self, stream: trio.SocketStream) -> int | None:
        if stream.socket.family != socket.AF_UNIX:
            return None
        try:
            raw = stream.socket.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _PEERCRED.size)
        except OSError as exc:
            logger.warning("%s: cannot read the peer's credentials: %s", self.name, exc)
            return None
        pid, uid, gid = _PEERCRED.unpack(raw)
        if self.log_peer:
            logger.info("%s: connection from uid %d gid %d (pid %d)", self.name, uid, gid, pid)
        return int(uid)

    def _warn(self, what: str) -> None:
        now = trio.current_time()
        if now - self._warned_at >= _WARN_EVERY_S:
            self._warned_at = now
            logger.warning(
                "%s: %s (%d open; %d refused, %d evicted so far)",
                self.name,
                what,
                len(self.active),
                self.refused,
                self.evictions,
            )
