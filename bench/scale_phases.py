"""The scale benchmark's phases against one daemon: bursts and concurrent cold starts of
distinct functions, warm throughput (API, function URL), density, churn with a leak check.

Every phase creates the functions it needs, deletes them when it ends and waits (bounded)
until only the pool's stems and the long-lived `bench-hello` environments are left.
"""

from __future__ import annotations

import multiprocessing.pool
import os
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench import load
from bench.coldstart import (
    _SPAWN_ENV,
    FUNCTION_NAME,
    FUNCTIONS,
    PAYLOAD,
    REQUEST_TIMEOUT_S,
    TAIL,
    BenchDaemon,
    _check,
    _invoke_report,
    create_function,
)
from bench.host import BenchError, bwrap_argv, spawn_and_wait_ns, wait_cpu_quiet, wait_for
from bench.scale_host import (
    cgroup_memory_kb,
    mem_available_kb,
    open_echo,
    rss_kb,
    run_wrk,
    snapshot,
)
from engine.cli.client import Client
from sandbox.cgroups import Cgroups

SETTLE_TIMEOUT_S = 180.0  # hundreds of teardowns after a phase
SETTLE_POLL_S = 0.005
CPU_QUIET_S = 0.01
INVOKE = f"{FUNCTIONS}/{{}}/invocations"
URLS = "/2021-10-31/functions/{}/url"
POLICY = f"{FUNCTIONS}/{{}}/policy"


def invoke_cold(client: Client, name: str) -> None:
    resp = client.request("POST", INVOKE.format(name), PAYLOAD, TAIL)
    report = _invoke_report(resp)
    if report is None or report.init_duration_ms is None:
        raise BenchError(f"the invoke of {name} was not a cold start")


def _operation(client: Client, series: str, argument: str) -> Callable[[], None]:
    """Operations for client processes (pickled by name). For "cold", `argument` is
    "<prefix>:<first>:<step>": this client's functions are <prefix>-<first + k*step>."""
    if series == "cold":
        prefix, first, step = argument.split(":")
        counter = iter(range(int(first), sys.maxsize, int(step)))
        return lambda: invoke_cold(client, f"{prefix}-{next(counter)}")

    def invoke() -> None:
        resp = client.request("POST", INVOKE.format(FUNCTION_NAME), PAYLOAD)
        _check(resp, "Invoke")
        if "x-amz-function-error" in resp.headers:
            raise BenchError(f"the function failed: {resp.body[:300]!r}")

    return {"invoke": invoke, "get-config": lambda: load.get_config(client)}[series]


def per_client_burst(
    pool: multiprocessing.pool.Pool,
    socket_path: Path,
    series: str,
    arguments: list[str],
    max_ops: list[int],
    seconds: float,
) -> load.Burst:
    """load.burst with one argument per client (each cold client has its own functions)."""
    start_at = time.monotonic() + load.LEAD_S
    end_at = start_at + seconds
    jobs = [
        load.Job(
            socket_path=str(socket_path),
            factory=_operation,
            series=series,
            argument=arg,
            start_at=start_at,
            end_at=end_at,
            max_ops=n,
        )
        for arg, n in zip(arguments, max_ops, strict=True)
    ]
    pending = pool.map_async(load.run_client, jobs, chunksize=1)
    pending.wait(end_at - time.monotonic() + REQUEST_TIMEOUT_S + 5.0)
    if not pending.ready():
        raise BenchError(f"the {series} clients did not finish by their deadline")
    return load.Burst(started_at=start_at, runs=pending.get())


