"""Scale on one host (issue 15), every figure beside its baseline from the same run (as root).

``python -m bench.scale [--only burst,concurrent,warm,throughput,url,density,churn]``. One daemon
of our own (default network under benchmark names, a function-URL listener). Phases: a burst of
cold starts of distinct functions against spaced-out ones (and bare python, bwrap); cold starts
from N clients; warm invokes from one client against a raw HTTP echo and the cheapest API call;
warm throughput against clients (API) and under ``wrk`` (function URL); filling N idle 128 MB
environments and what each costs the host; create/invoke/delete churn with a leak check.

Resource handling: the daemon is stopped with SIGTERM (SIGKILL after a bound) however the run
ends; client processes, the echo server and wrk are joined; every phase deletes its functions;
tagged cgroups, processes, mounts and ``lbb-`` links left behind are reported and the temporary
directory is kept for a look.
"""

from __future__ import annotations

import argparse
import http.client
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from bench import load
from bench.coldstart import (
    FUNCTION_NAME,
    FUNCTIONS,
    REQUEST_TIMEOUT_S,
    START_TIMEOUT_S,
    BenchDaemon,
    _check,
    create_function,
)
from bench.host import (
    REPO,
    BenchError,
    find_tagged_cgroups,
    loadavg,
    network_toml,
    other_daemons,
    settled_count,
)
from bench.network import _stray_links
from bench.scale_host import free_port
from bench.scale_phases import Scale
from bench.scale_report import report
from bench.session import open_session, run_measured, write_results
from engine.cli.client import Client, ClientError
from sandbox.cgroups import Cgroups

PHASES = ("burst", "concurrent", "warm", "throughput", "url", "density", "churn")
POOLED = {"concurrent", "throughput", "density"}
MAX_ENVIRONMENTS = 4000  # below the daemon's default uid_count (4,096 sandboxes at once)
# The benchmark network's /24 holds ~250 environments; a /16 like the daemon's default, on
# addresses of our own.
BENCH_CIDR = 'default_cidr = "10.253.0.0/24"'
SCALE_CIDR = 'default_cidr = "10.251.0.0/16"'


def scale_network_toml(tag: str) -> str:
    table = network_toml(tag, enabled=True)
    if BENCH_CIDR not in table:
        raise BenchError("bench.host.network_toml changed: update SCALE_CIDR's replacement")
    return table.replace(BENCH_CIDR, SCALE_CIDR)


class ScaleDaemon(BenchDaemon):
    """A BenchDaemon that also serves function URLs on `url_port`: `function_url_listen` is
    a top-level key, which cannot follow BenchDaemon's [sandbox] table, so it is passed on the
    command line."""

    url_port: int = 0

    def start(self) -> None:
        config = self.base / "daemon.toml"
        config.write_text(
            textwrap.dedent(
                f"""\
                state_dir = "{self.base / "state"}"
                socket_path = "{self.socket_path}"
                [sandbox]
                cgroup_parent = "{self.cgroup_parent}"
                keep_warm_s = 3600.0
                """
            )
            + textwrap.dedent(self.extra_toml)
        )
        argv = [sys.executable, "-m", "engine.cli", "serve", "--config", str(config)]
        argv += ["--function-url-listen", f"127.0.0.1:{self.url_port}"]
        with open(self.log_path, "ab") as log:
            self.process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise BenchError(f"the daemon exited at start-up:\n{self.log_tail()}")
            if self.socket_path.exists():
                probe = Client(self.socket_path, timeout_s=5.0)
                try:
                    if probe.request("GET", FUNCTIONS).status == 200:
                        return
                except (OSError, ClientError, http.client.HTTPException):
                    pass
                finally:
                    probe.close()
            time.sleep(0.05)
        raise BenchError(f"the daemon did not answer in {START_TIMEOUT_S:.0f} s")


@contextmanager
def _maybe_pool(needed: bool, clients: int) -> Iterator[Any]:
    if not needed:
        yield None
        return
    with load.open_pool(clients) as pool:
        yield pool


def measure(base: Path, tag: str, args: argparse.Namespace, phases: list[str]) -> Scale:
    daemon = ScaleDaemon(base=base, cgroup_parent=tag, extra_toml=scale_network_toml(tag))
    daemon.url_port = free_port()
    client: Client | None = None
    try:
        print(f"starting a daemon (state {base}, cgroup parent {tag}) ...", flush=True)
        daemon.start()
        client = Client(daemon.socket_path, timeout_s=REQUEST_TIMEOUT_S)
        create_function(client)
        cgroups = Cgroups.detect(parent_name=tag)
        stems = settled_count(cgroups.children, quiet_s=0.5, timeout_s=START_TIMEOUT_S)
        print(f"{stems} stem(s) ready", flush=True)
        most = max(args.clients, *args.client_counts)
        pooled = bool(POOLED.intersection(phases))
        with _maybe_pool(pooled, most) as pool:
            scale = Scale(
                daemon=daemon,
                client=client,
                cgroups=cgroups,
                parents=find_tagged_cgroups(tag),
                table=tag.replace("-", "_"),
                url_port=daemon.url_port,
                pool=pool,
                clients=args.clients,
            )
            scale.figures["stems"] = stems
            for phase in phases:
                print(f"phase {phase} ...", flush=True)
                started = time.monotonic()
                _run_phase(scale, phase, args)
                scale.figures.setdefault("phase_s", {})[phase] = time.monotonic() - started
        _check(client.request("DELETE", f"{FUNCTIONS}/{FUNCTION_NAME}"), "DeleteFunction")
        return scale
    finally:
        if client is not None:
            client.close()
        code = daemon.stop()
        if code not in (None, 0):
            print(f"warning: the daemon exited with {code}:\n{daemon.log_tail()}")


