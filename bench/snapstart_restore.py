"""What a SnapStart restore costs (issue 17), against a plain fork of a process of the same
size, in one run (as root).

``python -m bench.snapstart_restore [--runs 30] [--size-mb 40]``. Builds a template through
the real spawner (no daemon) whose init holds ``--size-mb`` of touched memory, freezes it,
then makes ``--runs`` environments one after the other, each with its shell (ahead of demand:
the template's init reports how long the clone and its set-up took; it then runs, waiting in
the template's receive), invoked twice (timed as its caller sees it: the first invoke pays
the copy-on-write faults of what it touches, the second is the floor; its uid must be its
own) and killed.
The baseline: ``os.fork()`` of a Python process holding the same memory, until the child runs
(it writes a byte to a pipe). Reported as p50/p90 and the ratio of the clone's p50 to the
fork's. The template is made by `tests.integration.snaplab`, as the integration test makes
it.

Resource handling: every environment is killed after its invoke; the spawner's exit ends
the template; every cgroup made is destroyed and the temporary directory removed, whatever
happens. The loop is bounded in count and in time (``--budget-s``).
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import time
from pathlib import Path

import trio

from bench.session import open_session, write_results
from bench.stats import summarize
from tests.integration.snaplab import TEMPLATE_UID, lab

CODE = """
import os
BIG = bytearray(b"\\1") * ({size_mb} << 20)  # touched: the template's memory is really there

def handler(event, context):
    return {{"uid": os.getuid(), "pid": os.getpid()}}
"""
# A same-size Python process forking children that run (they write a byte and exit).
FORK_BASELINE = """
import json, os, sys, time
BIG = bytearray(b"\\1") * ({size_mb} << 20)
samples = []
for _ in range({runs}):
    r, w = os.pipe()
    started = time.perf_counter_ns()
    pid = os.fork()
    if pid == 0:
        os.write(w, b"x")
        os._exit(0)
    os.read(r, 1)
    samples.append((time.perf_counter_ns() - started) / 1e6)
    os.waitpid(pid, 0)
    os.close(r)
    os.close(w)
json.dump(samples, sys.stdout)
"""


async def measure_restores(
    tag: str, *, runs: int, size_mb: int, budget_s: float
) -> tuple[list[float], list[float], list[float]]:
    """Per environment: how long its clone and set-up took in the template's init (made
    ahead, with its shell), and its first and second invokes as its caller sees them."""
    prepared: list[float] = []
    firsts: list[float] = []
    seconds: list[float] = []
    async with lab(tag) as the_lab:
        template = await the_lab.template(CODE.format(size_mb=size_mb))
        await the_lab.spawner.template_request(template, {"op": "freeze"})
        deadline = time.monotonic() + budget_s
        for i in range(runs):
            if time.monotonic() > deadline:
                print(f"time budget spent after {i} restores", file=sys.stderr)
                break
            uid = TEMPLATE_UID + 1 + i
            shell = await the_lab.shell(template, f"env{i}", uid)
            await trio.sleep(0.01)  # the shell's set-up settles off the clock
            env = the_lab.wrap(f"env{i}", shell)
            started = time.perf_counter_ns()
            seen = await env.invoke({})
            first_ms = (time.perf_counter_ns() - started) / 1e6
            started = time.perf_counter_ns()
            await env.invoke({})
            second_ms = (time.perf_counter_ns() - started) / 1e6
            if seen["uid"] != uid:
                raise AssertionError(f"environment {i} runs as {seen['uid']}, not {uid}")
            prepared.append(float(shell[0]["prepared_ms"]))
            firsts.append(first_ms)
            seconds.append(second_ms)
            await the_lab.spawner.kill(env.stem)
            with trio.fail_after(10):
                await env.stem.exited.wait()
    return prepared, firsts, seconds


def fork_baseline(*, runs: int, size_mb: int) -> list[float]:
    code = FORK_BASELINE.format(size_mb=size_mb, runs=runs)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True, timeout=120)
    samples: list[float] = json.loads(out.stdout)
    return samples


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--runs", type=int, default=30)
    parser.add_argument("--size-mb", type=int, default=40, help="touched memory in the template")
    parser.add_argument("--budget-s", type=float, default=120.0)
    parser.add_argument("--json", type=Path, default=None)
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    session = open_session("snapstart-restore")
    if session is None:
        return 2
    try:
        fork_before = fork_baseline(runs=args.runs, size_mb=args.size_mb)
        prepared, firsts, seconds = trio.run(
            lambda: measure_restores(
                session.tag, runs=args.runs, size_mb=args.size_mb, budget_s=args.budget_s
            )
        )
        fork_after = fork_baseline(runs=args.runs, size_mb=args.size_mb)
    finally:
        shutil.rmtree(session.base, ignore_errors=True)
    fork = summarize(fork_before + fork_after)
    clone = summarize(prepared)
    first = summarize(firsts)
    second = summarize(seconds)
    ratio = clone["p50_ms"] / fork["p50_ms"]
    print(f"{'series':<34}{'n':>5}{'p50 ms':>10}{'p90 ms':>10}{'min ms':>10}")
    series = (
        ("clone + set-up (in init, ahead)", clone),
        ("first invoke of the clone", first),
        ("second invoke", second),
        ("fork of same size", fork),
    )
    for label, s in series:
        print(
            f"{label:<34}{s['n']:>5.0f}{s['p50_ms']:>10.3f}{s['p90_ms']:>10.3f}{s['min_ms']:>10.3f}"
        )
    print(f"clone + set-up p50 / fork p50: {ratio:.2f}")
    document = {
        "runs": args.runs,
        "size_mb": args.size_mb,
        "clone": {**clone, "samples_ms": prepared},
        "first_invoke": {**first, "samples_ms": firsts},
        "second_invoke": {**second, "samples_ms": seconds},
        "fork": {**fork, "samples_ms": fork_before + fork_after},
        "ratio_p50": ratio,
    }
    write_results(session, args.json, document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
