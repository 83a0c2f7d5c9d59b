"""Kinesis event source mappings against a real daemon, with the real boto3 clients: order per
shard, parallelization with order per partition key, retries and OnFailure records, bisect,
partial batch failures, record age, filters, disable and enable, and a kill -9 in the middle
of a stream (nothing skipped, duplicates counted).

Each function prints one JSON line per batch; tests read them from its log. The daemon runs
with `events.time_scale` = 0.02, which also scales MaximumRecordAgeInSeconds (60 s → 1.2 s).
"""

from __future__ import annotations

import json
import signal
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.conftest import Daemon, wait_until

SCALE = 0.02
RECORDER = """
import base64, json, os, time
def handler(event, context):
    records = event["Records"]
    seen = [(r["kinesis"]["partitionKey"], base64.b64decode(r["kinesis"]["data"]).decode(),
             r["kinesis"]["sequenceNumber"]) for r in records]
    print("BATCH " + json.dumps({"t": time.time(), "records": seen,
                                 "shard": records[0]["eventID"].split(":")[0],
                                 "source": records[0]["eventSource"]}))
    if any("crash" in data for _, data, _ in seen):
        raise RuntimeError("crash requested")
    failed = []
    for _, data, sequence in seen:
        if "fail-once" in data:
            marker = "/tmp/failed-" + sequence
            if not os.path.exists(marker):
                open(marker, "w").close()
                failed.append(sequence)
    return {"batchItemFailures": [{"itemIdentifier": s} for s in failed]}
"""


