"""Resource tags (CreateFunction's `Tags`, TagResource): string maps within AWS's limits."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

from engine.errors import InvalidParameterValueException
from engine.model.violations import Violations

MAX_TAGS: Final = 50
MAX_TAG_KEY_CHARS: Final = 128
MAX_TAG_VALUE_CHARS: Final = 256
_TAG_RE: Final = re.compile(r"[\w\s_.:/=+\-@]*")


def parse_tags(value: object) -> dict[str, str]:
    """A `Tags` map (CreateFunction, TagResource): string keys and values, AWS's limits."""
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidParameterValueException("Tags must be a map of string keys to string values")
    if len(value) > MAX_TAGS:
        raise InvalidParameterValueException(
            f"Number of tags exceeds resource tag limit ({MAX_TAGS})."
        )
    problems = Violations()
    for key, val in value.items():
        if not 1 <= len(key) <= MAX_TAG_KEY_CHARS or not _TAG_RE.fullmatch(key):
            problems.add("tags.key", key, "Member must have length between 1 and 128 and "
                         "contain only letters, digits, spaces and _.:/=+-@")  # fmt: skip
        if len(val) > MAX_TAG_VALUE_CHARS or not _TAG_RE.fullmatch(val):
            problems.add("tags.value", val, "Member must have length less than or equal to "
                         "256 and contain only letters, digits, spaces and _.:/=+-@")  # fmt: skip
        if key.lower().startswith("aws:"):
            raise InvalidParameterValueException("Tag keys must not start with aws:")
    problems.raise_if_any()
    return dict(value)
