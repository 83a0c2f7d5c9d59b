"""Event source mappings' throughput against the raw invoke rate of the same function (as root).

``python -m bench.event_sources --clients 4``. One daemon of our own and one function whose
handler does the same per-record work however it is invoked. In rounds, in rotating order:

- streams (a 1-shard and an N-shard one) through a Kinesis mapping (BatchSize 100,
  TRIM_HORIZON): a backlog of K records put first, timed from the mapping's creation until the
  handler has seen all K; and *live*: the mapping Enabled first, timed from the first of the
  PutRecords (one producer, 500 records each) until the handler has seen all K;
- a queue backlog of M messages through an SQS mapping (BatchSize 10, MaximumConcurrency N),
  until the handler has seen M and the queue is empty;
- the baselines: synchronous invokes of the same function from 1 and N client processes for
  a fixed time, with a 1-record event (the raw invoke rate) and with the batches the mappings
  send (100 stream records, 10 queue messages), built by the engine's own record code.

The handler prints one line per batch (its source, size and time); the benchmark counts them
by reading the function's log files incrementally (`bench.batches`), which costs the daemon
nothing.

Resource handling: mappings, streams and queues are deleted after each drain (the mapping in
a `finally`); the daemon is stopped with SIGTERM (SIGKILL after a bound); client processes are
joined; tagged cgroups, processes and mounts left behind are reported and the temporary
directory kept for a look.
"""

from __future__ import annotations

import argparse
import base64
import json
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from bench import load
from bench.batches import (
    FUNCTION,
    HANDLER,
    QUEUE_BATCH,
    STREAM_BATCH,
    LogCounter,
    Sync,
    invoke_operation,
    record_data,
)
from bench.coldstart import REQUEST_TIMEOUT_S, BenchDaemon, _check, create_function
from bench.host import BenchError, loadavg, network_toml, other_daemons
from bench.runtimes import MEMORY_MB, create
from bench.session import open_session, run_measured, write_results
from bench.sqs import sqs
from bench.stats import percentile
from engine.cli.client import Client, HttpResponse

MAPPINGS = "/2015-03-31/event-source-mappings"
PUT_RECORDS_MAX = 500  # Kinesis's most records per PutRecords
POLL_S = 0.01  # the logs (and, once all are seen, the queue) are looked at this often
GONE_TIMEOUT_S = 30.0  # a deleted mapping's poller stops within a second
WARMUP_SECONDS = 1.0
MAX_OPS = 1_000_000  # per client and window, beside its duration


# --- the bench --------------------------------------------------------------------------------


def kinesis(client: Client, operation: str, body: dict[str, Any]) -> HttpResponse:
    headers = {
        "X-Amz-Target": f"Kinesis_20131202.{operation}",
        "Content-Type": "application/x-amz-json-1.1",
    }
    resp = client.request("POST", "/", json.dumps(body).encode(), headers)
    _check(resp, operation)
    return resp


