"""`lambdalet cost` against a real daemon: a scripted workload's requests, GB-seconds and prices
agree with the REPORT lines its invokes returned (`LogType=Tail`, real boto3), provisioned
concurrency is billed for the time it was configured, and the ledger survives `kill -9` up to
its last flush while a clean stop flushes everything.
"""

from __future__ import annotations

import base64
import json
import math
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.conftest import Daemon, make_zip, wait_for_template, wait_until

ROLE = "arn:aws:iam::000000000000:role/test"
SLEEP_S = 0.05
HANDLER = f"""
import time

def handler(event, context):
    time.sleep({SLEEP_S})
    return {{"ok": True}}
"""
REQUEST = 0.20 / 1_000_000  # the default price table
X86 = 0.0000166667
PROVISIONED = 0.0000041667
PROVISIONED_DURATION = 0.0000097222
REPORT = re.compile(
    r"REPORT RequestId: \S+\tDuration: (?P<duration>[\d.]+) ms\t"
    r"Billed Duration: (?P<billed>\d+) ms\tMemory Size: (?P<memory>\d+) MB\t"
    r"Max Memory Used: \d+ MB\t(?:Init Duration: (?P<init>[\d.]+) ms\t)?"
)


def toml(flush_interval_s: float) -> str:
    return f"[usage]\nflush_interval_s = {flush_interval_s}\n"


@pytest.fixture(scope="module")
def daemon(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    d.start(extra_toml=toml(1))
    yield d
    d.stop()


def create(lam: Any, name: str, memory_mb: int, *, publish: bool = False) -> None:
    lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": base64.b64decode(make_zip({"lambda_function.py": HANDLER}))},
        MemorySize=memory_mb,
        Publish=publish,
    )


def invoke(lam: Any, name: str, qualifier: str | None = None) -> re.Match[str]:
    """One invoke with `LogType=Tail`; its REPORT line."""
    extra = {} if qualifier is None else {"Qualifier": qualifier}
    out = lam.invoke(FunctionName=name, LogType="Tail", Payload=b"{}", **extra)
    assert json.loads(out["Payload"].read()) == {"ok": True}
    report = REPORT.search(base64.b64decode(out["LogResult"]).decode())
    assert report is not None
    return report


