"""Asynchronous Invoke through the unix socket, against sync calls in the same run (as root).

``python -m bench.async_invoke --clients 4``. One daemon of our own, with ``[events] workers``
set to the number of clients, so async attempts run at the concurrency the sync clients have.
Measured, every series bounded in time and count:

1. accept rate: N client processes send ``Invoke`` with ``X-Amz-Invocation-Type: Event`` (a
   202 once the event is stored in SQLite) for ``--seconds``, in rounds rotating with
   N clients calling ``GetFunctionConfiguration`` (the baseline: one cheap API call);
2. accept latency: one client alternating an Event invoke and GetFunctionConfiguration;
3. drain: the K events accepted in a round of (1), run to completion by the daemon (polling
   ``GET /lambdalet/v1/async-events`` until AsyncEventsSucceeded has grown by K), against K
   synchronous invokes of the same function by the same N clients.

While events are accepted, every async worker is *held* by a sleeping invoke of a second
function (``bench-hold``, sleeping until a wall-clock time), so (1) and (2) measure the accept
path alone and (3) starts from a full backlog at a known instant: the release.

Resource handling: the daemon is stopped with SIGTERM (SIGKILL after a bound); the client
processes are joined; tagged cgroups, processes and mounts left behind are reported and the
temporary directory kept for a look.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from multiprocessing.pool import Pool
from pathlib import Path
from typing import Any

from bench import load
from bench.coldstart import (
    FUNCTION_NAME,
    FUNCTIONS,
    PAYLOAD,
    REQUEST_TIMEOUT_S,
    ROLE,
    BenchDaemon,
    _check,
    create_function,
)
from bench.host import BenchError, loadavg, network_toml, other_daemons, wait_for
from bench.runtimes import make_zip
from bench.session import open_session, run_measured, write_results
from bench.stats import summarize
from engine.cli.client import Client

COUNTERS_PATH = "/lambdalet/v1/async-events"
EVENT = {"X-Amz-Invocation-Type": "Event"}
HOLD_FUNCTION = "bench-hold"
HOLD_CODE = """import time


def handler(event, context):
    # Keeps one of the daemon's async workers busy until a wall-clock time.
    time.sleep(max(0.0, min(float(event["until"]) - time.time(), 120.0)))
    return {}
