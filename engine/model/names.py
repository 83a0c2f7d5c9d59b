"""Function names (bare, `name:qualifier`, partial and full ARNs) split into their parts, and the
rules AWS applies to them past its model's pattern.

The model's constraints (pattern, lengths) are checked at the API boundary
(`engine.api.validation`); this module takes a name that passed them. A name that would not
have passed still gets AWS's pattern violation, for callers that skip the boundary.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Final

from engine.errors import (
    AccessDeniedException,
    InvalidParameterValueException,
    ResourceNotFoundException,
    ValidationException,
)
from engine.model.arns import ACCOUNT_ID
from engine.model.limits import MAX_FUNCTION_NAME_CHARS, MAX_LIST_ITEMS
from engine.model.violations import Violations

# The model's NamespacedFunctionName pattern (names of existing functions: `.` and
# `$LATEST.PUBLISHED` are allowed) with named groups to pull the parts out.
_FUNCTION_NAME_RE: Final = re.compile(
    r"(?P<arn>arn:(?:aws[a-zA-Z-]*)?:lambda:)?"
    r"(?:(?P<region>(?:eusc-)?[a-z]{2}(?:(?:-gov)|(?:-iso[a-z]?))?-[a-z]+-\d):)?"
    r"(?:(?P<account>\d{12}):)?"
    r"(?P<function>function:)?"
    r"(?P<name>[a-zA-Z0-9-_.]+)"
    r"(?::(?P<qualifier>\$LATEST(?:\.PUBLISHED)?|[a-zA-Z0-9-_]+))?",
    re.ASCII,
)
NAMESPACED_FUNCTION_NAME_PATTERN: Final = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)


@dataclass(frozen=True, slots=True)
class FunctionRef:
    """A function name as a client sent it, in parts."""

    name: str
    qualifier: str | None = None
    region: str | None = None  # from a full ARN
    account: str | None = None  # from a full or partial ARN


def split_function_name(raw: str) -> FunctionRef:
    """The parts of `raw`; AWS's pattern violation if it has none."""
    match = _FUNCTION_NAME_RE.fullmatch(raw)
    if match is None:
        problems = Violations()
        problems.add_pattern("functionName", raw, NAMESPACED_FUNCTION_NAME_PATTERN)
        problems.raise_if_any()
        raise AssertionError("unreachable")
    return FunctionRef(match["name"], match["qualifier"], match["region"], match["account"])


def check_reachable(ref: FunctionRef, region: str) -> None:
    """A function of another region is not found here; another account's is not ours to see."""
    if ref.region is not None and ref.region != region:
        raise ResourceNotFoundException(
            f"Functions from '{ref.region}' are not reachable in this region ('{region}')"
        )
    if ref.account is not None and ref.account != ACCOUNT_ID:
        raise AccessDeniedException()


def parse_function_name(raw: str, region: str | None = None) -> tuple[str, str | None]:
    """(name, qualifier) of a name or ARN; with `region`, refuse another region's or account's
    function as AWS does."""
    ref = split_function_name(raw)
    if region is not None:
        check_reachable(ref, region)
    return ref.name, ref.qualifier


def name_for_create(raw: str, region: str) -> str:
    """The bare name CreateFunction makes from `raw` (which passed the model's FunctionName
    pattern and 140-character limit), or AWS's refusal."""
    ref = split_function_name(raw)
    check_reachable(ref, region)
    if len(ref.name) > MAX_FUNCTION_NAME_CHARS:
        # AWS answers the bare name's limit after validation, as an InvalidParameterValue
        # worded like a validation error.
        problems = Violations()
        problems.add_max_length("functionName", raw, MAX_FUNCTION_NAME_CHARS)
        raise InvalidParameterValueException(problems.message() or "")
    if ref.qualifier is not None:
        raise InvalidParameterValueException(
            f"Function name {raw} must not include a qualifier when creating a function"
        )
    return ref.name


def validate_max_items(max_items: int) -> int:
    """Check a List operation's MaxItems (1..10000); return it unchanged."""
    problems = Violations()
    problems.check_range("maxItems", max_items, 1, MAX_LIST_ITEMS)
    problems.raise_if_any()
    return max_items


__all__ = [
    "FunctionRef",
    "ValidationException",
    "check_reachable",
    "name_for_create",
    "parse_function_name",
    "split_function_name",
    "validate_max_items",
]
