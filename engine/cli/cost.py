"""`lambdalet cost`: what the daemon's workload would cost on Lambda, from its usage ledger.

The daemon does the work (`GET /lambdalet/v1/usage`: the window, the sums, the prices from its
`[cost]` table); this prints its answer as a table, or as it is with `--json`.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

from engine.cli.client import Client, HttpResponse

PATH = "/lambdalet/v1/usage"
COLUMNS = (
    ("FUNCTION", "<"),
    ("QUALIFIER", "<"),
    ("ARCH", "<"),
    ("MEMORY", ">"),
    ("REQUESTS", ">"),
    ("GB-S", ">"),
    ("PROV GB-S", ">"),
    ("PROV INVOKE GB-S", ">"),
    ("SNAPSHOT GB-S", ">"),
    ("RESTORES", ">"),
    ("COST (USD)", ">"),
)


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    c = sub.add_parser(
        "cost",
        help="what this workload would cost on Lambda (requests, GB-seconds, provisioned, "
        "SnapStart)",
        parents=[common],
    )
    c.add_argument(
        "--since",
        help="start: a duration before now (30m, 24h, 7d) or an ISO 8601 time "
        "(default: the start of this month, UTC)",
    )
    c.add_argument("--until", help="end, the same way (default: now)")
    c.add_argument("--function", help="one function (NAME, NAME:QUALIFIER or its ARN)")
    c.add_argument("--json", action="store_true", help="print the daemon's JSON document")


def run(
    client: Client,
    args: argparse.Namespace,
    check: Callable[[HttpResponse], Any],
    show: Callable[[Any], None],
) -> None:
    params = {k: v for k in ("since", "until", "function") if (v := getattr(args, k)) is not None}
    path = PATH + (f"?{urlencode(params)}" if params else "")
    doc = check(client.request("GET", path))
    if args.json:
        show(doc)
    else:
        print(render(doc))


def _gbs(value: float) -> str:
    return f"{value:,.3f}"


def _usd(value: float) -> str:
    return f"{value:,.6f}"


def render(doc: dict[str, Any]) -> str:
    """The report as a plain-text table with a total line (and the free tier's credit)."""
    rows = [
        [
            f["FunctionName"],
            f["Qualifier"],
            f["Architecture"],
            f"{f['MemorySize']} MB",
            f"{f['Requests']:,}",
            _gbs(f["GBSeconds"]),
            _gbs(f["ProvisionedConcurrencyGBSeconds"]),
            _gbs(f["ProvisionedDurationGBSeconds"]),
            _gbs(f["SnapStartCacheGBSeconds"]),
            f"{f['SnapStartRestores']:,}",
            _usd(f["Cost"]["Total"]),
        ]
        for f in doc["Functions"]
    ]
    total = doc["Total"]
    free = doc["FreeTier"]
    if free["Applied"]:
        rows.append(["free tier", "", "", "", f"-{free['Requests']:,}", _gbs(-free["GBSeconds"]),
                     "", "", "", "", _usd(-free["Credit"])])  # fmt: skip
    rows.append(
        [
            "TOTAL",
            "",
            "",
            "",
            f"{total['Requests']:,}",
            _gbs(total["GBSeconds"]),
            _gbs(total["ProvisionedConcurrencyGBSeconds"]),
            _gbs(total["ProvisionedDurationGBSeconds"]),
            _gbs(total["SnapStartCacheGBSeconds"]),
            f"{sum(f['SnapStartRestores'] for f in doc['Functions']):,}",
            _usd(total["Cost"]),
        ]
    )
    header = [name for name, _ in COLUMNS]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(COLUMNS))]

    def line(cells: list[str]) -> str:
        parts = [f"{c:{a}{w}}" for c, (_, a), w in zip(cells, COLUMNS, widths, strict=True)]
        return "  ".join(parts).rstrip()

    out = [f"usage from {doc['Since']} to {doc['Until']}", line(header)]
    out += [line(r) for r in rows[:-1]]
    out.append(line(["-" * w for w in widths]))
    out.append(line(rows[-1]))
    if free["Enabled"] and not free["Applied"]:
        out.append(f"free tier: {free.get('Reason', 'not applied')}")
    return "\n".join(out)