"""
HOLD_TIMEOUT_S = 180  # the hold function's Timeout: above any hold this script asks for
HOLD_LEAD_S = 2.0  # from taking the workers to the start of the accepting
HOLD_MARGIN_S = 0.5  # from the end of the accepting to the release
MAX_WINDOW_S = 60.0
DRAIN_TIMEOUT_S = 300.0
POLL_S = load.WAIT_POLL_S  # counters are polled as often while sync invokes run
WARMUP_OPS = 20  # per client: sync invokes (one warm environment per client), accepts
MAX_OPS = 1_000_000  # per client and window, beside its duration
ROUND_SERIES = ("get-config", "accept")


def _operation(client: Client, series: str, _: str) -> Callable[[], None]:
    invocations = f"{FUNCTIONS}/{FUNCTION_NAME}/invocations"

    def get_config() -> None:
        load.get_config(client)

    def accept() -> None:
        resp = client.request("POST", invocations, PAYLOAD, EVENT)
        if resp.status != 202:
            raise BenchError(f"Event Invoke answered {resp.status}: {resp.body[:500]!r}")

    def invoke() -> None:
        resp = client.request("POST", invocations, PAYLOAD)
        _check(resp, "Invoke")
        if "x-amz-function-error" in resp.headers:
            raise BenchError(f"the function failed: {resp.body[:500]!r}")

    return {"get-config": get_config, "accept": accept, "invoke": invoke}[series]


@dataclass(frozen=True, slots=True, kw_only=True)
class Counters:
    received: int
    succeeded: int
    dropped: int
    backlog: int
    in_flight: int


@dataclass
class Bench:
    client: Client
    socket_path: Path
    clients: int
    samples: dict[str, list[float]] = field(default_factory=dict)
    rates: dict[str, list[float]] = field(default_factory=dict)
    drains: list[dict[str, float]] = field(default_factory=list)
    anomalies: list[str] = field(default_factory=list)

    def counters(self) -> Counters:
        resp = self.client.request("GET", COUNTERS_PATH)
        _check(resp, "GET async-events")
        c = resp.json()
        return Counters(
            received=c["AsyncEventsReceived"],
            succeeded=c["AsyncEventsSucceeded"],
            dropped=c["AsyncEventsDropped"],
            backlog=c["Backlog"],
            in_flight=c["InFlight"],
        )

    def poll(self) -> None:
        self.counters()

    def settled(self) -> Counters:
        """Wait until no event is queued or running; fail if any was dropped."""
        state: list[Counters] = []

        def idle() -> bool:
            state[:] = [self.counters()]
            return state[0].backlog == 0 and state[0].in_flight == 0

        if wait_for(idle, timeout_s=DRAIN_TIMEOUT_S, poll_s=POLL_S) is None:
            raise BenchError(f"async events still pending after {DRAIN_TIMEOUT_S:.0f} s")
        if state[0].dropped:
            raise BenchError(f"{state[0].dropped} async event(s) dropped; see the daemon log")
        return state[0]

    def hold(self, release_at: float, *, ready_by: float) -> Counters:
        """Take every async worker with a `bench-hold` invoke sleeping until `release_at`
        (monotonic); the counters once all are running (by `ready_by`)."""
        before = self.settled()
        until = time.time() + (release_at - time.monotonic())
        body = json.dumps({"until": until}).encode()
        path = f"{FUNCTIONS}/{HOLD_FUNCTION}/invocations"
        for _ in range(self.clients):
            resp = self.client.request("POST", path, body, EVENT)
            if resp.status != 202:
                raise BenchError(f"Event Invoke of {HOLD_FUNCTION} answered {resp.status}")
        while (now := self.counters()).in_flight < self.clients or now.backlog:
            if time.monotonic() > ready_by:
                raise BenchError(f"the async workers were not all held within {HOLD_LEAD_S} s")
            time.sleep(POLL_S)
        if now.succeeded != before.succeeded:
            raise BenchError("a hold ended before it started to hold")
        return now

    def drain(self, *, events: int, held: Counters, release_at: float) -> float:
        """Seconds from the release until `events` more events (and the holds) succeeded."""
        target = held.succeeded + self.clients + events
        deadline = release_at + DRAIN_TIMEOUT_S
        while True:
            c = self.counters()
            now = time.monotonic()
            if c.dropped != held.dropped:
                raise BenchError(f"{c.dropped - held.dropped} async event(s) dropped")
            if c.succeeded >= target:
                return now - release_at
            if now > deadline:
                raise BenchError(f"{target - c.succeeded} events not run in {DRAIN_TIMEOUT_S} s")
            time.sleep(POLL_S)

    # -- the series ------------------------------------------------------------------------

    def burst(
        self, pool: Pool, series: str, max_ops: list[int], start_at: float, end_at: float
    ) -> load.Burst:
        return load.burst(
            pool,
            self.socket_path,
            _operation,
            series,
            max_ops=max_ops,
            start_at=start_at,
            end_at=end_at,
            # The drain is timed by polling the counters; the sync invokes it is compared
            # with get the same polling beside them.
            while_waiting=self.poll if series == "invoke" else None,
        )

    def record(self, series: str, burst: load.Burst) -> None:
        self.rates.setdefault(series, []).append(burst.rate)
        self.samples.setdefault(series, []).extend(burst.samples_ms)

    def get_config_round(self, pool: Pool, seconds: float, round_no: int) -> None:
        start_at = time.monotonic() + load.LEAD_S
        burst = self.burst(
            pool, "get-config", [MAX_OPS] * self.clients, start_at, start_at + seconds
        )
        self.record("get-config", burst)
        print(f"round {round_no} get-config {burst.rate:8.0f}/s", flush=True)

    def accept_round(self, pool: Pool, seconds: float, max_events: int, round_no: int) -> None:
        """Accept for `seconds` with the workers held; time the drain; then as many sync
        invokes by the same clients."""
        start_at = time.monotonic() + HOLD_LEAD_S
        end_at = start_at + seconds
        release_at = end_at + HOLD_MARGIN_S
        held = self.hold(release_at, ready_by=start_at)
        burst = self.burst(pool, "accept", load.split(max_events, self.clients), start_at, end_at)
        after = self.counters()
        overran_s = time.monotonic() - release_at
        events = burst.ops
        self.record("accept", burst)
        if events == 0 or after.received - held.received != events:
            counted = after.received - held.received
            raise BenchError(f"{events} accepts answered 202, the daemon counted {counted}")
        valid = overran_s < 0 and after.succeeded == held.succeeded
        if not valid:
            self.anomalies.append(
                f"round {round_no}: accepting overran the hold by {overran_s * 1000:.0f} ms; "
                "its drain is not recorded"
            )
        drain_s = self.drain(events=events, held=held, release_at=release_at)
        self.settled()
        start_at = time.monotonic() + load.LEAD_S
        sync = self.burst(
            pool, "invoke", load.split(events, self.clients), start_at, start_at + DRAIN_TIMEOUT_S
        )
        if sync.ops != events:
            raise BenchError(f"{sync.ops} of {events} sync invokes ran in {DRAIN_TIMEOUT_S} s")
        print(
            f"round {round_no} accept     {burst.rate:8.0f}/s   K={events}: drain "
            f"{drain_s:.3f} s, {events} sync invokes {sync.elapsed_s:.3f} s",
            flush=True,
        )
        if valid:
            self.drains.append(
                {
                    "events": events,
                    "drain_s": drain_s,
                    "sync_s": sync.elapsed_s,
                    "drain_over_sync": drain_s / sync.elapsed_s,
                }
            )

    def latency(self, samples: int, seconds: float) -> None:
        """One client (ours), Event invoke and GetFunctionConfiguration alternating, the
        workers held; bounded by `samples` per series and `seconds`."""
        start_at = time.monotonic() + HOLD_LEAD_S
        end_at = start_at + seconds
        release_at = end_at + HOLD_MARGIN_S
        self.hold(release_at, ready_by=start_at)
        steps = {
            "accept-1": _operation(self.client, "accept", ""),
            "get-config-1": _operation(self.client, "get-config", ""),
        }
        order = list(steps)
        for i in range(samples):
            if time.monotonic() >= end_at:
                print(f"note: {i} of {samples} latency samples in {seconds:g} s", flush=True)
                break
            for name in order[i % 2 :] + order[: i % 2]:
                started = time.perf_counter_ns()
                steps[name]()
                self.samples.setdefault(name, []).append((time.perf_counter_ns() - started) / 1e6)
        self.settled()

    def warm_up(self, pool: Pool) -> None:
        """Untimed: one warm environment per client, the hold function's environments, the
        accept path, and the pool's processes."""
        for series in ("invoke", "accept"):
            start_at = time.monotonic() + load.LEAD_S
            self.burst(pool, series, [WARMUP_OPS] * self.clients, start_at, start_at + 30.0)
            self.settled()
        # All holds at once, sleeping 1 s: one environment each, so later holds start warm.
        now = time.monotonic()
        self.hold(now + 1.0, ready_by=now + 1.0)
        self.settled()


