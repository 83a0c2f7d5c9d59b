"""Cold- and warm-invoke latency of lambdalet, end to end through its API (as root).

Measured in the same run, interleaved: a bare interpreter start and bubblewrap running that
interpreter (cold), and a cheap API round trip (warm). ``python -m bench.coldstart --runs 100``.

Resource handling: the benchmark starts its own daemon (temporary state dir and socket, cgroup
parent ``lambdalet-bench-<pid>``) and always stops it with SIGTERM (SIGKILL after a bound); it
then warns about any tagged cgroup, daemon process or mount left behind, and removes the
temporary directory only when nothing is mounted under it.
"""

from __future__ import annotations

import argparse
import base64
import http.client
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.host import (
    CGROUP_ROOT,
    REPO,
    BenchError,
    bwrap_argv,
    descendants,
    find_tagged_cgroups,
    host_facts,
    loadavg,
    network_toml,
    other_daemons,
    settled_count,
    spawn_and_wait_ns,
    start_time,
    tagged_processes,
    wait_cpu_quiet,
    wait_for,
)
from bench.stats import ROWS, ReportTimes, compute_ratios, parse_report, render_table, summarize
from engine.cli.client import Client, ClientError, HttpResponse
from engine.registry.packaging import zip_directory
from sandbox.cgroups import Cgroups

EXAMPLE_DIR = REPO / "examples" / "hello-python"
EXAMPLE_CONFIG = "lambdalet.json"
RESULTS_DIR = REPO / "bench" / "results"
FUNCTIONS = "/2015-03-31/functions"
FUNCTION_NAME = "bench-hello"
ROLE = "arn:aws:iam::000000000000:role/lambdalet-bench"
PAYLOAD = b'{"name": "bench"}'
TAIL = {"X-Amz-Log-Type": "Tail"}

KEEP_WARM_S = 3600.0  # environments are only ever retired by our config updates
START_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 30.0
REQUEST_TIMEOUT_S = 60.0
QUIESCE_TIMEOUT_S = 15.0  # daemon's teardown_timeout_s (10 s) plus slack
QUIESCE_POLL_S = 0.002
MAX_SETTLE_TIMEOUTS = 3  # then the run stops: every round would wait the full bound
CPU_QUIET_S = 0.01  # sandboxes idle this long = stems built, teardowns done
STEMS_QUIET_S = 0.5  # the stem count is taken once it has not changed for this long


@dataclass
class BenchDaemon:
    """A daemon of our own: ``<base>/state``, ``<base>/run/api.sock``, its log in ``<base>``."""

    base: Path
    cgroup_parent: str
    extra_toml: str = ""  # appended to the configuration (e.g. a [network] table)
    keep_warm_s: float = KEEP_WARM_S
    process: subprocess.Popen[bytes] | None = None

    @property
    def socket_path(self) -> Path:
        return self.base / "run" / "api.sock"

    @property
    def log_path(self) -> Path:
        return self.base / "daemon.log"

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def start(self) -> None:
        config = self.base / "daemon.toml"
        config.write_text(
            textwrap.dedent(
                f"""\
                state_dir = "{self.base / "state"}"
                socket_path = "{self.socket_path}"
                [sandbox]
                cgroup_parent = "{self.cgroup_parent}"
                keep_warm_s = {self.keep_warm_s}
                """
            )
            + textwrap.dedent(self.extra_toml)
        )
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(
                [sys.executable, "-m", "engine.cli", "serve", "--config", str(config)],
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=REPO,
            )
        # The socket accepts connections (backlog) before the API serves: wait for a reply.
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"the daemon exited at start-up:\n{self.log_tail()}")
            if self.socket_path.exists():
                probe = Client(self.socket_path, timeout_s=max(0.1, deadline - time.monotonic()))
                try:
                    if probe.request("GET", FUNCTIONS).status == 200:
                        return
                except (OSError, ClientError, http.client.HTTPException):
                    pass
                finally:
                    probe.close()
            time.sleep(0.05)
        raise BenchError(
            f"the daemon did not answer in {START_TIMEOUT_S:.0f} s:\n{self.log_tail()}"
        )

    def stop(self) -> int | None:
        proc, self.process = self.process, None
        if proc is None:
            return None
        proc.send_signal(signal.SIGTERM)
        try:
            return proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            print(f"warning: daemon ignored SIGTERM for {STOP_TIMEOUT_S:.0f} s; killing it")
            proc.kill()
            return proc.wait(STOP_TIMEOUT_S)


