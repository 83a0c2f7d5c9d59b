"""How a command row and its parsed arguments become an AWS Lambda REST request (pure).

A row names the operation's method and botocore's request URI; each option says which member
it fills and where that goes (uri label, querystring or JSON body), as botocore's model does.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import quote, urlencode

from engine.cli import args as a
from engine.cli.client import HttpResponse

Where = Literal["uri", "querystring", "body"]


@dataclass(frozen=True, slots=True, kw_only=True)
class Option:
    flags: tuple[str, ...]  # the AWS CLI's spelling first
    member: str  # the request member; "Content.ZipFile" is nested in the body
    where: Where
    wire: str  # its name in the query string
    argparse_kw: dict[str, Any] = field(default_factory=dict)  # for add_argument
    finish: Callable[[Any], Any] | None = None  # e.g. merge the values of a repeated option
    shape: a.Shape | None = None  # structured options: what shorthand is checked against

    @property
    def dest(self) -> str:
        return self.flags[0].removeprefix("--").replace("-", "_")


@dataclass(frozen=True, slots=True, kw_only=True)
class Command:
    name: str  # the AWS CLI's: the operation's name in kebab case
    method: str
    uri: str  # botocore's requestUri, with its {Labels} (and a fixed query, if any)
    help: str
    options: tuple[Option, ...]
    result_key: str | None = None  # a paginated List*: the list merged across pages

    @property
    def operation(self) -> str:
        return "".join(word.capitalize() for word in self.name.split("-"))


def opt(
    *flags: str,
    member: str = "",
    where: Where = "body",
    wire: str = "",
    finish: Callable[[Any], Any] | None = None,
    shape: a.Shape | None = None,
    **argparse_kw: Any,
) -> Option:
    """An option; its member is its flag in PascalCase unless `member` says otherwise."""
    member = member or "".join(w.capitalize() for w in flags[0][2:].split("-"))
    return Option(
        flags=flags,
        member=member,
        where=where,
        wire=wire or member,
        argparse_kw=argparse_kw,
        finish=finish,
        shape=shape,
    )


def in_uri(flag: str, help: str, **kw: Any) -> Option:
    return opt(flag, where="uri", required=True, help=help, **kw)


def in_query(flag: str, help: str, **kw: Any) -> Option:
    return opt(flag, where="querystring", help=help, **kw)


def strings(flag: str, help: str, **kw: Any) -> Option:
    help += " (space-separated; [] for none)"
    return opt(flag, nargs="+", type=a.strings_item, finish=a.flatten, help=help, **kw)


def struct(flag: str, shape: a.Shape, example: str) -> Option:
    help = f"e.g. {example} (shorthand, JSON or file://PATH)"
    return opt(flag, shape=shape, type=a.structured(shape), help=help)


@dataclass(frozen=True, slots=True, kw_only=True)
class Request:
    method: str
    target: str  # path and query string
    body: dict[str, Any] | None


def build_request(
    command: Command, args: argparse.Namespace, paging: dict[str, Any] | None = None
) -> Request:
    """The request the AWS CLI sends for `command` with these arguments (pure)."""
    labels: dict[str, str] = {}
    query: list[tuple[str, str]] = []
    body: dict[str, Any] | None = {} if command.method in ("POST", "PUT") else None
    for option in command.options:
        value = getattr(args, option.dest)
        if value is None:
            continue
        if option.finish is not None:
            value = option.finish(value)
        if option.where == "uri":
            labels[option.member] = quote(str(value), safe="")
        elif option.where == "querystring":
            values = value if isinstance(value, list) else [value]
            query.extend((option.wire, str(v)) for v in values)
        elif body is not None:
            *outer, last = option.member.split(".")
            node = body
            for key in outer:
                node = node.setdefault(key, {})
            node[last] = value
    for key, value in (paging or {}).items():
        if value is not None:
            query.append((key, str(value)))
    path, _, fixed_query = command.uri.partition("?")
    path = re.sub(r"\{(\w+)\}", lambda m: labels[m.group(1)], path)
    qs = "&".join(q for q in (fixed_query, urlencode(query, quote_via=quote)) if q)
    return Request(method=command.method, target=f"{path}?{qs}" if qs else path, body=body)


def error_sentence(operation: str, resp: HttpResponse) -> str:
    """The AWS CLI's words for an error answer: code from x-amzn-ErrorType, message from body."""
    try:
        data = resp.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        data = {}
    code = (resp.error_type or "").split(":")[0] or str(data.get("__type", "")).split("#")[-1]
    message = data.get("message") or data.get("Message") or resp.body.decode(errors="replace")
    return (
        f"An error occurred ({code or resp.status}) when calling the {operation} operation: "
        f"{message}"
    )
