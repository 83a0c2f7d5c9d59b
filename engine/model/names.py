"""Function names (bare, `name:qualifier`, partial and full ARNs), qualifiers and MaxItems, checked
against the model and split into their parts.
"""

from __future__ import annotations

import re
from typing import Final

from engine.model.limits import (
    FUNCTION_NAME_PATTERN,
    MAX_FUNCTION_ARN_CHARS,
    MAX_FUNCTION_NAME_CHARS,
    MAX_LIST_ITEMS,
    MAX_QUALIFIER_CHARS,
    QUALIFIER_PATTERN,
)
from engine.model.violations import Violations

# Java's regex classes (\s, \d) are ASCII-only; re.ASCII makes Python agree with AWS.
_QUALIFIER_RE: Final = re.compile(QUALIFIER_PATTERN, re.ASCII)
# The same language as FUNCTION_NAME_PATTERN, with named groups to pull the parts out.
_FUNCTION_NAME_RE: Final = re.compile(
    r"(?P<arn>arn:(?:aws[a-zA-Z-]*)?:lambda:)?"
    r"(?P<region>(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d:)?"
    r"(?P<account>\d{12}:)?"
    r"(?P<function>function:)?"
    r"(?P<name>[a-zA-Z0-9_-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?",
    re.ASCII,
)


def check_function_name(
    problems: Violations, raw: str | None, *, creating: bool
) -> tuple[str | None, str | None]:
    """Add the violations of `functionName`; return (name, qualifier) when it parses."""
    if raw is None:
        problems.add_null("functionName")
        return None, None
    if not raw:
        problems.add("functionName", raw, "Member must have length greater than or equal to 1")
        return None, None
    match = _FUNCTION_NAME_RE.fullmatch(raw)
    # An "arn:" prefix alone would satisfy AWS's pattern; a usable ARN names region and account.
    if match is not None and match["arn"] and not (match["region"] and match["account"]):
        match = None
    if match is None or not match["name"]:
        problems.add_pattern("functionName", raw, FUNCTION_NAME_PATTERN)
        return None, None
    name = match["name"]
    bare = raw == name
    if len(name) > MAX_FUNCTION_NAME_CHARS and (bare or creating):
        problems.add_max_length("functionName", raw, MAX_FUNCTION_NAME_CHARS)
        return None, None
    if len(raw) > MAX_FUNCTION_ARN_CHARS:
        problems.add_max_length("functionName", raw, MAX_FUNCTION_ARN_CHARS)
        return None, None
    qualifier: str | None = match["qualifier"]
    if qualifier is not None and len(qualifier) > MAX_QUALIFIER_CHARS:
        problems.add_max_length("qualifier", qualifier, MAX_QUALIFIER_CHARS)
        return None, None
    return name, qualifier


def parse_function_name(raw: str) -> tuple[str, str | None]:
    """Split `name`, `name:qualifier`, a partial or a full ARN into (name, qualifier)."""
    problems = Violations()
    name, qualifier = check_function_name(problems, raw, creating=False)
    problems.raise_if_any()
    assert name is not None
    return name, qualifier


def validate_qualifier(qualifier: str) -> str:
    """Check a `?Qualifier=` value against the model; return it unchanged."""
    problems = Violations()
    if len(qualifier) > MAX_QUALIFIER_CHARS:
        problems.add_max_length("qualifier", qualifier, MAX_QUALIFIER_CHARS)
    if len(qualifier) < 1:
        problems.add("qualifier", qualifier, "Member must have length greater than or equal to 1")
    if not _QUALIFIER_RE.fullmatch(qualifier):
        problems.add_pattern("qualifier", qualifier, QUALIFIER_PATTERN)
    problems.raise_if_any()
    return qualifier


def validate_max_items(max_items: int) -> int:
    """Check ListFunctions' MaxItems (1..10000); return it unchanged."""
    problems = Violations()
    problems.check_range("maxItems", max_items, 1, MAX_LIST_ITEMS)
    problems.raise_if_any()
    return max_items
