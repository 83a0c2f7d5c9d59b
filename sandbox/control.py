"""Requests from the daemon to the spawner, one SOCK_SEQPACKET packet each: a 4-byte length, a
msgpack header ({"op": ..., "id": ...}), and an opaque payload the spawner relays unread.

The payload of a ``specialize`` request is the packed `SandboxSpec`: one function's
configuration, environment variables (secrets) included. The spawner never unpacks it: it
receives the packet into one preallocated buffer, passes the payload on to the stem by
reference and zeroes the buffer, so that no function's data is ever in the memory the
spawner forks into the next sandbox. Replies are plain msgpack maps (no function data).
"""

from __future__ import annotations

import struct
from typing import Any, Final

import msgpack

_LENGTH: Final = struct.Struct("!I")


def encode_request(header: dict[str, Any], payload: bytes = b"") -> bytes:
    packed: bytes = msgpack.packb(header, use_bin_type=True)
    return _LENGTH.pack(len(packed)) + packed + payload


def decode_request(packet: memoryview) -> tuple[dict[str, Any], memoryview]:
    """The header, and the payload as a view into `packet` (no copy is made)."""
    if len(packet) < _LENGTH.size:
        raise ValueError("control packet shorter than its length prefix")
    (size,) = _LENGTH.unpack_from(packet)
    end = _LENGTH.size + size
    if end > len(packet):
        raise ValueError("control packet header runs past the packet")
    header = msgpack.unpackb(packet[_LENGTH.size : end], raw=False)
    if not isinstance(header, dict):
        raise ValueError("control packet header is not a map")
    return header, packet[end:]
