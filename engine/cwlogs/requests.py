"""Reading a CloudWatch Logs request past the protocol: the model's checks in CloudWatch
Logs' words, the group a request names, page tokens. Pure.

CloudWatch Logs answers a member of the wrong JSON type with SerializationException, and
every broken constraint of the model at once with InvalidParameterException (``1 validation
error detected: Value '100' at 'limit' failed to satisfy constraint: Member must have value
less than or equal to 50``).
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from engine.cwlogs.errors import (
    InvalidParameterException,
    SerializationException,
    ValidationException,
)
from engine.shapes.json_input import problems
from engine.shapes.model import ServiceModel
from engine.shapes.validate import summary, violations


def check_input(model: ServiceModel, shape_name: str, body: Mapping[str, Any]) -> None:
    """The protocol's type checks, then every constraint of the model."""
    for problem in problems(model, shape_name, body):
        if problem.kind == "type":
            raise SerializationException(
                f"Value of {problem.path} cannot be read as a JSON {problem.expected}."
            )
    found = violations(model, shape_name, body)
    if found:
        raise InvalidParameterException(summary(found))


def group_name(body: Mapping[str, Any]) -> str:
    """The group a request names, by ``logGroupName`` or ``logGroupIdentifier`` (a name or
    an ARN, ``arn:aws:logs:<region>:<account>:log-group:<name>[:*]``)."""
    name: str | None = body.get("logGroupName")
    identifier: str | None = body.get("logGroupIdentifier")
    if name is not None and identifier is not None:
        raise ValidationException(
            "LogGroup name and LogGroup ARN are mutually exclusive parameters."
        )
    if identifier is not None:
        if identifier.startswith("arn:"):
            _, found, rest = identifier.partition(":log-group:")
            if not found or not rest:
                raise InvalidParameterException(f"Invalid log group identifier: {identifier}")
            return rest.removesuffix(":*")
        return identifier
    if name is None:
        raise InvalidParameterException("Should provide either logGroupName or logGroupIdentifier.")
    return name


def page_token(values: Any) -> str:
    """A DescribeLogGroups / DescribeLogStreams / FilterLogEvents page token (opaque)."""
    return base64.urlsafe_b64encode(json.dumps(values).encode()).decode()


def read_page_token(token: str) -> Any:
    try:
        return json.loads(base64.urlsafe_b64decode(token.encode()))
    except (binascii.Error, UnicodeError, ValueError):
        raise InvalidParameterException("The specified nextToken is invalid.") from None
