"""JSON filter patterns (``{ $.level = "ERROR" && $.latency > 500 }``): parsed once, matched
against each event's message read as JSON. Pure.

What a pattern may say: a selector (``$.a.b``, ``$.list[0].id``) compared with ``=`` or
``!=`` to a string (quoted, or a bare word; ``*`` is a wildcard) or a number, with ``<``,
``<=``, ``>``, ``>=`` to a number; ``IS TRUE``, ``IS FALSE``, ``IS NULL``, ``EXISTS``, ``NOT
EXISTS``; ``&&`` (binding tighter), ``||`` and parentheses. An event that is not a JSON object
matches no JSON pattern; a selector that finds nothing matches only ``NOT EXISTS``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Final

Test = Callable[[Any], bool]  # the parsed message -> matched
_MISSING: Final = object()
_TOKEN: Final = re.compile(
    r"""\s*(?:
        (?P<op>&&|\|\||!=|>=|<=|=|>|<|\(|\))
      | (?P<string>"(?:[^"\\]|\\.)*")
      | (?P<selector>\$(?:\.[A-Za-z0-9_@:\-]+|\[\d+\])*)
      | (?P<word>[^\s()&|=!<>"]+)
    )""",
    re.VERBOSE,
)
_NUMBER: Final = re.compile(r"-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?")
_STEP: Final = re.compile(r"\.([A-Za-z0-9_@:\-]+)|\[(\d+)\]")


class JsonPatternError(ValueError):
    pass


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "op", "string", "selector", "word", "end"
    text: str


def _tokens(text: str) -> list[_Token]:
    out: list[_Token] = []
    pos = 0
    while pos < len(text):
        if text[pos:].strip() == "":
            break
        found = _TOKEN.match(text, pos)
        if found is None or found.end() == pos:
            raise JsonPatternError(text)
        kind = found.lastgroup
        assert kind is not None
        out.append(_Token(kind, found.group(kind)))
        pos = found.end()
    out.append(_Token("end", ""))
    return out


def compile_json_pattern(body: str) -> Callable[[str], bool]:
    """`body` is the text between the braces; the matcher reads a message."""
    parser = _Parser(_tokens(body))
    test = parser.expression()
    if parser.peek().kind != "end":
        raise JsonPatternError(body)

    def matches(message: str) -> bool:
        if not message.lstrip().startswith("{"):
            return False
        try:
            document = json.loads(message)
        except ValueError:
            return False
        return isinstance(document, dict) and test(document)

    return matches


class _Parser:
    def __init__(self, tokens: list[_Token]) -> None:
        self.tokens = tokens
        self.at = 0

    def peek(self) -> _Token:
        return self.tokens[self.at]

    def take(self) -> _Token:
        token = self.tokens[self.at]
        if token.kind != "end":
            self.at += 1
        return token

    def expect_op(self, text: str) -> None:
        token = self.take()
        if token.kind != "op" or token.text != text:
            raise JsonPatternError(token.text)

    def expression(self) -> Test:
        alternatives = [self.conjunction()]
        while self.peek().text == "||" and self.peek().kind == "op":
            self.take()
            alternatives.append(self.conjunction())
        if len(alternatives) == 1:
            return alternatives[0]
        return lambda doc: any(test(doc) for test in alternatives)

    def conjunction(self) -> Test:
        parts = [self.unary()]
        while self.peek().text == "&&" and self.peek().kind == "op":
            self.take()
            parts.append(self.unary())
        if len(parts) == 1:
            return parts[0]
        return lambda doc: all(test(doc) for test in parts)

    def unary(self) -> Test:
        token = self.peek()
        if token.kind == "op" and token.text == "(":
            self.take()
            inner = self.expression()
            self.expect_op(")")
            return inner
        if token.kind != "selector":
            raise JsonPatternError(token.text)
        self.take()
        return self.comparison(_selector(token.text))

    def comparison(self, select: Callable[[Any], Any]) -> Test:
        token = self.take()
        if token.kind == "word":
            return self.keyword(select, token.text)
        if token.kind != "op" or token.text not in ("=", "!=", "<", "<=", ">", ">="):
            raise JsonPatternError(token.text)
        value = self.take()
        if value.kind == "string":
            return _string_test(select, token.text, json.loads(value.text))
        if value.kind != "word":
            raise JsonPatternError(value.text)
        if _NUMBER.fullmatch(value.text):
            return _number_test(select, token.text, float(value.text))
        return _string_test(select, token.text, value.text)

    def keyword(self, select: Callable[[Any], Any], word: str) -> Test:
        if word == "IS":
            what = self.take().text
            expected: dict[str, Test] = {
                "TRUE": lambda v: v is True,
                "FALSE": lambda v: v is False,
                "NULL": lambda v: v is None,
            }
            check = expected.get(what)
            if check is None:
                raise JsonPatternError(what)
            return lambda doc: check(select(doc))
        if word == "EXISTS":
            return lambda doc: select(doc) is not _MISSING
        if word == "NOT" and self.take().text == "EXISTS":
            return lambda doc: select(doc) is _MISSING
        raise JsonPatternError(word)


def _selector(text: str) -> Callable[[Any], Any]:
    steps: list[str | int] = [
        name if name else int(index) for name, index in _STEP.findall(text[1:])
    ]
    if not steps:
        raise JsonPatternError(text)

    def select(document: Any) -> Any:
        value = document
        for step in steps:
            if isinstance(step, str):
                if not isinstance(value, dict) or step not in value:
                    return _MISSING
                value = value[step]
            else:
                if not isinstance(value, list) or step >= len(value):
                    return _MISSING
                value = value[step]
        return value

    return select


def _string_test(select: Callable[[Any], Any], op: str, expected: str) -> Test:
    if op not in ("=", "!="):
        raise JsonPatternError(op)
    if "*" in expected:
        regex = re.compile(".*".join(re.escape(part) for part in expected.split("*")), re.DOTALL)

        def equal(value: Any) -> bool:
            return isinstance(value, str) and regex.fullmatch(value) is not None

    else:

        def equal(value: Any) -> bool:
            return isinstance(value, str) and value == expected

    if op == "=":
        return lambda doc: equal(select(doc))

    def differs(doc: Any) -> bool:
        value = select(doc)
        return value is not _MISSING and not equal(value)

    return differs


def _number_test(select: Callable[[Any], Any], op: str, expected: float) -> Test:
    compare: Callable[[float], bool] = {
        "=": lambda v: v == expected,
        "!=": lambda v: v != expected,
        "<": lambda v: v < expected,
        "<=": lambda v: v <= expected,
        ">": lambda v: v > expected,
        ">=": lambda v: v >= expected,
    }[op]

    def test(doc: Any) -> bool:
        value = select(doc)
        if isinstance(value, bool) or not isinstance(value, int | float):
            return op == "!=" and value is not _MISSING
        return compare(float(value))

    return test
