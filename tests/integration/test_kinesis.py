"""The Kinesis-compatible streams through the real boto3 client (and the AWS CLI) against a
real daemon: streams and shards, records placed by the MD5 of their partition key, every
iterator type, order per shard under concurrent producers, retention and tags, Kinesis's
error codes and texts, and acknowledged records kept across a kill -9."""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import subprocess
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import pytest

from tests.integration.conftest import ACCESS_KEY_ID, SECRET_ACCESS_KEY, Daemon

pytestmark = pytest.mark.privileged

ACCOUNT = "000000000000"
ARN = f"arn:aws:kinesis:us-east-1:{ACCOUNT}:stream/"
AWS = Path(sys.executable).parent / "aws"


@pytest.fixture(scope="module")
def kinesis_daemon(daemon_factory: Callable[[], Daemon]) -> Daemon:
    """A daemon of this module's own: the kill -9 test stops and starts it."""
    d = daemon_factory()
    d.start()
    return d


@pytest.fixture
def kinesis(kinesis_daemon: Daemon) -> Any:
    return kinesis_daemon.kinesis_client()


@pytest.fixture
def stream(kinesis: Any) -> Iterator[Callable[..., str]]:
    """Make streams with unique names; deleted after the test."""
    names: list[str] = []

    def make(shards: int | None = 1, **extra: Any) -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        if shards is not None:
            extra["ShardCount"] = shards
        kinesis.create_stream(StreamName=name, **extra)
        names.append(name)
        return name

    yield make
    for name in names:
        try:
            kinesis.delete_stream(StreamName=name)
        except botocore.exceptions.ClientError:
            pass


def shard_iterator(kinesis: Any, name: str, shard_id: str, kind: str, **extra: Any) -> str:
    got = kinesis.get_shard_iterator(
        StreamName=name, ShardId=shard_id, ShardIteratorType=kind, **extra
    )
    token: str = got["ShardIterator"]
    return token


def read_all(kinesis: Any, token: str, *, limit: int = 10_000) -> list[dict[str, Any]]:
    """Every record from `token` to the tip (bounded: at most 100 calls)."""
    records: list[dict[str, Any]] = []
    for _ in range(100):
        got = kinesis.get_records(ShardIterator=token, Limit=limit)
        records += got["Records"]
        token = got["NextShardIterator"]
        if not got["Records"] and got["MillisBehindLatest"] == 0:
            return records
    raise AssertionError("the shard did not end within 100 GetRecords")


def error_of(caught: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, str]:
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


def test_stream_lifecycle(kinesis: Any, stream: Callable[..., str]) -> None:
    name = stream(shards=2)
    kinesis.get_waiter("stream_exists").wait(StreamName=name)  # ACTIVE at the first look
    description = kinesis.describe_stream(StreamName=name)["StreamDescription"]
    assert description["StreamStatus"] == "ACTIVE"
    assert description["StreamARN"] == ARN + name
    assert description["RetentionPeriodHours"] == 24
    assert description["StreamModeDetails"] == {"StreamMode": "PROVISIONED"}
    assert isinstance(description["StreamCreationTimestamp"], datetime.datetime)
    assert [s["ShardId"] for s in description["Shards"]] == [
        "shardId-000000000000",
        "shardId-000000000001",
    ]
    summary = kinesis.describe_stream_summary(StreamARN=ARN + name)["StreamDescriptionSummary"]
    assert summary["OpenShardCount"] == 2
    listed = kinesis.list_streams()
    assert name in listed["StreamNames"]
    (mine,) = [s for s in listed["StreamSummaries"] if s["StreamName"] == name]
    assert mine["StreamARN"] == ARN + name and mine["StreamStatus"] == "ACTIVE"
    shards = kinesis.list_shards(StreamName=name)["Shards"]
    assert shards == description["Shards"]

    on_demand = stream(shards=None, StreamModeDetails={"StreamMode": "ON_DEMAND"})
    assert len(kinesis.list_shards(StreamName=on_demand)["Shards"]) == 4

    kinesis.delete_stream(StreamName=name)
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException) as caught:
        kinesis.describe_stream(StreamName=name)
    assert error_of(caught) == (
        "ResourceNotFoundException",
        f"Stream {name} under account {ACCOUNT} not found.",
    )
    kinesis.get_waiter("stream_not_exists").wait(StreamName=name)


