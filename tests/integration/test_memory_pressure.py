"""Memory-pressure reclaim on the real host: a cold start the host has no memory for reclaims
the least recently used idle environment; with every environment busy it gets a 429.

The functions keep a buffer of FILL_MB (real, touched pages) in each environment. The daemon's
`sandbox.memory_reserve_mb` is worked out from MemAvailable at the start, so that two such
environments fit and a third cold start does not, with FILL_MB / 2 of margin either way
against the shared machine's noise:

    reserve = available - 1.5 * FILL_MB - MEMORY_MB
    cold start admitted while  available_now >= reserve + MEMORY_MB
      one environment held:    available - FILL_MB    (1,024 MB to spare)
      two environments held:   available - 2 FILL_MB  (1,024 MB short)
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.cli.client import Client
from tests.integration.conftest import FUNCTIONS, Daemon, wait_until

pytestmark = pytest.mark.privileged

FILL_MB = 2048
MEMORY_MB = FILL_MB + 512
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


def invoke(daemon: Daemon, name: str, event: dict[str, Any]) -> dict[str, Any]:
    resp = daemon.invoke(name, event)
    assert resp.status == 200, resp.body
    assert "x-amz-function-error" not in resp.headers, resp.body
    body: dict[str, Any] = json.loads(resp.body)
    return body


@pytest.fixture(scope="module")
def pressed(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    available = mem_available_mb()
    reserve = available - FILL_MB * 3 // 2 - MEMORY_MB
    if reserve < 512:
        pytest.skip(f"needs ~{FILL_MB * 3 // 2 + MEMORY_MB + 512} MB available, has {available}")
    d = daemon_factory()
    d.start(sandbox_toml=f"memory_reserve_mb = {reserve}\nprewarm = 1")
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

    def busy(name: str) -> None:
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
    threads = [threading.Thread(target=busy, args=(n,)) for n in ("lru-a", "lru-c")]
    for t in threads:
        t.start()
    try:
        time.sleep(1.0)  # both invokes are under way (warm: they start in milliseconds)
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
    logs = daemon.state_dir / "logs" / "lru-b"

    def ran_async() -> bool:
        return any("async-after-429" in f.read_text() for f in logs.glob("*.log"))

    assert wait_until(ran_async, 30), "the throttled async invoke was never retried"
    log = daemon.log()
    assert "cold start of 2560 MB refused" in log
    assert "Traceback" not in log