@dataclass
class Bench:
    client: Client
    socket_path: Path
    counter: LogCounter
    clients: int
    timeout_s: float
    rounds: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    samples: dict[str, list[float]] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)

    def sync(self, pool: Pool, s: Sync, seconds: float, *, record: bool) -> None:
        start_at = time.monotonic() + load.LEAD_S
        burst = load.burst(
            pool,
            self.socket_path,
            invoke_operation,
            f"{s.event}:{s.size}",
            max_ops=[MAX_OPS] * s.clients,
            start_at=start_at,
            end_at=start_at + seconds,
        )
        if not record:
            return
        self.samples.setdefault(s.key, []).extend(burst.samples_ms)
        self.add(
            s.key,
            invokes=burst.ops,
            records=burst.ops * s.size,
            elapsed_s=burst.elapsed_s,
            concurrency=s.clients,
        )

    def add(
        self,
        key: str,
        *,
        invokes: int,
        records: int,
        elapsed_s: float,
        concurrency: int,
        **more: Any,
    ) -> None:
        row = {
            "invokes": invokes,
            "records": records,
            "elapsed_s": elapsed_s,
            "invokes_per_s": invokes / elapsed_s,
            "records_per_s": records / elapsed_s,
            # how long one invoke holds one of the `concurrency` lanes
            "ms_per_invoke": concurrency * elapsed_s * 1000 / invokes,
            "concurrency": concurrency,
            **more,
        }
        self.rounds.setdefault(key, []).append(row)
        print(
            f"  {key:<16} {row['records_per_s']:9.0f} records/s {row['invokes_per_s']:8.0f} "
            f"invokes/s  ({invokes} invokes in {elapsed_s:.3f} s)",
            flush=True,
        )

    def drain(
        self,
        key: str | None,
        arn: str,
        expected: int,
        settings: dict[str, Any],
        fill: Callable[[], None],
        *,
        concurrency: int,
        live: bool = False,
        empty: Callable[[], bool] | None = None,
    ) -> None:
        """`fill()` the source, then create the mapping (`live`: the other way round, once the
        mapping is Enabled); wait until the handler saw `expected` records from `arn` (and
        `empty()` holds); delete the mapping. Timed from the creation (`live`: from the first
        put); recorded under `key` unless it is None."""
        fill_s = 0.0 if live else _timed(fill)
        started = time.time()
        body = {"FunctionName": FUNCTION, "EventSourceArn": arn, **settings}
        resp = self.client.json_request("POST", MAPPINGS, body)
        _check(resp, "CreateEventSourceMapping")
        uuid = resp.json()["UUID"]
        try:
            if live:
                self.wait_enabled(uuid)
                started = time.time()
                fill_s = _timed(fill)
            done_at = self.wait_seen(key, arn, expected, empty)
        finally:
            self.delete_mapping(uuid)
        self.counter.scan()
        seen = self.counter.seen(arn)
        if seen.records != expected:
            self.anomalies.append(
                f"{key or 'warm-up'}: {seen.records} records seen, {expected} sent"
            )
        if key is None:
            return
        # streams: the handler's own time of its last batch; queues: also deleted (polled)
        ended = seen.last_t if empty is None else max(seen.last_t, done_at)
        self.add(
            key,
            invokes=seen.batches,
            records=seen.records,
            elapsed_s=ended - started,
            concurrency=concurrency,
            first_batch_s=seen.first_t - started,
            fill_s=fill_s,
            fill_records_per_s=expected / fill_s,
            **({"after_last_put_s": ended - started - fill_s} if live else {}),
            lane_records=dict(sorted(seen.lanes.items())),
        )

    def wait_seen(
        self, key: str | None, arn: str, expected: int, empty: Callable[[], bool] | None
    ) -> float:
        """time.time() once the handler saw `expected` records (and `empty()` holds)."""
        deadline = time.monotonic() + self.timeout_s
        while True:
            self.counter.scan()
            seen = self.counter.seen(arn)
            if seen.records >= expected and (empty is None or empty()):
                return time.time()
            if time.monotonic() > deadline:
                raise BenchError(
                    f"{key or 'warm-up'}: the handler saw {seen.records} of {expected} "
                    f"records in {self.timeout_s:.0f} s"
                )
            time.sleep(POLL_S)

    def wait_enabled(self, uuid: str) -> None:
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while (state := self.get_mapping(uuid)["State"]) != "Enabled":
            if time.monotonic() > deadline:
                raise BenchError(f"mapping {uuid} is {state} after {GONE_TIMEOUT_S:.0f} s")
            time.sleep(POLL_S)

    def get_mapping(self, uuid: str) -> dict[str, Any]:
        resp = self.client.request("GET", f"{MAPPINGS}/{uuid}")
        _check(resp, "GetEventSourceMapping")
        mapping: dict[str, Any] = resp.json()
        return mapping

    def delete_mapping(self, uuid: str) -> None:
        """Delete (retried while a change is in flight) and wait until it is gone."""
        path = f"{MAPPINGS}/{uuid}"
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while (resp := self.client.request("DELETE", path)).status == 409:
            if time.monotonic() > deadline:
                raise BenchError(f"mapping {uuid} could not be deleted: {resp.body[:300]!r}")
            time.sleep(POLL_S)
        if resp.status == 404:
            return
        _check(resp, "DeleteEventSourceMapping")
        while self.client.request("GET", path).status != 404:
            if time.monotonic() > deadline:
                raise BenchError(f"mapping {uuid} still there {GONE_TIMEOUT_S:.0f} s after delete")
            time.sleep(POLL_S)

    def stream(
        self, key: str | None, name: str, shards: int, records: int, *, live: bool = False
    ) -> None:
        kinesis(self.client, "CreateStream", {"StreamName": name, "ShardCount": shards})
        summary = kinesis(self.client, "DescribeStreamSummary", {"StreamName": name}).json()
        arn = summary["StreamDescriptionSummary"]["StreamARN"]

        def fill() -> None:
            for start in range(0, records, PUT_RECORDS_MAX):
                entries = [
                    {"Data": base64.b64encode(record_data(i)).decode(), "PartitionKey": f"pk-{i}"}
                    for i in range(start, min(start + PUT_RECORDS_MAX, records))
                ]
                body = {"StreamName": name, "Records": entries}
                put = kinesis(self.client, "PutRecords", body)
                if put.json()["FailedRecordCount"]:
                    raise BenchError(f"PutRecords to {name} failed: {put.body[:300]!r}")

        settings = {"StartingPosition": "TRIM_HORIZON", "BatchSize": STREAM_BATCH}
        self.drain(key, arn, records, settings, fill, concurrency=shards, live=live)
        kinesis(self.client, "DeleteStream", {"StreamName": name})

    def queue(self, key: str | None, name: str, messages: int) -> None:
        url = sqs(self.client, "CreateQueue", {"QueueName": name}).json()["QueueUrl"]
        attributes = {"QueueUrl": url, "AttributeNames": ["QueueArn"]}
        arn = sqs(self.client, "GetQueueAttributes", attributes).json()["Attributes"]["QueueArn"]

        def fill() -> None:
            for start in range(0, messages, QUEUE_BATCH):
                entries = [
                    {"Id": str(i), "MessageBody": record_data(i).decode()}
                    for i in range(start, min(start + QUEUE_BATCH, messages))
                ]
                body = {"QueueUrl": url, "Entries": entries}
                sent = sqs(self.client, "SendMessageBatch", body)
                if sent.json().get("Failed"):
                    raise BenchError(f"SendMessageBatch to {name} failed: {sent.body[:300]!r}")

        counts = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]

        def empty() -> bool:
            body = {"QueueUrl": url, "AttributeNames": counts}
            found = sqs(self.client, "GetQueueAttributes", body).json()["Attributes"]
            return all(int(found[count]) == 0 for count in counts)

        settings = {"BatchSize": QUEUE_BATCH, "ScalingConfig": {"MaximumConcurrency": self.clients}}
        self.drain(key, arn, messages, settings, fill, concurrency=self.clients, empty=empty)
        sqs(self.client, "DeleteQueue", {"QueueUrl": url})


