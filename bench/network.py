"""Cold-start cost of networking: no network vs the default network vs a VPC ENI (as root).

``python -m bench.network --runs 50``. Two daemons of our own run side by side: one with
``network.enabled = false`` (sandboxes get a loopback-only namespace), one with networking and
a VPC. Each round makes, in rotating order, one cold start of three functions: "none" (first
daemon), "default" (second daemon, no VpcConfig) and "vpc" (second daemon, in a subnet with a
security group). Before each timed invoke every daemon is back at rest: only its stems and its
ready ENIs exist and no sandbox uses CPU; right after it, a configuration update retires the
environment (untimed). Ratios are p50(default) / p50(none) and p50(vpc) / p50(none), measured
interleaved in the same run (target <= 1.1).

Resource handling: both daemons are stopped with SIGTERM (SIGKILL after a bound); tagged
cgroups, processes, mounts, links and nft tables left behind are reported.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.coldstart import (
    FUNCTIONS,
    PAYLOAD,
    QUIESCE_POLL_S,
    QUIESCE_TIMEOUT_S,
    REQUEST_TIMEOUT_S,
    STEMS_QUIET_S,
    TAIL,
    BenchDaemon,
    _check,
    _invoke_report,
    create_function,
)
from bench.host import (
    GROUP,
    IF_PREFIX,
    SUBNET,
    BenchError,
    find_tagged_cgroups,
    loadavg,
    network_toml,
    settled_count,
    wait_cpu_quiet,
    wait_for,
)
from bench.session import open_session, run_measured, write_results
from bench.stats import summarize
from engine.cli.client import Client
from sandbox.cgroups import Cgroups

TARGET_RATIO = 1.1
CPU_QUIET_S = 0.01


def links(prefix: str = IF_PREFIX) -> list[str]:
    return [n for n in os.listdir("/sys/class/net") if n.startswith(prefix)]


@dataclass
class Target:
    name: str  # the series: none / default / vpc
    daemon: BenchDaemon
    client: Client
    function: str
    rounds: int = 0


@dataclass
class Bench:
    targets: list[Target]
    groups: dict[str, Callable[[], list[str]]]  # per daemon tag: its sandbox cgroups
    stems: dict[str, int]
    parents: list[Path]
    enis: int  # ready ENIs at rest
    samples: dict[str, list[float]] = field(default_factory=dict)
    init: dict[str, list[float]] = field(default_factory=dict)
    anomalies: list[str] = field(default_factory=list)

    def at_rest(self) -> bool:
        return all(len(g()) == self.stems[tag] for tag, g in self.groups.items()) and (
            len(links()) == self.enis
        )

    def settle(self) -> None:
        if wait_for(self.at_rest, timeout_s=QUIESCE_TIMEOUT_S, poll_s=QUIESCE_POLL_S) is None:
            raise BenchError(
                f"daemons did not come back to rest (stems {self.stems}, {self.enis} ENIs; "
                f"have {[len(g()) for g in self.groups.values()]} groups, {len(links())} links)"
            )
        if (
            wait_cpu_quiet(
                self.parents,
                quiet_s=CPU_QUIET_S,
                timeout_s=QUIESCE_TIMEOUT_S,
                poll_s=QUIESCE_POLL_S,
            )
            is None
        ):
            raise BenchError("sandboxes did not go quiet")

    def cold(self, target: Target, *, record: bool) -> None:
        self.settle()
        path = f"{FUNCTIONS}/{target.function}/invocations"
        started = time.perf_counter_ns()
        resp = target.client.request("POST", path, PAYLOAD, TAIL)
        ms = (time.perf_counter_ns() - started) / 1e6
        report = _invoke_report(resp)
        if report is None or report.init_duration_ms is None:
            self.anomalies.append(f"{target.name}: a cold invoke without Init Duration")
        elif record:
            self.samples.setdefault(target.name, []).append(ms)
            self.init.setdefault(target.name, []).append(report.init_duration_ms)
        target.rounds += 1
        env = {"Environment": {"Variables": {"BENCH_ROUND": str(target.rounds)}}}
        retire = target.client.json_request(
            "PUT", f"{FUNCTIONS}/{target.function}/configuration", env
        )
        _check(retire, "UpdateFunctionConfiguration")


def _start(base: Path, tag: str, *, enabled: bool) -> BenchDaemon:
    d = BenchDaemon(base=base, cgroup_parent=tag, extra_toml=network_toml(tag, enabled=enabled))
    d.base.mkdir(parents=True, exist_ok=True)
    d.start()
    return d


def run(runs: int, warmup: int, base: Path, tag: str) -> Bench:
    plain = _start(base / "none", f"{tag}-a", enabled=False)
    daemons = [plain]
    clients: list[Client] = []
    try:
        net = _start(base / "net", f"{tag}-b", enabled=True)
        daemons.append(net)
        c_plain = Client(plain.socket_path, timeout_s=REQUEST_TIMEOUT_S)
        c_net = Client(net.socket_path, timeout_s=REQUEST_TIMEOUT_S)
        clients += [c_plain, c_net]
        create_function(c_plain)
        create_function(c_net)
        vpc = {"VpcConfig": {"SubnetIds": [SUBNET], "SecurityGroupIds": [GROUP]}}
        _check(
            c_net.json_request("PUT", f"{FUNCTIONS}/bench-hello/configuration", vpc), "VpcConfig"
        )
        # A second function on the networked daemon, on the default network.
        create_function(c_net, name="bench-default")
        targets = [
            Target("none", plain, c_plain, "bench-hello"),
            Target("default", net, c_net, "bench-default"),
            Target("vpc", net, c_net, "bench-hello"),
        ]
        groups: dict[str, Callable[[], list[str]]] = {}
        stems: dict[str, int] = {}
        parents: list[Path] = []
        for d in daemons:
            cg = Cgroups.detect(parent_name=d.cgroup_parent)
            groups[d.cgroup_parent] = cg.children
            stems[d.cgroup_parent] = settled_count(
                cg.children, quiet_s=STEMS_QUIET_S, timeout_s=QUIESCE_TIMEOUT_S
            )
            parents += find_tagged_cgroups(d.cgroup_parent)
        enis = settled_count(links, quiet_s=STEMS_QUIET_S, timeout_s=QUIESCE_TIMEOUT_S)
        print(f"stems {stems}, {enis} ready ENIs", flush=True)
        bench = Bench(targets=targets, groups=groups, stems=stems, parents=parents, enis=enis)
        for round_no in range(warmup + runs):
            k = round_no % len(targets)
            for target in [*targets[k:], *targets[:k]]:
                bench.cold(target, record=round_no >= warmup)
        return bench
    finally:
        for c in clients:
            c.close()
        for d in daemons:
            d.stop()


def _stray_links() -> list[str]:
    if wait_for(lambda: not links(), timeout_s=5, poll_s=0.05) is None:
        return [f"link {n}" for n in links()]
    return []


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.network", description=__doc__)
    p.add_argument("--runs", type=int, default=50, help="cold starts per series (default 50)")
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    session = open_session("network")
    if session is None:
        return 2
    bench = run_measured(
        session,
        lambda base, tag: run(args.runs, args.warmup, base, tag),
        more_leftovers=_stray_links,
    )
    if bench is None:
        return 1
    stats = {k: summarize(v) for k, v in bench.samples.items()}
    init = {k: summarize(v) for k, v in bench.init.items()}
    base_p50 = stats["none"]["p50_ms"]
    ratios = {f"{k}_over_none": stats[k]["p50_ms"] / base_p50 for k in ("default", "vpc")}
    load = f"load {session.facts['loadavg_start']} -> {loadavg()}"
    print(f"\ncold start by network, N={args.runs}  ({load})")
    print(f"{'series':<10} {'p50':>8} {'p90':>8} {'p99':>8} {'init p50':>9}   (ms)")
    for k in ("none", "default", "vpc"):
        s = stats[k]
        print(
            f"{k:<10} {s['p50_ms']:8.2f} {s['p90_ms']:8.2f} {s['p99_ms']:8.2f} "
            f"{init[k]['p50_ms']:9.2f}"
        )
    for k, r in ratios.items():
        verdict = "ok" if r <= TARGET_RATIO else "ABOVE TARGET"
        print(f"{k:<20} {r:6.3f}x  (target <= {TARGET_RATIO}: {verdict})")
    for text in bench.anomalies:
        print(f"anomaly: {text}")
    document = {
        "runs": args.runs,
        "series": stats,
        "init": init,
        "ratios": ratios,
        "anomalies": bench.anomalies,
        "samples_ms": bench.samples,
    }
    write_results(session, args.json, document)
    return 0


if __name__ == "__main__":
    sys.exit(main())