# --- the measurement ------------------------------------------------------------------------


@dataclass
class Run:
    client: Client
    cgroups: Cgroups  # the daemon's own view of its sandbox groups
    parents: list[Path]
    python_argv: list[str]
    bwrap_argv: list[str] | None
    warmup: int
    stems: int  # sandbox cgroups alive with no environment: the pool's ready stems
    samples: dict[str, list[float]] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)
    recording: bool = False
    timeouts: int = 0

    def record(self, key: str, value_ms: float) -> None:
        if self.recording:
            self.samples.setdefault(key, []).append(value_ms)

    def note(self, text: str) -> None:
        if self.recording and len(self.anomalies) < 100:
            self.anomalies.append(text)

    def timed(
        self,
        method: str,
        path: str,
        body: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[float, HttpResponse]:
        started = time.perf_counter_ns()
        resp = self.client.request(method, path, body, headers)
        return (time.perf_counter_ns() - started) / 1e6, resp

    # -- steps, each one sample ------------------------------------------------------------

    def python_bare(self, _: int) -> None:
        self.record("python_bare", spawn_and_wait_ns(self.python_argv, _SPAWN_ENV) / 1e6)

    def bwrap_python(self, _: int) -> None:
        if self.bwrap_argv is not None:
            self.record("bwrap_python", spawn_and_wait_ns(self.bwrap_argv, _SPAWN_ENV) / 1e6)

    def groups(self) -> set[str]:
        return set(self.cgroups.children())

    def settle(self, done: Callable[[], bool], what: str, round_no: int) -> float | None:
        ms = wait_for(done, timeout_s=QUIESCE_TIMEOUT_S, poll_s=QUIESCE_POLL_S)
        if ms is None:
            self.timed_out(what, round_no)
        return ms

    def timed_out(self, what: str, round_no: int) -> None:
        self.timeouts += 1
        self.note(f"round {round_no}: {what} did not happen within {QUIESCE_TIMEOUT_S} s")
        if self.timeouts >= MAX_SETTLE_TIMEOUTS:
            raise BenchError(
                f"the daemon's sandboxes did not settle {self.timeouts} times (last: {what}, "
                f"expected {self.stems} stems); see the daemon log"
            )

    def quiet(self, round_no: int) -> int | None:
        """Wait until no sandbox (a stem being built) uses CPU; when one last did (ns)."""
        last = wait_cpu_quiet(
            self.parents, quiet_s=CPU_QUIET_S, timeout_s=QUIESCE_TIMEOUT_S, poll_s=QUIESCE_POLL_S
        )
        if last is None:
            self.timed_out("CPU quiet", round_no)
        return last

    def cold(self, round_no: int) -> None:
        # A configuration change retires the idle environment (untimed). Before timing, wait
        # for its teardown (one of the groups present before the update goes away) and for
        # the stem pool to be full, so the cold start shares the CPUs with neither.
        before = self.groups()
        env = {"Environment": {"Variables": {"BENCH_ROUND": str(round_no)}}}
        update = self.client.json_request("PUT", f"{FUNCTIONS}/{FUNCTION_NAME}/configuration", env)
        _check(update, "UpdateFunctionConfiguration")
        if len(before) > self.stems:
            gone = self.settle(lambda: not before <= self.groups(), "teardown", round_no)
            if gone is not None:
                self.record("teardown", gone)
        self.settle(lambda: len(self.groups()) == self.stems, "return to idle", round_no)
        self.quiet(round_no)
        ms, resp = self.timed("POST", f"{FUNCTIONS}/{FUNCTION_NAME}/invocations", PAYLOAD, TAIL)
        answered = time.perf_counter_ns()
        report = _invoke_report(resp)
        self.record("cold", ms)
        if report is None or report.init_duration_ms is None:
            self.note(f"round {round_no}: cold invoke has no Init Duration in its REPORT")
        else:
            self.record("cold_init", report.init_duration_ms)
            self.record("cold_duration", report.duration_ms)
            self.record("cold_outside", ms - report.init_duration_ms - report.duration_ms)
        # The pool replaces the stem this start used; wait so the next step runs on a quiet
        # host.
        self.settle(lambda: len(self.groups()) == self.stems + 1, "refill", round_no)
        last_busy = self.quiet(round_no)
        if last_busy is not None and self.stems:
            self.record("refill", max(0, last_busy - answered) / 1e6)

    def warm(self, round_no: int) -> None:
        ms, resp = self.timed("POST", f"{FUNCTIONS}/{FUNCTION_NAME}/invocations", PAYLOAD, TAIL)
        report = _invoke_report(resp)
        self.record("warm", ms)
        if report is None or report.init_duration_ms is not None:
            self.note(f"round {round_no}: warm invoke was a cold start")
        else:
            self.record("warm_duration", report.duration_ms)

    def config_get(self, _: int) -> None:
        ms, resp = self.timed("GET", f"{FUNCTIONS}/{FUNCTION_NAME}/configuration")
        _check(resp, "GetFunctionConfiguration")
        self.record("config_get", ms)

    def phase(self, steps: Sequence[Callable[[int], None]], runs: int) -> None:
        """`warmup` unrecorded rounds, then `runs` rounds; the step order rotates per round."""
        for round_no in range(self.warmup + runs):
            self.recording = round_no >= self.warmup
            k = round_no % len(steps)
            for step in [*steps[k:], *steps[:k]]:
                step(round_no)
        self.recording = False


_SPAWN_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def _check(resp: HttpResponse, what: str) -> None:
    if resp.status >= 300:
        raise BenchError(f"{what} answered {resp.status}: {resp.body[:500]!r}")


def _invoke_report(resp: HttpResponse) -> ReportTimes | None:
    _check(resp, "Invoke")
    if "x-amz-function-error" in resp.headers:
        raise BenchError(f"the function failed: {resp.body[:500]!r}")
    tail = base64.b64decode(resp.headers.get("x-amz-log-result", "")).decode(errors="replace")
    return parse_report(tail)


def create_function(
    client: Client, *, memory_mb: int | None = None, name: str = FUNCTION_NAME
) -> None:
    settings: dict[str, Any] = json.loads((EXAMPLE_DIR / EXAMPLE_CONFIG).read_text())
    if memory_mb is not None:
        settings["MemorySize"] = memory_mb
    body = {
        **settings,
        "FunctionName": name,
        "Role": ROLE,
        "Code": {"ZipFile": zip_directory(EXAMPLE_DIR, exclude=(EXAMPLE_CONFIG,))},
    }
    _check(client.json_request("POST", FUNCTIONS, body), "CreateFunction")


def measure(daemon: BenchDaemon, *, runs: int, warmup: int, memory_mb: int | None) -> Run:
    client = Client(daemon.socket_path, timeout_s=REQUEST_TIMEOUT_S)
    try:
        create_function(client, memory_mb=memory_mb)
        parents = find_tagged_cgroups(daemon.cgroup_parent)
        if not parents:
            raise BenchError(f"no cgroup parent {daemon.cgroup_parent} found under {CGROUP_ROOT}")
        cgroups = Cgroups.detect(parent_name=daemon.cgroup_parent)
        stems = settled_count(cgroups.children, quiet_s=STEMS_QUIET_S, timeout_s=START_TIMEOUT_S)
        print(f"{stems} sandbox stem(s) ready before the first invoke", flush=True)
        python = os.path.realpath(sys.executable)  # the daemon's interpreter, venv resolved
        bwrap = shutil.which("bwrap")
        if bwrap is None:
            print("warning: bwrap not found; the bubblewrap series is skipped")
        run = Run(
            client=client,
            cgroups=cgroups,
            parents=parents,
            python_argv=[python, "-I", "-S", "-c", "pass"],
            bwrap_argv=bwrap_argv(bwrap, python) if bwrap else None,
            warmup=warmup,
            stems=stems,
        )
        print(f"cold phase: {warmup} + {runs} rounds (python, bwrap, cold invoke) ...", flush=True)
        run.phase([run.python_bare, run.bwrap_python, run.cold], runs)
        print(f"warm phase: {warmup} + {runs} rounds (warm invoke, config GET) ...", flush=True)
        run.phase([run.warm, run.config_get], runs)
        if (n := len(run.groups())) != stems + 1:
            run.anomalies.append(f"{n} sandboxes alive after the warm phase, expected {stems + 1}")
        _check(client.request("DELETE", f"{FUNCTIONS}/{FUNCTION_NAME}"), "DeleteFunction")
        return run
    finally:
        client.close()


def leftovers(tag: str, base: Path, processes: dict[int, str]) -> list[str]:
    found = [f"cgroup {p}" for p in find_tagged_cgroups(tag)]
    alive = {pid for pid, started in processes.items() if start_time(pid) == started}
    found += [f"process {pid}" for pid in sorted(alive.union(tagged_processes(tag)))]
    with open("/proc/mounts") as f:
        found += [f"mount {line.split()[1]}" for line in f if str(base) in line or tag in line]
    return found


# --- CLI ----------------------------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.coldstart",
        description="Cold and warm invoke latency of lambdalet against a bare interpreter, "
        "bubblewrap and an API round trip (needs root).",
    )
    p.add_argument("--runs", type=int, default=100, help="samples per series (default 100)")
    p.add_argument("--warmup", type=int, default=5, help="unrecorded rounds per phase (default 5)")
    p.add_argument(
        "--memory-mb",
        type=int,
        help="the function's MemorySize, hence its CPU quota (default: the example's, 128)",
    )
    p.add_argument("--json", type=Path, help="write results here (default bench/results/...)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.runs < 1 or args.warmup < 0:
        print("--runs must be >= 1 and --warmup >= 0", file=sys.stderr)
        return 2
    if os.geteuid() != 0:
        print("the benchmark starts a lambdalet daemon, which needs root", file=sys.stderr)
        return 2
    if args.runs < 100:
        print(f"note: --runs {args.runs} < 100; p99 is not meaningful")
    tag = f"lambdalet-bench-{os.getpid()}"
    base = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    daemon = BenchDaemon(base=base, cgroup_parent=tag, extra_toml=network_toml(tag, enabled=True))
    facts = host_facts()
    facts["loadavg_start"] = loadavg()
    if others := other_daemons():
        print(
            f"warning: {len(others)} other lambdalet daemon(s) running "
            f"(pids {', '.join(map(str, others[:10]))}): expect noisy numbers"
        )
    facts["other_daemons_at_start"] = len(others)
    started_at = datetime.now(UTC)
    run: Run | None = None
    processes: dict[int, str] = {}
    try:
        print(f"starting a daemon (state {base}, cgroup parent {tag}) ...", flush=True)
        daemon.start()
        try:
            run = measure(daemon, runs=args.runs, warmup=args.warmup, memory_mb=args.memory_mb)
        finally:
            if daemon.process is not None:
                processes = descendants(daemon.process.pid)
    except (BenchError, ClientError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    finally:
        code = daemon.stop()
        left = leftovers(tag, base, processes)
        for item in left:
            print(f"warning: left behind by the benchmark's daemon: {item}")
        if code not in (None, 0):
            print(f"warning: the daemon exited with status {code}; log:\n{daemon.log_tail()}")
        if run is None or left or code not in (None, 0):
            print(f"keeping {base} (daemon log: {daemon.log_path})")
        else:
            shutil.rmtree(base, ignore_errors=True)
    if run is None:
        return 1

    facts["loadavg_end"] = loadavg()
    stats = {row.key: summarize(run.samples[row.key]) for row in ROWS if run.samples.get(row.key)}
    ratios = compute_ratios(stats)
    print()
    print(
        f"lambdalet coldstart  {facts['git_sha'] or 'no git sha'}  kernel {facts['kernel']}  "
        f"{facts['cpu_model']} x{facts['cpus']}  Python {facts['python']}  N={args.runs}"
    )
    if modified := facts["git_modified_files"]:
        print(f"working tree differs from that commit in {len(modified)} file(s)")
    print(f"load average at start {facts['loadavg_start']}, at end {facts['loadavg_end']}")
    print(render_table(stats, ratios))
    for text in run.anomalies:
        print(f"anomaly: {text}")
    result = {
        "benchmark": "coldstart",
        "started_at": started_at.isoformat(),
        **facts,
        "runs": args.runs,
        "warmup": args.warmup,
        "stems_ready": run.stems,
        "memory_mb": args.memory_mb,
        "python_argv": run.python_argv,
        "bwrap_argv": run.bwrap_argv,
        "series": stats,
        "ratios": ratios,
        "anomalies": run.anomalies,
        "leftovers": left,
        "samples_ms": {k: [round(v, 4) for v in vs] for k, vs in run.samples.items()},
    }
    path = args.json or RESULTS_DIR / f"coldstart-{started_at.strftime('%Y%m%dT%H%M%SZ')}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(result, indent=2) + "\n")
    print(f"\nwrote {path}")
    return 1 if left or run.anomalies else 0


if __name__ == "__main__":
    sys.exit(main())
