"""The event-source benchmark's function: its handler (the same per-record work however it is
invoked), the batches a client sends it (built by the engine's own record code, so they are
the events a mapping sends), and counting the batches it saw, from its log files."""

from __future__ import annotations

import hashlib
import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from bench.coldstart import FUNCTIONS, ROLE, _check
from bench.host import BenchError
from engine.cli.client import Client
from engine.kinesis.records import StreamRecord
from engine.sources.kinesis_records import kinesis_record
from engine.sources.sqs_records import sqs_record
from engine.sqs.message import Message

FUNCTION = "bench-events"
HANDLER = """import base64
import time


def handler(event, context):
    # The same per-record work whoever invokes: read each record's data; one line per batch.
    records = event["Records"]
    size = 0
    for record in records:
        if "kinesis" in record:
            size += len(base64.b64decode(record["kinesis"]["data"]))
        else:
            size += len(record["body"])
    first = records[0]
    lane = first["eventID"].split(":")[0] if "eventID" in first else "-"
    print("BENCH", first["eventSourceARN"], lane, len(records), repr(time.time()), flush=True)
"""
REGION = "us-east-1"  # the daemon's default
SYNC_STREAM_ARN = f"arn:aws:kinesis:{REGION}:000000000000:stream/bench-sync"
SYNC_QUEUE_ARN = f"arn:aws:sqs:{REGION}:000000000000:bench-sync"
STREAM_BATCH = 100
QUEUE_BATCH = 10


def record_data(i: int) -> bytes:
    return json.dumps({"order": i, "item": "bench", "pad": "x" * 64}).encode()


# --- the synchronous baselines --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Sync:
    key: str
    event: str  # "kinesis" or "sqs": the record shape
    size: int  # records per invoke
    clients: int


def sync_event(event: str, size: int) -> bytes:
    """A `size`-record event as the mappings build them (the engine's record code)."""
    now = time.time()
    if event == "kinesis":
        records = [
            kinesis_record(
                StreamRecord(str(10**55 + i), f"pk-{i}", record_data(i), now),
                shard_id="shardId-000000000000",
                stream_arn=SYNC_STREAM_ARN,
                region=REGION,
                identity_arn=ROLE,
            )
            for i in range(size)
        ]
    else:
        records = []
        for i in range(size):
            body = record_data(i).decode()
            message = Message(
                id=f"00000000-0000-4000-8000-{i:012d}",
                seq=i,
                body=body,
                attributes={},
                system={},
                md5_body=hashlib.md5(body.encode(), usedforsecurity=False).hexdigest(),
                md5_attributes=None,
                md5_system=None,
                sender_id="000000000000",
                sent_ms=int(now * 1000),
                visible_at_ms=0,
                receive_count=1,
                first_receive_ms=int(now * 1000),
                receipt="0" * 16,
            )
            records.append(
                sqs_record(
                    message,
                    queue_name="bench-sync",
                    queue_arn=SYNC_QUEUE_ARN,
                    region=REGION,
                    fifo=False,
                )
            )
    return json.dumps({"Records": records}, separators=(",", ":")).encode()


def invoke_operation(client: Client, series: str, _: str) -> Callable[[], None]:
    event, size = series.split(":")
    payload = sync_event(event, int(size))
    path = f"{FUNCTIONS}/{FUNCTION}/invocations"

    def invoke() -> None:
        resp = client.request("POST", path, payload)
        _check(resp, "Invoke")
        if "x-amz-function-error" in resp.headers:
            raise BenchError(f"the function failed: {resp.body[:500]!r}")

    return invoke


# --- counting what the handler saw ----------------------------------------------------------


@dataclass
class Seen:
    records: int = 0
    batches: int = 0
    first_t: float = math.inf  # the handler's time.time() at the end of its first batch
    last_t: float = 0.0
    lanes: dict[str, int] = field(default_factory=dict)  # records per shard


class LogCounter:
    """The handler's BENCH lines per source ARN, read from `<state>/logs/<function>/*.log`
    (one file per environment, flushed after each invoke) from where the last scan ended."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.offsets: dict[Path, int] = {}
        self.partial: dict[Path, bytes] = {}
        self.sources: dict[str, Seen] = {}

    def scan(self) -> None:
        for path in sorted(self.directory.glob("*.log")):
            with open(path, "rb") as f:
                f.seek(self.offsets.get(path, 0))
                data = self.partial.pop(path, b"") + f.read()
                self.offsets[path] = f.tell()
            *lines, rest = data.split(b"\n")
            if rest:
                self.partial[path] = rest
            for line in lines:
                if line.startswith(b"BENCH "):
                    self._add(line.decode().split())

    def _add(self, fields: list[str]) -> None:
        _, arn, lane, count, at = fields
        seen = self.sources.setdefault(arn, Seen())
        seen.records += int(count)
        seen.batches += 1
        seen.first_t = min(seen.first_t, float(at))
        seen.last_t = max(seen.last_t, float(at))
        seen.lanes[lane] = seen.lanes.get(lane, 0) + int(count)

    def seen(self, arn: str) -> Seen:
        return self.sources.get(arn, Seen())
