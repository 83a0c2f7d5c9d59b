"""The MD5 digests SQS answers with, computed as AWS computes them (clients check them).

The body's digest is the MD5 of its UTF-8 bytes. Attributes (message attributes, and the
system attributes a sender may set) are digested together, sorted by name, each as: the
name's length and bytes, the data type's length and bytes, a transport byte (1 for String and
Number types, 2 for Binary), then the value's length and bytes; lengths are 4-byte big-endian.
"""

from __future__ import annotations

import base64
import hashlib
import struct
from collections.abc import Mapping

from engine.sqs.message_attributes import AttributeValue

_STRING = b"\x01"
_BINARY = b"\x02"


def md5_of_body(body: str) -> str:
    return hashlib.md5(body.encode("utf-8"), usedforsecurity=False).hexdigest()


def md5_of_attributes(attributes: Mapping[str, AttributeValue]) -> str:
    """The digest of `attributes` (non-empty; SQS leaves the digest out when there are none)."""
    digest = hashlib.md5(usedforsecurity=False)
    for name in sorted(attributes):
        value = attributes[name]
        data_type = value["DataType"]
        _field(digest, name.encode("utf-8"))
        _field(digest, data_type.encode("utf-8"))
        binary = value.get("BinaryValue")
        if binary is not None:
            digest.update(_BINARY)
            _field(digest, base64.b64decode(binary))
        else:
            digest.update(_STRING)
            _field(digest, value.get("StringValue", "").encode("utf-8"))
    return digest.hexdigest()


def _field(digest: hashlib._Hash, data: bytes) -> None:
    digest.update(struct.pack(">I", len(data)))
    digest.update(data)