def test_records_through_every_iterator_type(kinesis: Any, stream: Callable[..., str]) -> None:
    name = stream(shards=1)
    shard = "shardId-000000000000"
    first = kinesis.put_record(StreamName=name, Data=b"\x00first\xff", PartitionKey="a")
    assert first["ShardId"] == shard and len(first["SequenceNumber"]) == 56
    batch = kinesis.put_records(
        StreamName=name,
        Records=[{"Data": f"r{i}".encode(), "PartitionKey": f"k{i}"} for i in range(4)],
    )
    assert batch["FailedRecordCount"] == 0
    seqs = [first["SequenceNumber"]] + [r["SequenceNumber"] for r in batch["Records"]]
    assert seqs == sorted(seqs) and len(set(seqs)) == 5

    records = read_all(kinesis, shard_iterator(kinesis, name, shard, "TRIM_HORIZON"), limit=2)
    assert [r["SequenceNumber"] for r in records] == seqs
    assert records[0]["Data"] == b"\x00first\xff" and records[0]["PartitionKey"] == "a"
    assert isinstance(records[0]["ApproximateArrivalTimestamp"], datetime.datetime)

    at = shard_iterator(kinesis, name, shard, "AT_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2])
    assert [r["SequenceNumber"] for r in read_all(kinesis, at)] == seqs[2:]
    after = shard_iterator(
        kinesis, name, shard, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=seqs[2]
    )
    assert [r["SequenceNumber"] for r in read_all(kinesis, after)] == seqs[3:]
    when = records[0]["ApproximateArrivalTimestamp"] - datetime.timedelta(seconds=1)
    by_time = shard_iterator(kinesis, name, shard, "AT_TIMESTAMP", Timestamp=when)
    assert [r["SequenceNumber"] for r in read_all(kinesis, by_time)] == seqs

    latest = shard_iterator(kinesis, name, shard, "LATEST")
    got = kinesis.get_records(ShardIterator=latest)
    assert got["Records"] == [] and got["MillisBehindLatest"] == 0
    later = kinesis.put_record(StreamName=name, Data=b"later", PartitionKey="z")
    got = kinesis.get_records(ShardIterator=got["NextShardIterator"])
    assert [r["SequenceNumber"] for r in got["Records"]] == [later["SequenceNumber"]]


def test_partition_keys_hash_to_their_shard(kinesis: Any, stream: Callable[..., str]) -> None:
    name = stream(shards=4)
    ranges = {
        s["ShardId"]: (
            int(s["HashKeyRange"]["StartingHashKey"]),
            int(s["HashKeyRange"]["EndingHashKey"]),
        )
        for s in kinesis.list_shards(StreamName=name)["Shards"]
    }
    keys = [f"key-{i}" for i in range(40)] + ["ü", "a" * 256]
    placed = kinesis.put_records(
        StreamName=name, Records=[{"Data": b"x", "PartitionKey": k} for k in keys]
    )["Records"]
    used = set()
    for key, result in zip(keys, placed, strict=True):
        digest = int.from_bytes(hashlib.md5(key.encode()).digest(), "big")
        low, high = ranges[result["ShardId"]]
        assert low <= digest <= high, key
        used.add(result["ShardId"])
    assert used == set(ranges)  # 42 keys reach all four shards
    edge = str(ranges["shardId-000000000002"][0])
    explicit = kinesis.put_record(
        StreamName=name, Data=b"x", PartitionKey="a", ExplicitHashKey=edge
    )
    assert explicit["ShardId"] == "shardId-000000000002"
    with pytest.raises(kinesis.exceptions.InvalidArgumentException) as caught:
        kinesis.put_record(
            StreamName=name, Data=b"x", PartitionKey="a", ExplicitHashKey=str(2**128)
        )
    assert error_of(caught)[1].startswith("Invalid ExplicitHashKey.")


def test_order_per_shard_under_concurrent_producers(
    kinesis_daemon: Daemon, stream: Callable[..., str]
) -> None:
    name = stream(shards=2)
    errors: list[BaseException] = []

    def produce(producer: int) -> None:
        client = kinesis_daemon.kinesis_client()
        try:
            for n in range(30):
                client.put_record(
                    StreamName=name, Data=f"{producer}:{n}".encode(), PartitionKey=f"p{producer}"
                )
        except BaseException as exc:  # reported by the test below
            errors.append(exc)

    threads = [threading.Thread(target=produce, args=(p,)) for p in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == [] and not any(t.is_alive() for t in threads)

    client = kinesis_daemon.kinesis_client()
    seen: dict[str, list[int]] = {}
    for shard in ("shardId-000000000000", "shardId-000000000001"):
        records = read_all(client, shard_iterator(client, name, shard, "TRIM_HORIZON"))
        seqs = [int(r["SequenceNumber"]) for r in records]
        assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
        for record in records:
            producer, n = record["Data"].decode().split(":")
            seen.setdefault(producer, []).append(int(n))
    # every record once, and each producer's records in the order it put them
    assert seen == {str(p): list(range(30)) for p in range(6)}


def test_retention_and_tags(kinesis: Any, stream: Callable[..., str]) -> None:
    name = stream(shards=1, Tags={"team": "data"})
    kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=72)
    with pytest.raises(kinesis.exceptions.InvalidArgumentException) as caught:
        kinesis.increase_stream_retention_period(StreamName=name, RetentionPeriodHours=48)
    assert error_of(caught)[1] == (
        f"Requested retention period (48 hours) for stream {name} can not be shorter than "
        "existing retention period (72 hours). Use DecreaseRetentionPeriod API."
    )
    kinesis.decrease_stream_retention_period(StreamARN=ARN + name, RetentionPeriodHours=48)
    summary = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"]
    assert summary["RetentionPeriodHours"] == 48

    kinesis.add_tags_to_stream(StreamName=name, Tags={"env": "test"})
    tags = kinesis.list_tags_for_stream(StreamName=name)
    assert tags["Tags"] == [{"Key": "env", "Value": "test"}, {"Key": "team", "Value": "data"}]
    assert tags["HasMoreTags"] is False
    kinesis.remove_tags_from_stream(StreamName=name, TagKeys=["team"])
    assert kinesis.list_tags_for_stream(StreamName=name)["Tags"] == [
        {"Key": "env", "Value": "test"}
    ]


def test_errors_in_kinesis_codes(
    kinesis: Any, kinesis_daemon: Daemon, stream: Callable[..., str]
) -> None:
    name = stream(shards=1)
    with pytest.raises(kinesis.exceptions.ResourceInUseException) as caught:
        kinesis.create_stream(StreamName=name, ShardCount=1)
    assert error_of(caught) == (
        "ResourceInUseException",
        f"Stream {name} under account {ACCOUNT} already exists.",
    )
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException) as caught:
        kinesis.put_record(StreamName="missing", Data=b"x", PartitionKey="a")
    assert error_of(caught)[1] == f"Stream missing under account {ACCOUNT} not found."
    with pytest.raises(kinesis.exceptions.ResourceNotFoundException) as caught:
        shard_iterator(kinesis, name, "shardId-000000000009", "LATEST")
    assert error_of(caught)[1] == (
        f"Shard shardId-000000000009 in stream {name} under account {ACCOUNT} does not exist"
    )
    with pytest.raises(kinesis.exceptions.InvalidArgumentException) as caught:
        kinesis.get_records(ShardIterator="AAAAAAAAAAFub3Rhbml0ZXJhdG9y")
    assert error_of(caught) == ("InvalidArgumentException", "Invalid ShardIterator.")
    with pytest.raises(kinesis.exceptions.InvalidArgumentException) as caught:
        kinesis.split_shard(
            StreamName=name, ShardToSplit="shardId-000000000000", NewStartingHashKey="1"
        )
    assert error_of(caught)[1] == "lambdalet does not implement the Kinesis operation SplitShard."

    # botocore checks Limit itself; without its check, the daemon answers as Kinesis does
    raw = boto3.client(
        "kinesis",
        endpoint_url=kinesis_daemon.endpoint,
        region_name="us-east-1",
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=botocore.config.Config(parameter_validation=False, retries={"max_attempts": 0}),
    )
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        raw.get_records(ShardIterator="x", Limit=10_001)
    assert error_of(caught) == (
        "ValidationException",
        "1 validation error detected: Value '10001' at 'limit' failed to satisfy constraint: "
        "Member must have value less than or equal to 10000",
    )


