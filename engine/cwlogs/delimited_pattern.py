"""Space-delimited filter patterns (``[ip, user, ..., status = 4*, size > 1000]``): an event's
message read as fields, each field of the pattern a name, optionally with conditions. Pure.

A message's fields are its words separated by spaces; a run in double quotes or in square
brackets is one field (without its quotes or brackets). The pattern needs as many fields as
the message has, except that ``...`` stands for any number of them. A field's conditions
compare it with ``=``/``!=`` to text (``*`` a wildcard) or a number, or with ``<``, ``<=``,
``>``, ``>=`` to a number, joined by ``&&`` and ``||``.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

FieldTest = Callable[[str], bool]
_ELLIPSIS: Final = "..."
_CONDITION: Final = re.compile(
    r"\s*(?P<name>[A-Za-z0-9_.\-]+)\s*(?P<op>!=|>=|<=|=|>|<)\s*"
    r'(?P<value>"(?:[^"\\]|\\.)*"|[^\s"&|]+)\s*'
)
_NUMBER: Final = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_NAME: Final = re.compile(r"[A-Za-z0-9_\-]+")
_MESSAGE_FIELD: Final = re.compile(r'"([^"]*)"|\[([^\]]*)\]|(\S+)')


class DelimitedPatternError(ValueError):
    pass


def compile_delimited_pattern(body: str) -> Callable[[str], bool]:
    """`body` is the text between the brackets."""
    fields: list[FieldTest | None] = []  # None: "..."
    for part in _split_fields(body):
        if part == _ELLIPSIS:
            fields.append(None)
        elif _NAME.fullmatch(part):
            fields.append(lambda value: True)
        else:
            fields.append(_conditions(part))
    if not fields:
        raise DelimitedPatternError(body)

    def matches(message: str) -> bool:
        values = [a or b or c for a, b, c in _MESSAGE_FIELD.findall(message)]
        return _match(fields, 0, values, 0)

    return matches


def _split_fields(body: str) -> list[str]:
    parts: list[str] = []
    current: list[str] = []
    quoted = False
    for char in body:
        if char == '"':
            quoted = not quoted
        if char == "," and not quoted:
            parts.append("".join(current).strip())
            current = []
        else:
            current.append(char)
    if quoted:
        raise DelimitedPatternError(body)
    parts.append("".join(current).strip())
    if any(not p for p in parts):
        raise DelimitedPatternError(body)
    return parts


def _conditions(text: str) -> FieldTest:
    """``status = 4* || status = 5*``: alternatives of conjunctions of comparisons."""
    alternatives: list[list[FieldTest]] = [[]]
    pos = 0
    while True:
        found = _CONDITION.match(text, pos)
        if found is None:
            raise DelimitedPatternError(text)
        alternatives[-1].append(_comparison(found.group("op"), found.group("value")))
        pos = found.end()
        if pos == len(text):
            break
        joiner = text[pos : pos + 2]
        if joiner == "||":
            alternatives.append([])
        elif joiner != "&&":
            raise DelimitedPatternError(text)
        pos += 2
    return lambda value: any(all(test(value) for test in tests) for tests in alternatives)


def _comparison(op: str, raw: str) -> FieldTest:
    if raw.startswith('"'):
        text = re.sub(r"\\(.)", r"\1", raw[1:-1])
        numeric = None
    else:
        text = raw
        numeric = float(raw) if _NUMBER.fullmatch(raw) else None
    if op in ("<", "<=", ">", ">="):
        if numeric is None:
            raise DelimitedPatternError(raw)
        return _numeric(op, numeric)
    if numeric is not None:
        equal = _numeric("=", numeric)
    elif "*" in text:
        regex = re.compile(".*".join(re.escape(p) for p in text.split("*")), re.DOTALL)

        def equal(value: str) -> bool:
            return regex.fullmatch(value) is not None

    else:

        def equal(value: str) -> bool:
            return value == text

    return equal if op == "=" else (lambda value: not equal(value))


def _numeric(op: str, expected: float) -> FieldTest:
    compare: Callable[[float], bool] = {
        "=": lambda v: v == expected,
        "<": lambda v: v < expected,
        "<=": lambda v: v <= expected,
        ">": lambda v: v > expected,
        ">=": lambda v: v >= expected,
    }[op]

    def test(value: str) -> bool:
        try:
            return compare(float(value))
        except ValueError:
            return False

    return test


def _match(fields: list[FieldTest | None], i: int, values: list[str], j: int) -> bool:
    """Whether fields[i:] match values[j:], "..." taking any number of values."""
    while i < len(fields):
        test = fields[i]
        if test is None:
            return any(_match(fields, i + 1, values, k) for k in range(j, len(values) + 1))
        if j >= len(values) or not test(values[j]):
            return False
        i, j = i + 1, j + 1
    return j == len(values)
