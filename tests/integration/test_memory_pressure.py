"""Memory-pressure reclaim on the real host: a cold start there is no memory for reclaims the
least recently used idle environment; with every environment busy it gets a 429.

The functions keep a buffer of FILL_MB (real, touched pages) in each environment. The daemon's
`sandbox.memory_limit_mb` bounds what its environments' groups use together, so that two such
environments fit and a third cold start does not, with FILL_MB / 2 of margin either way for
what a runtime uses besides the buffer. It is counted from the daemon's own groups, so what
else the shared machine runs does not move it. (A reserve worked out from MemAvailable at the
start did: another process taking ~1 GB meanwhile got a cold start of lru-a or lru-b a 429 or
cost lru-a its environment, and one freeing ~1 GB would have let lru-c in without a reclaim.)

    limit = MEMORY_MB + 1.5 * FILL_MB
    cold start admitted while  used + MEMORY_MB <= limit
      one environment held:    used ~ FILL_MB     (1,024 MB to spare)
      two environments held:   used ~ 2 FILL_MB   (1,024 MB short)

The host's reserve stays on (the production set-up: both bounds, and the background reclaim
watching MemAvailable), but small: it binds only on a host with under RESERVE_MB + MEMORY_MB
available, which the fixture skips at the start (a host that gets there meanwhile is out of
memory, whatever decides the cold starts).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.cli.client import Client
from tests.integration.conftest import FUNCTIONS, Daemon, wait_until

pytestmark = pytest.mark.privileged

FILL_MB = 2048
MEMORY_MB = FILL_MB + 512
LIMIT_MB = MEMORY_MB + FILL_MB * 3 // 2
RESERVE_MB = 256
SLEEP_S = 4.0  # how long the busy invokes hold their environments
CGROUP_ROOT = Path("/sys/fs/cgroup")

CODE = """
import os, time, uuid

ENV_ID = uuid.uuid4().hex  # one per environment: a warm invoke answers with the same
_kept = []

def handler(event, context):
    if event.get("fill") and not _kept:
        _kept.append(b"\\x01" * (event["fill"] * 1024 * 1024))  # every page touched
    print("ran", event.get("mark", ""))
    time.sleep(event.get("sleep", 0))
    return {"env": ENV_ID, "host": os.uname().nodename, "held_mb": len(b"".join(_kept)) >> 20}
"""


def mem_available_mb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1]) // 1024
    raise AssertionError("no MemAvailable")


def groups_of(daemon: Daemon, host: str) -> list[Path]:
    name = f"sb-{host.removeprefix('lambdalet-')}"
    return [p / name for p in CGROUP_ROOT.glob(f"*/{daemon.cgroup_parent}")] + [
        p / name for p in CGROUP_ROOT.glob(daemon.cgroup_parent)
    ]


def logged(daemon: Daemon, name: str, text: str) -> bool:
    """Whether `text` is in the function's log files yet."""
    logs = daemon.state_dir / "logs" / name
    return any(text in f.read_text() for f in logs.glob("*.log"))


def busy(daemon: Daemon, name: str) -> bool:
    """Whether one of the function's environments is running an invoke (the daemon's metrics;
    its log is written only when the invoke ends)."""
    resp = daemon.client.request("GET", "/metrics")
    assert resp.status == 200, resp.body[:500]
    return any(
        s.name == "lambdalet_environments"
        and s.labels == {"function": name, "state": "busy"}
        and s.value >= 1
        for family in text_string_to_metric_families(resp.body.decode())
        for s in family.samples
    )


def invoke(daemon: Daemon, name: str, event: dict[str, Any]) -> dict[str, Any]:
    resp = daemon.invoke(name, event)
    assert resp.status == 200, resp.body
    assert "x-amz-function-error" not in resp.headers, resp.body
    body: dict[str, Any] = json.loads(resp.body)
    return body


