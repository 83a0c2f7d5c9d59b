"""SnapStart: an environment started from a template, against the same function's ordinary
cold start and against bare python, end to end through the API, in one run (as root).

The function imports boto3 at init and makes a client (what makes Python cold starts slow);
its handler is trivial and reports the memory its environment shares with the template
(/proc/self/smaps_rollup). Rounds interleave, in rotating order:

    restore   invoke of the published version (SnapStart): a clone of its template (the
              trivial handler); then the same environment again twice: at once (warm: the
              floor under any invoke) and once the host is quiet again (warm_quiet: a warm
              invoke that pays what waking an idle host costs, as the restore did, and the
              thaw of its cgroup: idle environments are frozen after 20 ms), and a
              last time for the memory it shares with the template (smaps_rollup, untimed)
    cold      invoke of $LATEST: an ordinary cold start (boto3 imported at init)
    python    ``python -I -S -c pass`` on the host (bare interpreter start)
    boto3     ``python -I -c 'import boto3; boto3.client(...)'`` on the host

Between rounds, idle environments are reaped (``keep_warm_s`` is short) and the template's
next shell is ready, so each restore and each cold start is a new environment on a quiet host.
``python -m bench.snapstart --runs 30`` (``--only restore``: the restore rounds alone, a
quick loop).

Resource handling: as `bench.coldstart` (its own daemon, cgroup parent
``lambdalet-bench-<pid>``, stopped with SIGTERM; leftovers reported).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.coldstart import FUNCTIONS, ROLE, TAIL, BenchDaemon, leftovers
from bench.host import (
    BenchError,
    descendants,
    find_tagged_cgroups,
    spawn_and_wait_ns,
    wait_cpu_quiet,
)
from bench.stats import parse_report
from engine.cli.client import Client, HttpResponse
from engine.registry.packaging import zip_directory

FUNCTION_NAME = "bench-snapstart"
PACKAGES = ("boto3", "botocore", "s3transfer", "jmespath", "dateutil", "urllib3", "six.py")
CODE = """\
import boto3

CLIENT = boto3.client("s3", region_name="us-east-1")  # what a real function's init does


def _rollup():
    fields = {}
    with open("/proc/self/smaps_rollup") as f:
        for line in f:
            parts = line.split()
            if len(parts) >= 2 and parts[0].endswith(":") and parts[1].isdigit():
                fields[parts[0][:-1]] = int(parts[1])
    return fields


def handler(event, context):
    return _rollup() if event.get("memory") else "ok"
