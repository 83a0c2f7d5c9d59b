"""Lambda event filtering for event source mappings (issue 14): a mapping's FilterCriteria as
Lambda parses it, and the document Lambda matches it against for each source (an SQS message,
a Kinesis record).

Pure. The grammar is `event_filters_patterns`, the matching `event_filters_matching`; the
AWS sources behind each rule are in their docstrings and in ../shared/notes/lambda-events.md.

The rules a poller relies on:
- Up to `MAX_FILTERS` patterns, ORed; a record no pattern matches is dropped (a queue message
  deleted, a stream record passed over). No patterns: every record matches.
- A pattern reads the source's data under one key: `body` for SQS, `data` for Kinesis, with
  the data's JSON object in place of its text. A pattern that treats the data otherwise than
  the record holds it never matches (Lambda drops the record): a pattern looking inside `body`
  (`{"body": {"k": [...]}}`) against a plain-text body, a plain pattern (`{"body": [...]}`)
  against a JSON body, any pattern on `data` when a Kinesis record's data is not JSON.
- Fields the poller adds to a record (`eventSource`, `eventSourceARN`, `awsRegion`, ...) are
  not in the document: "you can filter based on the fields sent by the source API, and not on
  fields added by the polling operation" (eb-pipes-event-filtering.html; Lambda's filtering
  is the same, bar `eventSourceKey`).
"""

from __future__ import annotations

import base64
import binascii
import enum
import json
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final

from engine.errors import InvalidParameterValueException
from engine.model.event_filters_matching import branch_matches, flatten, path_prefixes
from engine.model.event_filters_patterns import (
    MSG_INVALID_PATTERN,
    Branch,
    CompiledPattern,
    JsonFloat,
    compile_pattern,
)

__all__ = [
    "MAX_FILTERS",
    "MSG_INVALID_PATTERN",
    "MSG_TOO_MANY_FILTERS",
    "DataFormat",
    "FilterCriteria",
    "FilterDocument",
    "kinesis_filter_document",
    "parse_filter_criteria",
    "sqs_filter_document",
]

# "By default, you can define up to five different filters for a single event source mapping"
# (a quota AWS raises to 10 on request); more "will return an error" (invocation-eventfiltering
# .html). That error's words are not on record: these are lambdalet's.
MAX_FILTERS: Final = 5
MSG_TOO_MANY_FILTERS: Final = (
    f"The FilterCriteria has more than the maximum of {MAX_FILTERS} filters for an event "
    "source mapping."
)

# Fields Lambda's pollers add to a record: not the source's, so no pattern sees them.
POLLER_FIELDS: Final = frozenset({
    "eventSource", "eventSourceARN", "awsRegion", "eventVersion", "eventID", "eventName",
    "invokeIdentityArn", "eventSourceKey",
})  # fmt: skip


class DataFormat(enum.Enum):
    """How a record held its data (an SQS body, Kinesis data), which decides the patterns that
    may read it."""

    JSON = "json"  # a JSON object: patterns look inside it
    TEXT = "text"  # a plain string (an SQS body that is no JSON object): plain patterns match it
    OPAQUE = "opaque"  # Kinesis data that is not JSON: no pattern on it matches


class FilterDocument(Mapping[str, Any]):
    """The fields a pattern is matched against, and which of them holds the source's data in
    which format. Built by `sqs_filter_document` and `kinesis_filter_document`; a plain mapping
    given to `FilterCriteria.matches` is matched as it is, with no data rule."""

    __slots__ = ("_fields", "data_format", "data_key")

    def __init__(self, fields: Mapping[str, Any], *, data_key: str, data_format: DataFormat):
        self._fields = dict(fields)
        self.data_key = data_key
        self.data_format = data_format

    def __getitem__(self, key: str) -> Any:
        return self._fields[key]

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return (
            f"FilterDocument({self._fields!r}, data_key={self.data_key!r}, "
            f"data_format={self.data_format})"
        )