@pytest.fixture(scope="module")
def pressed(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    # What the test holds at most (two buffers, and a third cold start's MemorySize under the
    # host's reserve), with a GB for the rest of the machine.
    needed = 2 * FILL_MB + MEMORY_MB + RESERVE_MB + 1024
    available = mem_available_mb()
    if available < needed:
        pytest.skip(f"needs {needed} MB available, has {available}")
    d = daemon_factory()
    d.start(
        sandbox_toml=f"memory_reserve_mb = {RESERVE_MB}\nmemory_limit_mb = {LIMIT_MB}\nprewarm = 1"
    )
    try:
        yield d
    finally:
        for name in ("lru-a", "lru-b", "lru-c"):
            d.client.request("DELETE", f"{FUNCTIONS}/{name}")
        d.stop()


def test_memory_pressure_reclaims_the_least_recently_used_then_refuses_when_all_are_busy(
    pressed: Daemon,
) -> None:
    daemon = pressed
    for name in ("lru-a", "lru-b", "lru-c"):
        resp = daemon.create(name, CODE, MemorySize=MEMORY_MB, Timeout=60)
        assert resp.status == 201, resp.body
    a = invoke(daemon, "lru-a", {"fill": FILL_MB})
    b = invoke(daemon, "lru-b", {"fill": FILL_MB})
    assert a["held_mb"] == b["held_mb"] == FILL_MB
    assert invoke(daemon, "lru-a", {})["env"] == a["env"]  # warm; lru-b is now the older
    b_groups = groups_of(daemon, b["host"])
    assert any(g.exists() for g in b_groups)

    # Two environments hold the memory: the third cold start reclaims lru-b's and starts.
    started = time.monotonic()
    c = invoke(daemon, "lru-c", {"fill": FILL_MB})
    assert c["held_mb"] == FILL_MB
    assert time.monotonic() - started < 15
    assert not any(g.exists() for g in b_groups), "the least recently used was not reclaimed"
    assert invoke(daemon, "lru-a", {})["env"] == a["env"], "the warmer environment was lost"
    assert "reclaimed 1 idle environment" in daemon.log()

    # Both environments busy: nothing to reclaim, so a cold start is a throttle, AWS-shaped.
    answers: dict[str, dict[str, Any]] = {}

    def hold(name: str) -> None:
        client = Client(daemon.socket_path, timeout_s=60)
        try:
            resp = client.request(
                "POST", f"{FUNCTIONS}/{name}/invocations", json.dumps({"sleep": SLEEP_S}).encode()
            )
            answers[name] = json.loads(resp.body)
        finally:
            client.close()

    from botocore.exceptions import ClientError

    client = daemon.lambda_client()
    threads = [threading.Thread(target=hold, args=(n,)) for n in ("lru-a", "lru-c")]
    for t in threads:
        t.start()
    try:
        assert wait_until(lambda: busy(daemon, "lru-a") and busy(daemon, "lru-c"), 10)
        with pytest.raises(ClientError) as caught:
            client.invoke(FunctionName="lru-b", Payload=b"{}")
        error = caught.value.response
        assert error["Error"]["Code"] == "TooManyRequestsException"
        assert error["ResponseMetadata"]["HTTPStatusCode"] == 429
        assert error["Error"]["Message"].startswith("Rate Exceeded.")
        assert "host memory" in error["Error"]["Message"]
        assert error.get("Reason") == "ConcurrentInvocationLimitExceeded"
        assert "retry-after" in error["ResponseMetadata"]["HTTPHeaders"]
        # An async invoke refused so is retried (a throttle), not dropped: it runs once an
        # environment is idle again and can be reclaimed for it.
        queued = client.invoke(
            FunctionName="lru-b", InvocationType="Event", Payload=b'{"mark": "async-after-429"}'
        )
        assert queued["StatusCode"] == 202
        queued["Payload"].close()  # gives the connection back, for close() to close
    finally:
        for t in threads:
            t.join(timeout=60)
        client.close()
    assert answers["lru-a"]["env"] == a["env"] and answers["lru-c"]["env"] == c["env"]
    assert wait_until(lambda: logged(daemon, "lru-b", "async-after-429"), 30), (
        "the throttled async invoke was never retried"
    )
    log = daemon.log()
    assert f"cold start of {MEMORY_MB} MB refused" in log
    assert f"short of the {LIMIT_MB} MB limit on environments" in log  # the limit decided
    assert "Traceback" not in log
