"""A request's parameters checked against its input shape, in the words AWS uses.

AWS reports every broken constraint of a request at once, member by member in model order::

    2 validation errors detected: Value 'x' at 'functionName' failed to satisfy constraint:
    Member must satisfy regular expression pattern: …; Value null at 'role' failed to …

Members are named as AWS names them (the model's name with its first letter lowered, joined by
dots); values print as Java prints them (``[a, b]``, ``{k=v}``, ``2.0``); a list or map whose
elements break a rule is reported once, listing every rule of its elements. A value of the
wrong JSON type is not this module's to judge (the protocol layer refuses it): it is skipped.

`Rules` adjusts the model where AWS itself answers otherwise: a member whose check AWS makes
later (and words differently), or an enum AWS prints with other values or in another order.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, Final

from engine.errors import ValidationException
from engine.shapes.model import Member, ServiceModel, Shape

_NUMBERS: Final = ("integer", "long", "double", "float")
_FLOATS: Final = ("double", "float")


@dataclass(frozen=True, slots=True)
class Rules:
    """Where AWS departs from its published model, keyed by member path (``"Runtime"``,
    ``"VpcConfig.SubnetIds"``)."""

    # Members checked (and worded) later, by the operation itself.
    skip: frozenset[str] = frozenset()
    # Top-level members AWS checks before the others (the rest follow in model order).
    first: tuple[str, ...] = ()
    # An enum's value set as AWS prints it ("[a, b, …]"), where it is not the model's.
    enum_text: Mapping[str, str] = field(default_factory=dict)
    # Lists of an enum whose breach AWS words as a single value's ("Member must satisfy enum
    # value set: …", without "Member must satisfy constraint: […]").
    plain_list_enum: frozenset[str] = frozenset()


NO_RULES: Final = Rules()


def violations(
    model: ServiceModel,
    shape_name: str,
    params: Mapping[str, Any],
    rules: Rules = NO_RULES,
) -> list[str]:
    """Every broken constraint of `params` (the request's members by model name), in order."""
    out: list[str] = []
    _structure(model, model.shape(shape_name), params, "", "", rules, out)
    return out


def _ordered(shape: Shape, first: tuple[str, ...]) -> tuple[Member, ...]:
    if not first:
        return shape.members
    early = [m for name in first if (m := shape.member_named(name)) is not None]
    return (*early, *(m for m in shape.members if m.name not in first))


def check(
    model: ServiceModel,
    shape_name: str,
    params: Mapping[str, Any],
    rules: Rules = NO_RULES,
) -> None:
    """Raise AWS's `ValidationException` naming every violation, if there is any."""
    raise_if_any(violations(model, shape_name, params, rules))


def raise_if_any(messages: Sequence[str]) -> None:
    if messages:
        raise ValidationException(summary(messages))


def summary(messages: Sequence[str]) -> str:
    count = len(messages)
    noun = "error" if count == 1 else "errors"
    return f"{count} validation {noun} detected: {'; '.join(messages)}"


def violation(
    path: str, value: Any, constraint: str, *, shape: Shape | None = None, text: str | None = None
) -> str:
    """One violation sentence; a sensitive shape's value is left out, as AWS leaves it out.
    `text` is the value already printed (a container printed with its elements' shape)."""
    if shape is not None and shape.sensitive:
        return f"Value at '{path}' failed to satisfy constraint: {constraint}"
    if value is None:
        return f"Value null at '{path}' failed to satisfy constraint: {constraint}"
    shown = text if text is not None else java_text(value, shape)
    return f"Value '{shown}' at '{path}' failed to satisfy constraint: {constraint}"


def java_text(value: Any, shape: Shape | None = None) -> str:
    """`value` as Java's toString prints it (AWS's messages are Java's); `shape` is the
    value's shape, or for a list or map its elements' shape (numbers print by it)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) or (
        isinstance(value, int) and shape is not None and shape.type in _FLOATS
    ):
        return java_double(float(value))
    if isinstance(value, list):
        return "[" + ", ".join(java_text(v, shape) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}={java_text(v, shape)}" for k, v in value.items()) + "}"
    return str(value)


def java_double(value: float) -> str:
    """Java's Double.toString: ``2.0``, ``0.5``, ``1.0E-5``, ``1.2345678E7``."""
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    if value == 0 or 1e-3 <= abs(value) < 1e7:
        text = repr(value)
        return text if "." in text else text + ".0"
    sign, digits, exponent = Decimal(repr(value)).normalize().as_tuple()
    assert isinstance(exponent, int)
    figures = "".join(map(str, digits))
    mantissa = figures[0] + "." + (figures[1:] or "0")
    return f"{'-' if sign else ''}{mantissa}E{len(figures) + exponent - 1}"


def _path(prefix: str, name: str) -> str:
    lowered = name[:1].lower() + name[1:]
    return f"{prefix}.{lowered}" if prefix else lowered


def _structure(
    model: ServiceModel,
    shape: Shape,
    params: Mapping[str, Any],
    path: str,
    model_path: str,
    rules: Rules,
    out: list[str],
) -> None:
    for member in _ordered(shape, rules.first) if not model_path else shape.members:
        member_path = f"{model_path}.{member.name}" if model_path else member.name
        if member_path in rules.skip:
            continue
        where = _path(path, member.name)
        value = params.get(member.name)
        if value is None:
            if member.name in shape.required:
                out.append(violation(where, None, "Member must not be null"))
            continue
        _value(model, model.shape(member.shape), value, where, member_path, rules, out)


def _value(
    model: ServiceModel,
    shape: Shape,
    value: Any,
    where: str,
    model_path: str,
    rules: Rules,
    out: list[str],
) -> None:
    kind = shape.type
    if kind == "structure":
        if isinstance(value, Mapping):
            _structure(model, shape, value, where, model_path, rules, out)
        return
    if kind == "list":
        if isinstance(value, list):
            _list(model, shape, value, where, model_path, rules, out)
        return
    if kind == "map":
        if isinstance(value, Mapping):
            _map(model, shape, value, where, "." in model_path, out)
        return
    for constraint in _broken(shape, value, rules.enum_text.get(model_path)):
        out.append(violation(where, value, constraint, shape=shape))


def _list(
    model: ServiceModel,
    shape: Shape,
    value: list[Any],
    where: str,
    model_path: str,
    rules: Rules,
    out: list[str],
) -> None:
    out.extend(violation(where, value, c, shape=shape) for c in _length(shape, len(value)))
    assert shape.member is not None
    element = model.shape(shape.member)
    if element.type in ("structure", "list", "map"):
        return  # AWS's wording for nested containers is not on record; the operation checks
    enum_text = rules.enum_text.get(model_path)
    if not any(_broken(element, v, enum_text) for v in value):
        return
    if model_path in rules.plain_list_enum:
        constraint = f"Member must satisfy enum value set: {enum_text or _enum_text(element)}"
    else:
        rules_text = _all_rules(element, enum_text, nested="." in model_path)
        constraint = f"Member must satisfy constraint: [{rules_text}]"
    out.append(violation(where, value, constraint, shape=shape))


def _map(
    model: ServiceModel,
    shape: Shape,
    value: Mapping[str, Any],
    where: str,
    nested: bool,
    out: list[str],
) -> None:
    out.extend(violation(where, value, c, shape=shape) for c in _length(shape, len(value)))
    assert shape.key is not None and shape.value is not None
    key, item = model.shape(shape.key), model.shape(shape.value)
    text = java_text(value, item)
    if any(_broken(key, k, None) for k in value):
        constraint = f"Map keys must satisfy constraint: [{_all_rules(key, None, nested=nested)}]"
        out.append(violation(where, value, constraint, shape=shape, text=text))
    if item.type not in ("structure", "list", "map") and any(
        v is None or _broken(item, v, None) for v in value.values()
    ):
        constraint = f"Map value must satisfy constraint: [{_all_rules(item, None, nested=nested)}]"
        out.append(violation(where, value, constraint, shape=shape, text=text))


def _broken(shape: Shape, value: Any, enum_text: str | None) -> list[str]:
    """The constraints `value` breaks, as sentences; a value of another type breaks none here."""
    kind = shape.type
    if kind == "string":
        if not isinstance(value, str):
            return []
        broken = _length(shape, len(value))
        if shape.pattern is not None and shape.regex().fullmatch(value) is None:
            broken.append(f"Member must satisfy regular expression pattern: {shape.pattern}")
        if shape.enum and value not in shape.enum:
            broken.append(f"Member must satisfy enum value set: {enum_text or _enum_text(shape)}")
        return broken
    if kind in _NUMBERS:
        if isinstance(value, bool) or not isinstance(value, int | float):
            return []
        if shape.min is not None and value < shape.min:
            return [f"Member must have value greater than or equal to {_bound(shape, shape.min)}"]
        if shape.max is not None and value > shape.max:
            return [f"Member must have value less than or equal to {_bound(shape, shape.max)}"]
        return []
    if kind == "blob" and isinstance(value, str | bytes):
        return _length(shape, len(value))
    return []


def _length(shape: Shape, length: int) -> list[str]:
    if shape.min is not None and length < shape.min:
        return [f"Member must have length greater than or equal to {int(shape.min)}"]
    if shape.max is not None and length > shape.max:
        return [f"Member must have length less than or equal to {int(shape.max)}"]
    return []


def _all_rules(shape: Shape, enum_text: str | None, *, nested: bool) -> str:
    """Every rule of an element shape, in the order AWS lists them. AWS ends with "Member must
    not be null" except for plain strings inside a structure (`nested`): so its answers
    read for `layers` and `architectures`, but not for `vpcConfig.subnetIds` or map keys."""
    rules: list[str] = []
    if shape.type in _NUMBERS:
        if shape.max is not None:
            rules.append(f"Member must have value less than or equal to {_bound(shape, shape.max)}")
        if shape.min is not None:
            rules.append(
                f"Member must have value greater than or equal to {_bound(shape, shape.min)}"
            )
    else:
        if shape.max is not None:
            rules.append(f"Member must have length less than or equal to {int(shape.max)}")
        if shape.min is not None:
            rules.append(f"Member must have length greater than or equal to {int(shape.min)}")
    if shape.pattern is not None:
        rules.append(f"Member must satisfy regular expression pattern: {shape.pattern}")
    if shape.enum:
        rules.append(f"Member must satisfy enum value set: {enum_text or _enum_text(shape)}")
    if shape.enum or shape.type != "string" or not nested:
        rules.append("Member must not be null")
    return ", ".join(rules)


def _enum_text(shape: Shape) -> str:
    return "[" + ", ".join(shape.enum) + "]"


def _bound(shape: Shape, bound: float) -> str:
    if shape.type in _FLOATS:
        return java_double(float(bound))
    return str(int(bound))
