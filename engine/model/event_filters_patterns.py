"""One FilterCriteria pattern: its JSON text checked as Lambda checks it (the grammar of AWS's
event-ruler, limited to the operators Lambda's filters accept) and compiled into branches of
field conditions that `event_filters_matching` applies to a document.

Pure. Every refusal is AWS's `InvalidParameterValueException("Invalid filter pattern
definition.")`; the reason event-ruler would give is kept on the exception's cause for logs.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any, Final, Protocol

from engine.errors import InvalidParameterValueException

MSG_INVALID_PATTERN: Final = "Invalid filter pattern definition."
MAX_PATTERN_CHARS: Final = 4096  # the model's Pattern max; the API checks it first, in its words
# lambdalet's bound, not AWS's: "$or" arrays multiply, and 4096 characters of them could ask
# for 2**100 branches. A thousand is far past any pattern written by hand.
MAX_BRANCHES: Final = 1024

# Names event-ruler reserves inside an "$or" (Constants.RESERVED_FIELD_NAMES_IN_OR_RELATIONSHIP).
_RESERVED_IN_OR: Final = frozenset({
    "exactly", "equals-ignore-case", "prefix", "suffix", "anything-but", "exists", "wildcard",
    "numeric", "cidr", "=", "<", "<=", ">", ">=", "regex", "not-wildcard",
    "not-equals-ignore-case", "date-after", "date-on-or-after", "date-before",
    "date-on-or-before", "in-date-range", "ip-address-in-range", "ip-address-not-in-range",
})  # fmt: skip
# EventBridge operators that event buses accept and Lambda (like Pipes) does not: the "Pipe
# support" column of eb-create-pattern-operators.html says No for wildcard and for anything-but
# with prefix, suffix, equals-ignore-case or wildcard; "cidr" and "exactly" are not listed.
_NOT_IN_LAMBDA: Final = frozenset({"wildcard", "cidr", "exactly"})


class JsonFloat(float):
    """A float read from JSON text that keeps its literal: an exact match compares numbers by
    their text (300, 300.0 and 3.0e2 are three different values to a filter)."""

    __slots__ = ("text",)
    text: str

    def __new__(cls, text: str) -> JsonFloat:
        number = super().__new__(cls, text)
        number.text = text
        return number


def number_text(value: object) -> str | None:
    """The JSON text of a number in a document; None for anything else (a bool is no number)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    if isinstance(value, JsonFloat):
        return value.text
    return repr(value)


def comparable_number(value: object) -> float | None:
    """A document's number as the double numeric operators compare, or None when it is not a
    number or no double holds it exactly (event-ruler's ComparableNumber refuses those)."""
    text = number_text(value)
    return None if text is None else _exact_double(text)


def _exact_double(text: str) -> float | None:
    try:
        exact = Decimal(text)
    except InvalidOperation:
        return None
    if not exact.is_finite():
        return None
    double = float(exact)
    if math.isinf(double) or Decimal(repr(double)) != exact:
        return None
    return double


# --- Matchers: one per value of a pattern's list -------------------------------------------------


class Matcher(Protocol):
    def matches(self, value: object) -> bool: ...


@dataclass(frozen=True, slots=True)
class ExactString:
    text: str

    def matches(self, value: object) -> bool:
        return isinstance(value, str) and value == self.text


@dataclass(frozen=True, slots=True)
class ExactNumber:
    text: str  # the pattern's literal, compared with the document's

    def matches(self, value: object) -> bool:
        return number_text(value) == self.text


@dataclass(frozen=True, slots=True)
class ExactConstant:
    constant: bool | None  # JSON true, false or null

    def matches(self, value: object) -> bool:
        return value is self.constant


