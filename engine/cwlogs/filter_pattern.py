"""CloudWatch Logs filter patterns (FilterLogEvents' ``filterPattern``): parsed once into a
matcher of event messages, refused in AWS's words when malformed. Pure.

Three forms, as CloudWatch reads them:
- terms: ``ERROR Exception`` (every term appears), ``"Failed to process"`` (a phrase),
  ``?ERROR ?WARN`` (any of these), ``ERROR -Retrying`` (but not this), ``%time[0-9]+%`` (a
  regular expression). Matching is case-sensitive; ``""`` and ``" "`` match every event.
- JSON: ``{ $.level = "ERROR" }`` and the rest of `engine.cwlogs.json_pattern`.
- space-delimited: ``[ip, user, ..., status = 4*, size > 1000]``
  (`engine.cwlogs.delimited_pattern`).
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Final

from engine.cwlogs.delimited_pattern import DelimitedPatternError, compile_delimited_pattern
from engine.cwlogs.json_pattern import JsonPatternError, compile_json_pattern

Matcher = Callable[[str], bool]
INVALID: Final = "Invalid filter pattern"
# What a regular expression between % may hold (AWS's list: no parentheses, no other symbol).
_REGEX_CHARS: Final = re.compile(r"[A-Za-z0-9:_#=@/;,\-^$?\[\]{}|\\*+. ]+")


class FilterPatternError(ValueError):
    """A malformed pattern; the message is AWS's."""


def compile_filter_pattern(pattern: str | None) -> Matcher | None:
    """The pattern's matcher; None when it matches every event."""
    text = (pattern or "").strip()
    if not text:
        return None
    if text.startswith("{"):
        if not text.endswith("}"):
            raise FilterPatternError("If a filter pattern starts with '{' it must end with '}'")
        try:
            return compile_json_pattern(text[1:-1])
        except JsonPatternError:
            raise FilterPatternError(INVALID) from None
    if text.startswith("["):
        if not text.endswith("]"):
            raise FilterPatternError(INVALID)
        try:
            return compile_delimited_pattern(text[1:-1])
        except DelimitedPatternError:
            raise FilterPatternError(INVALID) from None
    return _compile_terms(text)


def _compile_terms(text: str) -> Matcher | None:
    required: list[Matcher] = []
    optional: list[Matcher] = []
    excluded: list[Matcher] = []
    only_blank_phrases = True
    for prefix, kind, term in _terms(text):
        matcher = _regex(term) if kind == "regex" else _contains(term)
        only_blank_phrases &= prefix == "" and kind == "phrase" and not term.strip()
        {"": required, "?": optional, "-": excluded}[prefix].append(matcher)
    if only_blank_phrases:
        return None  # `" "`: CloudWatch's way of saying every event

    def matches(message: str) -> bool:
        return (
            all(m(message) for m in required)
            and (not optional or any(m(message) for m in optional))
            and not any(m(message) for m in excluded)
        )

    return matches


def _terms(text: str) -> list[tuple[str, str, str]]:
    """(prefix "", "?" or "-"; kind "word", "phrase" or "regex"; the term) in order."""
    out: list[tuple[str, str, str]] = []
    pos, size = 0, len(text)
    while pos < size:
        if text[pos].isspace():
            pos += 1
            continue
        prefix = ""
        if text[pos] in "?-" and pos + 1 < size and not text[pos + 1].isspace():
            prefix, pos = text[pos], pos + 1
        if text[pos] == '"':
            term, pos = _phrase(text, pos)
            out.append((prefix, "phrase", term))
        elif text[pos] == "%":
            end = text.find("%", pos + 1)
            if end < 0 or end == pos + 1:
                raise FilterPatternError(INVALID)
            out.append((prefix, "regex", text[pos + 1 : end]))
            pos = end + 1
        else:
            end = pos
            while end < size and not text[end].isspace():
                end += 1
            word = text[pos:end]
            if '"' in word or not word.isascii() or not word.isprintable() or word in "?-":
                raise FilterPatternError(f"Invalid character(s) in term '{word}'")
            out.append((prefix, "word", word))
            pos = end
            continue
        if pos < size and not text[pos].isspace():
            raise FilterPatternError(INVALID)
    return out


def _phrase(text: str, pos: int) -> tuple[str, int]:
    """The quoted phrase starting at `pos` (\\" and \\\\ escaped) and where it ends."""
    out: list[str] = []
    i = pos + 1
    while i < len(text):
        char = text[i]
        if char == "\\" and i + 1 < len(text) and text[i + 1] in '"\\':
            out.append(text[i + 1])
            i += 2
            continue
        if char == '"':
            return "".join(out), i + 1
        out.append(char)
        i += 1
    raise FilterPatternError(INVALID)


def _contains(term: str) -> Matcher:
    return lambda message: term in message


def _regex(expression: str) -> Matcher:
    if not _REGEX_CHARS.fullmatch(expression):
        raise FilterPatternError(INVALID)
    try:
        compiled = re.compile(expression)
    except re.error:
        raise FilterPatternError(INVALID) from None
    return lambda message: compiled.search(message) is not None
