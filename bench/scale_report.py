"""The scale benchmark's table: issue 15's rows, each figure beside its same-run baseline,
as ratios; pure code over what the phases measured."""

from __future__ import annotations

import argparse
from typing import Any, Protocol

from bench.async_invoke import _median
from bench.stats import summarize

SAMPLES_KEPT = (
    "python_bare",
    "bwrap_python",
    "cold_spaced",
    "cold_burst",
    "cold_concurrent",
    "cold_fill",
    "warm_1",
    "config_1",
    "echo_1",
)


class Measured(Protocol):
    samples: dict[str, list[float]]
    figures: dict[str, Any]
    anomalies: list[str]
    clients: int


def _wrk_median(runs: list[dict[str, float]], key: str) -> float:
    return _median([r[key] for r in runs if key in r])


def compute(m: Measured, client_counts: list[int]) -> tuple[dict[str, Any], dict[str, float]]:
    """Series summaries (with median rates) and the ratios."""
    f = m.figures
    series: dict[str, Any] = {k: summarize(v) for k, v in m.samples.items() if v}
    for key in ("warm_1", "config_1", "echo_1"):
        if f"{key}_rates" in f:
            series[key]["ops_per_s_median"] = _median(f[f"{key}_rates"])
    throughput = {
        s: {n: _median(f[f"{s}_{n}c_rates"]) for n in client_counts if f"{s}_{n}c_rates" in f}
        for s in ("invoke", "get-config")
    }
    series["throughput_by_clients"] = throughput
    for key in ("url", "url_forbidden"):
        if runs := f.get(f"{key}_wrk"):
            series[f"{key}_wrk"] = {
                k: _wrk_median(runs, k) for k in ("ops_per_s", "p50_ms", "p90_ms", "p99_ms")
            }
    r: dict[str, float] = {}
    spaced = series.get("cold_spaced", {}).get("p50_ms")
    if spaced:
        if "cold_burst" in series:
            f["cold_burst_rate"] = series["cold_burst"]["n"] / f["burst_s"]
            r["burst_p90/spaced_p50"] = series["cold_burst"]["p90_ms"] / spaced
            r["burst_p50/spaced_p50"] = series["cold_burst"]["p50_ms"] / spaced
        if "cold_concurrent" in series:
            r["concurrent_p50/spaced_p50"] = series["cold_concurrent"]["p50_ms"] / spaced
            r["concurrent_p99/spaced_p50"] = series["cold_concurrent"]["p99_ms"] / spaced
            # against cold starts run one after another, each taking the spaced-out p50
            r["concurrent_rate/serial_spaced_rate"] = f["cold_concurrent_rate"] * spaced / 1000
        if "python_bare" in series:
            r["spaced_p50/python_bare_p50"] = spaced / series["python_bare"]["p50_ms"]
        if "bwrap_python" in series:
            r["spaced_p50/bwrap_p50"] = spaced / series["bwrap_python"]["p50_ms"]
    if "warm_1" in series and "echo_1" in series:
        warm, echo = series["warm_1"], series["echo_1"]
        r["warm_p50/echo_p50"] = warm["p50_ms"] / echo["p50_ms"]
        r["warm_p50-echo_p50_ms"] = warm["p50_ms"] - echo["p50_ms"]
        r["warm_rate/echo_rate"] = warm["ops_per_s_median"] / echo["ops_per_s_median"]
    if "warm_1" in series and "config_1" in series:
        r["warm_p50/config_p50"] = series["warm_1"]["p50_ms"] / series["config_1"]["p50_ms"]
    n = m.clients
    if n in throughput["invoke"] and n in throughput["get-config"]:
        r[f"invoke_{n}c_rate/get_config_{n}c_rate"] = (
            throughput["invoke"][n] / throughput["get-config"][n]
        )
    if "url_wrk" in series:
        url = series["url_wrk"]["ops_per_s"]
        if "url_forbidden_wrk" in series:
            r["url_wrk_rate/forbidden_wrk_rate"] = url / series["url_forbidden_wrk"]["ops_per_s"]
        if n in throughput["get-config"]:
            r[f"url_wrk_rate/get_config_{n}c_rate"] = url / throughput["get-config"][n]
    if "fill_rate" in f and "cold_concurrent_rate" in f:
        r["fill_rate/concurrent_cold_rate"] = f["fill_rate"] / f["cold_concurrent_rate"]
    return series, r


