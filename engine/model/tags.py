"""Resource tags (CreateFunction's `Tags`, TagResource): string maps within AWS's limits."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from engine.errors import InvalidParameterValueException

MAX_TAGS: Final = 50


def parse_tags(value: object) -> dict[str, str]:
    """A `Tags` map (CreateFunction, TagResource): string keys and values, at most 50 (the
    keys' and values' own constraints are the model's, checked at the API boundary)."""
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidParameterValueException("Tags must be a map of string keys to string values")
    if len(value) > MAX_TAGS:
        raise InvalidParameterValueException("Number of tags exceeds resource tag limit.")
    for key in value:
        if key.lower().startswith("aws:"):
            raise InvalidParameterValueException("Tag keys must not start with aws:")
    return dict(value)
