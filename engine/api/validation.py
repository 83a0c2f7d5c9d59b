"""Every Lambda request checked as its operation's input, before its handler runs.

The operation comes from the request's method and path (`engine.api.aws_routes`); its members
are read from where the model binds them (URI labels, query, headers, JSON body) and checked
with `engine.shapes.validate`, so a constraint AWS publishes is enforced in AWS's words without
a line per operation. `RULES` holds where Lambda's own answers depart from its model, each with
the recorded AWS answer that shows it.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final
from urllib.parse import unquote

from starlette.requests import Request

from engine.api.body import read_json
from engine.model.limits import AWS_KNOWN_RUNTIMES_TEXT, AWS_SUPPORTED_RUNTIMES_TEXT
from engine.shapes.model import Operation, ServiceModel, Shape, load_service
from engine.shapes.validate import Rules, check

_INVOKE_MODES: Final = {"InvokeMode": "[RESPONSE_STREAM, BUFFERED]"}

# Where AWS answers otherwise than its published model says (recorded answers in
# tests/integration/parity/recorded/).
RULES: Final = {
    # An unknown runtime is InvalidParameterValueException, worded by the operation.
    "CreateFunction": Rules(skip=frozenset({"Runtime"})),
    "UpdateFunctionConfiguration": Rules(skip=frozenset({"Runtime"})),
    # AWS checks the runtimes first (its own list, worded as one value's enum).
    "PublishLayerVersion": Rules(
        first=("CompatibleRuntimes",),
        enum_text={"CompatibleRuntimes": AWS_SUPPORTED_RUNTIMES_TEXT},
        plain_list_enum=frozenset({"CompatibleRuntimes"}),
    ),
    "ListLayers": Rules(enum_text={"CompatibleRuntime": AWS_KNOWN_RUNTIMES_TEXT}),
    "ListLayerVersions": Rules(enum_text={"CompatibleRuntime": AWS_KNOWN_RUNTIMES_TEXT}),
    "CreateFunctionUrlConfig": Rules(enum_text=_INVOKE_MODES),
    "UpdateFunctionUrlConfig": Rules(enum_text=_INVOKE_MODES),
    # test_create_event_source_validation_kinesis: AWS lists the positions in its own order.
    "CreateEventSourceMapping": Rules(
        enum_text={"StartingPosition": "[LATEST, AT_TIMESTAMP, TRIM_HORIZON]"}
    ),
}
_NO_RULES: Final = Rules()
_MEMO_MAX_CHARS: Final = 256  # longer values (a client context) are checked every time


def lambda_model() -> ServiceModel:
    return load_service("lambda")


@dataclass(frozen=True, slots=True)
class _Plan:
    """Where one operation's input members are on the wire, worked out once."""

    input: str
    uri: tuple[tuple[str, str], ...]  # (member, label)
    query: tuple[tuple[str, str, Shape], ...]  # (member, key, shape)
    header: tuple[tuple[str, str, Shape], ...]  # (member, lower-case header, shape)
    body: tuple[str, ...]  # members in the JSON body
    rules: Rules


@functools.cache
def _plan(operation: Operation) -> _Plan | None:
    if operation.input is None:
        return None
    model = lambda_model()
    shape = model.shape(operation.input)
    uri, query, header, body = [], [], [], []
    payload: set[str] = set()  # a raw body member (Invoke's Payload): the handler reads it
    for member in shape.members:
        if member.location == "uri":
            uri.append((member.name, member.location_name))
        elif member.location == "querystring":
            query.append((member.name, member.location_name, model.shape(member.shape)))
        elif member.location == "header":
            name = member.location_name.lower()
            header.append((member.name, name, model.shape(member.shape)))
        elif member.location == "" and not member.payload:
            body.append(member.name)
        elif member.payload and model.shape(member.shape).type == "blob":
            payload.add(member.name)
    rules = RULES.get(operation.name, _NO_RULES)
    return _Plan(
        input=operation.input,
        uri=tuple(uri),
        query=tuple(query),
        header=tuple(header),
        body=tuple(body),
        rules=dataclasses.replace(rules, skip=rules.skip | payload) if payload else rules,
    )


async def validate_input(request: Request, operation: Operation, labels: Mapping[str, str]) -> None:
    """Check `request` as `operation`'s input; raise AWS's ValidationException if it breaks
    the model. A JSON body is parsed here once (handlers get it from `read_json`)."""
    plan = _plan(operation)
    if plan is None:
        return
    query = request.query_params.multi_items() if request.scope.get("query_string") else ()
    body = await read_json(request, operation.name) if plan.body else None
    _check(operation, plan, _params(plan, labels, query, request.headers, body))


def check_bodiless_input(
    operation: Operation,
    labels: Mapping[str, str],
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
) -> bool:
    """`validate_input` for a raw ASGI handler, without a `Request`: `query` is the parsed
    query string, `headers` the request's headers by lower-case name (the first of a repeated
    one). False (and nothing checked) if the operation's input has JSON body members: use
    `validate_input` for those."""
    plan = _plan(operation)
    if plan is None:
        return True
    if plan.body:
        return False
    _check(operation, plan, _params(plan, labels, query, headers, None))
    return True


def _params(
    plan: _Plan,
    labels: Mapping[str, str],
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    body: Mapping[str, Any] | None,
) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for member, label in plan.uri:
        raw = labels.get(label)
        if raw is not None:
            params[member] = unquote(raw)
    if query:
        for member, key, shape in plan.query:
            values = [value for name, value in query if name == key]
            if values:
                params[member] = _typed(shape, values)
    for member, name, shape in plan.header:
        value = headers.get(name)
        if value is not None:
            params[member] = _typed(shape, [value])
    if body is not None:
        for member in plan.body:
            if member in body:
                params[member] = body[member]
    return params


def _check(operation: Operation, plan: _Plan, params: dict[str, Any]) -> None:
    """`check`, remembered for requests made only of short strings: a busy function's
    invokes repeat the same members (name, qualifier, invocation type), and the model's
    verdict on them is always the same. Refusals are not remembered (they raise)."""
    if all(type(v) is str and len(v) <= _MEMO_MAX_CHARS for v in params.values()):
        _check_strings(operation.name, tuple(params.items()))
    else:
        check(lambda_model(), plan.input, params, plan.rules)


@functools.lru_cache(maxsize=1024)
def _check_strings(operation: str, params: tuple[tuple[str, str], ...]) -> None:
    plan = _plan(lambda_model().operations[operation])
    assert plan is not None
    check(lambda_model(), plan.input, dict(params), plan.rules)


def _typed(shape: Shape, values: list[str]) -> Any:
    """A query or header value as its shape's type; left as text when it does not parse (the
    handler refuses it in its own words)."""
    if shape.type == "list":
        return values
    value = values[0]
    if shape.type in ("integer", "long"):
        try:
            return int(value)
        except ValueError:
            return value
    if shape.type == "boolean" and value in ("true", "false"):
        return value == "true"
    return value