def render(m: Measured, series: dict[str, Any], ratios: dict[str, float]) -> str:
    f = m.figures
    lines = [f"{'series':<34} {'n':>6} {'ops/s':>8} {'p50':>8} {'p90':>8} {'p99':>8} {'max':>8}"]
    labels = {
        "python_bare": "python -I -S -c pass",
        "bwrap_python": "bwrap + python",
        "cold_spaced": "cold, spaced out (baseline)",
        "cold_burst": "cold, burst of distinct functions",
        "cold_concurrent": f"cold, {m.clients} clients",
        "cold_fill": f"cold, filling N, {m.clients} clients",
        "warm_1": "warm invoke, 1 client",
        "config_1": "GetFunctionConfiguration, 1 client",
        "echo_1": "raw HTTP echo, 1 client",
        f"invoke_{m.clients}c": f"warm invoke, {m.clients} clients",
        f"get-config_{m.clients}c": f"GetFunctionConfiguration, {m.clients} cl.",
    }
    rates: dict[str, float | None] = {
        "cold_burst": f.get("cold_burst_rate"),
        "cold_concurrent": f.get("cold_concurrent_rate"),
        "cold_fill": f.get("fill_rate"),
        **{
            k: series[k].get("ops_per_s_median")
            for k in ("warm_1", "config_1", "echo_1")
            if k in series
        },
        **{
            f"{s}_{n}c": rate
            for s, by_n in series["throughput_by_clients"].items()
            for n, rate in by_n.items()
        },
    }
    for key, label in labels.items():
        if (s := series.get(key)) is None:
            continue
        rate = rates.get(key)
        cells = " ".join(f"{s[k]:8.2f}" for k in ("p50_ms", "p90_ms", "p99_ms", "max_ms"))
        lines.append(f"{label:<34} {int(s['n']):>6} {rate or 0:8.0f} {cells}")
    for key, label in (
        ("url_wrk", "function URL, wrk"),
        ("url_forbidden_wrk", "URL listener 403, wrk"),
    ):
        if (w := series.get(key)) is not None:
            lines.append(
                f"{label:<34} {'':>6} {w['ops_per_s']:8.0f} {w['p50_ms']:8.2f} "
                f"{w['p90_ms']:8.2f} {w['p99_ms']:8.2f}"
            )
    lines.append("throughput vs clients (ops/s): " + str(series["throughput_by_clients"]))
    if d := f.get("density"):
        lines.append(
            f"density: {d['environments']} idle environments: "
            f"host {d['host_kb_per_env'] / 1024:.2f} MB each (MemAvailable), "
            f"daemon RSS {d['daemon_kb_per_env']:.0f} KB each, "
            f"cgroups' memory.current {d['cgroup_kb_per_env'] / 1024:.2f} MB each"
        )
    if c := f.get("churn"):
        lines.append(
            f"churn: {c['cycles']} create+invoke+delete in {c['seconds']:.1f} s "
            f"({c['cycles_per_s']:.1f}/s); before -> after: {c['diff']}"
        )
    lines.append("")
    lines += [f"{name:<40} {value:10.3f}" for name, value in ratios.items()]
    lines += [f"anomaly: {a}" for a in m.anomalies]
    return "\n".join(lines)


def report(m: Measured, args: argparse.Namespace, phases: list[str]) -> dict[str, Any]:
    series, ratios = compute(m, args.client_counts)
    print()
    print(render(m, series, ratios))
    options = {k: v for k, v in vars(args).items() if k not in ("json", "png")}
    return {
        "phases": phases,
        "options": options,
        "series": series,
        "ratios": ratios,
        "figures": m.figures,
        "anomalies": m.anomalies,
        "samples_ms": {
            k: [round(v, 4) for v in m.samples[k]] for k in SAMPLES_KEPT if k in m.samples
        },
    }