def _timed(step: Callable[[], None]) -> float:
    started = time.perf_counter()
    step()
    return time.perf_counter() - started


def measure(base: Path, tag: str, args: argparse.Namespace) -> Bench:
    daemon = BenchDaemon(base=base, cgroup_parent=tag, extra_toml=network_toml(tag, enabled=False))
    daemon.start()
    client = Client(daemon.socket_path, timeout_s=REQUEST_TIMEOUT_S)
    n = args.clients
    try:
        create(client, FUNCTION, "python3.11", "events.handler", {"events.py": HANDLER.encode()})
        create_function(client)  # the load clients' connection check reads its configuration
        bench = Bench(
            client=client,
            socket_path=daemon.socket_path,
            counter=LogCounter(base / "state" / "logs" / FUNCTION),
            clients=n,
            timeout_s=args.timeout_s,
        )
        syncs = {s.key: s for s in sync_series(n)}
        mappings = mapping_series(n)
        keys = [*syncs, *mappings]
        with load.open_pool(n) as pool:
            print("warm-up (unrecorded) ...", flush=True)
            for s in syncs.values():
                bench.sync(pool, s, WARMUP_SECONDS, record=False)
            bench.stream(None, "bench-warm-1", 1, STREAM_BATCH * 2)
            bench.stream(None, f"bench-warm-{n}", n, STREAM_BATCH * n * 2)
            bench.queue(None, "bench-warm", QUEUE_BATCH * n * 2)
            for index in range(args.rounds):
                print(f"round {index + 1} of {args.rounds}", flush=True)
                k = index * 3 % len(keys)
                for key in keys[k:] + keys[:k]:
                    name = f"bench-r{index + 1}-{key}"
                    if key in syncs:
                        bench.sync(pool, syncs[key], args.seconds, record=True)
                    elif key.startswith("sqs"):
                        bench.queue(key, name, args.messages)
                    else:
                        shards = 1 if "1shard" in key else n
                        live = key.endswith("live")
                        bench.stream(key, name, shards, args.records, live=live)
        return bench
    finally:
        client.close()
        code = daemon.stop()
        if code not in (None, 0):
            print(f"warning: the daemon exited with status {code}:\n{daemon.log_tail()}")


