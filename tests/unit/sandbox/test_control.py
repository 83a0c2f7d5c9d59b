"""The spawner's request framing: a msgpack header and an opaque payload, read without copies."""

from __future__ import annotations

import msgpack
import pytest

from sandbox.control import decode_request, encode_request


def test_header_and_payload_round_trip() -> None:
    payload = msgpack.packb({"env": {"SECRET": "s3cr3t"}}, use_bin_type=True)
    packet = encode_request({"op": "specialize", "id": "abc"}, payload)
    header, body = decode_request(memoryview(packet))
    assert header == {"op": "specialize", "id": "abc"}
    assert bytes(body) == payload


def test_the_payload_is_a_view_into_the_buffer_so_wiping_the_buffer_wipes_it() -> None:
    buffer = bytearray(encode_request({"op": "specialize", "id": "x"}, b"SECRET-VALUE"))
    view = memoryview(buffer)
    _, body = decode_request(view)
    view[:] = bytes(len(buffer))
    assert bytes(body) == bytes(len(b"SECRET-VALUE"))
    assert b"SECRET" not in buffer


def test_requests_without_payload() -> None:
    header, body = decode_request(memoryview(encode_request({"op": "kill", "id": "x"})))
    assert header == {"op": "kill", "id": "x"}
    assert len(body) == 0


@pytest.mark.parametrize(
    "packet",
    [b"", b"\x00\x00", b"\x00\x00\x00\x09\x81", b"\x00\x00\x00\x01\x05"],
    ids=["empty", "short prefix", "header past the end", "header not a map"],
)
def test_malformed_packets_are_refused(packet: bytes) -> None:
    with pytest.raises(ValueError, match="control packet"):
        decode_request(memoryview(packet))
