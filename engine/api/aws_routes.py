"""Which AWS Lambda operation a request is for, from botocore's HTTP bindings.

The bindings come from the service model (`engine.shapes`); this module is the matcher, so the
API layer can validate a request as its operation's input and name an operation it does not
implement instead of a 404.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import parse_qsl

from engine.shapes.model import Operation, load_service

# `{Name}` is one non-empty path segment; `{Key+}` (greedy) is one or more of them.
_LABEL = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")
_ONE_SEGMENT = r"[^/]+"
_SEGMENTS = r"[^/]+(?:/[^/]+)*"


@dataclass(frozen=True, slots=True)
class _Route:
    operation: Operation
    path: re.Pattern[str]  # labels are the named groups
    query: tuple[tuple[str, str | None], ...]  # (key, value); None: present with any value
    rank: tuple[int, int, int, str]  # when several routes match, the lowest rank wins

    def matches(self, path: str, query: Mapping[str, str]) -> bool:
        if self.path.fullmatch(path) is None:
            return False
        return all(
            key in query and (value is None or query[key] == value) for key, value in self.query
        )


def _route(operation: Operation) -> _Route:
    path_template, _, query_template = operation.uri.partition("?")
    if not path_template.startswith("/"):
        raise ValueError(f"{operation.name}: requestUri {operation.uri!r} does not start with /")
    parts: list[str] = []
    labels = greedy = end = 0
    for label in _LABEL.finditer(path_template):
        parts.append(_literal(operation, path_template[end : label.start()]))
        parts.append(f"(?P<{label.group(1)}>{_SEGMENTS if label.group(2) else _ONE_SEGMENT})")
        labels += 1
        greedy += bool(label.group(2))
        end = label.end()
    parts.append(_literal(operation, path_template[end:]))
    query = tuple(
        (key, value if sep else None)
        for item in query_template.split("&")
        if item
        for key, sep, value in [item.partition("=")]
    )
    # A literal query part is the most specific thing a template can say and a greedy label
    # the least; fewer labels means more literal text. The name only makes ties deterministic.
    rank = (0 if query else 1, greedy, labels, operation.name)
    return _Route(operation, re.compile("".join(parts)), query, rank)


def _literal(operation: Operation, text: str) -> str:
    if "{" in text or "}" in text:
        raise ValueError(f"{operation.name}: malformed label in requestUri {operation.uri!r}")
    return re.escape(text)


class OperationTable:
    """Operations indexed for matching requests against their requestUri templates.

    Routes are bucketed by method and first path segment (Lambda's date prefix), so a lookup
    tries only the few templates under that prefix, each a precompiled regex.
    """

    def __init__(self, operations: Iterable[Operation]) -> None:
        grouped: dict[tuple[str, str | None], list[_Route]] = {}
        for operation in operations:
            route = _route(operation)
            first = operation.uri.partition("?")[0].split("/")[1]
            # A template that starts with a label (none in Lambda's model) goes under None.
            key = (operation.method, None if "{" in first else first)
            grouped.setdefault(key, []).append(route)
        self._buckets = {k: sorted(routes, key=lambda r: r.rank) for k, routes in grouped.items()}

    def match(self, method: str, path: str, query: Mapping[str, str] | str) -> Operation | None:
        """See `match_operation`."""
        found = self.match_labels(method, path, query)
        return None if found is None else found[0]

    def match_labels(
        self, method: str, path: str, query: Mapping[str, str] | str
    ) -> tuple[Operation, dict[str, str]] | None:
        """The operation and its URI labels, still percent-encoded as in `path`."""
        if not path.startswith("/"):
            return None
        if isinstance(query, str):
            query = dict(parse_qsl(query, keep_blank_values=True))
        first = path.split("/", 2)[1]
        best: _Route | None = None
        for key in ((method, first), (method, None)):
            for route in self._buckets.get(key, ()):
                if route.matches(path, query):
                    if best is None or route.rank < best.rank:
                        best = route
                    break  # a bucket is in rank order: its first match is its best
        if best is None:
            return None
        labels = best.path.fullmatch(path)
        assert labels is not None
        return best.operation, labels.groupdict()


@functools.cache
def _lambda_table() -> OperationTable:
    return OperationTable(load_service("lambda").operations.values())


def match_operation(method: str, path: str, query: Mapping[str, str] | str) -> Operation | None:
    """The AWS Lambda operation a request is for, or None if it is for none of them.

    ``method`` is the method token as sent ("GET"). ``path`` is the RAW path, still
    percent-encoded as on the wire (ASGI ``scope["raw_path"]``), without the query string:
    botocore encodes a "/" inside a label (durable-execution ARNs, base64 callback ids,
    ``runtime/…`` resource ARNs) as ``%2F``, so only the raw path splits into the segments the
    client meant. A decoded path also works while no label value contains "/" (function and
    layer ARNs have ":", raw or ``%3A``, but no "/"). ``query`` is the raw query string or a
    parsed mapping of it.

    A template's literal query part (``?find=LayerVersion``, ``?List=ALL``) must be in the
    query, values compared exactly. When several templates match, the one with a query part
    wins, then the one with fewer labels (a greedy ``{Label+}`` counts as least specific).
    Lambda's model has no greedy labels; `OperationTable` supports them for completeness.
    """
    return _lambda_table().match(method, path, query)


@functools.lru_cache(maxsize=1024)
def match_operation_labels(
    method: str, path: str, query: str
) -> tuple[Operation, dict[str, str]] | None:
    """`match_operation`, with the request's URI labels by name (percent-encoded, as in
    `path`). Remembers recent requests: a busy function's path repeats. The labels are
    shared between calls; treat them as read-only."""
    return _lambda_table().match_labels(method, path, query)


__all__ = ["Operation", "OperationTable", "match_operation", "match_operation_labels"]
