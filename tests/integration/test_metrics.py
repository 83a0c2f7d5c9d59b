"""Prometheus metrics against a real daemon: exact values after a scripted workload (invokes,
errors of known types, throttles, async outcomes, an SQS mapping's records), `/metrics`
unsigned on the TCP listener while everything else still needs a signature, the dedicated
listener, and the switch that turns metrics off.

The daemon runs with `events.time_scale` = 0.02, so async retries and event ages take seconds.
"""

from __future__ import annotations

import gzip
import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from engine.cli.client import Client
from tests.integration.conftest import FUNCTIONS, Daemon, free_port, wait_until

SCALE = 0.02
HANDLER = """
import time
def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {"ok": True}
"""
Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


@pytest.fixture(scope="module")
def metrics_daemon(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    port = free_port()
    while port in (d.port, d.url_port):
        port = free_port()
    d.start(extra_toml=f'[events]\ntime_scale = {SCALE}\n[metrics]\nlisten = "127.0.0.1:{port}"\n')
    d.metrics_port = port  # type: ignore[attr-defined]
    yield d
    d.stop()


@pytest.fixture
def unique() -> Callable[[str], str]:
    def make(prefix: str) -> str:
        return f"{prefix}-{time.time_ns() % 10**10}"

    return make


def parse(text: str) -> Samples:
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def scrape(daemon: Daemon) -> Samples:
    resp = daemon.client.request("GET", "/metrics")
    assert resp.status == 200, resp.body[:500]
    assert resp.headers["content-type"].startswith("text/plain; version=0.0.4")
    return parse(resp.body.decode())


def value(samples: Samples, name: str, **labels: str) -> float | None:
    return samples.get((name, frozenset(labels.items())))


def deploy(daemon: Daemon, name: str, **settings: Any) -> str:
    resp = daemon.create(name, HANDLER, **settings)
    assert resp.status == 201, resp.body
    arn: str = json.loads(resp.body)["FunctionArn"]
    return arn


def http(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    headers: dict[str, str] | None = None,
) -> tuple[int, dict[str, str], bytes]:
    """An unsigned request: status, headers (lower-case names), body (an error too)."""
    request = urllib.request.Request(url, data=data, headers=headers or {}, method=method)
    try:
        with urllib.request.urlopen(request, timeout=10) as resp:
            return resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read()
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, {k.lower(): v for k, v in exc.headers.items()}, exc.read()


def http_get(url: str) -> tuple[int, bytes]:
    status, _, body = http(url)
    return status, body


def test_a_scripted_workload_gives_exact_counts(
    metrics_daemon: Daemon, unique: Callable[[str], str]
) -> None:
    d = metrics_daemon
    ok, failing, slow = unique("ok"), unique("fails"), unique("slow")
    zero, one = unique("zero"), unique("one")
    for name in (ok, failing, zero, one):
        deploy(d, name)
    deploy(d, slow, Timeout=1)
    lam = d.lambda_client()
    lam.put_function_concurrency(FunctionName=zero, ReservedConcurrentExecutions=0)
    lam.put_function_concurrency(FunctionName=one, ReservedConcurrentExecutions=1)

    for _ in range(5):
        assert d.invoke(ok, {}).status == 200
    for _ in range(3):
        resp = d.invoke(failing, {"fail": True})
        assert resp.headers.get("x-amz-function-error") == "Unhandled"
    assert b"Task timed out" in d.invoke(slow, {"sleep": 3}).body
    for _ in range(2):
        assert d.invoke(zero, {}).status == 429
    # Reserved concurrency 1: a second invoke while the first runs is throttled.
    first: list[int] = []

    def hold_the_unit() -> None:
        client = Client(d.socket_path, timeout_s=60)
        try:
            path = f"{FUNCTIONS}/{one}/invocations"
            first.append(client.request("POST", path, b'{"sleep": 2}').status)
        finally:
            client.close()

    runner = threading.Thread(target=hold_the_unit)
    runner.start()
    try:
        assert wait_until(
            lambda: value(scrape(d), "lambdalet_concurrent_executions", function=one) == 1, 10
        )
        assert d.invoke(one, {}).status == 429
    finally:
        runner.join(30)
    assert first == [200]

    m = scrape(d)
    latest = {"qualifier": "$LATEST"}
    sync = {**latest, "invocation_type": "RequestResponse"}
    assert value(m, "lambdalet_invocations_total", function=ok, **sync) == 5
    assert value(m, "lambdalet_duration_seconds_count", function=ok, **latest) == 5
    assert value(m, "lambdalet_init_duration_seconds_count", function=ok, **latest) == 1
    assert value(m, "lambdalet_throttles_total", function=ok, **latest) == 0
    assert not [k for k in m if k[0] == "lambdalet_errors_total" and ("function", ok) in k[1]]
    assert value(m, "lambdalet_invocations_total", function=failing, **sync) == 3
    errors = {
        (k[0], dict(k[1]).get("error_type")): v
        for k, v in m.items()
        if ("function", failing) in k[1]
    }
    assert errors[("lambdalet_errors_total", "Unhandled")] == 3
    assert (
        value(m, "lambdalet_errors_total", function=slow, error_type="Sandbox.Timedout", **latest)
        == 1
    )
    assert value(m, "lambdalet_invocations_total", function=slow, **sync) == 1
    assert value(m, "lambdalet_throttles_total", function=zero, **latest) == 2
    assert value(m, "lambdalet_invocations_total", function=zero, **sync) is None  # never ran
    assert value(m, "lambdalet_throttles_total", function=one, **latest) == 1
    assert value(m, "lambdalet_invocations_total", function=one, **sync) == 1
    assert value(m, "lambdalet_concurrent_executions", function=one) is None  # none in flight
    # The duration histogram's buckets: cumulative, +Inf holding them all.
    assert value(m, "lambdalet_duration_seconds_bucket", function=ok, le="+Inf", **latest) == 5
    assert value(m, "lambdalet_memory_size_bytes", function=ok, **latest) == 128 * 1024 * 1024
    used = value(m, "lambdalet_max_memory_used_bytes", function=ok, **latest)
    assert used is not None and 0 < used < 128 * 1024 * 1024


def make_queue(daemon: Daemon, name: str) -> tuple[str, str]:
    """(url, arn) of a new queue."""
    sqs = daemon.sqs_client()
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    attributes = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
    return url, attributes["Attributes"]["QueueArn"]


def test_async_outcomes_are_counted_per_function(
    metrics_daemon: Daemon, unique: Callable[[str], str]
) -> None:
    d = metrics_daemon
    lam = d.lambda_client()
    _, dlq_arn = make_queue(d, unique("dlq"))
    delivered = unique("delivered")  # fails; its DLQ receives the event
    deploy(d, delivered, DeadLetterConfig={"TargetArn": dlq_arn})
    lam.put_function_event_invoke_config(FunctionName=delivered, MaximumRetryAttempts=0)
    gone_url, gone_arn = make_queue(d, unique("gone"))
    undelivered = unique("undelivered")  # fails; its DLQ and failure destination are gone
    deploy(d, undelivered, DeadLetterConfig={"TargetArn": gone_arn})
    lam.put_function_event_invoke_config(
        FunctionName=undelivered,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": gone_arn}},
    )
    d.sqs_client().delete_queue(QueueUrl=gone_url)
    succeeds = unique("succeeds")
    deploy(d, succeeds)

    for name in (delivered, undelivered):
        lam.invoke(FunctionName=name, InvocationType="Event", Payload=b'{"fail": true}')
    for _ in range(2):
        lam.invoke(FunctionName=succeeds, InvocationType="Event", Payload=b"{}")

    latest = {"qualifier": "$LATEST"}
    dropped = "lambdalet_async_events_dropped_total"
    assert wait_until(
        lambda: (
            value(scrape(d), dropped, function=undelivered, reason="RetriesExhausted", **latest)
            == 1
        ),
        30,
    )
    assert wait_until(
        lambda: (
            value(scrape(d), "lambdalet_dead_letter_errors_total", function=undelivered, **latest)
            == 1
        ),
        10,
    )
    m = scrape(d)
    event = {**latest, "invocation_type": "Event"}
    # Retries exhausted after one attempt (MaximumRetryAttempts 0), the DLQ delivered.
    assert value(m, "lambdalet_async_events_received_total", function=delivered, **latest) == 1
    assert value(m, dropped, function=delivered, reason="RetriesExhausted", **latest) == 1
    assert value(m, "lambdalet_invocations_total", function=delivered, **event) == 1
    assert (
        value(m, "lambdalet_errors_total", function=delivered, error_type="Unhandled", **latest)
        == 1
    )
    assert value(m, "lambdalet_dead_letter_errors_total", function=delivered, **latest) == 0
    assert value(m, "lambdalet_async_event_age_seconds_count", function=delivered, **latest) == 1
    # Two attempts (MaximumRetryAttempts 1), then neither target could be reached.
    assert value(m, "lambdalet_invocations_total", function=undelivered, **event) == 2
    assert value(m, "lambdalet_async_event_age_seconds_count", function=undelivered, **latest) == 2
    assert (
        value(m, "lambdalet_destination_delivery_failures_total", function=undelivered, **latest)
        == 1
    )
    # Successes are received and invoked, never dropped.
    assert wait_until(
        lambda: value(scrape(d), "lambdalet_invocations_total", function=succeeds, **event) == 2, 10
    )
    m = scrape(d)
    assert value(m, "lambdalet_async_events_received_total", function=succeeds, **latest) == 2
    assert not [k for k in m if k[0] == dropped and ("function", succeeds) in k[1]]


def test_a_deleted_functions_series_go(
    metrics_daemon: Daemon, unique: Callable[[str], str]
) -> None:
    d = metrics_daemon
    name = unique("brief")
    deploy(d, name)
    assert d.invoke(name, {}).status == 200
    assert d.client.request("POST", f"{FUNCTIONS}/{name}/versions", b"{}").status == 201
    assert (
        d.client.request("POST", f"{FUNCTIONS}/{name}/invocations?Qualifier=1", b"{}").status == 200
    )

    def mine(m: Samples) -> set[str | None]:
        return {dict(k[1]).get("qualifier") for k in m if ("function", name) in k[1]}

    assert mine(scrape(d)) >= {"$LATEST", "1"}
    assert d.client.request("DELETE", f"{FUNCTIONS}/{name}?Qualifier=1").status == 204
    assert "1" not in mine(scrape(d))
    assert d.client.request("DELETE", f"{FUNCTIONS}/{name}").status == 204
    # Gone at once (its environments' gauges, when their teardown is over).
    assert wait_until(lambda: mine(scrape(d)) == set(), 10), mine(scrape(d))
    assert d.invoke(name, {}).status == 404
    assert mine(scrape(d)) == set()  # an invoke of a missing function makes no series


def test_metrics_are_unsigned_on_tcp_and_nothing_else_is(metrics_daemon: Daemon) -> None:
    base = metrics_daemon.endpoint
    status, body = http_get(base + "/metrics")
    assert status == 200 and b"lambdalet_stems_ready" in body
    status, body = http_get(base + "/metrics?name[]=x")  # a scraper's query changes nothing
    assert status == 200
    for path in (
        "/2015-03-31/functions/",
        "/metrics/",
        "/%6Detrics",
        "/metrics/../2015-03-31/functions/",
        "/lambdalet/v1/pool",
    ):
        status, body = http_get(base + path)
        assert status == 403, (path, status, body[:200])
        assert json.loads(body)["message"]  # AWS's shape: the signature is missing
    # Another method on /metrics still needs a signature.
    assert http(base + "/metrics", method="POST", data=b"{}")[0] == 403
    # Signed requests work as before (the negative control's positive side).
    assert "Functions" in metrics_daemon.lambda_client().list_functions()
    # gzip and OpenMetrics when asked.
    status, headers, body = http(
        base + "/metrics",
        headers={
            "Accept-Encoding": "gzip",
            "Accept": "application/openmetrics-text; version=1.0.0",
        },
    )
    assert status == 200 and headers["content-encoding"] == "gzip"
    assert headers["content-type"].startswith("application/openmetrics-text")
    assert gzip.decompress(body).endswith(b"# EOF\n")


def test_the_dedicated_listener_serves_only_metrics(metrics_daemon: Daemon) -> None:
    base = f"http://127.0.0.1:{metrics_daemon.metrics_port}"  # type: ignore[attr-defined]
    status, body = http_get(base + "/metrics")
    assert status == 200 and b"process_open_fds" in body
    assert http_get(base + "/2015-03-31/functions/")[0] == 404
    status, headers, _ = http(base + "/metrics", method="POST", data=b"x")
    assert status == 405 and headers["allow"] == "GET, HEAD"


def test_host_metrics(metrics_daemon: Daemon, unique: Callable[[str], str]) -> None:
    d = metrics_daemon
    name = unique("host")
    deploy(d, name)
    assert d.invoke(name, {}).status == 200
    m = scrape(d)
    states = {
        dict(k[1])["state"]: v
        for k, v in m.items()
        if k[0] == "lambdalet_environments" and ("function", name) in k[1]
    }
    assert states in ({"idle": 1.0}, {"frozen": 1.0})
    pool = json.loads(d.client.request("GET", "/lambdalet/v1/pool").body)
    cold = {dict(k[1])["kind"]: v for k, v in m.items() if k[0] == "lambdalet_cold_starts_total"}
    assert cold == {
        "ready_stem": pool["Stems"]["ColdStartsWithReadyStem"],
        "own_stem": pool["Stems"]["ColdStartsMakingTheirOwn"],
    }
    assert value(m, "lambdalet_uids_available") == pool["Uids"]["Available"]
    assert value(m, "process_open_fds") is not None
    assert d.client.request("DELETE", f"{FUNCTIONS}/{name}").status == 204
    # Its environment's teardown is timed; the loop-lag task has woken by now.
    before = value(m, "lambdalet_sandbox_teardown_seconds_count") or 0
    assert wait_until(
        lambda: (value(scrape(d), "lambdalet_sandbox_teardown_seconds_count") or 0) > before, 10
    )
    assert wait_until(
        lambda: (value(scrape(d), "lambdalet_event_loop_lag_seconds_count") or 0) > 0, 5
    )


def test_event_source_mapping_records_are_counted(
    metrics_daemon: Daemon, unique: Callable[[str], str]
) -> None:
    d = metrics_daemon
    url, arn = make_queue(d, unique("jobs"))
    name = unique("consumer")
    deploy(d, name)
    lam = d.lambda_client()
    uuid = lam.create_event_source_mapping(
        FunctionName=name,
        EventSourceArn=arn,
        BatchSize=10,
        FilterCriteria={"Filters": [{"Pattern": json.dumps({"body": {"keep": [True]}})}]},
    )["UUID"]
    sqs = d.sqs_client()
    for keep in (True, True, False):
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps({"keep": keep}))
    labels = {"esm": uuid, "function": name}
    esm = "lambdalet_esm_events_total"

    def counts() -> dict[str, float]:
        m = scrape(d)
        return {
            o: value(m, esm, outcome=o, **labels) or 0
            for o in ("polled", "filtered", "invoked", "failed", "deleted", "dropped")
        }

    expected = {"polled": 3, "filtered": 1, "invoked": 2, "failed": 0, "deleted": 2, "dropped": 0}
    assert wait_until(lambda: counts() == expected, 30), counts()
    lam.delete_event_source_mapping(UUID=uuid)
    assert wait_until(
        lambda: not [k for k in scrape(d) if k[0] == esm and ("esm", uuid) in k[1]], 30
    )


def test_metrics_can_be_turned_off(daemon_factory: Callable[[], Daemon]) -> None:
    d = daemon_factory()
    d.start(extra_toml="[metrics]\nenabled = false\n")
    try:
        resp = d.client.request("GET", "/metrics")
        assert resp.status == 404
        assert http_get(d.endpoint + "/metrics")[0] == 403  # unsigned: refused as any request
    finally:
        d.stop()