def cost(daemon: Daemon, *args: str) -> Any:
    """`lambdalet cost` as a user runs it: the CLI, over the daemon's socket."""
    run = subprocess.run(
        [sys.executable, "-m", "engine.cli", "--socket", str(daemon.socket_path), "cost", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return json.loads(run.stdout) if "--json" in args else run.stdout


def row(doc: dict[str, Any], name: str, qualifier: str) -> dict[str, Any]:
    found: list[dict[str, Any]] = [
        f for f in doc["Functions"] if (f["FunctionName"], f["Qualifier"]) == (name, qualifier)
    ]
    assert len(found) == 1, doc
    return found[0]


def test_a_workload_costs_what_its_report_lines_bill(daemon: Daemon) -> None:
    lam = daemon.lambda_client()
    n = 12
    create(lam, "cost-sleep", 256)
    reports = [invoke(lam, "cost-sleep") for _ in range(n)]
    assert reports[0]["init"] is not None  # a cold start: its init is billed as well
    billed = sum(int(r["billed"]) for r in reports)
    init_billed = sum(
        int(r["billed"]) - math.ceil(float(r["duration"])) for r in reports if r["init"]
    )
    assert init_billed > 0
    assert all(int(r["billed"]) >= SLEEP_S * 1000 for r in reports)

    # Provisioned concurrency: 2 environments of 512 MB configured on version 1 for ~3 s, and
    # the invokes they serve
    create(lam, "cost-pc", 512, publish=True)
    before_put = time.time()
    lam.put_provisioned_concurrency_config(
        FunctionName="cost-pc", Qualifier="1", ProvisionedConcurrentExecutions=2
    )
    after_put = time.time()
    assert wait_until(
        lambda: (
            lam.get_provisioned_concurrency_config(FunctionName="cost-pc", Qualifier="1")["Status"]
            == "READY"
        ),
        timeout_s=30,
    )
    pc_reports = [invoke(lam, "cost-pc", "1") for _ in range(3)]
    assert not any(r["init"] for r in pc_reports)  # served by initialised environments
    time.sleep(max(0.0, after_put + 3 - time.time()))
    before_delete = time.time()
    lam.delete_provisioned_concurrency_config(FunctionName="cost-pc", Qualifier="1")
    after_delete = time.time()
    time.sleep(1.5)  # nothing accrues after the delete

    doc = cost(daemon, "--json", "--since", "1h")
    sleep = row(doc, "cost-sleep", "$LATEST")
    assert (sleep["Architecture"], sleep["MemorySize"]) == ("x86_64", 256)
    assert sleep["Requests"] == n
    assert sleep["BilledDurationMs"] == billed
    assert sleep["InitBilledDurationMs"] == init_billed
    assert sleep["GBSeconds"] == pytest.approx(billed * 256 / 1024 / 1000, abs=1e-12)
    assert sleep["ProvisionedConcurrencyGBSeconds"] == 0
    expected = n * REQUEST + billed * 0.25 / 1000 * X86
    assert sleep["Cost"]["Total"] == pytest.approx(expected, rel=1e-9)

    pc = row(doc, "cost-pc", "1")
    assert pc["Requests"] == 3
    assert (pc["BilledDurationMs"], pc["InitBilledDurationMs"]) == (0, 0)
    pc_billed = sum(int(r["billed"]) for r in pc_reports)
    assert pc["ProvisionedBilledDurationMs"] == pc_billed
    env_ms = pc["ProvisionedEnvironmentMs"]
    low, high = 2 * (before_delete - after_put) * 1000, 2 * (after_delete - before_put) * 1000
    assert low - 4 <= env_ms <= high + 4, (low, env_ms, high)
    assert pc["ProvisionedConcurrencyGBSeconds"] == pytest.approx(env_ms * 0.5 / 1000)
    assert pc["Cost"]["ProvisionedConcurrency"] == pytest.approx(
        env_ms * 0.5 / 1000 * PROVISIONED, rel=1e-9
    )
    assert pc["Cost"]["ProvisionedDuration"] == pytest.approx(
        pc_billed * 0.5 / 1000 * PROVISIONED_DURATION, rel=1e-9
    )

    total = doc["Total"]
    assert total["Requests"] == n + 3
    assert total["Cost"] == pytest.approx(sleep["Cost"]["Total"] + pc["Cost"]["Total"])
    assert not doc["FreeTier"]["Applied"]

    # One function (with its qualifier), and the table a person reads
    only = cost(daemon, "--json", "--since", "1h", "--function", "cost-pc:1")
    assert [f["FunctionName"] for f in only["Functions"]] == ["cost-pc"]
    table = cost(daemon, "--since", "1h").splitlines()
    assert table[-1].split()[:2] == ["TOTAL", str(n + 3)]
    assert any(line.split()[:2] == ["cost-sleep", "$LATEST"] for line in table)

    # A bad window: AWS's error type and words
    bad = subprocess.run(
        [sys.executable, "-m", "engine.cli", "--socket", str(daemon.socket_path), "cost",
         "--since", "last tuesday"],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 1
    assert bad.stderr.startswith(
        "lambdalet: ValidationException: 1 validation error detected: Value 'last tuesday' at "
        "'since' failed to satisfy constraint"
    )


SNAPSTART_CACHE = 0.0000015046
SNAPSTART_RESTORE = 0.0001397998
THREE_HOURS_MS = 3 * 3600 * 1000


def test_snapstart_bills_its_snapshot_s_cache_and_each_restore(daemon: Daemon) -> None:
    lam = daemon.lambda_client()
    lam.create_function(
        FunctionName="cost-snap",
        Runtime="python3.11",
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": base64.b64decode(make_zip({"lambda_function.py": HANDLER}))},
        MemorySize=256,
        SnapStart={"ApplyOn": "PublishedVersions"},
    )
    version = lam.publish_version(FunctionName="cost-snap")["Version"]
    assert wait_for_template(daemon, "cost-snap", version)
    out = lam.invoke(FunctionName="cost-snap", Qualifier=version, LogType="Tail", Payload=b"{}")
    assert "Restore Duration" in base64.b64decode(out["LogResult"]).decode()
    invoke(lam, "cost-snap", version)  # control: a warm invoke restores nothing
    # Deleted minutes after it was published: its snapshot is billed 3 hours all the same.
    lam.delete_function(FunctionName="cost-snap")

    snap = row(cost(daemon, "--json", "--since", "1h"), "cost-snap", version)
    assert snap["Requests"] == 2
    assert (snap["SnapStartRestores"], snap["SnapStartRestoredGB"]) == (1, 0.25)
    cached_s = snap["SnapStartCacheGBSeconds"] / 0.25
    assert THREE_HOURS_MS / 1000 - 2 <= cached_s <= THREE_HOURS_MS / 1000, cached_s
    assert snap["Cost"]["SnapStartCache"] == pytest.approx(
        snap["SnapStartCacheGBSeconds"] * SNAPSTART_CACHE, rel=1e-9
    )
    assert snap["Cost"]["SnapStartRestore"] == pytest.approx(0.25 * SNAPSTART_RESTORE, rel=1e-9)
    # $LATEST has no snapshot: nothing of SnapStart on its row (control)
    latest = [f for f in cost(daemon, "--json", "--since", "1h")["Functions"]
              if f["FunctionName"] == "cost-snap" and f["Qualifier"] == "$LATEST"]  # fmt: skip
    assert all(f["SnapStartCacheGBSeconds"] == 0 and f["SnapStartRestores"] == 0 for f in latest)


def requests_of(daemon: Daemon, name: str) -> int:
    doc = cost(daemon, "--json", "--since", "1h", "--function", name)
    return sum(f["Requests"] for f in doc["Functions"])


def clear_of_a_minute_boundary(margin_s: float) -> None:
    """Wait until the next minute boundary (when the ledger flushes) is `margin_s` away."""
    if 60 - time.time() % 60 < margin_s:
        time.sleep(60 - time.time() % 60 + 0.5)


def test_the_ledger_survives_kill_9_up_to_its_last_flush_and_a_clean_stop_flushes_all(
    daemon: Daemon,
) -> None:
    lam = daemon.lambda_client()
    create(lam, "cost-crash", 128)
    # Flushed by the periodic flush (every second here) before the kill: kept
    for _ in range(5):
        invoke(lam, "cost-crash")
    time.sleep(3)
    daemon.stop(signal.SIGKILL)
    daemon.start(extra_toml=toml(300))  # from now on, only minute boundaries and reports flush
    assert requests_of(daemon, "cost-crash") == 5

    # Recorded after the last flush, then kill -9: lost (the bound the README states)
    lam = daemon.lambda_client()
    clear_of_a_minute_boundary(20)
    for _ in range(4):
        invoke(lam, "cost-crash")
    daemon.stop(signal.SIGKILL)
    daemon.start(extra_toml=toml(300))
    assert requests_of(daemon, "cost-crash") == 5

    # A clean stop flushes what the ledger holds
    lam = daemon.lambda_client()
    clear_of_a_minute_boundary(20)
    for _ in range(3):
        invoke(lam, "cost-crash")
    assert daemon.stop() == 0
    daemon.start(extra_toml=toml(1))
    assert requests_of(daemon, "cost-crash") == 8
