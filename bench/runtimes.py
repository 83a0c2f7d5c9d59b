"""Cold and warm latency per runtime, each beside its language's bare start (as root).

Series, interleaved round by round on one daemon (1,769 MB functions: one whole vCPU, so the
CPU quota is not what is measured):

* ``python``: python3.11, the native runtime    | bare: ``python3 -I -S -c pass``
* ``node``: nodejs<N>.x on the host's node       | bare: ``node -e 0``
* ``shell``: provided.al2023, sh + curl bootstrap | bare: ``sh -c :``
* ``ric``: provided.al2023, awslambdaric         | bare: ``python3 -I -S -c pass``

A bare *interpreter* start does not do a runtime's work (load the handler, fetch an event,
answer it), so each custom/exec'd runtime is also run **unsandboxed** on the host against a
local Runtime API, from exec to its first answer (``<series>_unsandboxed``): the ratio to
that is what the sandbox itself costs. ``python -m bench.runtimes --runs 30``.
"""

from __future__ import annotations

import argparse
import base64
import importlib.metadata
import io
import os
import shutil
import socket
import subprocess
import sys
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import trio

from bench.coldstart import (
    FUNCTIONS,
    PAYLOAD,
    QUIESCE_POLL_S,
    QUIESCE_TIMEOUT_S,
    REQUEST_TIMEOUT_S,
    ROLE,
    STEMS_QUIET_S,
    TAIL,
    BenchDaemon,
    _check,
    _invoke_report,
    create_function,
)
from bench.host import (
    BenchError,
    find_tagged_cgroups,
    loadavg,
    network_toml,
    settled_count,
    spawn_and_wait_ns,
    wait_cpu_quiet,
    wait_for,
)
from bench.session import open_session, run_measured, write_results
from bench.stats import summarize
from engine.cli.client import Client
from engine.runtime.catalog import NODE_RUNTIME_DIR
from engine.runtime.http_server import HttpChannel
from sandbox.cgroups import Cgroups
from sandbox.protocol import Connection, Invoke, NeedData, Response

MEMORY_MB = 1769
TARGET_RATIO = 1.1
CPU_QUIET_S = 0.01
_ENV = {"PATH": "/usr/bin:/bin", "LANG": "C.UTF-8"}

NODE_APP = "exports.handler = async (event) => ({ hello: event.name });\n"
SHELL_BOOTSTRAP = """#!/bin/sh
set -eu
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
while true; do
  headers="$(mktemp)"
  event="$(curl -sS -D "$headers" "$api/invocation/next")"
  id="$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | cut -d' ' -f2 | tr -d '\\r\\n')"
  curl -sS -o /dev/null "$api/invocation/$id/response" -d "{\\"echo\\": $event}"
  rm -f "$headers"
done
"""
RIC_BOOTSTRAP = '#!/bin/sh\nexec /usr/bin/python3.11 -m awslambdaric "$_HANDLER"\n'
RIC_APP = "def handler(event, context):\n    return {'hello': event.get('name')}\n"


@dataclass
class Series:
    name: str
    function: str
    bare_argv: list[str]
    files: dict[str, bytes] = field(default_factory=dict)  # unsandboxed copy of the code
    rounds: int = 0


@dataclass
class Bench:
    client: Client
    series: list[Series]
    groups: Any
    stems: int
    parents: list[Path]
    samples: dict[str, list[float]] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)

    def add(self, key: str, ms: float) -> None:
        self.samples.setdefault(key, []).append(ms)

    def settle(self) -> None:
        at_rest = lambda: len(self.groups()) == self.stems  # noqa: E731
        if wait_for(at_rest, timeout_s=QUIESCE_TIMEOUT_S, poll_s=QUIESCE_POLL_S) is None:
            raise BenchError(
                f"the daemon's sandboxes did not come back to rest: {len(self.groups())} "
                f"groups, expected {self.stems}; samples so far {list(self.samples)}"
            )
        quiet = wait_cpu_quiet(
            self.parents, quiet_s=CPU_QUIET_S, timeout_s=QUIESCE_TIMEOUT_S, poll_s=QUIESCE_POLL_S
        )
        if quiet is None:
            raise BenchError("sandboxes did not go quiet")

    def invoke(self, s: Series, *, cold: bool, record: bool) -> None:
        path = f"{FUNCTIONS}/{s.function}/invocations"
        started = time.perf_counter_ns()
        resp = self.client.request("POST", path, PAYLOAD, TAIL)
        ms = (time.perf_counter_ns() - started) / 1e6
        report = _invoke_report(resp)
        was_cold = report is not None and report.init_duration_ms is not None
        if was_cold != cold:
            self.anomalies.append(f"{s.name}: expected a {'cold' if cold else 'warm'} invoke")
        elif record:
            self.add(f"{s.name}_{'cold' if cold else 'warm'}", ms)

    def retire(self, s: Series) -> None:
        s.rounds += 1
        env = {"Environment": {"Variables": {"BENCH_ROUND": str(s.rounds)}}}
        resp = self.client.json_request("PUT", f"{FUNCTIONS}/{s.function}/configuration", env)
        _check(resp, "UpdateFunctionConfiguration")