@dataclass(frozen=True, slots=True)
class Prefix:
    text: str
    ignore_case: bool = False

    def matches(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        if self.ignore_case:
            return value.lower().startswith(self.text.lower())
        return value.startswith(self.text)


@dataclass(frozen=True, slots=True)
class Suffix:
    text: str
    ignore_case: bool = False

    def matches(self, value: object) -> bool:
        if not isinstance(value, str):
            return False
        if self.ignore_case:
            return value.lower().endswith(self.text.lower())
        return value.endswith(self.text)


@dataclass(frozen=True, slots=True)
class EqualsIgnoreCase:
    text: str

    def matches(self, value: object) -> bool:
        return isinstance(value, str) and value.lower() == self.text.lower()


@dataclass(frozen=True, slots=True)
class AnythingBut:
    """Any present value but the listed strings (or numbers, compared numerically): null,
    booleans and values of the other type all match."""

    strings: frozenset[str] = frozenset()
    numbers: frozenset[float] = frozenset()

    def matches(self, value: object) -> bool:
        if isinstance(value, str):
            return value not in self.strings
        number = comparable_number(value)
        return number is None or number not in self.numbers


@dataclass(frozen=True, slots=True)
class Numeric:
    """A range over JSON numbers (never strings); a bound of None is open-ended."""

    lower: float | None = None
    lower_open: bool = False
    upper: float | None = None
    upper_open: bool = False

    def matches(self, value: object) -> bool:
        number = comparable_number(value)
        if number is None:
            return False
        if self.lower is not None and (
            number < self.lower or (self.lower_open and number == self.lower)
        ):
            return False
        return self.upper is None or not (
            number > self.upper or (self.upper_open and number == self.upper)
        )


@dataclass(frozen=True, slots=True)
class AnyValue:
    """{"exists": true}: any value at the path, null included."""

    def matches(self, value: object) -> bool:
        return True


@dataclass(frozen=True, slots=True)
class Field:
    """One path of a branch (keys joined by "."), matched when a value there passes any of
    `matchers`, or, when `absent_ok` ({"exists": false} in the list), when none is there."""

    path: str
    matchers: tuple[Matcher, ...]
    absent_ok: bool

    def matches(self, value: object) -> bool:
        return any(matcher.matches(value) for matcher in self.matchers)


Branch = tuple[Field, ...]  # fields that must all hold; "$or" makes several branches


@dataclass(frozen=True, slots=True)
class CompiledPattern:
    text: str  # as the client sent it, for GetEventSourceMapping
    branches: tuple[Branch, ...]  # the pattern matches when any branch does

    @property
    def paths(self) -> frozenset[str]:
        return frozenset(field.path for branch in self.branches for field in branch)


def compile_pattern(text: str) -> CompiledPattern:
    """Check one pattern as Lambda does and compile it; raises AWS's error for any fault."""
    try:
        if len(text) > MAX_PATTERN_CHARS:
            raise _Invalid(f"longer than {MAX_PATTERN_CHARS} characters")
        tree = _parse(text)
        try:
            branches = _compile_rule(tree, or_enabled=True)
        except _Invalid:
            # event-ruler reads a rule its "$or" grammar refuses once more with "$or" as a plain
            # field name (its README: the backward compatibility of "$or" as a field name).
            branches = _compile_rule(tree, or_enabled=False)
    except _Invalid as err:
        raise InvalidParameterValueException(MSG_INVALID_PATTERN) from err
    return CompiledPattern(text=text, branches=branches)


# --- Reading the JSON text ----------------------------------------------------------------------


class _Invalid(Exception):
    """Why a pattern is refused (event-ruler's reason where it has one)."""


@dataclass(frozen=True, slots=True)
class _Number:
    text: str  # the literal as written: exact matches compare it, operators read it exactly


class _Object(tuple[tuple[str, Any], ...]):
    """A JSON object as its key/value pairs in order: a repeated key is read twice, as
    event-ruler reads it (the later value of a path replaces the earlier)."""

    __slots__ = ()


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _parse(text: str) -> Any:
    try:
        return json.loads(
            text,
            parse_int=_Number,
            parse_float=_Number,
            parse_constant=_no_constant,
            object_pairs_hook=_Object,
        )
    except (ValueError, RecursionError) as err:
        raise _Invalid(f"not JSON: {err}") from err


# --- Compiling ----------------------------------------------------------------------------------

_Draft = dict[str, Field]  # a branch being built: path -> field, a later path replacing


def _compile_rule(tree: Any, *, or_enabled: bool) -> tuple[Branch, ...]:
    if not isinstance(tree, _Object):
        raise _Invalid("Filter is not an object")
    drafts = _compile_object(tree, "", [{}], or_enabled=or_enabled, in_or=False)
    return tuple(_ordered(draft) for draft in drafts)


def _compile_object(
    obj: _Object, prefix: str, drafts: list[_Draft], *, or_enabled: bool, in_or: bool
) -> list[_Draft]:
    if not obj:
        raise _Invalid("Empty objects are not allowed")
    for key, value in obj:
        if or_enabled and key == "$or":
            drafts = _compile_or(value, prefix, drafts)
            continue
        if in_or and key in _RESERVED_IN_OR:
            raise _Invalid(f"{key} is a reserved name inside $or")
        path = f"{prefix}.{key}" if prefix else key
        if isinstance(value, _Object):
            drafts = _compile_object(value, path, drafts, or_enabled=or_enabled, in_or=in_or)
        elif isinstance(value, list):
            field = _compile_field(path, value)
            drafts = [{**draft, path: field} for draft in drafts]
        else:
            raise _Invalid(f'"{key}" must be an object or an array')
    return drafts


def _compile_or(value: Any, prefix: str, drafts: list[_Draft]) -> list[_Draft]:
    if not isinstance(value, list):
        raise _Invalid("$or must be followed by an array")
    forked: list[_Draft] = []
    for choice in value:
        if not isinstance(choice, _Object):
            raise _Invalid("only objects are allowed in an $or array")
        forked += _compile_object(choice, prefix, drafts, or_enabled=True, in_or=True)
        if len(forked) > MAX_BRANCHES:
            raise _Invalid(f"more than {MAX_BRANCHES} $or combinations")
    if len(value) < 2:
        raise _Invalid("an $or array needs at least 2 objects")
    return forked


def _ordered(draft: _Draft) -> Branch:
    # Fields that need a value first, then those a value or an absence satisfies, then pure
    # absences: an absence is judged against the array elements the values were taken from.
    return tuple(sorted(draft.values(), key=lambda f: (f.absent_ok, not f.matchers)))


def _compile_field(path: str, values: list[Any]) -> Field:
    if not values:
        raise _Invalid("Empty arrays are not allowed")
    matchers: list[Matcher] = []
    absent_ok = False
    for value in values:
        if isinstance(value, str):
            matchers.append(ExactString(value))
        elif value is None or isinstance(value, bool):
            matchers.append(ExactConstant(value))
        elif isinstance(value, _Number):
            matchers.append(ExactNumber(value.text))
        elif isinstance(value, _Object):
            matcher = _compile_expression(value)
            if matcher is None:
                absent_ok = True
            else:
                matchers.append(matcher)
        else:
            raise _Invalid("Match value must be String, number, true, false, or null")
    return Field(path=path, matchers=tuple(matchers), absent_ok=absent_ok)


def _compile_expression(expression: _Object) -> Matcher | None:
    """One {operator: argument} of a list; None stands for {"exists": false}."""
    if len(expression) != 1:
        raise _Invalid("a match expression has exactly one key")
    ((operator, argument),) = expression
    compile_argument = _OPERATORS.get(operator)
    if compile_argument is not None:
        return compile_argument(argument)
    if operator in _NOT_IN_LAMBDA:
        raise _Invalid(f"{operator} is not supported by Lambda event filtering")
    raise _Invalid(f"Unrecognized match type {operator}")


def _prefix(argument: Any) -> Matcher:
    text, ignore_case = _affix("prefix", argument)
    return Prefix(text, ignore_case)


def _suffix(argument: Any) -> Matcher:
    text, ignore_case = _affix("suffix", argument)
    return Suffix(text, ignore_case)


def _affix(operator: str, argument: Any) -> tuple[str, bool]:
    if isinstance(argument, str):
        return argument, False
    if isinstance(argument, _Object) and len(argument) == 1:
        ((modifier, text),) = argument
        if modifier == "equals-ignore-case" and isinstance(text, str):
            return text, True
    raise _Invalid(f"{operator} match pattern must be a string or an equals-ignore-case")


def _equals_ignore_case(argument: Any) -> Matcher:
    if not isinstance(argument, str):
        raise _Invalid("equals-ignore-case match pattern must be a string")
    return EqualsIgnoreCase(argument)


def _anything_but(argument: Any) -> Matcher:
    if isinstance(argument, _Object):
        raise _Invalid("anything-but with a prefix, suffix, equals-ignore-case or wildcard")
    values = argument if isinstance(argument, list) else [argument]
    strings = [value for value in values if isinstance(value, str)]
    numbers = [_double(value) for value in values if isinstance(value, _Number)]
    if len(strings) + len(numbers) != len(values):
        raise _Invalid("anything-but takes strings or numbers, not null, booleans or lists")
    if not values or (strings and numbers):
        raise _Invalid("an anything-but list is all strings or all numbers, and not empty")
    return AnythingBut(strings=frozenset(strings), numbers=frozenset(numbers))


def _numeric(argument: Any) -> Matcher:
    """[=, n] | [>|>=, n] | [>|>=, n, <|<=, m] with n < m | [<|<=, n]: event-ruler's grammar."""
    if not isinstance(argument, list) or len(argument) not in (2, 4):
        raise _Invalid("numeric takes an operator and a number, or a range of two")
    operator, first = argument[0], argument[1]
    if not isinstance(operator, str) or not isinstance(first, _Number):
        raise _Invalid("numeric takes an operator then a number")
    bound = _double(first)
    if len(argument) == 2:
        if operator == "=":
            return Numeric(lower=bound, upper=bound)
        if operator in (">", ">="):
            return Numeric(lower=bound, lower_open=operator == ">")
        if operator in ("<", "<="):
            return Numeric(upper=bound, upper_open=operator == "<")
        raise _Invalid(f"Unrecognized numeric range operator: {operator}")
    top_operator, second = argument[2], argument[3]
    if operator not in (">", ">=") or top_operator not in ("<", "<="):
        raise _Invalid("a numeric range is > or >= then < or <=")
    if not isinstance(second, _Number):
        raise _Invalid(f"Value of {top_operator} must be numeric")
    top = _double(second)
    if not bound < top:
        raise _Invalid("Bottom must be less than top")
    return Numeric(
        lower=bound, lower_open=operator == ">", upper=top, upper_open=top_operator == "<"
    )


def _exists(argument: Any) -> Matcher | None:
    if not isinstance(argument, bool):
        raise _Invalid("exists match pattern must be either true or false.")
    return AnyValue() if argument else None


def _double(number: _Number) -> float:
    double = _exact_double(number.text)
    if double is None:
        raise _Invalid(f"Cannot compare number : {number.text}")
    return double


_OPERATORS: Final[dict[str, Callable[[Any], Matcher | None]]] = {
    "prefix": _prefix,
    "suffix": _suffix,
    "equals-ignore-case": _equals_ignore_case,
    "anything-but": _anything_but,
    "numeric": _numeric,
    "exists": _exists,
}
