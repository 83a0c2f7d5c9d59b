"""A JSON-protocol request body read against its input shape: members missing, or mistyped.

The JSON-protocol services (SQS, …) send every member in the body, so the first checks are
the protocol's: a required member absent (or null), a member of the wrong JSON type. Each
service words these its own way (SQS: ``MissingParameter``); this module only finds them, in
model order, with the member's path (``Entries.2.Id``, lists counted from 1). Members the
model does not know are ignored, as AWS's JSON services ignore them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.shapes.model import ServiceModel, Shape

_JSON_TYPES: Final[dict[str, tuple[type, ...]]] = {
    "string": (str,),
    "blob": (str,),  # base64 text
    "boolean": (bool,),
    "integer": (int,),
    "long": (int,),
    "double": (int, float),
    "float": (int, float),
    "timestamp": (int, float, str),
    "list": (list,),
    "map": (dict,),
    "structure": (dict,),
}


@dataclass(frozen=True, slots=True)
class Problem:
    path: str  # "QueueUrl", "Entries.2.Id"
    kind: str  # "missing" or "type"
    expected: str  # the shape's type ("string", "integer", …)


def problems(model: ServiceModel, shape_name: str, body: Mapping[str, Any]) -> list[Problem]:
    out: list[Problem] = []
    _structure(model, model.shape(shape_name), body, "", out)
    return out


def _structure(
    model: ServiceModel, shape: Shape, value: Mapping[str, Any], path: str, out: list[Problem]
) -> None:
    for member in shape.members:
        where = f"{path}.{member.name}" if path else member.name
        item = value.get(member.name)
        member_shape = model.shape(member.shape)
        if item is None:
            if member.name in shape.required:
                out.append(Problem(where, "missing", member_shape.type))
            continue
        _value(model, member_shape, item, where, out)


def _value(model: ServiceModel, shape: Shape, value: Any, path: str, out: list[Problem]) -> None:
    kinds = _JSON_TYPES.get(shape.type, (object,))
    if not isinstance(value, kinds) or (isinstance(value, bool) and bool not in kinds):
        out.append(Problem(path, "type", shape.type))
        return
    if shape.type == "structure" and isinstance(value, Mapping):
        _structure(model, shape, value, path, out)
    elif shape.type == "list" and isinstance(value, list) and shape.member is not None:
        element = model.shape(shape.member)
        for index, item in enumerate(value, start=1):
            if item is None:
                out.append(Problem(f"{path}.{index}", "missing", element.type))
            else:
                _value(model, element, item, f"{path}.{index}", out)
    elif shape.type == "map" and isinstance(value, Mapping) and shape.value is not None:
        item_shape = model.shape(shape.value)
        for key, item in value.items():
            if item is None:
                out.append(Problem(f"{path}.{key}", "missing", item_shape.type))
            else:
                _value(model, item_shape, item, f"{path}.{key}", out)
