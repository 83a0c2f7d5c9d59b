"""The scale benchmark's figure: cold-start CDFs (spaced, burst, concurrent) against bare
python and bwrap, and warm throughput against clients. A CSV of the same data is written
beside it, and is all there is when matplotlib (the `bench` extra) is not installed."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

from bench.scale_report import Measured

CDF_SERIES = {
    "python_bare": "python -I -S -c pass",
    "bwrap_python": "bwrap + python",
    "cold_spaced": "cold, spaced out",
    "cold_burst": "cold, burst",
    "cold_concurrent": "cold, concurrent clients",
    "cold_fill": "cold, filling N",
}


def write_csv(m: Measured, document: dict[str, Any], path: Path) -> None:
    with path.open("w", newline="") as f:
        out = csv.writer(f)
        out.writerow(["series", "x", "value"])
        for key in CDF_SERIES:
            for i, v in enumerate(sorted(m.samples.get(key, []))):
                out.writerow([key, i, round(v, 4)])
        for series, by_n in document["series"]["throughput_by_clients"].items():
            for n, rate in by_n.items():
                out.writerow([f"{series}_ops_per_s", n, round(rate, 1)])
    print(f"wrote {path}")


def plot(m: Measured, document: dict[str, Any], path: Path) -> None:
    write_csv(m, document, path.with_suffix(".csv"))
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        print("matplotlib not installed (pip install '.[bench]'): only the CSV was written")
        return
    fig, (cdf, tput) = plt.subplots(1, 2, figsize=(13, 5))
    for key, label in CDF_SERIES.items():
        values = sorted(m.samples.get(key, []))
        if values:
            ys = [(i + 1) / len(values) for i in range(len(values))]
            cdf.step(values, ys, where="post", label=f"{label} (n={len(values)})")
    cdf.set_xscale("log")
    cdf.set_xlabel("ms (log)")
    cdf.set_ylabel("fraction of starts")
    cdf.set_title("cold starts against bare python and bwrap")
    cdf.grid(True, which="both", alpha=0.3)
    cdf.legend(fontsize=8, loc="lower right")
    by_clients = document["series"]["throughput_by_clients"]
    for series, by_n in by_clients.items():
        if by_n:
            ns = sorted(by_n)
            tput.plot(ns, [by_n[n] for n in ns], marker="o", label=f"{series} (API)")
    for key, label in (("url_wrk", "function URL, wrk"), ("url_forbidden_wrk", "URL 403, wrk")):
        if (w := document["series"].get(key)) is not None:
            conns = document["options"]["wrk_connections"]
            tput.scatter([conns], [w["ops_per_s"]], marker="x", label=f"{label} -c {conns}")
    tput.set_xlabel("clients")
    tput.set_ylabel("ops/s")
    tput.set_ylim(bottom=0)
    tput.set_title("warm throughput against clients")
    tput.grid(True, alpha=0.3)
    tput.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    print(f"wrote {path}")
