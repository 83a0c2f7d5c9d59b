"""Pure parts of the benchmark: percentiles, REPORT-line parsing, ratios, the table."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

WARM_TARGET_MS = 1.0


def percentile(samples: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default); q in [0, 100]."""
    if not samples:
        raise ValueError("no samples")
    ordered = sorted(samples)
    pos = (len(ordered) - 1) * q / 100
    lo = int(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def summarize(samples_ms: Sequence[float]) -> dict[str, float]:
    return {
        "n": len(samples_ms),
        "p50_ms": percentile(samples_ms, 50),
        "p90_ms": percentile(samples_ms, 90),
        "p99_ms": percentile(samples_ms, 99),
        "mean_ms": sum(samples_ms) / len(samples_ms),
        "min_ms": min(samples_ms),
        "max_ms": max(samples_ms),
    }


_INIT_RE = re.compile(r"\tInit Duration: ([0-9.]+) ms")
_RESTORE_RE = re.compile(r"\tRestore Duration: ([0-9.]+) ms")
_DURATION_RE = re.compile(r"\tDuration: ([0-9.]+) ms")


@dataclass(frozen=True, slots=True, kw_only=True)
class ReportTimes:
    duration_ms: float
    init_duration_ms: float | None  # present only on an environment's first invoke
    restore_duration_ms: float | None = None  # instead, for an environment restored (SnapStart)


def parse_report(log_tail: str) -> ReportTimes | None:
    """The last REPORT line of an ``X-Amz-Log-Result`` tail, or None if there is none."""
    for line in reversed(log_tail.splitlines()):
        if line.startswith("REPORT "):
            duration = _DURATION_RE.search(line)
            if duration is None:
                return None
            init = _INIT_RE.search(line)
            restore = _RESTORE_RE.search(line)
            return ReportTimes(
                duration_ms=float(duration.group(1)),
                init_duration_ms=float(init.group(1)) if init else None,
                restore_duration_ms=float(restore.group(1)) if restore else None,
            )
    return None


@dataclass(frozen=True, slots=True)
class Row:
    key: str
    label: str


ROWS = (
    Row("python_bare", "python -I -S -c pass (posix_spawn)"),
    Row("bwrap_python", "bwrap + python -I -S -c pass"),
    Row("cold", "cold invoke, end to end"),
    Row("cold_init", "  REPORT Init Duration"),
    Row("cold_duration", "  REPORT Duration"),
    Row("cold_outside", "  end to end - Init - Duration"),
    Row("teardown", "teardown after update (polled)"),
    Row("refill", "stem refill after cold (polled)"),
    Row("warm", "warm invoke, end to end"),
    Row("warm_duration", "  REPORT Duration"),
    Row("config_get", "GET .../configuration"),
)


def compute_ratios(stats: dict[str, dict[str, float]]) -> dict[str, float]:
    def p50(key: str) -> float | None:
        return stats[key]["p50_ms"] if key in stats else None

    ratios: dict[str, float] = {}
    pairs = {
        "cold_p50_over_python_bare_p50": ("cold", "python_bare"),
        "cold_p50_over_bwrap_p50": ("cold", "bwrap_python"),
        "warm_p50_over_config_get_p50": ("warm", "config_get"),
        "init_p50_over_cold_p50": ("cold_init", "cold"),
    }
    for name, (num, den) in pairs.items():
        a, b = p50(num), p50(den)
        if a is not None and b:
            ratios[name] = a / b
    if (warm := p50("warm")) is not None:
        ratios["warm_p50_ms"] = warm
    return ratios


def render_table(stats: dict[str, dict[str, float]], ratios: dict[str, float]) -> str:
    head = f"{'series':<38} {'n':>4} {'p50':>8} {'p90':>8} {'p99':>8} {'mean':>8} {'max':>8}"
    lines = [head + "   (ms)", "-" * len(head)]
    for row in ROWS:
        s = stats.get(row.key)
        if s is None:
            continue
        cells = " ".join(
            f"{s[k]:8.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "mean_ms", "max_ms")
        )
        lines.append(f"{row.label:<38} {int(s['n']):>4} {cells}")
    lines.append("")
    labels = {
        "cold_p50_over_python_bare_p50": "cold p50 / python-bare p50",
        "cold_p50_over_bwrap_p50": "cold p50 / bwrap p50",
        "init_p50_over_cold_p50": "Init Duration p50 / cold p50",
        "warm_p50_over_config_get_p50": "warm p50 / config-GET p50",
    }
    for key, label in labels.items():
        if key in ratios:
            lines.append(f"{label:<38} {ratios[key]:8.2f}x")
    if "warm_p50_ms" in ratios:
        verdict = "ok" if ratios["warm_p50_ms"] <= WARM_TARGET_MS else "ABOVE TARGET"
        lines.append(
            f"{'warm p50':<38} {ratios['warm_p50_ms']:8.3f} ms "
            f"(target <= {WARM_TARGET_MS:g} ms: {verdict})"
        )
    return "\n".join(lines)
