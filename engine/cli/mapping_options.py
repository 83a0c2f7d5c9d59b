"""The options of ``create-event-source-mapping`` and ``update-event-source-mapping``: the AWS
CLI's, for the settings queues and streams take (the only sources lambdalet has)."""

from __future__ import annotations

import argparse
from datetime import datetime
from typing import Any

from engine.cli import args as a
from engine.cli.request import Option, in_uri, opt, strings, struct

MAPPING = in_uri("--uuid", "the mapping's UUID", member="UUID")


def _argument(parse: Any) -> Any:
    """`parse` as an argparse `type=`: its errors name the option."""

    def convert(text: str) -> Any:
        try:
            return parse(text)
        except (ValueError, OSError) as exc:
            raise argparse.ArgumentTypeError(str(exc)) from None

    convert.__name__ = parse.__name__.strip("_")
    return convert


@_argument
def _filter_criteria(text: str) -> Any:
    """JSON or file://PATH, as the AWS CLI takes it; or the shorthand
    Filters=[{Pattern='{"body": ...}'}] (each pattern is JSON text)."""
    stripped = text.strip()
    if text.startswith("file://") or stripped.startswith(("{", "[")):
        return a.parse_structured(text, {})
    value = a.parse_shorthand(stripped)
    if set(value) - {"Filters"}:
        raise ValueError(f"expected Filters=[{{Pattern=...}}], got {text!r}")
    filters = value.get("Filters", [])
    return {"Filters": filters if isinstance(filters, list) else [filters]}


@_argument
def _timestamp(text: str) -> int:
    """Epoch seconds or ISO 8601 (2024-01-31T12:00:00Z), sent as the AWS CLI sends it: whole
    epoch seconds."""
    try:
        return int(float(text))
    except ValueError:
        pass
    when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    if when.tzinfo is None:
        raise ValueError(f"{text!r} has no time zone: add Z or +00:00")
    return int(when.timestamp())


def mapping_options(*, create: bool) -> tuple[Option, ...]:
    """The settings of CreateEventSourceMapping and UpdateEventSourceMapping that apply to
    queues and streams (the only sources lambdalet has)."""
    return (
        *((
            opt("--event-source-arn", help="the queue's or stream's ARN"),
            opt("--function-name", required=True, help="the function's name or ARN"),
        ) if create else (
            MAPPING,
            opt("--function-name", help="another function (name or ARN) to invoke"),
        )),
        opt("--enabled", action=argparse.BooleanOptionalAction, help="poll (or pause)"),
        opt("--batch-size", type=int, help="records per invocation at most"),
        opt(
            "--filter-criteria", shape={}, type=_filter_criteria,
            help="""e.g. '{"Filters": [{"Pattern": "{\\"body\\": {\\"a\\": [1]}}"}]}' """
            "(JSON, file://PATH or Filters=[{Pattern=...}])",
        ),
        opt(
            "--maximum-batching-window-in-seconds", type=int,
            help="how long to gather records before invoking (0-300)",
        ),
        opt("--parallelization-factor", type=int, help="streams: batches per shard (1-10)"),
        *((
            opt("--starting-position", help="streams: TRIM_HORIZON, LATEST or AT_TIMESTAMP"),
            opt(
                "--starting-position-timestamp", type=_timestamp,
                help="streams, with AT_TIMESTAMP: epoch seconds or ISO 8601",
            ),
        ) if create else ()),
        struct(
            "--destination-config", {"OnFailure": {"Destination": a.STRING}},
            "OnFailure={Destination=arn:aws:sqs:us-east-1:000000000000:failed}",
        ),
        opt(
            "--maximum-record-age-in-seconds", type=int,
            help="streams: skip older records (-1: never, or 60-604800)",
        ),
        opt(
            "--bisect-batch-on-function-error", action=argparse.BooleanOptionalAction,
            help="streams: split a failing batch in two and retry",
        ),
        opt(
            "--maximum-retry-attempts", type=int,
            help="streams: retries of a failing batch (-1: until the records expire)",
        ),
        opt("--tumbling-window-in-seconds", type=int, help="streams: a window's length (0-900)"),
        strings("--function-response-types", "ReportBatchItemFailures, or [] for none"),
        struct("--scaling-config", {"MaximumConcurrency": a.INTEGER}, "MaximumConcurrency=5"),
        *((
            opt(
                "--tags", shape=a.STRING_MAP, type=a.structured(a.STRING_MAP),
                help="e.g. Team=a,Env=dev (shorthand, JSON or file://PATH)",
            ),
        ) if create else ()),
    )  # fmt: skip