@dataclass(frozen=True, slots=True)
class FilterCriteria:
    """A mapping's parsed filters; `matches` is their OR, and no filters match everything."""

    patterns: tuple[CompiledPattern, ...] = ()
    _walk: frozenset[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        paths = frozenset[str]().union(*(pattern.paths for pattern in self.patterns))
        object.__setattr__(self, "_walk", path_prefixes(paths))

    @property
    def pattern_texts(self) -> tuple[str, ...]:
        """The patterns as sent, for the mapping's `FilterCriteria.Filters[].Pattern`."""
        return tuple(pattern.text for pattern in self.patterns)

    def matches(self, document: Mapping[str, Any]) -> bool:
        if not self.patterns:
            return True
        leaves = flatten(document, self._walk)
        return any(
            branch_matches(branch, leaves)
            for pattern in self.patterns
            for branch in pattern.branches
            if _reads_data_as_held(branch, document)
        )

    def check_json_data_patterns(self, data_key: str) -> None:
        """For stream sources, whose data a pattern may only read as JSON: Lambda refuses a
        plain pattern on `data_key` when the mapping is created or updated
        (invocation-eventfiltering.html, "Properly filtering Kinesis and DynamoDB messages")."""
        for pattern in self.patterns:
            if any(f.path == data_key for branch in pattern.branches for f in branch):
                raise InvalidParameterValueException(MSG_INVALID_PATTERN)


def parse_filter_criteria(
    patterns: Sequence[str], *, max_filters: int = MAX_FILTERS
) -> FilterCriteria:
    """A mapping's `FilterCriteria.Filters[].Pattern` strings, checked and compiled.

    More than `max_filters` patterns, or any malformed one, is an
    `InvalidParameterValueException`; a malformed pattern's message is AWS's
    "Invalid filter pattern definition."."""
    if isinstance(patterns, str):
        raise TypeError("patterns is a sequence of pattern strings, not one string")
    if len(patterns) > max_filters:
        raise InvalidParameterValueException(MSG_TOO_MANY_FILTERS)
    return FilterCriteria(tuple(compile_pattern(text) for text in patterns))


def sqs_filter_document(record: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The document Lambda filters an SQS event record by: the record without the poller's
    fields, its `body` the parsed JSON when the body is a JSON object, else the plain string.

    A plain-string body matches patterns that compare `body` as a whole (`{"body":
    [{"prefix": "ERROR"}]}`) and never one that looks inside it (`{"body": {"level": [...]}}`),
    not even with {"exists": false}: Lambda drops such a message (with-sqs-filtering.html).
    None when the record has no string `body`, so is no SQS message."""
    body = record.get("body")
    if not isinstance(body, str):
        return None
    fields = {key: value for key, value in record.items() if key not in POLLER_FIELDS}
    parsed = _json_object(body)
    if parsed is None:
        return FilterDocument(fields, data_key="body", data_format=DataFormat.TEXT)
    fields["body"] = parsed
    return FilterDocument(fields, data_key="body", data_format=DataFormat.JSON)


def kinesis_filter_document(record: Mapping[str, Any]) -> Mapping[str, Any]:
    """The document Lambda filters a Kinesis event record by: the fields of its `kinesis`
    member at the top level (`partitionKey`, `sequenceNumber`, ...), `data` base64-decoded and
    parsed when it is a JSON object. Patterns read it as `{"data": {...}}` and
    `{"partitionKey": [...]}` (with-kinesis-filtering.html, eb-pipes-event-filtering.html).

    Data that is not JSON (bad base64, not UTF-8, not a JSON object) stays as sent, and no
    pattern on `data` matches it: the record only passes patterns that do not name `data`.
    A record given without its `kinesis` wrapper is read as the bare Kinesis record."""
    inner = record.get("kinesis")
    kinesis = inner if isinstance(inner, Mapping) else record
    fields = {key: value for key, value in kinesis.items() if key not in POLLER_FIELDS}
    data = kinesis.get("data")
    parsed = _base64_json_object(data) if isinstance(data, str) else None
    if parsed is None:
        return FilterDocument(fields, data_key="data", data_format=DataFormat.OPAQUE)
    fields["data"] = parsed
    return FilterDocument(fields, data_key="data", data_format=DataFormat.JSON)


def _reads_data_as_held(branch: Branch, document: Mapping[str, Any]) -> bool:
    """Whether a branch reads the document's data in the format the record held it."""
    if not isinstance(document, FilterDocument):
        return True
    inside = document.data_key + "."
    for f in branch:
        if f.path == document.data_key and document.data_format is not DataFormat.TEXT:
            return False
        if f.path.startswith(inside) and document.data_format is not DataFormat.JSON:
            return False
    return True


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _json_object(text: str) -> dict[str, Any] | None:
    try:
        value = json.loads(text, parse_float=JsonFloat, parse_constant=_reject_constant)
    except (ValueError, RecursionError):
        return None
    return value if isinstance(value, dict) else None


def _base64_json_object(data: str) -> dict[str, Any] | None:
    try:
        text = base64.b64decode(data, validate=True).decode("utf-8")
    except (binascii.Error, ValueError):
        return None
    return _json_object(text)
