"""`lambdalet top`'s view, pure: a `/metrics` text read into per-function figures, two such
readings turned into rows (rates and duration percentiles over the time between them), and
rows laid out as a table that fits the terminal's width."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime

from prometheus_client.parser import text_string_to_metric_families

from engine.metrics import names as n
from engine.metrics.histogram import quantile

MIB = 1024 * 1024


@dataclass(slots=True)
class FunctionFigures:
    """One function's numbers in one reading, summed over its qualifiers."""

    invocations: float = 0.0
    errors: float = 0.0
    throttles: float = 0.0
    duration: dict[float, float] = field(default_factory=dict)  # le -> cumulative count
    concurrency: float = 0.0
    environments: dict[str, float] = field(default_factory=dict)  # by state
    provisioned: float = 0.0
    memory_used_bytes: float = 0.0  # the largest of its qualifiers' last invokes
    memory_size_bytes: float = 0.0


@dataclass(slots=True)
class Reading:
    functions: dict[str, FunctionFigures] = field(default_factory=dict)
    environments: dict[str, float] = field(default_factory=dict)  # host-wide, by state
    stems_ready: float = 0.0
    uids_available: float = 0.0
    loop_lag: dict[float, float] = field(default_factory=dict)  # le -> cumulative count


def parse(text: str) -> Reading:
    """The figures `top` shows, from the exposition text of ``GET /metrics``."""
    reading = Reading()
    figures: defaultdict[str, FunctionFigures] = defaultdict(FunctionFigures)
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            name, labels, value = sample.name, sample.labels, sample.value
            function = labels.get(n.FUNCTION)
            if function is None:
                _host(reading, name, labels, value)
                continue
            f = figures[function]
            if name == n.INVOCATIONS:
                f.invocations += value
            elif name == n.ERRORS:
                f.errors += value
            elif name == n.THROTTLES:
                f.throttles += value
            elif name == n.DURATION + "_bucket":
                le = float(labels["le"])
                f.duration[le] = f.duration.get(le, 0.0) + value
            elif name == n.CONCURRENT:
                f.concurrency += value
            elif name == n.ENVIRONMENTS:
                state = labels.get("state", "")
                f.environments[state] = f.environments.get(state, 0.0) + value
                reading.environments[state] = reading.environments.get(state, 0.0) + value
            elif name == n.PROVISIONED_ENVIRONMENTS:
                f.provisioned += value
            elif name == n.MAX_MEMORY_USED:
                f.memory_used_bytes = max(f.memory_used_bytes, value)
            elif name == n.MEMORY_SIZE:
                f.memory_size_bytes = max(f.memory_size_bytes, value)
    reading.functions = dict(figures)
    return reading


def _host(reading: Reading, name: str, labels: dict[str, str], value: float) -> None:
    if name == n.STEMS_READY:
        reading.stems_ready = value
    elif name == n.UIDS_AVAILABLE:
        reading.uids_available = value
    elif name == n.LOOP_LAG + "_bucket":
        reading.loop_lag[float(labels["le"])] = value


@dataclass(frozen=True, slots=True, kw_only=True)
class Row:
    function: str
    invocations_per_s: float | None  # None: no earlier reading to compare with
    errors_per_s: float | None
    throttles_per_s: float | None
    invocations: float
    errors: float
    p50_s: float | None  # None: no invoke between the readings
    p99_s: float | None
    concurrency: float
    warm: float  # idle (not frozen) and busy environments
    frozen: float
    provisioned: float
    memory_used_bytes: float
    memory_size_bytes: float


def _delta_buckets(
    now: dict[float, float], before: dict[float, float] | None
) -> list[tuple[float, float]]:
    return sorted((le, count - (before or {}).get(le, 0.0)) for le, count in now.items())


def rows(before: Reading | None, now: Reading, elapsed_s: float) -> list[Row]:
    """One row per function, busiest (invocations per second) first. Without `before`, rates
    are unknown and percentiles cover everything since the daemon started."""
    out: list[Row] = []
    for function, f in now.functions.items():
        b = before.functions.get(function, FunctionFigures()) if before is not None else None

        def rate(current: float, earlier: float | None) -> float | None:
            if earlier is None or elapsed_s <= 0:
                return None
            return max(current - earlier, 0.0) / elapsed_s

        buckets = _delta_buckets(f.duration, b.duration if b is not None else None)
        states = f.environments
        out.append(
            Row(
                function=function,
                invocations_per_s=rate(f.invocations, b.invocations if b else None),
                errors_per_s=rate(f.errors, b.errors if b else None),
                throttles_per_s=rate(f.throttles, b.throttles if b else None),
                invocations=f.invocations,
                errors=f.errors,
                p50_s=quantile(0.5, buckets),
                p99_s=quantile(0.99, buckets),
                concurrency=f.concurrency,
                warm=states.get(n.STATE_IDLE, 0.0) + states.get(n.STATE_BUSY, 0.0),
                frozen=states.get(n.STATE_FROZEN, 0.0),
                provisioned=f.provisioned,
                memory_used_bytes=f.memory_used_bytes,
                memory_size_bytes=f.memory_size_bytes,
            )
        )
    out.sort(key=lambda r: (-(r.invocations_per_s or 0.0), -r.invocations, r.function))
    return out


