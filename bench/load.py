"""N client processes against a daemon's unix socket, each bounded in time and count.

A burst: every process of a ``spawn`` pool (no fork of a process that has threads) opens one
keep-alive connection (``engine.cli.client.Client``), connects before a common start, then
repeats one operation until a common end or its own count, timing each one. Times are
``time.monotonic()`` (CLOCK_MONOTONIC: one clock for every process on the host).

Resource handling: the caller owns the pool (``with open_pool(n) as pool``; leaving the block
terminates and joins its processes); each client closes its connection before it returns.
"""

from __future__ import annotations

import multiprocessing
import multiprocessing.pool
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.coldstart import FUNCTION_NAME, FUNCTIONS, REQUEST_TIMEOUT_S, _check
from bench.host import BenchError
from engine.cli.client import Client

# operation factory(client, series, argument) -> one operation; module-level (it is pickled)
Factory = Callable[[Client, str, str], Callable[[], None]]
LEAD_S = 1.0  # from a burst's submission to its start: the processes connect meanwhile
WAIT_POLL_S = 0.01
POOL_START_TRIES = 10
CONFIG_PATH = f"{FUNCTIONS}/{FUNCTION_NAME}/configuration"


@dataclass(frozen=True, slots=True, kw_only=True)
class Job:
    socket_path: str
    factory: Factory
    series: str
    argument: str  # passed to the factory (a queue URL, ...)
    start_at: float
    end_at: float
    max_ops: int


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientRun:
    samples_ms: list[float]
    finished_at: float  # when its last operation ended (its start when it did none)


@dataclass(frozen=True, slots=True, kw_only=True)
class Burst:
    started_at: float
    runs: list[ClientRun]

    @property
    def samples_ms(self) -> list[float]:
        return [v for run in self.runs for v in run.samples_ms]

    @property
    def ops(self) -> int:
        return sum(len(run.samples_ms) for run in self.runs)

    @property
    def elapsed_s(self) -> float:
        """From the common start to the end of the last operation of any client."""
        return max(run.finished_at for run in self.runs) - self.started_at

    @property
    def rate(self) -> float:
        return self.ops / self.elapsed_s if self.elapsed_s > 0 else 0.0


def get_config(client: Client) -> None:
    """The baseline operation: GetFunctionConfiguration of the bench function."""
    _check(client.request("GET", CONFIG_PATH), "GetFunctionConfiguration")


def run_client(job: Job) -> ClientRun:
    """One client process: connect, wait for the common start, run until the end or count."""
    client = Client(Path(job.socket_path), timeout_s=REQUEST_TIMEOUT_S)
    try:
        operation = job.factory(client, job.series, job.argument)
        get_config(client)  # connect outside the measured window
        while (now := time.monotonic()) < job.start_at:
            time.sleep(min(0.001, job.start_at - now))
        samples: list[float] = []
        finished_at = job.start_at
        while len(samples) < job.max_ops and time.monotonic() < job.end_at:
            started = time.perf_counter_ns()
            operation()
            samples.append((time.perf_counter_ns() - started) / 1e6)
            finished_at = time.monotonic()
        return ClientRun(samples_ms=samples, finished_at=finished_at)
    finally:
        client.close()


def _pid_after(pause_s: float) -> int:
    time.sleep(pause_s)
    return os.getpid()


@contextmanager
def open_pool(clients: int) -> Iterator[multiprocessing.pool.Pool]:
    """A pool whose `clients` processes have all started (imports done) before it is used: a
    process still starting when a burst begins would shorten that burst's window."""
    with multiprocessing.get_context("spawn").Pool(clients) as pool:
        for _ in range(POOL_START_TRIES):
            if len(set(pool.map(_pid_after, [0.2] * clients, chunksize=1))) == clients:
                break
        yield pool


def split(total: int, parts: int) -> list[int]:
    """`total` operations over `parts` clients, as evenly as possible."""
    return [total // parts + (1 if i < total % parts else 0) for i in range(parts)]


def burst(
    pool: multiprocessing.pool.Pool,
    socket_path: Path,
    factory: Factory,
    series: str,
    *,
    max_ops: list[int],
    start_at: float,
    end_at: float,
    argument: str = "",
    while_waiting: Callable[[], None] | None = None,
) -> Burst:
    """One client per entry of `max_ops`; blocks until all return (bounded by `end_at` plus
    one request's timeout). `while_waiting` is called every WAIT_POLL_S meanwhile."""
    jobs = [
        Job(
            socket_path=str(socket_path),
            factory=factory,
            series=series,
            argument=argument,
            start_at=start_at,
            end_at=end_at,
            max_ops=n,
        )
        for n in max_ops
    ]
    pending = pool.map_async(run_client, jobs, chunksize=1)
    deadline = end_at + REQUEST_TIMEOUT_S + 5.0
    while not pending.ready():
        if time.monotonic() > deadline:
            raise BenchError(f"the {series} clients did not finish by their deadline")
        if while_waiting is not None:
            while_waiting()
        pending.wait(WAIT_POLL_S)
    return Burst(started_at=start_at, runs=pending.get())
