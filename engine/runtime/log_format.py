"""How a log stream is laid out on disk, and the names CloudWatch Logs gives its parts. Pure.

A stream is two files side by side: ``<base>.log``, the raw output exactly as it came (what
``X-Amz-Log-Result`` and a reader at the host see), and ``<base>.events``, its events: a
header (magic, creation time, flags, the stream's name) then one fixed-size record per event,
``(timestamp ms, ingestion - timestamp ms, end offset in the .log)``. Event i is the bytes
``[end(i-1), end(i))`` of the ``.log``, so records are found by index (tokens are indexes) and
by time (a stream whose events are in time order is searched by bisection).
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass
from typing import Final

MAGIC: Final = b"LBTLOGS1"
_HEAD: Final = struct.Struct("<8sqII")  # magic, created ms, flags, name length
RECORD: Final = struct.Struct("<qiQ")  # timestamp ms, ingestion delta ms, end offset
UNSORTED: Final = 1  # flags bit: some event is older than one before it
FLAGS_OFFSET: Final = 16  # where the flags word sits in the header (rewritten in place)

# Lambda splits a line longer than CloudWatch's event limit (256 KiB less 26 bytes of
# per-event overhead) into several events.
MAX_EVENT_BYTES: Final = 262_144 - 26
EVENT_OVERHEAD: Final = 26  # CloudWatch counts each event's size as its bytes + 26
_UID_DIGITS: Final = 39  # a 128-bit number in decimal
_INDEX_DIGITS: Final = 17


@dataclass(frozen=True, slots=True)
class Header:
    created_ms: int
    flags: int
    name: str
    size: int  # bytes before the first record


def encode_header(name: str, created_ms: int, flags: int = 0) -> bytes:
    raw = name.encode()
    head = _HEAD.pack(MAGIC, created_ms, flags, len(raw)) + raw
    return head + b"\0" * (-len(head) % 8)


def decode_header(data: bytes) -> Header | None:
    """The header at the start of `data` (at least its first 4 KiB), None if it is not one."""
    if len(data) < _HEAD.size:
        return None
    magic, created_ms, flags, length = _HEAD.unpack_from(data)
    end = _HEAD.size + length
    if magic != MAGIC or len(data) < end:
        return None
    try:
        name = data[_HEAD.size : end].decode()
    except UnicodeDecodeError:
        return None
    return Header(created_ms=created_ms, flags=flags, name=name, size=end + (-end % 8))


def stream_uid(name: str, created_ms: int) -> int:
    """A stream's 128-bit identity: event ids and tokens carry it, so a token of another
    stream (or of an older stream of the same name) is refused rather than misread."""
    digest = hashlib.blake2b(f"{name}\0{created_ms}".encode(), digest_size=16).digest()
    return int.from_bytes(digest, "big")


def event_id(uid: int, index: int) -> str:
    """56 digits, as CloudWatch's: the stream's identity, then the event's index in it."""
    return f"{uid:0{_UID_DIGITS}d}{index:0{_INDEX_DIGITS}d}"


def encode_token(direction: str, uid: int, index: int) -> str:
    """GetLogEvents' ``f/…`` (read on from `index`) and ``b/…`` (read back before it)."""
    return f"{direction}/{event_id(uid, index)}"


def decode_token(token: str) -> tuple[str, int, int] | None:
    """(direction, stream uid, index) of a GetLogEvents token; None if it is not one."""
    direction, slash, digits = token.partition("/")
    if not slash or direction not in ("f", "b") or not digits.isdigit():
        return None
    if len(digits) != _UID_DIGITS + _INDEX_DIGITS or not digits.isascii():
        return None
    return direction, int(digits[:_UID_DIGITS]), int(digits[_UID_DIGITS:])


def lambda_stream_name(date: str, version: str, stream_id: str) -> str:
    """``2024/05/01/[$LATEST]0123…``: Lambda's name for an environment's stream."""
    return f"{date}/[{version}]{stream_id}"
