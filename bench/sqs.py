"""SQS throughput and round trips through the unix socket, against a Lambda API call (as root).

``python -m bench.sqs --clients 4 --seconds 3 --rounds 3``. One daemon of our own; N client
processes, each with one keep-alive connection (``engine.cli.client.Client``), run for a fixed
time doing one of, in rotating order each round:

- ``GetFunctionConfiguration`` of an existing function (the baseline: one cheap API call);
- ``SendMessage`` of a small message with one attribute (acknowledged = committed to disk);
- a round trip: ``SendMessage``, ``ReceiveMessage`` (WaitTimeSeconds=1), ``DeleteMessage``.

Reported: operations per second and per-operation latency of each series, and the ratios
send/s ÷ get-config/s and round-trip latency ÷ get-config latency — both sides measured in the
same run (the machine is noisy: no absolute thresholds).

Resource handling: the daemon is stopped with SIGTERM (SIGKILL after a bound); client
processes are joined; tagged cgroups, processes and mounts left behind are reported and the
temporary directory kept for a look.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from bench import load
from bench.coldstart import REQUEST_TIMEOUT_S, BenchDaemon, _check
from bench.coldstart import create_function as create_bench_function
from bench.host import BenchError, loadavg, network_toml
from bench.session import open_session, run_measured, write_results
from bench.stats import percentile
from engine.cli.client import Client, HttpResponse

SERIES = ("get-config", "send", "round-trip")
QUEUE = "bench-queue"
MESSAGE = {"MessageBody": '{"order": 1, "item": "bench"}'}
ATTRIBUTES = {"Source": {"DataType": "String", "StringValue": "bench"}}
MAX_OPS_PER_CLIENT = 100_000  # per series and round, beside --seconds


def sqs(client: Client, operation: str, body: dict[str, Any]) -> HttpResponse:
    headers = {
        "X-Amz-Target": f"AmazonSQS.{operation}",
        "Content-Type": "application/x-amz-json-1.0",
    }
    resp = client.request("POST", "/", json.dumps(body).encode(), headers)
    _check(resp, operation)
    return resp


def _operation(client: Client, series: str, queue_url: str) -> Callable[[], None]:
    send_body = {"QueueUrl": queue_url, **MESSAGE, "MessageAttributes": ATTRIBUTES}

    def get_config() -> None:
        load.get_config(client)

    def send() -> None:
        sqs(client, "SendMessage", send_body)

    def round_trip() -> None:
        sqs(client, "SendMessage", send_body)
        got = sqs(client, "ReceiveMessage", {"QueueUrl": queue_url, "WaitTimeSeconds": 1})
        messages = got.json().get("Messages", [])
        if not messages:
            raise BenchError("a round trip received nothing within 1 s")
        handle = messages[0]["ReceiptHandle"]
        sqs(client, "DeleteMessage", {"QueueUrl": queue_url, "ReceiptHandle": handle})

    return {"get-config": get_config, "send": send, "round-trip": round_trip}[series]


def measure(base: Path, tag: str, *, clients: int, seconds: float, rounds: int) -> dict[str, Any]:
    daemon = BenchDaemon(base=base, cgroup_parent=tag, extra_toml=network_toml(tag, enabled=False))
    daemon.start()
    client = Client(daemon.socket_path, timeout_s=REQUEST_TIMEOUT_S)
    try:
        create_bench_function(client)
        queue_url = sqs(client, "CreateQueue", {"QueueName": QUEUE}).json()["QueueUrl"]
        samples: dict[str, list[float]] = {s: [] for s in SERIES}
        rates: dict[str, list[float]] = {s: [] for s in SERIES}
        with load.open_pool(clients) as pool:
            for index in range(rounds):
                order = SERIES[index % 3 :] + SERIES[: index % 3]
                for series in order:
                    start_at = time.monotonic() + load.LEAD_S
                    burst = load.burst(
                        pool,
                        daemon.socket_path,
                        _operation,
                        series,
                        max_ops=[MAX_OPS_PER_CLIENT] * clients,
                        start_at=start_at,
                        end_at=start_at + seconds,
                        argument=queue_url,
                    )
                    rates[series].append(burst.rate)
                    samples[series].extend(burst.samples_ms)
                    print(f"round {index + 1} {series:<11} {burst.rate:8.0f}/s", flush=True)
                    if series != "get-config":  # start each series on an empty queue
                        sqs(client, "DeleteQueue", {"QueueUrl": queue_url})
                        queue_url = sqs(client, "CreateQueue", {"QueueName": QUEUE}).json()[
                            "QueueUrl"
                        ]
    finally:
        client.close()
        code = daemon.stop()
        if code not in (None, 0):
            print(f"warning: the daemon exited with status {code}:\n{daemon.log_tail()}")
    return {"samples": samples, "rates": rates}


def report(result: dict[str, Any], clients: int) -> dict[str, Any]:
    rates: dict[str, list[float]] = result["rates"]
    samples: dict[str, list[float]] = result["samples"]
    series: dict[str, dict[str, Any]] = {}
    print(f"\n{'series':<12} {'ops/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}   N={clients}")
    for name in SERIES:
        rate = sorted(rates[name])[len(rates[name]) // 2]
        stats = {
            "ops_per_s_median": rate,
            "ops_per_s_rounds": rates[name],
            "n": len(samples[name]),
            "p50_ms": percentile(samples[name], 50),
            "p90_ms": percentile(samples[name], 90),
            "p99_ms": percentile(samples[name], 99),
        }
        series[name] = stats
        print(
            f"{name:<12} {rate:9.0f} {stats['p50_ms']:8.3f} {stats['p90_ms']:8.3f} "
            f"{stats['p99_ms']:8.3f}"
        )
    base = series["get-config"]
    ratios = {
        "send_rate/get_config_rate": series["send"]["ops_per_s_median"] / base["ops_per_s_median"],
        "round_trip_p50/get_config_p50": series["round-trip"]["p50_ms"] / base["p50_ms"],
    }
    for name, value in ratios.items():
        print(f"{name:<34} {value:6.2f}")
    return {"series": series, "ratios": ratios}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.sqs",
        description="SQS SendMessage/s and send-receive round trips through the unix socket, "
        "against GetFunctionConfiguration in the same run (needs root).",
    )
    p.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    p.add_argument("--seconds", type=float, default=3.0, help="per series and round (3)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, series rotating (3)")
    p.add_argument("--json", type=Path, help="write results here (default bench/results/...)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.clients < 1 or args.seconds <= 0 or args.rounds < 1:
        print("--clients and --rounds must be >= 1, --seconds > 0", file=sys.stderr)
        return 2
    session = open_session("sqs")
    if session is None:
        return 2
    result = run_measured(
        session,
        lambda base, tag: measure(
            base, tag, clients=args.clients, seconds=args.seconds, rounds=args.rounds
        ),
    )
    if result is None:
        return 1
    session.facts["loadavg_end"] = loadavg()
    summary = report(result, args.clients)
    write_results(
        session,
        args.json,
        {
            "clients": args.clients,
            "seconds": args.seconds,
            "rounds": args.rounds,
            **summary,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
