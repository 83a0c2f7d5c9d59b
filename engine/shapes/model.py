"""A service model read into records: operations, shapes, members, error traits.

`load_service("lambda")` reads ``data/lambda-<version>.json`` once; the records are frozen.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final

# The API version of each service the engine speaks (the data file's suffix).
API_VERSIONS: Final = {
    "lambda": "2015-03-31",
    "sqs": "2012-11-05",
    "kinesis": "2013-12-02",
    "scheduler": "2021-06-30",
    "logs": "2014-03-28",
}


@dataclass(frozen=True, slots=True)
class Member:
    name: str  # "FunctionName"
    shape: str  # the member's shape name
    location: str = ""  # "" (body), "uri", "querystring", "header", "headers", "statusCode"
    location_name: str = ""  # the label, query key or header name; "" in the body
    payload: bool = False  # this member is the whole HTTP body


@dataclass(frozen=True, slots=True)
class ErrorTrait:
    status: int
    sender_fault: bool
    message_key: str  # "message" or "Message": the body key this error's text goes in
    has_type: bool  # the body carries "Type": "User" or "Service"


@dataclass(frozen=True, slots=True)
class Shape:
    name: str
    type: str  # "string", "integer", "long", "double", "float", "boolean", "blob",
    # "timestamp", "list", "map", "structure"
    min: float | None = None
    max: float | None = None
    pattern: str | None = None
    enum: tuple[str, ...] = ()
    member: str | None = None  # a list's element shape
    key: str | None = None  # a map's key shape
    value: str | None = None  # a map's value shape
    members: tuple[Member, ...] = ()
    required: frozenset[str] = frozenset()
    sensitive: bool = False
    error: ErrorTrait | None = None
    _regex: list[re.Pattern[str]] = field(default_factory=list, compare=False, repr=False)

    def regex(self) -> re.Pattern[str]:
        """The pattern, compiled once, as Java (AWS) reads it: see `java_regex`."""
        if not self._regex:
            assert self.pattern is not None
            self._regex.append(java_regex(self.pattern))
        return self._regex[0]

    def member_named(self, name: str) -> Member | None:
        return next((m for m in self.members if m.name == name), None)


# Java's Unicode classes, as Python spells them: \p{Z} exactly; \p{L} and \p{N} as \w, which
# is exactly L, N and "_" together (the only way the models use them, in tag keys and values).
_JAVA_CLASSES: Final = {
    r"\p{Z}": "\u0020\u00a0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000",
    r"\p{L}": r"\w",
    r"\p{N}": r"\w",
}


def java_regex(pattern: str) -> re.Pattern[str]:
    r"""A model pattern compiled with Java's meaning: ``\d`` and ``\s`` are ASCII-only, and the
    Unicode classes ``\p{…}`` (which Python lacks) are spelt out."""
    if "\\p{" not in pattern:
        return re.compile(pattern, re.ASCII)
    for java, python in _JAVA_CLASSES.items():
        pattern = pattern.replace(java, python)
    if "\\p{" in pattern:
        raise ValueError(f"a Java character class this engine cannot read: {pattern}")
    return re.compile(pattern)


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    name: str
    method: str
    uri: str  # requestUri template, maybe with a literal query part
    success_status: int = 200
    input: str | None = None  # the input shape's name
    output: str | None = None
    errors: tuple[str, ...] = ()


@dataclass(frozen=True)
class ServiceModel:
    name: str
    api_version: str
    protocol: str
    signing_name: str
    target_prefix: str | None
    botocore_version: str
    operations: Mapping[str, Operation]
    shapes: Mapping[str, Shape]

    def shape(self, name: str) -> Shape:
        return self.shapes[name]

    def error(self, name: str) -> ErrorTrait | None:
        shape = self.shapes.get(name)
        return None if shape is None else shape.error


def parse_model(name: str, data: Mapping[str, Any]) -> ServiceModel:
    meta = data["metadata"]
    shapes = {n: _shape(n, spec) for n, spec in data["shapes"].items()}
    operations = {n: _operation(n, spec) for n, spec in data["operations"].items()}
    return ServiceModel(
        name=name,
        api_version=meta["apiVersion"],
        protocol=meta["protocol"],
        signing_name=meta.get("signingName", meta.get("endpointPrefix", name)),
        target_prefix=meta.get("targetPrefix"),
        botocore_version=meta.get("botocoreVersion", ""),
        operations=operations,
        shapes=shapes,
    )


def _shape(name: str, spec: Mapping[str, Any]) -> Shape:
    members = tuple(
        Member(
            name=member,
            shape=m["shape"],
            location=m.get("location", ""),
            location_name=m.get("locationName", ""),
        )
        for member, m in spec.get("members", {}).items()
    )
    payload = spec.get("payload")
    if payload is not None:
        members = tuple(
            Member(m.name, m.shape, m.location, m.location_name, payload=m.name == payload)
            for m in members
        )
    error = None
    if "error" in spec or spec.get("exception"):
        trait = spec.get("error", {})
        keys = {m.name for m in members}
        error = ErrorTrait(
            status=int(trait.get("httpStatusCode", 400)),
            sender_fault=bool(trait.get("senderFault", False)),
            message_key="Message" if "Message" in keys else "message",
            has_type="Type" in keys,
        )
    return Shape(
        name=name,
        type=spec["type"],
        min=spec.get("min"),
        max=spec.get("max"),
        pattern=spec.get("pattern"),
        enum=tuple(spec.get("enum", ())),
        member=spec["member"]["shape"] if "member" in spec else None,
        key=spec["key"]["shape"] if "key" in spec else None,
        value=spec["value"]["shape"] if "value" in spec else None,
        members=members,
        required=frozenset(spec.get("required", ())),
        sensitive=bool(spec.get("sensitive", False)),
        error=error,
    )


def _operation(name: str, spec: Mapping[str, Any]) -> Operation:
    http = spec["http"]
    return Operation(
        name=name,
        method=http["method"],
        uri=http["requestUri"],
        success_status=int(http.get("responseCode", 200)),
        input=spec.get("input", {}).get("shape"),
        output=spec.get("output", {}).get("shape"),
        errors=tuple(e["shape"] for e in spec.get("errors", ())),
    )


@functools.cache
def load_service(name: str) -> ServiceModel:
    """The model of service `name` ("lambda"), read from the package data once."""
    filename = f"{name}-{API_VERSIONS[name]}.json"
    text = importlib.resources.files("engine.shapes").joinpath("data", filename).read_text()
    return parse_model(name, json.loads(text))