def ric_files() -> dict[str, bytes]:
    """awslambdaric and its dependencies as pip installed them (the test extras)."""
    out: dict[str, bytes] = {}
    for dist in ("awslambdaric", "simplejson", "snapshot-restore-py"):
        for f in importlib.metadata.files(dist) or []:
            rel = str(f)
            if ".dist-info/" in rel or "__pycache__" in rel or rel.startswith(".."):
                continue
            out[rel] = Path(str(f.locate())).read_bytes()
    return out


def make_zip(files: dict[str, bytes], executable: tuple[str, ...] = ()) -> str:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, (2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in executable else 0o644) << 16
            zf.writestr(info, data)
    return base64.b64encode(buf.getvalue()).decode()


def create(client: Client, name: str, runtime: str, handler: str, files: dict[str, bytes]) -> None:
    body = {
        "FunctionName": name,
        "Runtime": runtime,
        "Role": ROLE,
        "Handler": handler,
        "MemorySize": MEMORY_MB,
        "Code": {"ZipFile": make_zip(files, executable=("bootstrap",))},
    }
    _check(client.json_request("POST", FUNCTIONS, body), f"CreateFunction {name}")


# --- the same runtimes, unsandboxed, to their first answer ---------------------------------


def _invoke_message() -> Invoke:
    return Invoke(
        request_id="bench-0",
        deadline_ms=int(time.time() * 1000) + 60_000,
        invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:bench",
        payload=PAYLOAD,
    )


