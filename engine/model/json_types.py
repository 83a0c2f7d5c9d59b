"""The JSON-type layer of every parser: a member of the wrong JSON type fails here, before any
constraint, with AWS's `InvalidParameterValueException` / `InvalidRequestContentException`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.errors import InvalidParameterValueException, InvalidRequestContentException


def require_object(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidRequestContentException(
            f"Could not parse request body: expected a JSON object, got {json_type(body)}"
        )
    return body


def opt_str(obj: Mapping[str, Any], key: str, path: str | None = None) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise type_error(path or key, "a string", value)


def opt_bool(obj: Mapping[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise type_error(key, "a boolean", value)


def opt_int(obj: Mapping[str, Any], key: str, path: str | None = None) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool):  # bool is an int in Python, not in JSON
        raise type_error(path or key, "an integer", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():  # 256.0 is 256 to a JSON reader
        return int(value)
    raise type_error(path or key, "an integer", value)


def opt_object(
    obj: Mapping[str, Any], key: str, path: str | None = None
) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, Mapping):
        return value
    raise type_error(path or key, "an object", value)


def opt_str_list(obj: Mapping[str, Any], key: str) -> list[str] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise type_error(key, "an array of strings", value)
    return list(value)


def type_error(path: str, expected: str, value: object) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"Invalid type for parameter {path}: expected {expected}, got {json_type(value)}"
    )


def json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