def create_hold_function(client: Client, memory_mb: int) -> None:
    body = {
        "FunctionName": HOLD_FUNCTION,
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "hold.handler",
        "MemorySize": memory_mb,
        "Timeout": HOLD_TIMEOUT_S,
        "Code": {"ZipFile": make_zip({"hold.py": HOLD_CODE.encode()})},
    }
    _check(client.json_request("POST", FUNCTIONS, body), f"CreateFunction {HOLD_FUNCTION}")


def measure(base: Path, tag: str, args: argparse.Namespace) -> Bench:
    workers = f"""
    [events]
    workers = {args.clients}
    """
    extra = network_toml(tag, enabled=False) + workers
    daemon = BenchDaemon(base=base, cgroup_parent=tag, extra_toml=extra)
    daemon.start()
    client = Client(daemon.socket_path, timeout_s=REQUEST_TIMEOUT_S)
    try:
        create_function(client, memory_mb=args.memory_mb)
        create_hold_function(client, 128)
        bench = Bench(client=client, socket_path=daemon.socket_path, clients=args.clients)
        with load.open_pool(args.clients) as pool:
            bench.warm_up(pool)
            for index in range(args.rounds):
                for series in ROUND_SERIES[index % 2 :] + ROUND_SERIES[: index % 2]:
                    if series == "get-config":
                        bench.get_config_round(pool, args.seconds, index + 1)
                    else:
                        bench.accept_round(pool, args.seconds, args.max_events, index + 1)
        print(f"latency: 1 client, up to {args.latency_samples} samples each ...", flush=True)
        bench.latency(args.latency_samples, args.latency_seconds)
        return bench
    finally:
        client.close()
        code = daemon.stop()
        if code not in (None, 0):
            print(f"warning: the daemon exited with status {code}:\n{daemon.log_tail()}")


# --- the report ---------------------------------------------------------------------------


def _median(values: list[float]) -> float:
    ordered = sorted(values)
    mid = len(ordered) // 2
    return ordered[mid] if len(ordered) % 2 else (ordered[mid - 1] + ordered[mid]) / 2


