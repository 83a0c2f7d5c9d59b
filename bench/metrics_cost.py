"""What the Prometheus metrics cost on the warm invoke path: two daemons of our own, one with
``[metrics] enabled = true`` (the default) and one with it off, each with one warm function;
rounds of back-to-back warm invokes from one client, the two daemons alternating (A B, B A, ...)
so that the host's noise falls on both. Per round: invokes per second, p50 latency, and the
daemon's CPU time per invoke (its utime + stime). Printed as the median of the per-round
ratios on / off; JSON in bench/results/.

    /opt/lambdalet/venv/bin/python -m bench.metrics_cost --rounds 11 --invokes 3000
    /opt/lambdalet/venv/bin/python -m bench.metrics_cost --control ...   # A/A: the noise floor

Cleanup: both daemons are stopped (SIGTERM: they tear their sandboxes down) however it ends.
"""

from __future__ import annotations

import argparse
import base64
import io
import json
import os
import statistics
import tempfile
import time
import zipfile
from pathlib import Path
from typing import Any

from bench.coldstart import RESULTS_DIR, BenchDaemon
from bench.host import host_facts, loadavg, network_toml
from bench.stats import percentile
from engine.cli.client import Client

FUNCTIONS = "/2015-03-31/functions"
HANDLER = "def handler(event, context):\n    return event\n"
CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLOCK_TICKS  # utime + stime


def zipped(source: str) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("lambda_function.py", source)
    return base64.b64encode(buf.getvalue()).decode()


def deploy(client: Client) -> str:
    name = "metrics-cost"
    body = {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": "arn:aws:iam::000000000000:role/bench",
        "Handler": "lambda_function.handler",
        "Code": {"ZipFile": zipped(HANDLER)},
    }
    resp = client.json_request("POST", FUNCTIONS, body)
    if resp.status != 201:
        raise RuntimeError(f"CreateFunction: {resp.status} {resp.body[:300]!r}")
    return f"{FUNCTIONS}/{name}/invocations"


def round_of(client: Client, path: str, pid: int, invokes: int) -> dict[str, float]:
    latencies: list[float] = []
    cpu_before = cpu_s(pid)
    started = time.perf_counter()
    for _ in range(invokes):
        t = time.perf_counter()
        resp = client.request("POST", path, b'{"n": 1}')
        latencies.append(time.perf_counter() - t)
        if resp.status != 200:
            raise RuntimeError(f"invoke: {resp.status} {resp.body[:300]!r}")
    elapsed = time.perf_counter() - started
    return {
        "per_s": invokes / elapsed,
        "p50_ms": percentile(latencies, 50) * 1000,
        "cpu_us": (cpu_s(pid) - cpu_before) / invokes * 1e6,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.metrics_cost")
    p.add_argument("--rounds", type=int, default=7)
    p.add_argument("--invokes", type=int, default=1000, help="warm invokes per round")
    p.add_argument(
        "--control", action="store_true", help="A/A: metrics off in both daemons (the noise floor)"
    )
    args = p.parse_args(argv)
    tag = f"lambdalet-bench-metrics-{os.getpid()}"
    with tempfile.TemporaryDirectory(prefix="lambdalet-metrics-cost-") as tmp:
        daemons = {}
        for switch in ("on", "off"):
            base = Path(tmp) / switch
            base.mkdir()
            extra = network_toml(f"{tag}-{switch}", enabled=False)
            enabled = switch == "on" and not args.control
            extra += f"\n[metrics]\nenabled = {'true' if enabled else 'false'}\n"
            daemons[switch] = BenchDaemon(base, f"{tag}-{switch}", extra_toml=extra)
        clients: dict[str, Client] = {}
        try:
            paths = {}
            for switch, daemon in daemons.items():
                daemon.start()
                clients[switch] = Client(daemon.socket_path, timeout_s=60)
                paths[switch] = deploy(clients[switch])
                round_of(clients[switch], paths[switch], _pid(daemon), 200)  # warm up
            rounds: dict[str, list[dict[str, float]]] = {"on": [], "off": []}
            for i in range(args.rounds):
                for switch in ("on", "off") if i % 2 == 0 else ("off", "on"):
                    pid = _pid(daemons[switch])
                    rounds[switch].append(
                        round_of(clients[switch], paths[switch], pid, args.invokes)
                    )
        finally:
            for client in clients.values():
                client.close()
            for daemon in daemons.values():
                daemon.stop()
    ratios = {
        key: statistics.median(
            on[key] / off[key] for on, off in zip(rounds["on"], rounds["off"], strict=True)
        )
        for key in ("per_s", "p50_ms", "cpu_us")
    }
    medians = {
        switch: {
            key: statistics.median(r[key] for r in rs) for key in ("per_s", "p50_ms", "cpu_us")
        }
        for switch, rs in rounds.items()
    }
    print(f"{args.rounds} rounds of {args.invokes} warm invokes, one client, alternating")
    if args.control:
        print("control run: metrics are off in both daemons")
    print(f"load average {loadavg()}")
    print(f"{'':14}{'invokes/s':>12}{'p50 ms':>10}{'daemon CPU us/invoke':>24}")
    for switch in ("on", "off"):
        m = medians[switch]
        label = f"{'A' if switch == 'on' else 'B'}: {'off' if args.control else switch}"
        print(f"{label:<14}{m['per_s']:>12.0f}{m['p50_ms']:>10.3f}{m['cpu_us']:>24.0f}")
    print(
        f"median ratio A/B: throughput {ratios['per_s']:.3f}, p50 {ratios['p50_ms']:.3f}, "
        f"daemon CPU {ratios['cpu_us']:.3f}"
    )
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    out: dict[str, Any] = {
        "host": host_facts(),
        "rounds": rounds,
        "medians": medians,
        "ratios": ratios,
    }
    path = RESULTS_DIR / f"metrics_cost-{time.strftime('%Y%m%d-%H%M%S')}.json"
    path.write_text(json.dumps(out, indent=2))
    print(f"written to {path}")
    return 0


def _pid(daemon: BenchDaemon) -> int:
    assert daemon.process is not None
    return daemon.process.pid


if __name__ == "__main__":
    raise SystemExit(main())
