"""Option values as the AWS CLI reads them: JSON, ``file://``, shorthand (``A=1,B=[x,y]``) and
``fileb://`` zips, plus the function-name spellings both CLIs accept. Pure, apart from reading
the files a value names."""

from __future__ import annotations

import argparse
import base64
import json
import re
import zipfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NoReturn, TypeAlias

from engine.registry.packaging import zip_bytes_of_directory

# What the shorthand parser returns, before the option's shape gives it types.
Value: TypeAlias = str | list["Value"] | dict[str, "Value"]

# The option's shape, as much of botocore's as shorthand needs: a structure is a dict of its
# members; everything else is one of these names (every list here holds strings).
Shape: TypeAlias = str | Mapping[str, "Shape"]
STRING = "string"
INTEGER = "integer"
DOUBLE = "double"
BOOLEAN = "boolean"
STRINGS = "list<string>"
STRING_MAP = "map<string>"
DOUBLE_MAP = "map<double>"


class ShorthandError(ValueError):
    """A malformed shorthand value, or one that does not fit the option's shape."""


# -- shorthand ----------------------------------------------------------------------------

# After a comma, `key=` starts the next pair; anything else is one more item of a csv list.
_NEXT_KEY = re.compile(r"\s*[^\s=,\[\]{}]+\s*=")
_BARE_END = frozenset(",]}")


def parse_shorthand(text: str) -> dict[str, Value]:
    """The AWS CLI shorthand subset users type, as nested dicts, lists and strings.

    ``K=V,K2=V2`` pairs; ``K=a,b`` (a csv list: items run until the next ``key=``);
    ``K=[a,b]`` (a list); ``K={A=1,B=2}`` (a nested structure or map); values may be quoted
    (``'a,b'`` or ``"a,b"``, backslash escapes inside) or escape one character (``a\\,b``).
    Types (numbers, booleans, one-item lists) come later, from the option's shape.
    """
    parser = _ShorthandParser(text)
    result = parser.pairs(end="")
    if parser.peek():
        parser.fail("expected ',' or the end")
    return result


class _ShorthandParser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, what: str) -> NoReturn:
        raise ShorthandError(f"{what} at character {self.pos + 1} of {self.text!r}")

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def skip_spaces(self) -> None:
        while self.peek().isspace():
            self.pos += 1

    def pairs(self, *, end: str) -> dict[str, Value]:
        out: dict[str, Value] = {}
        while True:
            self.skip_spaces()
            start = self.pos
            while self.peek() and self.peek() not in "=,[]{}":
                self.pos += 1
            key = self.text[start : self.pos].strip()
            if not key:
                self.fail("expected a key")
            if self.peek() != "=":
                self.fail(f"expected '=' after {key!r}")
            if key in out:
                self.fail(f"{key!r} given twice")
            self.pos += 1
            out[key] = self.values()
            self.skip_spaces()
            if self.peek() == ",":
                self.pos += 1
            elif self.peek() == end:
                return out
            else:
                self.fail(f"expected ',' or {f'{end!r}' if end else 'the end'}")

    def values(self) -> Value:
        self.skip_spaces()
        if self.peek() == "[":
            return self.list_()
        if self.peek() == "{":
            return self.struct()
        items: list[Value] = [self.scalar(allow_empty=True)]
        while self.peek() == "," and not _NEXT_KEY.match(self.text, self.pos + 1):
            self.pos += 1
            items.append(self.scalar(allow_empty=False))
        return items[0] if len(items) == 1 else items

    def list_(self) -> list[Value]:
        self.pos += 1  # [
        items: list[Value] = []
        self.skip_spaces()
        if self.peek() == "]":
            self.pos += 1
            return items
        while True:
            self.skip_spaces()
            match self.peek():
                case "[":
                    items.append(self.list_())
                case "{":
                    items.append(self.struct())
                case _:
                    items.append(self.scalar(allow_empty=False))
            self.skip_spaces()
            if self.peek() == "]":
                self.pos += 1
                return items
            if self.peek() != ",":
                self.fail("expected ',' or ']'")
            self.pos += 1

    def struct(self) -> dict[str, Value]:
        self.pos += 1  # {
        self.skip_spaces()
        if self.peek() == "}":
            self.pos += 1
            return {}
        out = self.pairs(end="}")
        self.pos += 1  # }
        return out

    def scalar(self, *, allow_empty: bool) -> str:
        self.skip_spaces()
        quote = self.peek()
        if quote in ("'", '"'):
            return self.quoted(quote)
        chars: list[str] = []
        while self.peek() and self.peek() not in _BARE_END:
            if self.peek() == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            chars.append(self.text[self.pos])
            self.pos += 1
        value = "".join(chars).rstrip()
        if not value and not allow_empty:
            self.fail("expected a value")
        return value

    def quoted(self, quote: str) -> str:
        self.pos += 1
        chars: list[str] = []
        while self.peek() != quote:
            if not self.peek():
                self.fail(f"unterminated {quote}")
            if self.peek() == "\\" and self.pos + 1 < len(self.text):
                self.pos += 1
            chars.append(self.text[self.pos])
            self.pos += 1
        self.pos += 1
        self.skip_spaces()
        return "".join(chars)


