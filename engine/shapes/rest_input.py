"""A rest-json request read from its model: which operation it is, and its input members. Pure.

The rest-json services (Lambda, Scheduler, …) bind each input member to a place on the wire:
a URI label, a query key, a header, or the JSON body (the model's ``location``). `RestRoutes`
matches a request's method and raw path against the operations' ``requestUri`` templates;
`input_layout` works out, once per operation, where each member is; `read_input` gathers the
members by model name, typed as their shapes say, ready for `engine.shapes.validate.check`.

This is the service-neutral form of what `engine.api.aws_routes` and `engine.api.validation`
do for Lambda alone (the two may move onto it).
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

from engine.shapes.model import Operation, ServiceModel, Shape

# `{Name}` is one non-empty path segment; `{Key+}` (greedy) is one or more of them.
_LABEL: Final = re.compile(r"\{([A-Za-z0-9_]+)(\+?)\}")


@dataclass(frozen=True, slots=True)
class _Route:
    operation: Operation
    path: re.Pattern[str]  # the labels are its named groups
    query: tuple[tuple[str, str | None], ...]  # a literal query part: (key, value or None)
    rank: tuple[int, int, int, str]  # the lowest matching rank wins


def _route(operation: Operation) -> _Route:
    template, _, query_template = operation.uri.partition("?")
    parts: list[str] = []
    labels = greedy = end = 0
    for label in _LABEL.finditer(template):
        parts.append(re.escape(template[end : label.start()]))
        segments = r"[^/]+(?:/[^/]+)*" if label.group(2) else r"[^/]+"
        parts.append(f"(?P<{label.group(1)}>{segments})")
        labels += 1
        greedy += bool(label.group(2))
        end = label.end()
    parts.append(re.escape(template[end:]))
    query = tuple(
        (key, value if sep else None)
        for item in query_template.split("&")
        if item
        for key, sep, value in [item.partition("=")]
    )
    # A literal query part is the most specific a template can be; a greedy label the least.
    rank = (0 if query else 1, greedy, labels, operation.name)
    return _Route(operation, re.compile("".join(parts)), query, rank)


class RestRoutes:
    """A model's operations, matched by method and raw (still percent-encoded) path."""

    def __init__(self, model: ServiceModel) -> None:
        by_method: dict[str, list[_Route]] = {}
        for operation in model.operations.values():
            by_method.setdefault(operation.method, []).append(_route(operation))
        self._routes = {m: sorted(r, key=lambda route: route.rank) for m, r in by_method.items()}

    def match(
        self, method: str, raw_path: str, query: Mapping[str, Sequence[str]]
    ) -> tuple[Operation, dict[str, str]] | None:
        """The operation and its URI labels (decoded), or None. The path must be the raw one:
        clients percent-encode a "/" inside a label (an ARN's) as ``%2F``."""
        for route in self._routes.get(method, ()):
            found = route.path.fullmatch(raw_path)
            if found is None:
                continue
            if all(k in query and (v is None or v in query[k]) for k, v in route.query):
                return route.operation, {k: unquote(v) for k, v in found.groupdict().items()}
        return None


@dataclass(frozen=True, slots=True)
class InputLayout:
    """Where one operation's input members are on the wire."""

    shape: str
    uri: tuple[tuple[str, str], ...]  # (member, label)
    query: tuple[tuple[str, str, Shape], ...]  # (member, key, shape)
    header: tuple[tuple[str, str, Shape], ...]  # (member, lower-case header, shape)
    body: tuple[str, ...]  # members in the JSON body
    payload: str | None  # a member that is the whole (raw) body


_LAYOUTS: Final[dict[tuple[str, str], InputLayout | None]] = {}


def input_layout(model: ServiceModel, operation: Operation) -> InputLayout | None:
    """Where `operation`'s input members are (worked out once per operation)."""
    key = (model.name, operation.name)
    if key not in _LAYOUTS:
        _LAYOUTS[key] = _layout(model, operation)
    return _LAYOUTS[key]


def _layout(model: ServiceModel, operation: Operation) -> InputLayout | None:
    if operation.input is None:
        return None
    shape = model.shape(operation.input)
    uri, query, header, body = [], [], [], []
    payload = None
    for member in shape.members:
        if member.location == "uri":
            uri.append((member.name, member.location_name))
        elif member.location == "querystring":
            query.append((member.name, member.location_name, model.shape(member.shape)))
        elif member.location == "header":
            header.append((member.name, member.location_name.lower(), model.shape(member.shape)))
        elif member.payload:
            payload = member.name
        elif member.location == "":
            body.append(member.name)
    return InputLayout(
        operation.input, tuple(uri), tuple(query), tuple(header), tuple(body), payload
    )


def read_input(
    layout: InputLayout,
    *,
    labels: Mapping[str, str],
    query: Mapping[str, Sequence[str]],
    headers: Mapping[str, str],
    body: Mapping[str, Any],
) -> dict[str, Any]:
    """The request's input members by model name. `labels` are decoded; `query` holds every
    value of a key; `headers` are keyed in lower case. A query or header value is typed as
    its shape says, or left as text when it does not parse (the constraint check, or the
    operation, refuses it)."""
    params: dict[str, Any] = {}
    for member, label in layout.uri:
        if label in labels:
            params[member] = labels[label]
    for member, key, shape in layout.query:
        values = query.get(key)
        if values:
            params[member] = typed(shape, values)
    for member, name, shape in layout.header:
        value = headers.get(name)
        if value is not None:
            params[member] = typed(shape, [value])
    for member in layout.body:
        if member in body:
            params[member] = body[member]
    return params


def typed(shape: Shape, values: Sequence[str]) -> Any:
    """A query or header value as its shape's type."""
    if shape.type == "list":
        return list(values)
    value = values[0]
    if shape.type in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            return value
    if shape.type == "boolean" and value in ("true", "false"):
        return value == "true"
    return value
