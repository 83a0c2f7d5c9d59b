"""`lambdalet logs FUNCTION [--follow] [--since 10m] [--filter PATTERN]`: a function's log
events, printed as ``aws logs tail`` prints them (time, stream, message), read through the
daemon's CloudWatch-Logs-compatible API on its socket.

The group is the function's (``/aws/lambda/<name>``, or its ``LoggingConfig.LogGroup``); an
argument starting with ``/`` names a group directly. ``--follow`` polls FilterLogEvents from
the newest timestamp seen, skipping events already printed, until interrupted.
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from typing import Any, Final, TextIO
from urllib.parse import quote

from engine.cli.client import Client, ClientError

TARGET: Final = "Logs_20140328."
FOLLOW_POLL_S: Final = 1.0
DEFAULT_SINCE: Final = "10m"
_RELATIVE: Final = re.compile(r"(\d+)([smhdw])")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}


class LogsError(ClientError):
    """The daemon refused the request: "<error type>: <message>"."""

    def __init__(self, error_type: str, message: str) -> None:
        super().__init__(f"{error_type}: {message}")
        self.error_type = error_type


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    p = sub.add_parser(
        "logs", help="print a function's log events (as `aws logs tail`)", parents=[common]
    )
    p.add_argument("function", help="a function's name (or a log group name starting with /)")
    p.add_argument("--follow", action="store_true", help="keep printing new events")
    p.add_argument(
        "--since",
        default=DEFAULT_SINCE,
        help="from how long ago (30s, 10m, 2h, 1d, 1w) or since when (ISO 8601); default 10m",
    )
    p.add_argument("--filter", help="a CloudWatch Logs filter pattern")


def parse_since(text: str, now_s: float) -> int:
    """The start time in ms of "10m" (ago), or of an ISO 8601 time (UTC unless it says)."""
    relative = _RELATIVE.fullmatch(text.strip())
    if relative is not None:
        return int((now_s - int(relative.group(1)) * _UNIT_S[relative.group(2)]) * 1000)
    try:
        moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError(
            f"--since {text!r}: expected an age such as 10m, 2h, 1d, or an ISO 8601 time"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def format_event(event: dict[str, Any]) -> str:
    """One line as ``aws logs tail`` prints it: ISO time (µs), stream, message."""
    stamp = datetime.fromtimestamp(event["timestamp"] / 1000, UTC)
    message = str(event["message"]).rstrip()
    return f"{stamp.isoformat(timespec='microseconds')} {event['logStreamName']} {message}\n"


class LogsApi:
    """CloudWatch Logs operations over the daemon's socket (unsigned: the socket is trusted)."""

    def __init__(self, client: Client) -> None:
        self.client = client

    def call(self, operation: str, body: dict[str, Any]) -> dict[str, Any]:
        headers = {
            "X-Amz-Target": TARGET + operation,
            "Content-Type": "application/x-amz-json-1.1",
        }
        resp = self.client.request("POST", "/", json.dumps(body).encode(), headers)
        data = resp.json() or {}
        if resp.status >= 400:
            raise LogsError(str(data.get("__type", resp.status)), str(data.get("message", "")))
        result: dict[str, Any] = data
        return result

    def filter_pages(self, body: dict[str, Any]) -> Iterator[dict[str, Any]]:
        """Every event FilterLogEvents finds, following nextToken."""
        request = dict(body)
        while True:
            page = self.call("FilterLogEvents", request)
            yield from page.get("events", [])
            token = page.get("nextToken")
            if not token:
                return
            request["nextToken"] = token


def group_of(client: Client, target: str) -> str:
    """The log group of a function (its LoggingConfig.LogGroup if it has one)."""
    if target.startswith("/"):
        return target
    resp = client.request("GET", f"/2015-03-31/functions/{quote(target, safe='')}/configuration")
    if resp.status == 200:
        configured = ((resp.json() or {}).get("LoggingConfig") or {}).get("LogGroup")
        if configured:
            return str(configured)
    return f"/aws/lambda/{target}"  # a deleted function's group outlives it


def run(
    client: Client,
    args: argparse.Namespace,
    *,
    out: TextIO = sys.stdout,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
) -> int:
    api = LogsApi(client)
    body: dict[str, Any] = {
        "logGroupName": group_of(client, args.function),
        "startTime": parse_since(args.since, clock()),
        "interleaved": True,
    }
    if args.filter:
        body["filterPattern"] = args.filter
    if not args.follow:
        for event in api.filter_pages(body):
            out.write(format_event(event))
        return 0
    try:
        follow(api, body, out=out, sleep=sleep)
    except KeyboardInterrupt:
        pass
    return 0


def follow(
    api: LogsApi,
    body: dict[str, Any],
    *,
    out: TextIO,
    sleep: Callable[[float], None],
    rounds: int | None = None,
) -> None:
    """Print events as they come: each poll starts at the newest timestamp printed and skips
    the events of that millisecond already printed. `rounds` bounds the polls (tests)."""
    newest: int | None = None
    seen: set[str] = set()  # event ids printed at `newest`
    waiting_said = False
    while rounds is None or rounds > 0:
        if rounds is not None:
            rounds -= 1
        request = dict(body) if newest is None else {**body, "startTime": newest}
        try:
            for event in api.filter_pages(request):
                stamp, event_id = event["timestamp"], event["eventId"]
                if stamp == newest and event_id in seen:
                    continue
                if newest is None or stamp > newest:
                    newest, seen = stamp, set()
                seen.add(event_id)
                out.write(format_event(event))
            out.flush()
        except LogsError as exc:
            if exc.error_type != "ResourceNotFoundException":
                raise
            if not waiting_said:  # a function not invoked yet has no group: wait for it
                print(f"lambdalet: waiting for log group {body['logGroupName']}", file=sys.stderr)
                waiting_said = True
        sleep(FOLLOW_POLL_S)