"""
HOST_BOTO3 = "import boto3; boto3.client('s3', region_name='us-east-1')"
KEEP_WARM_S = 0.2  # idle environments go at the pool's next reap (every second)
SETTLE_TIMEOUT_S = 20.0
CPU_QUIET_S = 0.02


@dataclass
class Run:
    client: Client
    daemon: BenchDaemon
    version: str
    code_dir: Path
    parents: list[Path]
    samples: dict[str, list[float]] = field(default_factory=dict)
    recording: bool = False
    notes: list[str] = field(default_factory=list)

    def record(self, key: str, value: float) -> None:
        if self.recording:
            self.samples.setdefault(key, []).append(value)

    def pool(self) -> dict[str, Any]:
        doc: dict[str, Any] = json.loads(self.client.request("GET", "/lambdalet/v1/pool").body)
        return doc

    def settle(self) -> None:
        """No environment alive, the template ready with a shell, no sandbox busy."""
        deadline = time.monotonic() + SETTLE_TIMEOUT_S
        while time.monotonic() < deadline:
            doc = self.pool()
            shells = sum(t["ReadyShells"] for t in doc["SnapStart"]["Templates"] if t["Ready"])
            if doc["Environments"]["Live"] == 0 and shells >= 1:
                wait_cpu_quiet(
                    self.parents, quiet_s=CPU_QUIET_S, timeout_s=SETTLE_TIMEOUT_S, poll_s=0.002
                )
                return
            time.sleep(0.05)
        raise BenchError(f"the pool did not settle: {self.pool()}")

    def invoke(self, qualifier: str, event: dict[str, Any]) -> tuple[float, HttpResponse]:
        path = f"{FUNCTIONS}/{FUNCTION_NAME}/invocations?Qualifier={qualifier}"
        started = time.perf_counter_ns()
        resp = self.client.request("POST", path, json.dumps(event).encode(), TAIL)
        elapsed = (time.perf_counter_ns() - started) / 1e6
        if resp.status != 200 or "x-amz-function-error" in resp.headers:
            raise BenchError(f"invoke {qualifier} failed: {resp.status} {resp.body[:300]!r}")
        return elapsed, resp

    # -- steps -------------------------------------------------------------------------

    def restore(self, round_no: int) -> None:
        self.settle()
        ms, resp = self.invoke(self.version, {})  # the trivial handler: the start itself
        report = parse_report(_tail(resp))
        if report is None or report.restore_duration_ms is None:
            self.notes.append(f"round {round_no}: no Restore Duration (an ordinary start?)")
            return
        self.record("restore_e2e", ms)
        self.record("restore_duration", report.restore_duration_ms)
        self.record("restore_invoke_duration", report.duration_ms)
        # The same environment again: a warm invoke, the floor under any start.
        self.warm("warm")
        # And once more after the host went quiet, as it was before the restore: a warm
        # invoke that pays what waking an idle host costs (the restore's fair floor).
        wait_cpu_quiet(self.parents, quiet_s=CPU_QUIET_S, timeout_s=SETTLE_TIMEOUT_S, poll_s=0.002)
        self.warm("warm_quiet")
        # What it shares with its template once it has served (read after the timed invokes:
        # walking its page tables takes a while).
        _, resp = self.invoke(self.version, {"memory": True})
        rollup = json.loads(resp.body)
        rss = rollup.get("Rss", 0)
        private = rollup.get("Private_Clean", 0) + rollup.get("Private_Dirty", 0)
        self.record("env_rss_mb", rss / 1024)
        self.record("env_private_mb", private / 1024)
        self.record("env_shared_mb", (rss - private) / 1024)
        self.record("env_pss_mb", rollup.get("Pss", 0) / 1024)

    def warm(self, series: str) -> None:
        """A warm invoke of the version: `<series>_e2e`, and its REPORT's Duration."""
        ms, resp = self.invoke(self.version, {})
        self.record(f"{series}_e2e", ms)
        if (report := parse_report(_tail(resp))) is not None:
            self.record(f"{series}_invoke_duration", report.duration_ms)

    def cold(self, round_no: int) -> None:
        self.settle()
        ms, resp = self.invoke("$LATEST", {})
        report = parse_report(_tail(resp))
        if report is None or report.init_duration_ms is None:
            self.notes.append(f"round {round_no}: $LATEST was not a cold start")
            return
        self.record("cold_e2e", ms)
        self.record("cold_init", report.init_duration_ms)

    def python(self, _: int) -> None:
        argv = [os.path.realpath(sys.executable), "-I", "-S", "-c", "pass"]
        self.record("python_bare", spawn_and_wait_ns(argv, _ENV) / 1e6)

    def boto3(self, _: int) -> None:
        argv = [os.path.realpath(sys.executable), "-S", "-c", HOST_BOTO3]
        env = {**_ENV, "PYTHONPATH": str(self.code_dir)}
        self.record("python_boto3", spawn_and_wait_ns(argv, env) / 1e6)

    def phase(self, steps: list[Callable[[int], None]], runs: int, warmup: int) -> None:
        for round_no in range(warmup + runs):
            self.recording = round_no >= warmup
            k = round_no % len(steps)
            for step in [*steps[k:], *steps[:k]]:
                step(round_no)
        self.recording = False


_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}


def _tail(resp: HttpResponse) -> str:
    import base64

    return base64.b64decode(resp.headers.get("x-amz-log-result", "")).decode(errors="replace")


def build_code(target: Path) -> None:
    site = Path(next(p for p in sys.path if p.endswith("site-packages")))
    for name in PACKAGES:
        source = site / name
        if source.is_dir():
            shutil.copytree(source, target / name, ignore=shutil.ignore_patterns("__pycache__"))
        elif source.exists():
            shutil.copy2(source, target / name)
        else:
            raise BenchError(f"{name} is not installed in {site}")
    (target / "lambda_function.py").write_text(CODE)


