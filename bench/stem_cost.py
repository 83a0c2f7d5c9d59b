"""What a stem costs and what it saves (issue 15), two daemons in one run (as root).

``python -m bench.stem_cost [--runs 30] [--stems 32]``. Saves: spaced-out cold starts of
distinct functions with stems off (``prewarm = 0``: every sandbox built on demand) against
stems on (``prewarm = 2``), ratio of the p50s. Costs: host memory (MemAvailable) of a daemon
holding ``--stems`` ready stems against one holding none, per stem, and what the stems' own
cgroups are charged; and the CPU the stems took to make (the sandbox groups' cpuacct).

Resource handling: each daemon is stopped (SIGTERM, SIGKILL after a bound) however its part
ends; leftovers are reported and the temporary directory kept for a look.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from typing import Any

from bench.coldstart import FUNCTIONS, REQUEST_TIMEOUT_S, BenchDaemon, _check, create_function
from bench.host import BenchError, cpu_usage_ns, find_tagged_cgroups, network_toml
from bench.scale_host import cgroup_memory_kb, mem_available_kb
from bench.session import open_session, run_measured, write_results
from bench.stats import summarize
from engine.cli.client import Client

SPACING_S = 0.3  # between cold starts: the stems are back before the next one
SETTLE_S = 3.0  # stems made and the host's memory figures steady


def _daemon(base: Path, tag: str, name: str, sandbox_toml: str) -> BenchDaemon:
    (base / name).mkdir()
    return BenchDaemon(
        base=base / name,
        cgroup_parent=f"{tag}-{name}",
        extra_toml=sandbox_toml + network_toml(f"{tag}-{name}", enabled=True),
    )


def _pool(client: Client) -> dict[str, Any]:
    resp = client.request("GET", "/lambdalet/v1/pool")
    _check(resp, "GET /lambdalet/v1/pool")
    doc: dict[str, Any] = json.loads(resp.body)
    return doc


def spaced_cold(daemon: BenchDaemon, runs: int) -> dict[str, Any]:
    client = Client(daemon.socket_path, timeout_s=REQUEST_TIMEOUT_S)
    try:
        names = [f"sc-{i}" for i in range(runs + 3)]
        for name in names:
            create_function(client, name=name)
        time.sleep(SETTLE_S)
        samples = []
        for i, name in enumerate(names):
            started = time.perf_counter_ns()
            _check(client.request("POST", f"{FUNCTIONS}/{name}/invocations", b"{}"), "Invoke")
            if i >= 3:  # the first ones warm the daemon's caches
                samples.append((time.perf_counter_ns() - started) / 1e6)
            time.sleep(SPACING_S)
        return {"samples_ms": samples, "pool": _pool(client)}
    finally:
        client.close()


def held_stems(daemon: BenchDaemon, stems: int) -> dict[str, float]:
    """The host's memory with the daemon holding its ready stems (read after they settle)."""
    client = Client(daemon.socket_path, timeout_s=REQUEST_TIMEOUT_S)
    try:
        deadline = time.monotonic() + 60
        while _pool(client)["Stems"]["Ready"] < stems:
            if time.monotonic() > deadline:
                raise BenchError(f"{stems} stems not ready in 60 s")
            time.sleep(0.1)
        time.sleep(SETTLE_S)
        parents = find_tagged_cgroups(daemon.cgroup_parent)
        return {
            "mem_available_kb": float(mem_available_kb()),
            "stems_cgroup_kb": float(cgroup_memory_kb(parents)),
            "stems_cpu_ms": (cpu_usage_ns(parents) or 0) / 1e6,
        }
    finally:
        client.close()


def measure(base: Path, tag: str, args: argparse.Namespace) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, toml in (("off", "prewarm = 0\n"), ("on", "prewarm = 2\n")):
        daemon = _daemon(base, tag, f"cold-{name}", toml)
        daemon.start()
        try:
            out[f"cold_{name}"] = spaced_cold(daemon, args.runs)
        finally:
            daemon.stop()
    memory: dict[str, dict[str, float]] = {}
    for name, count in (("none", 0), ("held", args.stems)):
        before = mem_available_kb()
        daemon = _daemon(
            base, tag, f"mem-{name}", f"prewarm = {count}\nprewarm_max = {max(count, 16)}\n"
        )
        daemon.start()
        try:
            memory[name] = held_stems(daemon, count)
            memory[name]["daemon_start_delta_kb"] = before - memory[name]["mem_available_kb"]
        finally:
            daemon.stop()
        time.sleep(SETTLE_S)
    out["memory"] = memory
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stem_cost", description=__doc__)
    p.add_argument("--runs", type=int, default=30, help="spaced cold starts per daemon (30)")
    p.add_argument("--stems", type=int, default=32, help="ready stems held (32, at most 64)")
    p.add_argument("--json", type=Path, help="write results here (default bench/results/...)")
    args = p.parse_args(argv)
    if not 5 <= args.runs <= 200 or not 1 <= args.stems <= 64:
        print("--runs 5..200, --stems 1..64", file=__import__("sys").stderr)
        return 2
    session = open_session("stem_cost")
    if session is None:
        return 2
    result = run_measured(session, lambda base, tag: measure(base, tag, args))
    if result is None:
        return 1
    off = summarize(result["cold_off"]["samples_ms"])
    on = summarize(result["cold_on"]["samples_ms"])
    mem = result["memory"]
    per_stem_kb = (mem["held"]["daemon_start_delta_kb"] - mem["none"]["daemon_start_delta_kb"]) / (
        args.stems
    )
    figures = {
        "cold_p50_stems_off_ms": off["p50_ms"],
        "cold_p50_stems_on_ms": on["p50_ms"],
        "stems_on_over_off_p50": on["p50_ms"] / off["p50_ms"],
        "saved_per_cold_start_ms": off["p50_ms"] - on["p50_ms"],
        "host_kb_per_stem": per_stem_kb,
        "cgroup_kb_per_stem": mem["held"]["stems_cgroup_kb"] / args.stems,
        "cpu_ms_per_stem": mem["held"]["stems_cpu_ms"] / args.stems,
    }
    for key, value in figures.items():
        print(f"{key:32} {value:10.3f}")
    write_results(session, args.json, {"figures": figures, "raw": result})
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