def test_acknowledged_records_survive_kill_9(
    kinesis: Any, kinesis_daemon: Daemon, stream: Callable[..., str]
) -> None:
    name = stream(shards=1)
    sent: list[str] = []
    for batch in range(5):
        result = kinesis.put_records(
            StreamName=name,
            Records=[
                {"Data": f"{batch}-{i}".encode(), "PartitionKey": f"k{i}"} for i in range(100)
            ],
        )
        assert result["FailedRecordCount"] == 0
        sent += [r["SequenceNumber"] for r in result["Records"]]
    last = kinesis.put_record(StreamName=name, Data=b"last", PartitionKey="z")
    sent.append(last["SequenceNumber"])

    kinesis_daemon.stop(9)  # SIGKILL: an acknowledged put must already be on disk
    kinesis_daemon.start()

    client = kinesis_daemon.kinesis_client()
    shard = "shardId-000000000000"
    records = read_all(client, shard_iterator(client, name, shard, "TRIM_HORIZON"))
    assert [r["SequenceNumber"] for r in records] == sent
    expected = [f"{b}-{i}".encode() for b in range(5) for i in range(100)] + [b"last"]
    assert [r["Data"] for r in records] == expected
    # the shard goes on above what it had, and a checkpoint taken before the kill still works
    after = client.put_record(StreamName=name, Data=b"after", PartitionKey="z")
    assert int(after["SequenceNumber"]) > int(sent[-1])
    resumed = shard_iterator(
        client, name, shard, "AFTER_SEQUENCE_NUMBER", StartingSequenceNumber=sent[-1]
    )
    assert [r["Data"] for r in read_all(client, resumed)] == [b"after"]


