"""`lambdalet vpc …`: manage VPCs and attached hosts through the daemon's API."""

from __future__ import annotations

import argparse
import json
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

from engine.cli.client import Client, HttpResponse
from engine.config import toml_vpc_document

API = "/lambdalet/v1"


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    v = sub.add_parser("vpc", help="manage VPCs and attached hosts", parents=[common])
    vs = v.add_subparsers(dest="vpc_command", required=True)

    def command(name: str, help: str) -> argparse.ArgumentParser:
        return vs.add_parser(name, help=help, parents=[common])

    command("list", "list VPCs (with their subnets and security groups)")
    g = command("get", "show one VPC")
    g.add_argument("vpc_id")
    p = command("put", "create or replace a VPC from a JSON or TOML document")
    p.add_argument("vpc_id")
    p.add_argument("--file", type=Path, required=True, help="the VPC document (.json or .toml)")
    d = command("delete", "delete a VPC (refused while a function or host uses it)")
    d.add_argument("vpc_id")
    a = command("attach-host", "create a network namespace with an address in a subnet")
    a.add_argument("name", help="the host's name; its namespace is lambdalet-NAME")
    a.add_argument("--subnet", required=True, help="a subnet id (subnet-…)")
    a.add_argument(
        "--security-group", action="append", default=[], help="a security group id (repeatable)"
    )
    r = command("detach-host", "remove an attached host and its namespace")
    r.add_argument("name")
    command("hosts", "list attached hosts")


def read_document(path: Path) -> dict[str, Any]:
    """A VPC document from a .toml file (the same keys as a [[vpc]] table) or JSON."""
    text = path.read_text()
    if path.suffix == ".toml":
        doc: Any = tomllib.loads(text)
        if list(doc) == ["vpc"] and isinstance(doc["vpc"], list) and len(doc["vpc"]) == 1:
            doc = doc["vpc"][0]  # a file with one [[vpc]] table, as in the daemon's config
    else:
        doc = json.loads(text)
    if not isinstance(doc, dict):
        raise ValueError(f"{path}: a VPC document must be an object / a table")
    return toml_vpc_document(doc)  # [[vpc.subnet]] spellings, as in the configuration


def run(
    client: Client,
    args: argparse.Namespace,
    check: Callable[[HttpResponse], Any],
    show: Callable[[Any], None],
) -> None:
    match args.vpc_command:
        case "list":
            show(check(client.request("GET", f"{API}/vpcs")))
        case "get":
            show(check(client.request("GET", f"{API}/vpcs/{quote(args.vpc_id, safe='')}")))
        case "put":
            doc = read_document(args.file)
            path = f"{API}/vpcs/{quote(args.vpc_id, safe='')}"
            show(check(client.json_request("PUT", path, doc)))
        case "delete":
            check(client.request("DELETE", f"{API}/vpcs/{quote(args.vpc_id, safe='')}"))
        case "attach-host":
            body = {"subnet_id": args.subnet, "security_group_ids": args.security_group}
            show(
                check(client.json_request("PUT", f"{API}/hosts/{quote(args.name, safe='')}", body))
            )
        case "detach-host":
            check(client.request("DELETE", f"{API}/hosts/{quote(args.name, safe='')}"))
        case "hosts":
            show(check(client.request("GET", f"{API}/hosts")))