def coerce(value: Value, shape: Shape, where: str = "") -> Any:
    """Give parsed shorthand the types of `shape`; `where` names the key in errors."""
    label = where or "the value"
    if isinstance(shape, Mapping):
        if not isinstance(value, dict):
            raise ShorthandError(f"{label}: expected KEY=VALUE pairs, got {value!r}")
        out: dict[str, Any] = {}
        for key, item in value.items():
            if key not in shape:
                raise ShorthandError(
                    f"unknown key {key!r}{f' in {where}' if where else ''}; "
                    f"expected one of: {', '.join(shape)}"
                )
            out[key] = coerce(item, shape[key], f"{where}.{key}" if where else key)
        return out
    if shape == STRINGS:
        items = value if isinstance(value, list) else [value]
        return [coerce(item, STRING, label) for item in items]
    if shape in (STRING_MAP, DOUBLE_MAP):
        if not isinstance(value, dict):
            raise ShorthandError(f"{label}: expected KEY=VALUE pairs, got {value!r}")
        member = STRING if shape == STRING_MAP else DOUBLE
        return {k: coerce(v, member, f"{where}.{k}" if where else k) for k, v in value.items()}
    if not isinstance(value, str):
        raise ShorthandError(f"{label}: expected one value, got {value!r}")
    try:
        if shape == INTEGER:
            return int(value)
        if shape == DOUBLE:
            return float(value)
        if shape == BOOLEAN:
            return {"true": True, "false": False}[value.lower()]
    except (ValueError, KeyError):
        raise ShorthandError(f"{label}: expected {_EXPECTED[shape]}, got {value!r}") from None
    return value


_EXPECTED = {INTEGER: "an integer", DOUBLE: "a number", BOOLEAN: "true or false"}


# -- option values ------------------------------------------------------------------------


def parse_structured(text: str, shape: Shape) -> Any:
    """A structure or map option's value: JSON, shorthand, or ``file://PATH`` holding either."""
    if text.startswith("file://"):
        text = Path(text.removeprefix("file://")).read_text()
    stripped = text.strip()
    if stripped.startswith(("{", "[")):
        try:
            value = json.loads(stripped)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
        if not isinstance(value, dict):
            raise ValueError(f"expected a JSON object, got {stripped!r}")
        return value  # the daemon checks its types, as AWS does
    return coerce(parse_shorthand(stripped), shape)