def _run_phase(scale: Scale, phase: str, args: argparse.Namespace) -> None:
    if phase == "burst":
        scale.burst(spaced=args.spaced, burst=args.burst)
    elif phase == "concurrent":
        scale.concurrent_cold(seconds=args.concurrent_seconds, max_functions=args.cold_functions)
    elif phase == "warm":
        scale.warm_one(seconds=args.seconds, rounds=args.rounds, max_ops=100_000)
    elif phase == "throughput":
        scale.throughput(seconds=args.seconds, rounds=args.rounds, client_counts=args.client_counts)
    elif phase == "url":
        scale.function_url(
            seconds=args.seconds, rounds=args.rounds, connections=args.wrk_connections
        )
    elif phase == "density":
        scale.density(environments=args.environments)
    elif phase == "churn":
        scale.churn(seconds=args.churn_seconds, max_cycles=args.churn_max)


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench.scale",
        description="Bursts, concurrent cold starts, warm throughput, density and churn of "
        "lambdalet against baselines from the same run (issue 15; needs root).",
    )
    p.add_argument("--only", help=f"comma-separated phases of {','.join(PHASES)} (default all)")
    p.add_argument("--clients", type=int, default=4, help="client processes (default 4)")
    p.add_argument("--spaced", type=int, default=30, help="spaced-out cold starts (30)")
    p.add_argument("--burst", type=int, default=40, help="cold starts in the burst (40)")
    p.add_argument("--concurrent-seconds", type=float, default=10.0, help="(default 10)")
    p.add_argument(
        "--cold-functions", type=int, default=600, help="functions for concurrent cold (600)"
    )
    p.add_argument("--seconds", type=float, default=2.0, help="per warm window (default 2)")
    p.add_argument("--rounds", type=int, default=3, help="rounds of the warm series (3)")
    p.add_argument(
        "--client-counts", default="1,2,4,8", help="throughput vs clients (default 1,2,4,8)"
    )
    p.add_argument("--wrk-connections", type=int, default=8, help="wrk -c (default 8)")
    p.add_argument("--environments", type=int, default=200, help="density: N (default 200)")
    p.add_argument("--churn-seconds", type=float, default=20.0, help="churn bound (default 20)")
    p.add_argument("--churn-max", type=int, default=5000, help="churn cycles at most (5000)")
    p.add_argument("--json", type=Path, help="write results here (default bench/results/...)")
    p.add_argument("--png", type=Path, help="plot here (default: beside the JSON)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    phases = [p for p in PHASES if args.only is None or p in args.only.split(",")]
    unknown = set(args.only.split(",")) - set(PHASES) if args.only else set()
    try:
        args.client_counts = [int(c) for c in args.client_counts.split(",")]
    except ValueError:
        args.client_counts = []
    if (
        unknown
        or not phases
        or not 1 <= args.clients <= 16
        or not args.client_counts
        or not all(1 <= c <= 16 for c in args.client_counts)
        or not 1 <= args.spaced <= 500
        or not 1 <= args.burst <= 200
        or not 0 < args.concurrent_seconds <= 60
        or not args.clients <= args.cold_functions <= MAX_ENVIRONMENTS
        or not 0 < args.seconds <= 30
        or not 1 <= args.rounds <= 10
        or not args.clients <= args.environments <= MAX_ENVIRONMENTS
        or not 0 < args.churn_seconds <= 300
        or not 1 <= args.wrk_connections <= 256
    ):
        print(
            f"bad options (phases: {','.join(PHASES)}; --clients and --client-counts 1..16, "
            f"--cold-functions and --environments up to {MAX_ENVIRONMENTS}, "
            "--concurrent-seconds <= 60, --seconds <= 30, --churn-seconds <= 300)",
            file=sys.stderr,
        )
        return 2
    session = open_session("scale")
    if session is None:
        return 2
    if others := other_daemons():
        print(f"warning: {len(others)} other lambdalet daemon(s) running: expect noisy numbers")
    session.facts["other_daemons_at_start"] = len(others)
    scale = run_measured(
        session, lambda base, tag: measure(base, tag, args, phases), more_leftovers=_stray_links
    )
    if scale is None:
        return 1
    session.facts["loadavg_end"] = loadavg()
    document = report(scale, args, phases)
    path = write_results(session, args.json, document)
    from bench.scale_plot import plot

    plot(scale, document, args.png or path.with_suffix(".png"))
    return 1 if scale.anomalies else 0


if __name__ == "__main__":
    sys.exit(main())
