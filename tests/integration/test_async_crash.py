"""Nothing acknowledged is lost to `kill -9`: asynchronous events and queue messages.

Clients send Event invokes and SQS messages as fast as they can while the daemon is killed
with SIGKILL at random moments and restarted, several times. Every event the daemon answered
202 to must then run to success and reach the function's OnSuccess queue at least once, and
every message SendMessage acknowledged must be receivable; duplicates are allowed (at least
once) and counted, losses are not.

Bounded: a few rounds of about a second of sending each, and a drain of at most two minutes.
"""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from engine.cli.client import Client
from tests.integration.conftest import Daemon

SCALE = 0.02
ROUNDS = 4
SENDERS = 2  # threads sending Event invokes (each on its own connection)
MAX_PER_ROUND = 600  # per sender, so the test's size is bounded whatever the machine's speed
DRAIN_S = 120
HANDLER = """
def handler(event, context):
    return {"i": event["i"]}
"""


@pytest.fixture(scope="module")
def daemon(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    d.start(extra_toml=f"[events]\ntime_scale = {SCALE}\n")
    yield d
    d.stop()


def sqs_call(client: Client, operation: str, body: dict[str, Any]) -> tuple[int, Any]:
    """One SQS JSON-protocol call over the daemon's unix socket (no signature there)."""
    resp = client.request(
        "POST",
        "/",
        json.dumps(body).encode(),
        {
            "X-Amz-Target": f"AmazonSQS.{operation}",
            "Content-Type": "application/x-amz-json-1.0",
        },
    )
    return resp.status, resp.json()


class Senders:
    """Threads that send until told to stop (or the daemon dies), recording what was acked."""

    def __init__(self, daemon: Daemon, function: str, queue_url: str) -> None:
        self.daemon = daemon
        self.function = function
        self.queue_url = queue_url
        self.acked_events: set[int] = set()
        self.acked_messages: set[int] = set()
        self.next = 0
        self.lock = threading.Lock()

    def number(self) -> int:
        with self.lock:
            self.next += 1
            return self.next

    def send_events(self, stop: threading.Event) -> None:
        client = Client(self.daemon.socket_path, timeout_s=10)
        path = f"/2015-03-31/functions/{self.function}/invocations"
        try:
            for _ in range(MAX_PER_ROUND):
                if stop.is_set():
                    return
                i = self.number()
                try:
                    resp = client.request(
                        "POST",
                        path,
                        json.dumps({"i": i}).encode(),
                        {"X-Amz-Invocation-Type": "Event"},
                    )
                except Exception:
                    return  # the daemon is gone: whether `i` was stored is unknown, and allowed
                if resp.status == 202:
                    with self.lock:
                        self.acked_events.add(i)
        finally:
            client.close()

    def send_messages(self, stop: threading.Event) -> None:
        client = Client(self.daemon.socket_path, timeout_s=10)
        try:
            for _ in range(MAX_PER_ROUND):
                if stop.is_set():
                    return
                i = self.number()
                try:
                    status, _ = sqs_call(
                        client, "SendMessage", {"QueueUrl": self.queue_url, "MessageBody": str(i)}
                    )
                except Exception:
                    return
                if status == 200:
                    with self.lock:
                        self.acked_messages.add(i)
        finally:
            client.close()


def drain(client: Client, url: str, into: list[str], until: Callable[[], bool]) -> None:
    deadline = time.monotonic() + DRAIN_S
    while not until() and time.monotonic() < deadline:
        status, body = sqs_call(
            client,
            "ReceiveMessage",
            {"QueueUrl": url, "MaxNumberOfMessages": 10, "WaitTimeSeconds": 1},
        )
        assert status == 200, body
        messages = body.get("Messages", [])
        into += [m["Body"] for m in messages]
        if messages:
            status, body = sqs_call(
                client,
                "DeleteMessageBatch",
                {
                    "QueueUrl": url,
                    "Entries": [
                        {"Id": str(n), "ReceiptHandle": m["ReceiptHandle"]}
                        for n, m in enumerate(messages)
                    ],
                },
            )
            assert status == 200, body


def test_kill_9_loses_no_acknowledged_event_or_message(daemon: Daemon) -> None:
    seed = random.randrange(1 << 30)
    rng = random.Random(seed)
    sqs = daemon.sqs_client()
    done_url = sqs.create_queue(QueueName="crash-done")["QueueUrl"]
    done_arn = sqs.get_queue_attributes(QueueUrl=done_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    direct_url = sqs.create_queue(QueueName="crash-direct")["QueueUrl"]
    resp = daemon.create("crash-fn", HANDLER)
    assert resp.status == 201, resp.body
    client = daemon.lambda_client()
    client.put_function_concurrency(FunctionName="crash-fn", ReservedConcurrentExecutions=4)
    client.put_function_event_invoke_config(
        FunctionName="crash-fn", DestinationConfig={"OnSuccess": {"Destination": done_arn}}
    )
    senders = Senders(daemon, "crash-fn", direct_url)

    for _ in range(ROUNDS):
        stop = threading.Event()
        threads = [
            threading.Thread(target=senders.send_events, args=(stop,)) for _ in range(SENDERS)
        ]
        threads.append(threading.Thread(target=senders.send_messages, args=(stop,)))
        for thread in threads:
            thread.start()
        time.sleep(rng.uniform(0.3, 1.5))
        daemon.stop(signal.SIGKILL)  # mid-stream: accepts, attempts and deliveries under way
        stop.set()
        for thread in threads:
            thread.join(30)
        daemon.start(extra_toml=f"[events]\ntime_scale = {SCALE}\n")

    events, messages = senders.acked_events, senders.acked_messages
    assert len(events) > ROUNDS * 10, f"too few events acknowledged to prove anything ({seed=})"
    assert len(messages) > ROUNDS * 10, f"too few messages acknowledged ({seed=})"

    socket_client = Client(daemon.socket_path, timeout_s=30)
    try:
        records: list[str] = []
        done_ids: set[int] = set()

        def all_done() -> bool:
            done_ids.update(json.loads(r)["responsePayload"]["i"] for r in records)
            return events <= done_ids

        drain(socket_client, done_url, records, all_done)
        bodies: list[str] = []
        drain(socket_client, direct_url, bodies, lambda: messages <= {int(b) for b in bodies})
    finally:
        socket_client.close()

    lost_events = sorted(events - done_ids)
    lost_messages = sorted(messages - {int(b) for b in bodies})
    assert not lost_events, (
        f"{len(lost_events)} acknowledged events lost ({seed=}): {lost_events[:20]}"
    )
    assert not lost_messages, f"{len(lost_messages)} acknowledged messages lost ({seed=})"
    for record in records:
        assert json.loads(record)["requestContext"]["condition"] == "Success"
    # What a restart cut short ran again: at least once, and the repeats are counted.
    counters = daemon.client.request("GET", "/lambdalet/v1/async-events").json()
    duplicates = len(records) - len(set(records))
    print(
        f"{seed=}: {len(events)} events and {len(messages)} messages acknowledged, none lost; "
        f"{len(records) - len({json.loads(r)['requestContext']['requestId'] for r in records})} "
        f"duplicate deliveries ({duplicates} byte-identical); "
        f"redelivered after the last restart: {counters['AsyncEventsRedelivered']}"
    )