def test_aws_cli_put_and_get(
    kinesis: Any, kinesis_daemon: Daemon, stream: Callable[..., str], tmp_path: Path
) -> None:
    if not AWS.exists():
        pytest.skip("the AWS CLI is not installed in the venv")
    name = stream(shards=1)
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "HOME": str(tmp_path),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(tmp_path / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(tmp_path / "credentials"),
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
        }
    )

    def aws(*args: str) -> Any:
        done = subprocess.run(
            [str(AWS), "--endpoint-url", kinesis_daemon.endpoint, "--output", "json",
             "kinesis", *args],
            capture_output=True, text=True, timeout=60, env=env, check=False,
        )  # fmt: skip
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    # AWS CLI v1 sends a blob argument's text as the bytes (v2 wants
    # --cli-binary-format raw-in-base64-out for that)
    put = aws("put-record", "--stream-name", name, "--partition-key", "k", "--data", "hello")
    token = aws("get-shard-iterator", "--stream-name", name, "--shard-id", put["ShardId"],
                "--shard-iterator-type", "TRIM_HORIZON")["ShardIterator"]  # fmt: skip
    (record,) = aws("get-records", "--shard-iterator", token)["Records"]
    assert record["SequenceNumber"] == put["SequenceNumber"]
    assert base64.b64decode(record["Data"]) == b"hello"