def _argument_type(parse: Callable[[str], Any], name: str) -> Callable[[str], Any]:
    """`parse` as an argparse `type=`: its errors become "argument --opt: <message>"."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (ValueError, OSError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = name
    return convert


def structured(shape: Shape) -> Callable[[str], Any]:
    return _argument_type(lambda text: parse_structured(text, shape), "structure")


def _strings_item(text: str) -> list[str]:
    """One word of a list option; ``[]`` or a JSON list is the whole list (``--layers []``)."""
    if not text.lstrip().startswith("["):
        return [text]
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        value = None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ValueError(f"expected a word, [] or a JSON list of strings, got {text!r}")
    return value


strings_item = _argument_type(_strings_item, "list")


def flatten(parts: list[list[str]]) -> list[str]:
    return [item for part in parts for item in part]


def _zip_base64(value: str) -> str:
    for prefix in ("fileb://", "file://"):
        if value.startswith(prefix):
            value = value.removeprefix(prefix)
            break
    path = Path(value)
    if path.is_dir():
        data = zip_bytes_of_directory(path)
    elif path.is_file():
        if not zipfile.is_zipfile(path):
            raise ValueError(f"{path} is not a zip file")
        data = path.read_bytes()
    else:
        raise ValueError(
            f"{path}: no such file or directory (give fileb://FILE.zip or a directory)"
        )
    return base64.b64encode(data).decode()


# --zip-file: fileb://PATH as the AWS CLI takes it, or a .zip path or a directory (zipped here);
# the base64 text a JSON body carries.
zip_file = _argument_type(_zip_base64, "zip")


def _environment_item(text: str) -> dict[str, str]:
    """One --environment value: the AWS CLI's ``Variables={A=1,B=2}`` (or its JSON), or
    lambdalet's ``KEY=VALUE`` (repeatable) or JSON object of variables."""
    if text.startswith("file://"):
        text = Path(text.removeprefix("file://")).read_text()
    stripped = text.strip()
    if stripped.startswith("{"):
        value = parse_structured(stripped, {"Variables": STRING_MAP})
        if set(value) == {"Variables"} and isinstance(value["Variables"], dict):
            value = value["Variables"]
        return dict(value)
    if re.match(r"Variables\s*=", stripped):
        parsed = coerce(parse_shorthand(stripped), {"Variables": STRING_MAP})
        return dict(parsed["Variables"])
    key, sep, val = text.partition("=")
    if not sep or not key:
        raise ValueError(f"expected Variables={{KEY=VALUE,...}}, KEY=VALUE or JSON, got {text!r}")
    return {key: val}


environment_item = _argument_type(_environment_item, "environment")


def environment(parts: list[dict[str, str]]) -> dict[str, Any]:
    merged: dict[str, str] = {}
    for part in parts:
        merged.update(part)
    return {"Variables": merged}


def _ephemeral_storage(text: str) -> Any:
    """``Size=1024`` or its JSON as the AWS CLI takes it, or just ``1024`` (MB)."""
    if text.strip().isdigit():
        return {"Size": int(text)}
    return parse_structured(text, {"Size": INTEGER})


ephemeral_storage = _argument_type(_ephemeral_storage, "ephemeral-storage")


# -- the function's name, positionally (lambdalet) or as --function-name (AWS) ---------------


def add_function_name(parser: argparse.ArgumentParser, *, then_outfile: bool = False) -> None:
    """NAME as a positional, or ``--function-name NAME`` as the AWS CLI spells it.

    With `then_outfile` (invoke), the positional after ``--function-name`` is the AWS CLI's
    outfile instead. `settle_function_name` sorts this out once argparse is done.
    """
    help = "the function's name or ARN"
    if then_outfile:
        help += "; after --function-name, the file for the response payload (as the AWS CLI)"
    parser.add_argument("name", nargs="?", metavar="NAME", help=help)
    parser.add_argument(
        "--function-name", metavar="NAME", help="the function's name or ARN (as the AWS CLI)"
    )
    parser.set_defaults(function_name_parser=parser, outfile=None, then_outfile=then_outfile)


def settle_function_name(args: argparse.Namespace) -> None:
    """Put the function's name in ``args.name`` (and invoke's outfile in ``args.outfile``)."""
    parser: argparse.ArgumentParser | None = getattr(args, "function_name_parser", None)
    if parser is None:
        return
    given: str | None = args.function_name
    if given is not None:
        if args.then_outfile:
            args.outfile, args.name = args.name, given
        elif args.name not in (None, given):
            parser.error(f"two function names: {args.name!r} and --function-name {given!r}")
        args.name = given
    if args.name is None:
        parser.error("the following arguments are required: --function-name (or NAME)")