def sync_series(n: int) -> list[Sync]:
    return [
        Sync("invoke-1rec-1c", "kinesis", 1, 1),
        Sync(f"invoke-1rec-{n}c", "kinesis", 1, n),
        Sync("invoke-100rec-1c", "kinesis", STREAM_BATCH, 1),
        Sync(f"invoke-100rec-{n}c", "kinesis", STREAM_BATCH, n),
        Sync(f"invoke-sqs10-{n}c", "sqs", QUEUE_BATCH, n),
    ]


def mapping_series(n: int) -> list[str]:
    return [
        "kinesis-1shard",
        f"kinesis-{n}shards",
        "kinesis-1shard-live",
        f"kinesis-{n}shards-live",
        f"sqs-{n}",
    ]


# --- the report -------------------------------------------------------------------------------


def report(bench: Bench, n: int) -> dict[str, Any]:
    series: dict[str, dict[str, Any]] = {}
    for key, rows in bench.rounds.items():
        med = {
            f"{name}_median": statistics.median(row[name] for row in rows)
            for name in ("records_per_s", "invokes_per_s", "ms_per_invoke", "elapsed_s")
        }
        for name in ("first_batch_s", "fill_records_per_s", "after_last_put_s"):
            if name in rows[0]:
                med[f"{name}_median"] = statistics.median(r[name] for r in rows)
        if key in bench.samples:
            med["p50_ms"] = percentile(bench.samples[key], 50)
            med["p99_ms"] = percentile(bench.samples[key], 99)
        series[key] = {**med, "concurrency": rows[0]["concurrency"], "rounds": rows}
    print(
        f"\n{'series (medians of rounds)':<28} {'conc':>4} {'records/s':>10} {'invokes/s':>10} "
        f"{'ms/invoke':>9} {'p50 ms':>7} {'first s':>7} {'fill rec/s':>10}"
    )
    for key in [*(s.key for s in sync_series(n)), *mapping_series(n)]:
        if (s := series.get(key)) is None:
            continue
        p50 = f"{s['p50_ms']:7.2f}" if "p50_ms" in s else f"{'':7}"
        first = f"{s['first_batch_s_median']:7.3f}" if "first_batch_s_median" in s else ""
        fill = f"{s['fill_records_per_s_median']:10.0f}" if "fill_records_per_s_median" in s else ""
        print(
            f"{key:<28} {s['concurrency']:>4} {s['records_per_s_median']:10.0f} "
            f"{s['invokes_per_s_median']:10.0f} {s['ms_per_invoke_median']:9.2f} {p50} "
            f"{first} {fill}"
        )
    for key, s in series.items():
        if "after_last_put_s_median" in s:
            print(
                f"{key}: all seen {s['after_last_put_s_median'] * 1000:.1f} ms after the last put"
            )
    # each mapping against synchronous invokes at its concurrency: one record per invoke (the
    # raw rate), and the very batches it sends; a live stream against its one producer's rate
    pairs = [
        ("kinesis-1shard", "invoke-1rec-1c", "invoke-100rec-1c"),
        (f"kinesis-{n}shards", f"invoke-1rec-{n}c", f"invoke-100rec-{n}c"),
        (f"sqs-{n}", f"invoke-1rec-{n}c", f"invoke-sqs10-{n}c"),
        ("kinesis-1shard-live", "invoke-1rec-1c", None),
        (f"kinesis-{n}shards-live", f"invoke-1rec-{n}c", None),
    ]
    ratios: dict[str, float] = {}
    for mapping, raw, batch in pairs:
        if not {mapping, raw, batch or raw} <= series.keys():
            continue
        m, r = series[mapping], series[raw]
        ratios[f"{mapping}_records_s/{raw}_invokes_s"] = (
            m["records_per_s_median"] / r["invokes_per_s_median"]
        )
        if batch is None:
            ratios[f"{mapping}_records_s/put_records_s"] = (
                m["records_per_s_median"] / m["fill_records_per_s_median"]
            )
            continue
        ratios[f"{mapping}_ms_per_invoke/{raw}_ms"] = (
            m["ms_per_invoke_median"] / r["ms_per_invoke_median"]
        )
        ratios[f"{mapping}_ms_per_invoke/{batch}_ms"] = (
            m["ms_per_invoke_median"] / series[batch]["ms_per_invoke_median"]
        )
    print()
    for name, value in ratios.items():
        print(f"{name:<58} {value:7.2f}")
    for text in bench.anomalies:
        print(f"anomaly: {text}")
    return {"series": series, "ratios": ratios}