def setup(client: Client, code_dir: Path) -> str:
    body = {
        "FunctionName": FUNCTION_NAME,
        "Role": ROLE,
        "Runtime": "python3.11",
        "Handler": "lambda_function.handler",
        "MemorySize": 512,
        "Timeout": 30,
        "SnapStart": {"ApplyOn": "PublishedVersions"},
        "Code": {"ZipFile": zip_directory(code_dir)},
    }
    resp = client.json_request("POST", FUNCTIONS, body)
    if resp.status != 201:
        raise BenchError(f"CreateFunction: {resp.status} {resp.body[:300]!r}")
    published = client.json_request("POST", f"{FUNCTIONS}/{FUNCTION_NAME}/versions", {})
    if published.status != 201:
        raise BenchError(f"PublishVersion: {published.status} {published.body[:300]!r}")
    return str(published.json()["Version"])


def summary(samples: list[float]) -> dict[str, float]:
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "p50": statistics.median(ordered),
        "p90": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "min": ordered[0],
    }


def report(run: Run) -> str:
    lines = [f"{'series':<18} {'n':>3} {'p50':>10} {'p90':>10} {'min':>10}"]
    stats = {k: summary(v) for k, v in sorted(run.samples.items())}
    for key, s in stats.items():
        unit = "MB" if key.endswith("_mb") else "ms"
        lines.append(
            f"{key:<18} {s['n']:>3} {s['p50']:>8.2f}{unit} {s['p90']:>8.2f}{unit} "
            f"{s['min']:>8.2f}{unit}"
        )
    p50 = {k: s["p50"] for k, s in stats.items()}
    if "restore_e2e" in p50:
        for other in ("cold_e2e", "python_bare", "python_boto3", "warm_e2e", "warm_quiet_e2e"):
            if other in p50:
                ratio = p50["restore_e2e"] / p50[other]
                lines.append(f"restore_e2e / {other:<13} p50 ratio {ratio:.4f}")
    if "env_shared_mb" in p50 and "env_rss_mb" in p50:
        share = p50["env_shared_mb"] / p50["env_rss_mb"]
        lines.append(f"memory an environment shares with its template: {share:.1%} of its RSS")
    lines += [f"note: {n}" for n in run.notes]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--warmup", type=int, default=2)
    parser.add_argument(
        "--only",
        choices=("restore",),
        help="measure restores alone (no cold start, no host pythons): a quick loop",
    )
    args = parser.parse_args(argv)
    if os.geteuid() != 0:
        print("run as root (the daemon builds namespaces and cgroups)", file=sys.stderr)
        return 2
    tag = f"lambdalet-bench-{os.getpid()}"
    base = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    daemon = BenchDaemon(base=base, cgroup_parent=tag, keep_warm_s=KEEP_WARM_S)
    code_dir = base / "code"
    code_dir.mkdir()
    processes: dict[int, str] = {}
    try:
        build_code(code_dir)
        daemon.start()
        assert daemon.process is not None
        processes = descendants(daemon.process.pid)
        client = Client(daemon.socket_path, timeout_s=120)
        try:
            version = setup(client, code_dir)
            run = Run(
                client=client,
                daemon=daemon,
                version=version,
                code_dir=code_dir,
                parents=find_tagged_cgroups(tag),
            )
            steps = [run.restore, run.cold, run.python, run.boto3]
            run.phase(steps[:1] if args.only else steps, args.runs, args.warmup)
            print(report(run))
        finally:
            client.request("DELETE", f"{FUNCTIONS}/{FUNCTION_NAME}")
            client.close()
    except BenchError as exc:
        print(f"benchmark failed: {exc}\n{daemon.log_tail(200)}", file=sys.stderr)
        return 1
    finally:
        daemon.stop()
        left = leftovers(tag, base, processes)
        for line in left:
            print(f"warning: left behind: {line}", file=sys.stderr)
        if not left:
            shutil.rmtree(base, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