def unsandboxed_msgpack(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    """exec → Ready → Invoke → Response over fd 3, in ms."""
    ours, theirs = socket.socketpair()
    if theirs.fileno() == 3:
        first, theirs = theirs, theirs.dup()
        first.close()
    ours.settimeout(REQUEST_TIMEOUT_S)
    conn = Connection()
    started = time.perf_counter_ns()
    old = os.getcwd()
    os.chdir(cwd)
    try:
        pid = os.posix_spawn(
            argv[0], argv, env, file_actions=[(os.POSIX_SPAWN_DUP2, theirs.fileno(), 3)]
        )
    finally:
        os.chdir(old)
        theirs.close()
    try:
        sent = False
        while True:
            event = conn.next_event()
            if isinstance(event, NeedData):
                conn.receive_data(ours.recv(1 << 20))
                continue
            if not sent:
                ours.sendall(conn.send(_invoke_message()))
                sent = True
                continue
            if not isinstance(event, Response):
                raise BenchError(f"unsandboxed {argv[0]} answered {event!r}")
            return (time.perf_counter_ns() - started) / 1e6
    finally:
        ours.close()
        os.kill(pid, 9)
        os.waitpid(pid, 0)


async def _unsandboxed_http(argv: list[str], env: dict[str, str], cwd: Path) -> float:
    listener = trio.socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    await listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    channel = HttpChannel(listener)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(channel.run)
        started = time.perf_counter_ns()
        proc = await trio.lowlevel.open_process(
            argv, env={**env, "AWS_LAMBDA_RUNTIME_API": f"127.0.0.1:{port}"}, cwd=cwd
        )
        try:
            with trio.fail_after(REQUEST_TIMEOUT_S):
                await channel.receive()  # the first GET next: init is over
                await channel.send_invoke(_invoke_message())
                answer = await channel.receive()
            if not isinstance(answer, Response):
                raise BenchError(f"unsandboxed {argv[0]} answered {answer!r}")
            return (time.perf_counter_ns() - started) / 1e6
        finally:
            proc.kill()
            await proc.wait()
            channel.close()
            nursery.cancel_scope.cancel()


def unsandboxed(s: Series, work: Path) -> float | None:
    if not s.files:
        return None
    code = work / s.name
    if not code.exists():
        for rel, data in s.files.items():
            (code / rel).parent.mkdir(parents=True, exist_ok=True)
            (code / rel).write_bytes(data)
            os.chmod(code / rel, 0o755 if rel == "bootstrap" else 0o644)
    env = {**_ENV, "LAMBDA_TASK_ROOT": str(code), "_HANDLER": "app.handler"}
    if s.name == "node":
        node = shutil.which("node", path=_ENV["PATH"])
        assert node is not None
        argv = [node, str(NODE_RUNTIME_DIR / "bootstrap.js")]
        return unsandboxed_msgpack(argv, {**env, "_HANDLER": "index.handler"}, code)
    return trio.run(_unsandboxed_http, [str(code / "bootstrap")], env, code)


def build(client: Client) -> list[Series]:
    python = os.path.realpath(sys.executable)
    series = [Series("python", "bench-hello", [python, "-I", "-S", "-c", "pass"])]
    create_function(client, memory_mb=MEMORY_MB)
    node = shutil.which("node", path=_ENV["PATH"])
    if node is not None:
        version = subprocess.run([node, "--version"], capture_output=True, text=True).stdout
        runtime = f"nodejs{version.strip().lstrip('v').split('.')[0]}.x"
        files = {"index.js": NODE_APP.encode()}
        create(client, "bench-node", runtime, "index.handler", files)
        series.append(Series("node", "bench-node", [node, "-e", "0"], files))
    if shutil.which("curl") is not None:
        files = {"bootstrap": SHELL_BOOTSTRAP.encode()}
        create(client, "bench-shell", "provided.al2023", "app.handler", files)
        series.append(Series("shell", "bench-shell", ["/bin/sh", "-c", ":"], files))
    try:
        files = {"bootstrap": RIC_BOOTSTRAP.encode(), "app.py": RIC_APP.encode(), **ric_files()}
    except importlib.metadata.PackageNotFoundError:
        print("awslambdaric is not installed (pip install -e .[test]); skipping its series")
    else:
        create(client, "bench-ric", "provided.al2023", "app.handler", files)
        series.append(Series("ric", "bench-ric", [python, "-I", "-S", "-c", "pass"], files))
    return series


def run(runs: int, warmup: int, base: Path, tag: str) -> Bench:
    daemon = BenchDaemon(base=base, cgroup_parent=tag, extra_toml=network_toml(tag, enabled=True))
    base.mkdir(parents=True, exist_ok=True)
    daemon.start()
    client = Client(daemon.socket_path, timeout_s=REQUEST_TIMEOUT_S)
    work = base / "unsandboxed"
    try:
        series = build(client)
        cg = Cgroups.detect(parent_name=tag)
        stems = settled_count(cg.children, quiet_s=STEMS_QUIET_S, timeout_s=QUIESCE_TIMEOUT_S)
        bench = Bench(client, series, cg.children, stems, find_tagged_cgroups(tag))
        print(f"{stems} stems; series: {', '.join(s.name for s in series)}", flush=True)
        for round_no in range(warmup + runs):
            record = round_no >= warmup
            k = round_no % len(series)
            for s in [*series[k:], *series[:k]]:
                bench.settle()
                bench.invoke(s, cold=True, record=record)
                bench.retire(s)  # its environment goes: the next invoke of it is cold
                bare = spawn_and_wait_ns(s.bare_argv, _ENV) / 1e6
                alone = unsandboxed(s, work)
                if record:
                    bench.add(f"{s.name}_bare", bare)
                    if alone is not None:
                        bench.add(f"{s.name}_unsandboxed", alone)
        bench.settle()
        for s in series:
            bench.invoke(s, cold=True, record=False)  # one environment each, kept warm
        for round_no in range(warmup + runs):
            for s in series:
                bench.invoke(s, cold=False, record=round_no >= warmup)
        return bench
    finally:
        client.close()
        daemon.stop()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.runtimes", description=__doc__)
    p.add_argument("--runs", type=int, default=30, help="samples per series (default 30)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    session = open_session("runtimes")
    if session is None:
        return 2
    bench = run_measured(session, lambda base, tag: run(args.runs, args.warmup, base, tag))
    if bench is None:
        return 1
    stats = {k: summarize(v) for k, v in bench.samples.items()}
    ratios: dict[str, float] = {}
    print(f"\nper runtime, N={args.runs}  (load {session.facts['loadavg_start']} -> {loadavg()})")
    print(f"{'series':<22} {'p50':>9} {'p90':>9} {'p99':>9}   (ms)")
    for key in sorted(stats):
        s = stats[key]
        print(f"{key:<22} {s['p50_ms']:9.2f} {s['p90_ms']:9.2f} {s['p99_ms']:9.2f}")
    for series in bench.series:
        cold = stats[f"{series.name}_cold"]["p50_ms"]
        for baseline in ("bare", "unsandboxed"):
            key = f"{series.name}_{baseline}"
            if key in stats:
                ratios[f"{series.name}_cold_over_{baseline}"] = cold / stats[key]["p50_ms"]
    for key, r in ratios.items():
        verdict = "ok" if r <= TARGET_RATIO else "above 1.1"
        print(f"{key:<32} {r:8.3f}x  ({verdict})")
    for text in bench.anomalies:
        print(f"anomaly: {text}")
    document = {
        "runs": args.runs,
        "memory_mb": MEMORY_MB,
        "series": stats,
        "ratios": ratios,
        "anomalies": bench.anomalies,
        "samples_ms": bench.samples,
    }
    write_results(session, args.json, document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