# --- CLI --------------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.event_sources",
        description="Records/s through Kinesis and SQS event source mappings against the raw "
        "synchronous invoke rate of the same function, in one run (needs root).",
    )
    p.add_argument(
        "--clients", type=int, default=4, help="N: sync clients, shards, SQS concurrency (4)"
    )
    p.add_argument("--seconds", type=float, default=3.0, help="per sync series and round (3)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, series rotating (3)")
    p.add_argument("--records", type=int, default=200_000, help="stream records K (200000)")
    p.add_argument("--messages", type=int, default=50_000, help="queue backlog M (50000)")
    p.add_argument(
        "--timeout-s", type=float, default=300.0, help="bound on one backlog's drain (300)"
    )
    p.add_argument("--json", type=Path, help="write results here (default bench/results/...)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not (
        2 <= args.clients <= 16
        and 0 < args.seconds <= 60
        and args.rounds >= 1
        and args.records >= STREAM_BATCH
        and args.messages >= QUEUE_BATCH
        and 0 < args.timeout_s <= 3600
    ):
        print(
            "--clients 2..16 (SQS's MaximumConcurrency is at least 2), --seconds in (0, 60], "
            f"--rounds >= 1, --records >= {STREAM_BATCH}, --messages >= {QUEUE_BATCH}, "
            "--timeout-s in (0, 3600]",
            file=sys.stderr,
        )
        return 2
    session = open_session("event_sources")
    if session is None:
        return 2
    if others := other_daemons():
        print(f"warning: {len(others)} other lambdalet daemon(s) running: expect noisy numbers")
    session.facts["other_daemons_at_start"] = len(others)
    bench = run_measured(session, lambda base, tag: measure(base, tag, args))
    if bench is None:
        return 1
    session.facts["loadavg_end"] = loadavg()
    summary = report(bench, args.clients)
    document = {
        "clients": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "stream_records": args.records,
        "queue_messages": args.messages,
        "memory_mb": MEMORY_MB,
        **summary,
        "anomalies": bench.anomalies,
    }
    write_results(session, args.json, document)
    return 1 if bench.anomalies else 0


if __name__ == "__main__":
    sys.exit(main())