def report(bench: Bench, clients: int) -> dict[str, Any]:
    series = {name: summarize(values) for name, values in bench.samples.items()}
    for name, rates in bench.rates.items():
        series[name] = {**series[name], "ops_per_s_median": _median(rates)}
    print(f"\n{'series':<24} {'n':>7} {'ops/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8}")
    n_clients = f"{clients} client{'s' if clients > 1 else ''}"
    labels = {
        "get-config": f"get-config, {n_clients}",
        "accept": f"accept, {n_clients}",
        "get-config-1": "get-config, 1 client",
        "accept-1": "accept, 1 client",
    }
    for name, label in labels.items():
        if (s := series.get(name)) is None:
            continue
        rate = f"{s['ops_per_s_median']:8.0f}" if "ops_per_s_median" in s else f"{'':8}"
        cells = " ".join(f"{s[k]:8.3f}" for k in ("p50_ms", "p90_ms", "p99_ms"))
        print(f"{label:<24} {int(s['n']):>7} {rate} {cells}")
    for d in bench.drains:
        print(
            f"drain K={int(d['events']):<6} {d['drain_s']:8.3f} s ({d['events'] / d['drain_s']:.0f}"
            f"/s)   sync {d['sync_s']:8.3f} s ({d['events'] / d['sync_s']:.0f}/s)"
        )
    ratios: dict[str, float] = {}
    if "accept" in series and "get-config" in series:
        accept, config = series["accept"], series["get-config"]
        ratios["accept_rate/get_config_rate"] = (
            accept["ops_per_s_median"] / config["ops_per_s_median"]
        )
    if "accept-1" in series and "get-config-1" in series:
        accept, config = series["accept-1"], series["get-config-1"]
        ratios["accept_p50/get_config_p50_1_client"] = accept["p50_ms"] / config["p50_ms"]
        ratios["accept_p99/get_config_p99_1_client"] = accept["p99_ms"] / config["p99_ms"]
    if bench.drains:
        ratios["drain_s/sync_invokes_s"] = _median([d["drain_over_sync"] for d in bench.drains])
    for name, value in ratios.items():
        print(f"{name:<40} {value:6.2f}")
    for text in bench.anomalies:
        print(f"anomaly: {text}")
    return {
        "series": series,
        "rates_per_round": bench.rates,
        "drains": bench.drains,
        "ratios": ratios,
    }


# --- CLI ----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.async_invoke",
        description="Event invokes: accept rate and latency against GetFunctionConfiguration, "
        "and the drain of the accepted events against sync invokes, in one run (needs root).",
    )
    p.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    p.add_argument("--seconds", type=float, default=3.0, help="per window and round (3)")
    p.add_argument("--rounds", type=int, default=3, help="rounds, series rotating (3)")
    p.add_argument(
        "--max-events", type=int, default=20_000, help="accepts per round at most (20000)"
    )
    p.add_argument(
        "--latency-samples", type=int, default=1000, help="1-client samples per series (1000)"
    )
    p.add_argument(
        "--latency-seconds", type=float, default=5.0, help="bound on the 1-client phase (5)"
    )
    p.add_argument(
        "--memory-mb", type=int, help="the function's MemorySize (default: the example's, 128)"
    )
    p.add_argument("--json", type=Path, help="write results here (default bench/results/...)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not (
        1 <= args.clients <= 64
        and 0 < args.seconds <= MAX_WINDOW_S
        and 0 < args.latency_seconds <= MAX_WINDOW_S
        and args.rounds >= 1
        and args.max_events >= args.clients
        and args.latency_samples >= 1
    ):
        print(
            f"--clients 1..64, --seconds and --latency-seconds in (0, {MAX_WINDOW_S:g}], "
            "--rounds >= 1, --max-events >= --clients, --latency-samples >= 1",
            file=sys.stderr,
        )
        return 2
    session = open_session("async_invoke")
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
        "events_workers": args.clients,
        "seconds": args.seconds,
        "rounds": args.rounds,
        "max_events": args.max_events,
        "latency_samples": args.latency_samples,
        "memory_mb": args.memory_mb,
        **summary,
        "anomalies": bench.anomalies,
        "samples_ms": {
            k: [round(v, 4) for v in bench.samples[k]]
            for k in ("accept-1", "get-config-1")
            if k in bench.samples
        },
    }
    write_results(session, args.json, document)
    return 1 if bench.anomalies else 0


if __name__ == "__main__":
    sys.exit(main())
