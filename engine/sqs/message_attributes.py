"""Message attributes: checked as SQS checks them, measured, and filtered for a receive.

An attribute is kept in SQS's JSON shape: ``{"DataType": "String", "StringValue": "…"}`` or
``{"DataType": "Binary", "BinaryValue": "<base64>"}`` (JSON carries blobs as base64).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Iterable, Mapping
from typing import Any, Final

from engine.sqs.errors import InvalidParameterValue

AttributeValue = dict[str, str]
Attributes = dict[str, AttributeValue]

MAX_ATTRIBUTES: Final = 10
MAX_NAME_CHARS: Final = 256
_NAME: Final = re.compile(r"[A-Za-z0-9_\-.]+")
_TYPES: Final = ("String", "Number", "Binary")
# The system attributes a sender may set, and their only type.
SENDABLE_SYSTEM: Final = {"AWSTraceHeader": "String"}


def parse_message_attributes(raw: Any) -> Attributes:
    """The user attributes of a send, checked; ``{}`` when there are none."""
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidParameterValue("MessageAttributes must be a map")
    if len(raw) > MAX_ATTRIBUTES:
        raise InvalidParameterValue(
            f"Number of message attributes [{len(raw)}] exceeds the allowed maximum "
            f"[{MAX_ATTRIBUTES}]."
        )
    return {name: _attribute(name, value, "user") for name, value in raw.items()}


def parse_system_attributes(raw: Any) -> Attributes:
    """The system attributes a sender may set (``AWSTraceHeader``), checked."""
    if not raw:
        return {}
    if not isinstance(raw, Mapping):
        raise InvalidParameterValue("MessageSystemAttributes must be a map")
    out: Attributes = {}
    for name, value in raw.items():
        if name not in SENDABLE_SYSTEM:
            raise InvalidParameterValue(f"Message system attribute name '{name}' is invalid.")
        parsed = _attribute(name, value, "system")
        if parsed["DataType"] != SENDABLE_SYSTEM[name]:
            raise InvalidParameterValue(
                f"Message system attribute '{name}' must be of type '{SENDABLE_SYSTEM[name]}'."
            )
        out[name] = parsed
    return out


def _attribute(name: str, value: Any, kind: str) -> AttributeValue:
    _check_name(name, kind)
    if not isinstance(value, Mapping):
        raise InvalidParameterValue(f"Message ({kind}) attribute '{name}' must be a structure.")
    data_type = value.get("DataType")
    if not isinstance(data_type, str) or not data_type:
        raise InvalidParameterValue(
            f"The message ({kind}) attribute '{name}' must contain a non-empty attribute type."
        )
    base = data_type.split(".", 1)[0]
    if base not in _TYPES or len(data_type) > MAX_NAME_CHARS:
        raise InvalidParameterValue(
            f"The type of message ({kind}) attribute '{name}' is invalid. You must use only the "
            "following supported type prefixes: Binary, Number, String."
        )
    if base == "Binary":
        binary = value.get("BinaryValue")
        if not isinstance(binary, str) or not binary or not _is_base64(binary):
            raise InvalidParameterValue(
                f"Message ({kind}) attribute '{name}' must contain a non-empty value of type "
                "'Binary'."
            )
        return {"DataType": data_type, "BinaryValue": binary}
    string = value.get("StringValue")
    if not isinstance(string, str) or not string:
        raise InvalidParameterValue(
            f"Message ({kind}) attribute '{name}' must contain a non-empty value of type '{base}'."
        )
    if base == "Number" and not _is_number(string):
        raise InvalidParameterValue(
            f"Can't cast the value of message ({kind}) attribute '{name}' to a number."
        )
    return {"DataType": data_type, "StringValue": string}


def _check_name(name: str, kind: str) -> None:
    lowered = name.lower()
    if (
        not name
        or len(name) > MAX_NAME_CHARS
        or _NAME.fullmatch(name) is None
        or name.startswith(".")
        or name.endswith(".")
        or ".." in name
        or (kind == "user" and lowered.startswith(("aws.", "amazon.")))
    ):
        raise InvalidParameterValue(
            f"Message ({kind}) attribute name '{name}' is invalid. Names can contain "
            "alphanumeric characters, hyphens, underscores and periods, must not start or end "
            "with a period, have two periods in a row, or start with 'AWS.' or 'Amazon.'."
        )


def _is_base64(text: str) -> bool:
    try:
        base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return False
    return True


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def attributes_size(attributes: Mapping[str, AttributeValue]) -> int:
    """Bytes the attributes count towards the message size: name, type and value."""
    size = 0
    for name, value in attributes.items():
        size += len(name.encode()) + len(value["DataType"].encode())
        if "BinaryValue" in value:
            size += len(base64.b64decode(value["BinaryValue"]))
        else:
            size += len(value.get("StringValue", "").encode())
    return size


def select(attributes: Mapping[str, AttributeValue], names: Iterable[str]) -> Attributes:
    """The attributes a receive asked for: ``All`` or ``.*`` for every one, ``prefix.*`` for
    those under a prefix, and exact names."""
    wanted = list(names)
    if not attributes or not wanted:
        return {}
    if "All" in wanted or ".*" in wanted:
        return dict(attributes)
    prefixes = tuple(n[:-1] for n in wanted if n.endswith(".*"))
    exact = set(wanted)
    return {
        k: v for k, v in attributes.items() if k in exact or (prefixes and k.startswith(prefixes))
    }
