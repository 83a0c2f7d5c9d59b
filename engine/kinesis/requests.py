"""Reading a Kinesis request past the protocol: the model's checks in Kinesis's words, the
stream a request names, records to put, timestamps and page tokens. Pure.

Kinesis answers a member of the wrong JSON type with SerializationException, and every broken
constraint of the model at once with ValidationException (``2 validation errors detected:
Value null at 'shardId' failed to satisfy constraint: Member must not be null; …``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from datetime import datetime
from typing import Any, Final

from engine.kinesis.catalog import StreamCatalog
from engine.kinesis.errors import (
    InvalidArgumentException,
    SerializationException,
    stream_not_found,
)
from engine.kinesis.hashing import explicit_hash_key, hash_key
from engine.kinesis.records import Entry
from engine.kinesis.stream import Stream
from engine.shapes.json_input import problems
from engine.shapes.model import ServiceModel
from engine.shapes.validate import Rules, raise_if_any, violation, violations

# A record's data is checked once decoded, against its stream's maximum record size.
_RULES: Final = Rules(skip=frozenset({"Data"}))


def check_input(model: ServiceModel, shape_name: str, body: Mapping[str, Any]) -> None:
    """The protocol's type checks, then every constraint of the model."""
    for problem in problems(model, shape_name, body):
        if problem.kind == "type":
            raise SerializationException(
                f"Value of {problem.path} cannot be read as a JSON {problem.expected}."
            )
    raise_if_any(violations(model, shape_name, body, _RULES))


def stream_of(catalog: StreamCatalog, body: Mapping[str, Any]) -> Stream:
    """The stream named by StreamARN or StreamName (ResourceNotFoundException if none)."""
    name: str | None = body.get("StreamName")
    arn: str | None = body.get("StreamARN")
    if arn is not None:
        stream = catalog.by_arn.get(arn)
        if stream is None:
            raise stream_not_found(arn.rpartition(":stream/")[2] or arn)
        if name is not None and name != stream.name:
            raise InvalidArgumentException(
                f"StreamARN {arn} and StreamName {name} do not name the same stream."
            )
        return stream
    if name is None:
        raise InvalidArgumentException("Either StreamName or StreamARN should be provided.")
    return catalog.get(name)


def blob(value: str, path: str) -> bytes:
    try:
        return base64.b64decode(value.encode(), validate=True)
    except (binascii.Error, ValueError):
        raise SerializationException(f"Value of {path} is not valid base64.") from None


def entry(stream: Stream, item: Mapping[str, Any], where: str) -> Entry | list[str]:
    """A record to put, or what is wrong with it past the model (a partition key is needed;
    the data must fit the stream's maximum record size). `where` prefixes its members' paths
    in messages: "" for PutRecord, "records.1.member." for PutRecords."""
    key: str | None = item.get("PartitionKey")
    data = blob(item["Data"], where + "data")
    found: list[str] = []
    if key is None:
        found.append(violation(where + "partitionKey", None, "Member must not be null"))
    limit = stream.max_record_kib * 1024
    if len(data) > limit:
        size = len(data)
        found.append(
            f"Value 'java.nio.HeapByteBuffer[pos=0 lim={size} cap={size}]' at '{where}data' "
            f"failed to satisfy constraint: Member must have length less than or equal to {limit}"
        )
    if found or key is None:
        return found
    explicit = item.get("ExplicitHashKey")
    hashed = explicit_hash_key(explicit) if explicit is not None else hash_key(key)
    return Entry(key, data, hashed)


def entry_checks(model: ServiceModel, item: Mapping[str, Any], where: str) -> list[str]:
    """The model's constraints of one PutRecords entry, its members named from the request."""
    out: list[str] = []
    for found in violations(model, "PutRecordsRequestEntry", item, _RULES):
        head, _, tail = found.partition("' failed to satisfy constraint")
        value, _, path = head.rpartition(" at '")
        out.append(f"{value} at '{where}{path}' failed to satisfy constraint{tail}")
    return out


def timestamp(value: Any) -> float:
    """A Timestamp member: epoch seconds (botocore sends a number) or ISO 8601 text."""
    if isinstance(value, int | float):
        return float(value)
    try:
        return float(value)
    except ValueError:
        pass
    try:
        return datetime.fromisoformat(str(value).replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise SerializationException(f"Value {value} cannot be read as a timestamp.") from None


def page_token(values: Mapping[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def read_page_token(token: str) -> dict[str, Any]:
    try:
        values = json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidArgumentException(f"Invalid NextToken: {token}") from None
    if not isinstance(values, dict):
        raise InvalidArgumentException(f"Invalid NextToken: {token}")
    return values
