from __future__ import annotations

import base64
import hashlib
import struct

from engine.sqs.md5 import md5_of_attributes, md5_of_body


def test_body_digest_is_md5_of_utf8() -> None:
    assert md5_of_body("msg") == "6e2baaf3b97dbeef01c0043275f9a0e7"  # AWS's recorded answer
    assert md5_of_body("é") == hashlib.md5("é".encode()).hexdigest()


def test_string_attribute_digest_matches_aws() -> None:
    # Recorded from AWS: MessageAttributes {"Foo": String "Bar"}.
    digest = md5_of_attributes({"Foo": {"DataType": "String", "StringValue": "Bar"}})
    assert digest == "ae7155c6026991b6d54b11589678bf9c"


def _field(data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + data


def test_attributes_sorted_by_name_and_binary_decoded() -> None:
    raw = b"\x00\x01\xff"
    attributes = {
        "z": {"DataType": "Number", "StringValue": "12"},
        "a": {"DataType": "Binary", "BinaryValue": base64.b64encode(raw).decode()},
    }
    expected = hashlib.md5(
        _field(b"a") + _field(b"Binary") + b"\x02" + _field(raw)
        + _field(b"z") + _field(b"Number") + b"\x01" + _field(b"12")
    ).hexdigest()  # fmt: skip
    assert md5_of_attributes(attributes) == expected