# -- layout -------------------------------------------------------------------------------------


def _number(value: float | None, digits: int = 0) -> str:
    if value is None:
        return "-"
    if digits == 0 or value >= 1000:
        return f"{value:,.0f}"
    return f"{value:.{digits}f}"


def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    ms = seconds * 1000
    return f"{ms:.2f}" if ms < 10 else f"{ms:,.0f}" if ms >= 100 else f"{ms:.1f}"


def _memory(row: Row) -> str:
    if not row.memory_size_bytes:
        return "-"
    used = math.ceil(row.memory_used_bytes / MIB)
    return f"{used}/{row.memory_size_bytes / MIB:.0f}"


# (heading, width, value of a row, priority: the lowest goes first when the terminal is narrow)
COLUMNS: tuple[tuple[str, int, str, int], ...] = (
    ("INV/S", 8, "inv_s", 9),
    ("ERR/S", 7, "err_s", 8),
    ("THR/S", 7, "thr_s", 3),
    ("INVOKES", 9, "invokes", 4),
    ("ERRORS", 8, "errors", 5),
    ("P50(ms)", 8, "p50", 7),
    ("P99(ms)", 8, "p99", 7),
    ("CONC", 5, "conc", 6),
    ("WARM", 5, "warm", 6),
    ("FROZEN", 7, "frozen", 2),
    ("PROV", 5, "prov", 1),
    ("MEM(MB)", 10, "mem", 4),
)
NAME_MIN = 12


def _cells(row: Row) -> dict[str, str]:
    return {
        "inv_s": _number(row.invocations_per_s, 1),
        "err_s": _number(row.errors_per_s, 1),
        "thr_s": _number(row.throttles_per_s, 1),
        "invokes": _number(row.invocations),
        "errors": _number(row.errors),
        "p50": _ms(row.p50_s),
        "p99": _ms(row.p99_s),
        "conc": _number(row.concurrency),
        "warm": _number(row.warm),
        "frozen": _number(row.frozen),
        "prov": _number(row.provisioned),
        "mem": _memory(row),
    }


def table(table_rows: list[Row], width: int) -> list[str]:
    """The table's heading and rows, each at most `width` characters: the function column
    takes what the others leave (at least NAME_MIN), the least useful columns go first when
    there is too little, and longer names are cut with '~'."""
    columns = list(COLUMNS)
    while columns and NAME_MIN + sum(c[1] + 1 for c in columns) > width:
        columns.remove(min(columns, key=lambda c: c[3]))
    room = width - sum(c[1] + 1 for c in columns)
    longest = max((len(r.function) for r in table_rows), default=8)
    name_width = max(min(room, max(longest, len("FUNCTION"))), 1)

    def line(name: str, cells: list[str]) -> str:
        if len(name) > name_width:
            name = name[: name_width - 1] + "~"
        text = name.ljust(name_width) + "".join(
            " " + cell.rjust(c[1]) for cell, c in zip(cells, columns, strict=True)
        )
        return text[:width]

    out = [line("FUNCTION", [c[0] for c in columns])]
    for row in table_rows:
        cells = _cells(row)
        out.append(line(row.function, [cells[c[2]] for c in columns]))
    return out


def summary(now: Reading, at: datetime, interval_s: float) -> list[str]:
    envs = now.environments
    total = sum(envs.values())
    states = ", ".join(
        f"{state} {envs.get(state, 0.0):.0f}"
        for state in (n.STATE_BUSY, n.STATE_IDLE, n.STATE_FROZEN, n.STATE_INITIALIZING)
    )
    lag = quantile(0.99, sorted(now.loop_lag.items()))
    return [
        f"lambdalet top  {at:%H:%M:%S}  every {interval_s:g} s  (q quits)",
        f"environments {total:.0f} ({states})  stems ready {now.stems_ready:.0f}"
        f"  uids left {now.uids_available:.0f}  loop lag p99 {_ms(lag)} ms",
    ]


def frame(
    before: Reading | None,
    now: Reading,
    *,
    elapsed_s: float,
    at: datetime,
    interval_s: float,
    width: int,
    height: int | None = None,
) -> list[str]:
    """The whole screen: the summary, a blank line, the table (cut to `height` lines)."""
    lines = [s[:width] for s in summary(now, at, interval_s)]
    lines.append("")
    lines += table(rows(before, now, elapsed_s), width)
    return lines if height is None else lines[:height]