@pytest.fixture(scope="module")
def daemon(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    d.start(extra_toml=f"[events]\ntime_scale = {SCALE}\n")
    yield d
    d.stop()


@pytest.fixture
def unique() -> Callable[[str], str]:
    return lambda prefix: f"{prefix}-{time.time_ns() % 10**10}"


def batches(daemon: Daemon, function: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for path in sorted((daemon.state_dir / "logs" / function).glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith("BATCH "):
                found.append(json.loads(line[6:]))
    return sorted(found, key=lambda batch: batch["t"])  # environments log to their own files


def datas(daemon: Daemon, function: str) -> list[str]:
    return [data for b in batches(daemon, function) for _, data, _ in b["records"]]


def make_stream(daemon: Daemon, name: str, shards: int = 1) -> str:
    kinesis = daemon.kinesis_client()
    kinesis.create_stream(StreamName=name, ShardCount=shards)
    arn: str = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
        "StreamARN"
    ]
    return arn


def put(daemon: Daemon, stream: str, items: list[tuple[str, str]]) -> None:
    kinesis = daemon.kinesis_client()
    for start in range(0, len(items), 100):
        answer = kinesis.put_records(
            StreamName=stream,
            Records=[
                {"Data": d.encode(), "PartitionKey": k} for k, d in items[start : start + 100]
            ],
        )
        assert answer["FailedRecordCount"] == 0


def make_queue(daemon: Daemon, name: str) -> tuple[str, str]:
    sqs = daemon.sqs_client()
    url: str = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"]
    return url, arn["QueueArn"]


def receive_one(daemon: Daemon, url: str, wait_s: float = 30) -> dict[str, Any]:
    sqs = daemon.sqs_client()
    deadline = time.monotonic() + wait_s
    while time.monotonic() < deadline:
        got = sqs.receive_message(QueueUrl=url, WaitTimeSeconds=2).get("Messages", [])
        if got:
            sqs.delete_message(QueueUrl=url, ReceiptHandle=got[0]["ReceiptHandle"])
            record: dict[str, Any] = json.loads(got[0]["Body"])
            return record
    raise AssertionError(f"nothing arrived on {url}")


def deploy(daemon: Daemon, name: str) -> None:
    resp = daemon.create(name, RECORDER, Timeout=30)
    assert resp.status == 201, resp.body


def map_stream(daemon: Daemon, function: str, arn: str, **settings: Any) -> str:
    client = daemon.lambda_client()
    settings.setdefault("StartingPosition", "TRIM_HORIZON")
    uuid: str = client.create_event_source_mapping(
        FunctionName=function, EventSourceArn=arn, **settings
    )["UUID"]
    assert wait_until(
        lambda: client.get_event_source_mapping(UUID=uuid)["State"] in ("Enabled", "Disabled"),
        10,
    )
    return uuid


def test_a_shard_is_processed_in_order_in_batches(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    stream, name = unique("ordered"), unique("ordered-fn")
    arn = make_stream(daemon, stream)
    deploy(daemon, name)
    put(daemon, stream, [(f"k{i % 7}", f"r{i}") for i in range(50)])
    uuid = map_stream(daemon, name, arn, BatchSize=10)
    assert wait_until(lambda: len(datas(daemon, name)) >= 50, 30)
    assert datas(daemon, name) == [f"r{i}" for i in range(50)]
    seen = batches(daemon, name)
    assert all(len(b["records"]) <= 10 for b in seen)
    assert seen[0]["source"] == "aws:kinesis" and seen[0]["shard"] == "shardId-000000000000"
    sequences = [int(s) for b in seen for _, _, s in b["records"]]
    assert sequences == sorted(sequences)
    mapping = daemon.lambda_client().get_event_source_mapping(UUID=uuid)
    assert mapping["LastProcessingResult"] == "OK"


def test_latest_sees_only_what_arrives_after_the_mapping(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    stream, name = unique("latest"), unique("latest-fn")
    arn = make_stream(daemon, stream)
    deploy(daemon, name)
    put(daemon, stream, [("k", "old")])
    map_stream(daemon, name, arn, StartingPosition="LATEST")
    time.sleep(0.3)
    put(daemon, stream, [("k", "new")])
    assert wait_until(lambda: datas(daemon, name) == ["new"], 20)


def test_parallelization_keeps_the_order_of_each_partition_key(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    stream, name = unique("parallel"), unique("parallel-fn")
    arn = make_stream(daemon, stream)
    deploy(daemon, name)
    keys = [f"key{k}" for k in range(6)]
    put(daemon, stream, [(keys[i % 6], f"{keys[i % 6]}-{i // 6}") for i in range(120)])
    map_stream(daemon, name, arn, BatchSize=5, ParallelizationFactor=4)
    assert wait_until(lambda: len(datas(daemon, name)) >= 120, 30)
    seen = datas(daemon, name)
    assert sorted(seen) == sorted(f"{k}-{n}" for k in keys for n in range(20))
    for key in keys:
        assert [d for d in seen if d.startswith(key + "-")] == [f"{key}-{n}" for n in range(20)]
    # Batches hold one lane's keys: a key never shares a batch with every other key.
    assert all(len({k for k, _, _ in b["records"]}) < 6 for b in batches(daemon, name))


def test_retries_exhausted_send_batch_info_on_failure_and_the_shard_moves_on(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    stream, name = unique("exhaust"), unique("exhaust-fn")
    arn = make_stream(daemon, stream)
    url, queue_arn = make_queue(daemon, unique("stream-failures"))
    deploy(daemon, name)
    put(daemon, stream, [("k", "crash-1"), ("k", "crash-2")])
    map_stream(
        daemon,
        name,
        arn,
        BatchSize=2,
        MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    record = receive_one(daemon, url)
    assert record["requestContext"]["condition"] == "RetryAttemptsExhausted"
    assert record["requestContext"]["approximateInvokeCount"] == 2  # the first try and 1 retry
    assert record["requestContext"]["functionArn"].endswith(f":function:{name}")
    assert record["responseContext"]["functionError"] == "Unhandled"
    info = record["KinesisBatchInfo"]
    assert info["batchSize"] == 2 and info["streamArn"] == arn
    assert info["shardId"] == "shardId-000000000000"
    assert int(info["startSequenceNumber"]) < int(info["endSequenceNumber"])
    assert "Records" not in record  # metadata, not the records
    put(daemon, stream, [("k", "after")])
    assert wait_until(lambda: "after" in datas(daemon, name), 20)
    assert datas(daemon, name).count("crash-1") == 2


def test_bisect_isolates_the_bad_record(daemon: Daemon, unique: Callable[[str], str]) -> None:
    stream, name = unique("bisect"), unique("bisect-fn")
    arn = make_stream(daemon, stream)
    url, queue_arn = make_queue(daemon, unique("bisect-failures"))
    deploy(daemon, name)
    items = [("k", f"good-{i}") for i in range(8)]
    items[5] = ("k", "crash-5")
    put(daemon, stream, items)
    map_stream(
        daemon,
        name,
        arn,
        BatchSize=8,
        MaximumRetryAttempts=0,
        BisectBatchOnFunctionError=True,
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    record = receive_one(daemon, url)
    assert record["KinesisBatchInfo"]["batchSize"] == 1  # only the bad record was given up
    assert wait_until(
        lambda: {f"good-{i}" for i in range(8) if i != 5} <= set(datas(daemon, name)), 20
    )


def test_a_reported_failure_is_retried_from_it_and_not_before(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    stream, name = unique("partial"), unique("partial-fn")
    arn = make_stream(daemon, stream)
    deploy(daemon, name)
    put(daemon, stream, [("k", "a"), ("k", "b"), ("k", "fail-once-c"), ("k", "d")])
    map_stream(daemon, name, arn, BatchSize=4, FunctionResponseTypes=["ReportBatchItemFailures"])
    assert wait_until(lambda: len(batches(daemon, name)) >= 2, 20)
    first, second = batches(daemon, name)[:2]
    assert [d for _, d, _ in first["records"]] == ["a", "b", "fail-once-c", "d"]
    assert [d for _, d, _ in second["records"]] == ["fail-once-c", "d"]  # from the checkpoint


def test_records_past_their_maximum_age_are_given_up(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    stream, name = unique("aged"), unique("aged-fn")
    arn = make_stream(daemon, stream)
    url, queue_arn = make_queue(daemon, unique("aged-failures"))
    deploy(daemon, name)
    put(daemon, stream, [("k", "crash-forever")])
    started = time.monotonic()
    map_stream(
        daemon,
        name,
        arn,
        MaximumRecordAgeInSeconds=60,  # 1.2 s at this daemon's scale; retries are unlimited
        DestinationConfig={"OnFailure": {"Destination": queue_arn}},
    )
    record = receive_one(daemon, url)
    assert record["requestContext"]["condition"] == "RecordAgeExceeded"
    assert time.monotonic() - started < 20
    assert datas(daemon, name).count("crash-forever") >= 2  # retried while young enough


def test_filters_match_the_decoded_data(daemon: Daemon, unique: Callable[[str], str]) -> None:
    stream, name = unique("filtered"), unique("filtered-fn")
    arn = make_stream(daemon, stream)
    deploy(daemon, name)
    pattern = json.dumps({"data": {"kind": ["keep"]}})
    map_stream(daemon, name, arn, FilterCriteria={"Filters": [{"Pattern": pattern}]})
    keep, drop = json.dumps({"kind": "keep", "n": 1}), json.dumps({"kind": "drop", "n": 2})
    put(daemon, stream, [("k", drop), ("k", keep), ("k", "not json"), ("k", "last")])
    put(daemon, stream, [("k", json.dumps({"kind": "keep", "n": 3}))])
    assert wait_until(lambda: len(datas(daemon, name)) >= 2, 20)
    time.sleep(0.5)
    assert [json.loads(d)["n"] for d in datas(daemon, name)] == [1, 3]


def test_disable_stops_within_a_second_and_enable_resumes_where_it_stopped(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    stream, name = unique("toggle"), unique("toggle-fn")
    arn = make_stream(daemon, stream)
    deploy(daemon, name)
    uuid = map_stream(daemon, name, arn)
    client = daemon.lambda_client()
    put(daemon, stream, [("k", "one")])
    assert wait_until(lambda: datas(daemon, name) == ["one"], 20)
    client.update_event_source_mapping(UUID=uuid, Enabled=False)
    assert wait_until(lambda: client.get_event_source_mapping(UUID=uuid)["State"] == "Disabled", 1)
    put(daemon, stream, [("k", "two"), ("k", "three")])
    time.sleep(1.5)
    assert datas(daemon, name) == ["one"]
    client.update_event_source_mapping(UUID=uuid, Enabled=True)
    assert wait_until(lambda: datas(daemon, name) == ["one", "two", "three"], 20)


def test_kill_9_in_the_middle_of_a_stream_skips_nothing(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    stream, name = unique("crash"), unique("crash-fn")
    arn = make_stream(daemon, stream, shards=2)
    deploy(daemon, name)
    items = [(f"k{i % 13}", f"c{i}") for i in range(400)]
    put(daemon, stream, items)
    map_stream(daemon, name, arn, BatchSize=5)
    assert wait_until(lambda: len(datas(daemon, name)) >= 40, 30)
    daemon.stop(signal.SIGKILL)
    daemon.start(extra_toml=f"[events]\ntime_scale = {SCALE}\n")
    expected = {d for _, d in items}
    assert wait_until(lambda: expected <= set(datas(daemon, name)), 60)
    seen = datas(daemon, name)
    for key in {k for k, _ in items}:  # each key's records in order, counting repeats once
        order = [d for d in dict.fromkeys(seen) if d in {d2 for k2, d2 in items if k2 == key}]
        assert order == [d for k2, d in items if k2 == key]
    print(f"kill -9 mid-stream: {len(seen) - len(expected)} records delivered twice, none lost")


WINDOWED = """
import base64, json, time
def handler(event, context):
    state = event["state"] or {"sum": 0, "invokes": 0}
    if event["isFinalInvokeForWindow"]:
        print("FINAL " + json.dumps({"t": time.time(), "window": event["window"], "state": state,
                                     "records": len(event["Records"])}))
        return {}
    values = [int(base64.b64decode(r["kinesis"]["data"])) for r in event["Records"]]
    state = {"sum": state["sum"] + sum(values), "invokes": state["invokes"] + 1}
    print("STEP " + json.dumps({"window": event["window"], "shard": event["shardId"],
                                "state_in": event["state"]}))
    return {"state": state}
"""


def log_lines(daemon: Daemon, function: str, prefix: str) -> list[dict[str, Any]]:
    found = []
    for path in sorted((daemon.state_dir / "logs" / function).glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            if line.startswith(prefix + " "):
                found.append(json.loads(line[len(prefix) + 1 :]))
    return found


def test_tumbling_windows_carry_state_and_end_with_a_final_invoke(
    daemon: Daemon, unique: Callable[[str], str]
) -> None:
    stream, name = unique("windows"), unique("windows-fn")
    arn = make_stream(daemon, stream)
    resp = daemon.create(name, WINDOWED, Timeout=30)
    assert resp.status == 201, resp.body
    map_stream(daemon, name, arn, BatchSize=1, TumblingWindowInSeconds=2)
    for value in range(1, 6):
        put(daemon, stream, [("k", str(value))])
    assert wait_until(
        lambda: sum(f["state"]["sum"] for f in log_lines(daemon, name, "FINAL")) == 15, 20
    )
    finals = log_lines(daemon, name, "FINAL")
    assert all(f["records"] == 0 for f in finals)
    assert len({f["window"]["start"] for f in finals}) == len(finals)  # one final per window
    assert sum(f["state"]["invokes"] for f in finals) == 5  # every record, once
    steps = log_lines(daemon, name, "STEP")
    assert any(s["state_in"] for s in steps)  # a window's later invokes got its state
    assert all(s["shard"] == "shardId-000000000000" for s in steps)
    start, end = finals[0]["window"]["start"], finals[0]["window"]["end"]
    assert start.endswith("Z") and end > start