@dataclass
class Scale:
    daemon: BenchDaemon
    client: Client
    cgroups: Cgroups
    parents: list[Path]
    table: str  # the daemon's nft table
    url_port: int
    pool: multiprocessing.pool.Pool | None
    clients: int
    samples: dict[str, list[float]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)

    @property
    def pid(self) -> int:
        assert self.daemon.process is not None
        return self.daemon.process.pid

    def groups(self) -> int:
        return len(self.cgroups.children())

    def settle(self, count: int, what: str) -> None:
        """Wait until `count` sandbox groups exist and no sandbox uses CPU."""
        if (
            wait_for(lambda: self.groups() == count, timeout_s=SETTLE_TIMEOUT_S, poll_s=0.01)
            is None
        ):
            raise BenchError(f"{what}: {self.groups()} sandbox groups, expected {count}")
        quiet = wait_cpu_quiet(
            self.parents, quiet_s=CPU_QUIET_S, timeout_s=SETTLE_TIMEOUT_S, poll_s=SETTLE_POLL_S
        )
        if quiet is None:
            raise BenchError(f"{what}: the sandboxes did not go quiet")

    def create(self, names: list[str]) -> float:
        started = time.monotonic()
        for name in names:
            create_function(self.client, name=name)
        return time.monotonic() - started

    def delete(self, names: list[str], base: int, what: str) -> None:
        for name in names:
            _check(self.client.request("DELETE", f"{FUNCTIONS}/{name}"), f"DeleteFunction {name}")
        self.settle(base, f"after {what}")

    def timed(self, method: str, path: str, body: bytes | None = None) -> float:
        started = time.perf_counter_ns()
        _check(self.client.request(method, path, body), f"{method} {path}")
        return (time.perf_counter_ns() - started) / 1e6

    def add(self, key: str, value_ms: float) -> None:
        self.samples.setdefault(key, []).append(value_ms)

    # -- 1. spaced-out cold starts (the baseline) and a burst of distinct functions ---------

    def burst(self, *, spaced: int, burst: int) -> None:
        base = self.groups()
        names = [f"sp-{i}" for i in range(spaced)] + [f"bu-{i}" for i in range(burst)]
        self.create(names)
        python = os.path.realpath(sys.executable)
        bare = [python, "-I", "-S", "-c", "pass"]
        bwrap = shutil.which("bwrap")
        wrapped = bwrap_argv(bwrap, python) if bwrap else None

        def cold(i: int) -> None:
            self.settle(base + i, "before a spaced cold start")
            started = time.perf_counter_ns()
            invoke_cold(self.client, f"sp-{i}")
            self.add("cold_spaced", (time.perf_counter_ns() - started) / 1e6)
            self.settle(base + i + 1, "after a spaced cold start")

        for i in range(spaced):
            steps: list[Callable[[], None]] = [
                lambda: self.add("python_bare", spawn_and_wait_ns(bare, _SPAWN_ENV) / 1e6),
                lambda i=i: cold(i),  # type: ignore[misc]
            ]
            if wrapped is not None:
                steps.append(
                    lambda: self.add("bwrap_python", spawn_and_wait_ns(wrapped, _SPAWN_ENV) / 1e6)
                )
            k = i % len(steps)
            for step in steps[k:] + steps[:k]:
                step()
        self.settle(base + spaced, "before the burst")
        started = time.monotonic()
        for i in range(burst):
            t0 = time.perf_counter_ns()
            invoke_cold(self.client, f"bu-{i}")
            self.add("cold_burst", (time.perf_counter_ns() - t0) / 1e6)
        self.figures["burst_s"] = time.monotonic() - started
        self.delete(names, base, "the burst phase")

    # -- 2. cold starts from N concurrent clients -------------------------------------------

    def concurrent_cold(self, *, seconds: float, max_functions: int) -> None:
        assert self.pool is not None
        base = self.groups()
        names = [f"cc-{i}" for i in range(max_functions)]
        self.figures["concurrent_create_s"] = self.create(names)
        self.settle(base, "before concurrent cold starts")
        n = self.clients
        result = per_client_burst(
            self.pool,
            self.daemon.socket_path,
            "cold",
            [f"cc:{j}:{n}" for j in range(n)],
            load.split(max_functions, n),
            seconds,
        )
        self.samples["cold_concurrent"] = result.samples_ms
        self.figures["cold_concurrent_rate"] = result.rate
        self.figures["cold_concurrent_elapsed_s"] = result.elapsed_s
        if result.ops >= max_functions:
            self.anomalies.append(
                f"concurrent cold starts used all {max_functions} functions before "
                f"{seconds:g} s (raise --cold-functions)"
            )
        self.delete(names, base, "concurrent cold starts")

    # -- 3. warm invokes, one client, against raw round trips -------------------------------

    def warm_one(self, *, seconds: float, rounds: int, max_ops: int) -> None:
        invoke = INVOKE.format(FUNCTION_NAME)
        config = f"{FUNCTIONS}/{FUNCTION_NAME}/configuration"
        resp = self.client.request("POST", invoke, PAYLOAD)
        _check(resp, "Invoke")
        echo_socket = self.daemon.base / "echo.sock"
        with open_echo(echo_socket, resp.body):
            echo = Client(echo_socket, timeout_s=REQUEST_TIMEOUT_S)
            try:
                series: dict[str, Callable[[], float]] = {
                    "warm_1": lambda: self.timed("POST", invoke, PAYLOAD),
                    "config_1": lambda: self.timed("GET", config),
                    "echo_1": lambda: _timed_on(echo, "POST", invoke, PAYLOAD),
                }
                keys = list(series)
                for _ in range(20):  # warm-up: connections, caches
                    for op in series.values():
                        op()
                for r in range(rounds):
                    for key in keys[r % 3 :] + keys[: r % 3]:
                        samples, elapsed = _loop(series[key], seconds, max_ops)
                        self.samples.setdefault(key, []).extend(samples)
                        self.figures.setdefault(f"{key}_rates", []).append(len(samples) / elapsed)
            finally:
                echo.close()

    # -- 4. warm throughput against clients, and through the function URL -------------------

    def throughput(self, *, seconds: float, rounds: int, client_counts: list[int]) -> None:
        assert self.pool is not None
        socket_path = self.daemon.socket_path
        most = max(client_counts)
        load.burst(  # one warm environment per client
            self.pool,
            socket_path,
            _operation,
            "invoke",
            max_ops=[50] * most,
            start_at=time.monotonic() + load.LEAD_S,
            end_at=time.monotonic() + load.LEAD_S + 5.0,
        )
        for r in range(rounds):
            for n in client_counts:
                for series in ("invoke", "get-config")[:: 1 if r % 2 == 0 else -1]:
                    start_at = time.monotonic() + load.LEAD_S
                    b = load.burst(
                        self.pool,
                        socket_path,
                        _operation,
                        series,
                        max_ops=[1_000_000] * n,
                        start_at=start_at,
                        end_at=start_at + seconds,
                    )
                    self.figures.setdefault(f"{series}_{n}c_rates", []).append(b.rate)
                    if n == self.clients:
                        self.samples.setdefault(f"{series}_{n}c", []).extend(b.samples_ms)

    def function_url(self, *, seconds: float, rounds: int, connections: int) -> None:
        if shutil.which("wrk") is None:
            self.anomalies.append("wrk not installed: the function URL series is skipped")
            return
        url = self.client.json_request("POST", URLS.format(FUNCTION_NAME), {"AuthType": "NONE"})
        _check(url, "CreateFunctionUrlConfig")
        permission = {
            "StatementId": "bench-url",
            "Action": "lambda:InvokeFunctionUrl",
            "Principal": "*",
            "FunctionUrlAuthType": "NONE",
        }
        _check(
            self.client.json_request("POST", POLICY.format(FUNCTION_NAME), permission),
            "AddPermission",
        )
        host = str(url.json()["FunctionUrl"]).split("//", 1)[1].split("/", 1)[0]
        unknown = "0" * 32 + host[32:]  # a URL id no function has: 403 from the listener
        target = f"http://127.0.0.1:{self.url_port}/"
        run_wrk(target, host, connections=connections, seconds=1.0)  # warm-up
        for r in range(rounds):
            pairs = [("url", host), ("url_forbidden", unknown)]
            for key, h in pairs[:: 1 if r % 2 == 0 else -1]:
                result = run_wrk(target, h, connections=connections, seconds=seconds)
                self.figures.setdefault(f"{key}_wrk", []).append(result)
                if key == "url" and result["non_2xx"]:
                    self.anomalies.append(f"wrk: {result['non_2xx']:.0f} non-2xx URL answers")
        _check(self.client.request("DELETE", URLS.format(FUNCTION_NAME)), "DeleteFunctionUrl")

    # -- 5 and 6. filling N idle environments, and what each one costs ----------------------

    def density(self, *, environments: int) -> None:
        assert self.pool is not None
        base = self.groups()
        names = [f"de-{i}" for i in range(environments)]
        self.create(names)
        self.settle(base, "before filling")
        time.sleep(1.0)
        mem0, rss0, cg0 = mem_available_kb(), rss_kb(self.pid), cgroup_memory_kb(self.parents)
        n = self.clients
        result = per_client_burst(
            self.pool,
            self.daemon.socket_path,
            "cold",
            [f"de:{j}:{n}" for j in range(n)],
            load.split(environments, n),
            SETTLE_TIMEOUT_S,
        )
        self.samples["cold_fill"] = result.samples_ms
        self.figures["fill_rate"] = result.rate
        if result.ops != environments:
            raise BenchError(f"filled {result.ops} of {environments} environments")
        self.settle(base + environments, "after filling")
        time.sleep(1.0)
        mem1, rss1, cg1 = mem_available_kb(), rss_kb(self.pid), cgroup_memory_kb(self.parents)
        self.figures["density"] = {
            "environments": environments,
            "mem_available_delta_kb": mem0 - mem1,
            "host_kb_per_env": (mem0 - mem1) / environments,
            "daemon_rss_delta_kb": rss1 - rss0,
            "daemon_kb_per_env": (rss1 - rss0) / environments,
            "cgroup_memory_delta_kb": cg1 - cg0,
            "cgroup_kb_per_env": (cg1 - cg0) / environments,
        }
        self.delete(names, base, "the density phase")

    # -- 7. churn: create, invoke, delete, for a while; then count what is left -------------

    def churn(self, *, seconds: float, max_cycles: int) -> None:
        base = self.groups()
        self.settle(base, "before churn")
        time.sleep(1.0)  # network set-up of the last phase's stems, fds closing
        before = snapshot(self.pid, base, self.table)
        end_at = time.monotonic() + seconds
        cycles = 0
        started = time.monotonic()
        while cycles < max_cycles and time.monotonic() < end_at:
            name = f"ch-{cycles}"
            t0 = time.perf_counter_ns()
            create_function(self.client, name=name)
            invoke_cold(self.client, name)
            _check(self.client.request("DELETE", f"{FUNCTIONS}/{name}"), "DeleteFunction")
            self.add("churn_cycle", (time.perf_counter_ns() - t0) / 1e6)
            cycles += 1
        elapsed = time.monotonic() - started
        self.settle(base, "after churn")
        time.sleep(1.0)
        after = snapshot(self.pid, self.groups(), self.table)
        diff = before.diff(after)
        self.figures["churn"] = {
            "cycles": cycles,
            "seconds": elapsed,
            "cycles_per_s": cycles / elapsed if elapsed else 0.0,
            "before": {k: getattr(before, k) for k in before.__slots__},
            "after": {k: getattr(after, k) for k in after.__slots__},
            "diff": diff,
        }
        for key in ("cgroups", "links", "nft_objects", "processes", "daemon_fds"):
            if diff[key] > 0:  # growth is a leak; fewer is what the last phase left settling
                self.anomalies.append(f"churn: {key} {diff[key]:+d} after {cycles} cycles")


def _timed_on(client: Client, method: str, path: str, body: bytes | None) -> float:
    started = time.perf_counter_ns()
    resp = client.request(method, path, body)
    elapsed = (time.perf_counter_ns() - started) / 1e6
    _check(resp, "echo")
    return elapsed


def _loop(op: Callable[[], float], seconds: float, max_ops: int) -> tuple[list[float], float]:
    samples: list[float] = []
    started = time.monotonic()
    end_at = started + seconds
    while len(samples) < max_ops and time.monotonic() < end_at:
        samples.append(op())
    return samples, time.monotonic() - started
