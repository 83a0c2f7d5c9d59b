"""Event source mappings through the real boto3 clients against a real daemon: the lifecycle and
its states, AWS's fields and defaults per source, AWS's errors, function names with qualifiers,
listing and paging, mappings that outlive their function and survive a restart.

Queue sources need the daemon to tell the mappings service which queues exist (engine/daemon.py
`Services.wire(source_exists=…, fifo=…)`); until it does, the tests that need an existing queue
are skipped with that reason. Stream sources are covered by their checks that come before the
stream is looked up.
"""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import botocore.exceptions
import pytest

from tests.integration.conftest import Daemon
from tests.integration.parity.conftest import unvalidated_client

pytestmark = pytest.mark.privileged

REGION = "us-east-1"
ACCOUNT = "000000000000"
CODE = "def handler(event, context):\n    return {}\n"
STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/nosuch-{uuid.uuid4().hex[:8]}"
SETTLED = ("Enabled", "Disabled")
NOT_FOUND = ("ResourceNotFoundException", 404, "The resource you requested does not exist.")


@pytest.fixture(scope="module")
def lam(daemon: Daemon) -> Any:
    return daemon.lambda_client()


@pytest.fixture(scope="module")
def sqs(daemon: Daemon) -> Any:
    return daemon.sqs_client()


def fn_arn(name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def error(call: Callable[..., Any], **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def settled(lam: Any, mapping_uuid: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """The mapping once the runtime has settled it (as the recordings' tests wait)."""
    deadline = time.monotonic() + timeout_s
    while True:
        got: dict[str, Any] = lam.get_event_source_mapping(UUID=mapping_uuid)
        if got["State"] in SETTLED or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def gone(lam: Any, mapping_uuid: str, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            lam.get_event_source_mapping(UUID=mapping_uuid)
        except lam.exceptions.ResourceNotFoundException:
            return True
        time.sleep(0.05)
    return False


class Queues:
    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.urls: list[str] = []

    def make(self, *, fifo: bool = False) -> str:
        """A new queue's ARN."""
        name = f"esm-{uuid.uuid4().hex[:10]}" + (".fifo" if fifo else "")
        attributes = {"FifoQueue": "true"} if fifo else {}
        url = self.sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        self.urls.append(url)
        arn: str = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return arn


@pytest.fixture
def queues(sqs: Any) -> Iterator[Queues]:
    made = Queues(sqs)
    yield made
    for url in made.urls:
        sqs.delete_queue(QueueUrl=url)


class Mappings:
    """Creates mappings; deletes what is left of them afterwards."""

    def __init__(self, lam: Any) -> None:
        self.lam = lam
        self.uuids: list[str] = []

    def create(self, **kwargs: Any) -> dict[str, Any]:
        made: dict[str, Any] = self.lam.create_event_source_mapping(**kwargs)
        self.uuids.append(made["UUID"])
        return made

    def cleanup(self) -> None:
        for mapping_uuid in self.uuids:
            try:
                settled(self.lam, mapping_uuid)
                self.lam.delete_event_source_mapping(UUID=mapping_uuid)
            except botocore.exceptions.ClientError:
                pass


@pytest.fixture
def mappings(lam: Any, queue_sources: None) -> Iterator[Mappings]:
    made = Mappings(lam)
    yield made
    made.cleanup()


@pytest.fixture(scope="module")
def queue_sources(lam: Any, sqs: Any, daemon: Daemon) -> None:
    """Skip unless the daemon tells the mappings service which queues exist."""
    name = f"esm-probe-{uuid.uuid4().hex[:8]}"
    assert daemon.create(name, CODE).status == 201
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    try:
        made = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    except lam.exceptions.InvalidParameterValueException as exc:
        if "ReceiveMessage" not in str(exc):
            raise
        pytest.skip("the daemon does not wire the queue service into Services.wire yet")
    else:
        settled(lam, made["UUID"])
        lam.delete_event_source_mapping(UUID=made["UUID"])
    finally:
        sqs.delete_queue(QueueUrl=url)
        lam.delete_function(FunctionName=name)


def test_queue_mapping_lifecycle(
    lam: Any, deploy: Callable[..., str], queues: Queues, mappings: Mappings
) -> None:
    name = deploy(CODE)
    queue = queues.make()
    made = mappings.create(FunctionName=name, EventSourceArn=queue)
    mapping_uuid = made["UUID"]
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert isinstance(made.pop("LastModified"), datetime.datetime)
    made.pop("ResponseMetadata")
    assert made == {
        "UUID": mapping_uuid,
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 0,
        "EventSourceArn": queue,
        "FunctionArn": fn_arn(name),
        "State": "Creating",
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": [],
        "EventSourceMappingArn": (
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{mapping_uuid}"
        ),
    }
    got = settled(lam, mapping_uuid)
    assert got["State"] == "Enabled" and got["ResponseMetadata"]["HTTPStatusCode"] == 200

    updated = lam.update_event_source_mapping(
        UUID=mapping_uuid, BatchSize=100, MaximumBatchingWindowInSeconds=5
    )
    assert updated["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (updated["State"], updated["BatchSize"]) == ("Updating", 100)
    assert settled(lam, mapping_uuid)["MaximumBatchingWindowInSeconds"] == 5

    assert lam.update_event_source_mapping(UUID=mapping_uuid, Enabled=False)["State"] == (
        "Disabling"
    )
    assert settled(lam, mapping_uuid)["State"] == "Disabled"
    assert lam.update_event_source_mapping(UUID=mapping_uuid, Enabled=True)["State"] == ("Enabling")
    assert settled(lam, mapping_uuid)["State"] == "Enabled"

    deleted = lam.delete_event_source_mapping(UUID=mapping_uuid)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert (deleted["State"], deleted["BatchSize"]) == ("Deleting", 100)
    assert gone(lam, mapping_uuid)
    assert error(lam.delete_event_source_mapping, UUID=mapping_uuid) == NOT_FOUND


def test_created_disabled_and_with_settings(
    lam: Any, deploy: Callable[..., str], queues: Queues, mappings: Mappings
) -> None:
    name = deploy(CODE)
    queue = queues.make()
    made = mappings.create(
        FunctionName=name,
        EventSourceArn=queue,
        Enabled=False,
        BatchSize=20,
        MaximumBatchingWindowInSeconds=1,
        ScalingConfig={"MaximumConcurrency": 2},
        FunctionResponseTypes=["ReportBatchItemFailures"],
        FilterCriteria={"Filters": [{"Pattern": '{"body": {"a": ["b"]}}'}]},
    )
    assert made["State"] == "Disabled"  # as AWS answers a mapping created disabled
    assert made["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert made["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert made["FilterCriteria"] == {"Filters": [{"Pattern": '{"body": {"a": ["b"]}}'}]}
    cleared = lam.update_event_source_mapping(
        UUID=made["UUID"], FilterCriteria={"Filters": []}, FunctionResponseTypes=[]
    )
    assert "FilterCriteria" not in cleared and cleared["FunctionResponseTypes"] == []
    fifo = queues.make(fifo=True)
    assert mappings.create(FunctionName=name, EventSourceArn=fifo, BatchSize=10)["BatchSize"] == 10


def test_errors_in_aws_words(
    lam: Any, deploy: Callable[..., str], queues: Queues, mappings: Mappings
) -> None:
    name = deploy(CODE)
    queue = queues.make()
    create = lam.create_event_source_mapping
    unknown = str(uuid.uuid4())
    assert error(lam.get_event_source_mapping, UUID=unknown) == NOT_FOUND
    assert error(lam.update_event_source_mapping, UUID=unknown, Enabled=False) == NOT_FOUND
    assert error(lam.delete_event_source_mapping, UUID=unknown) == NOT_FOUND
    assert error(create, FunctionName=name) == (
        "InvalidParameterValueException",
        400,
        "Unrecognized event source.",
    )
    assert error(create, FunctionName="nosuch", EventSourceArn=queue) == (
        "InvalidParameterValueException",
        400,
        "Function does not exist",
    )
    assert error(create, FunctionName=f"{name}:7", EventSourceArn=queue)[2] == (
        "Function does not exist"
    )
    missing = f"arn:aws:sqs:{REGION}:{ACCOUNT}:nosuch-{uuid.uuid4().hex[:8]}"
    assert error(create, FunctionName=name, EventSourceArn=missing)[2] == (
        "Error occurred while ReceiveMessage. SQS Error Code: "
        "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does "
        "not exist."
    )
    assert error(create, FunctionName=name, EventSourceArn=queue, BatchSize=11)[2] == (
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
        "greater than 10"
    )
    fifo = queues.make(fifo=True)
    assert error(create, FunctionName=name, EventSourceArn=fifo, MaximumBatchingWindowInSeconds=1)[
        2
    ] == ("Batching window is not supported for FIFO queues")
    assert error(create, FunctionName=name, EventSourceArn=queue, StartingPosition="LATEST")[2] == (
        "StartingPosition is not valid for SQS event sources."
    )
    on_success = {"OnSuccess": {"Destination": queue}}
    assert error(create, FunctionName=name, EventSourceArn=queue, DestinationConfig=on_success)[
        2
    ] == ("Unsupported DestinationConfig parameter for given event source mapping type.")
    bad_filter = {"Filters": [{"Pattern": '{"body": "not a list"}'}]}
    assert error(create, FunctionName=name, EventSourceArn=queue, FilterCriteria=bad_filter)[2] == (
        "Invalid filter pattern definition."
    )
    first = mappings.create(FunctionName=name, EventSourceArn=queue)
    assert error(create, FunctionName=name, EventSourceArn=queue) == (
        "ResourceConflictException",
        409,
        f'An event source mapping with SQS arn (" {queue} ") and function (" {name} ") already '
        f"exists. Please update or delete the existing mapping with UUID {first['UUID']}",
    )
    settled(lam, first["UUID"])
    update = lam.update_event_source_mapping
    assert error(update, UUID=first["UUID"], BatchSize=11)[2].startswith("Maximum batch window")
    assert error(update, UUID=first["UUID"], ParallelizationFactor=2)[2] == (
        "Unsupported ParallelizationFactor parameter for given event source mapping type."
    )


def test_stream_checks_before_the_stream_is_looked_up(lam: Any, deploy: Callable[..., str]) -> None:
    name = deploy(CODE)
    create = lam.create_event_source_mapping
    assert error(create, FunctionName=name, EventSourceArn=STREAM) == (
        "InvalidParameterValueException",
        400,
        "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
        "constraint: Member must not be null.",
    )
    raw = unvalidated_client(lam)
    assert error(
        raw.create_event_source_mapping,
        FunctionName=name,
        EventSourceArn=STREAM,
        StartingPosition="invalid",
    ) == (
        "ValidationException",
        400,
        "1 validation error detected: Value 'invalid' at 'startingPosition' failed to satisfy "
        "constraint: Member must satisfy enum value set: [LATEST, AT_TIMESTAMP, TRIM_HORIZON]",
    )
    latest = {"FunctionName": name, "EventSourceArn": STREAM, "StartingPosition": "LATEST"}
    assert error(create, **latest, MaximumRecordAgeInSeconds=30)[2] == (
        "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)"
    )
    assert error(create, **latest, ScalingConfig={"MaximumConcurrency": 2})[2] == (
        "Unsupported ScalingConfig parameter for given event source mapping type."
    )
    assert error(create, **{**latest, "FunctionName": "nosuch"})[2] == "Function does not exist"
    assert error(create, **latest)[2] == f"Stream not found: {STREAM}"
    table = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/2024-01-01T00:00:00.000"
    message = error(create, FunctionName=name, EventSourceArn=table, StartingPosition="LATEST")[2]
    assert message.startswith("lambdalet has no DynamoDB Streams service") and table in message


def test_function_names_and_qualifiers(
    lam: Any, deploy: Callable[..., str], queues: Queues, mappings: Mappings
) -> None:
    name = deploy(CODE)
    queue = queues.make()
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    for given, expected in [
        (name, fn_arn(name)),
        (f"{name}:$LATEST", fn_arn(name, "$LATEST")),
        (f"{name}:{version}", fn_arn(name, version)),
        (fn_arn(name, "live"), fn_arn(name, "live")),
    ]:
        made = mappings.create(FunctionName=given, EventSourceArn=queue)
        assert made["FunctionArn"] == expected
    listed = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert len(listed) == 4
    only_alias = lam.list_event_source_mappings(FunctionName=f"{name}:live")
    assert [m["FunctionArn"] for m in only_alias["EventSourceMappings"]] == [fn_arn(name, "live")]


def test_list_filters_and_pages(
    lam: Any, deploy: Callable[..., str], queues: Queues, mappings: Mappings
) -> None:
    name = deploy(CODE)
    other = deploy(CODE)
    queue, second, third = queues.make(), queues.make(), queues.make()
    made = [
        mappings.create(FunctionName=name, EventSourceArn=queue)["UUID"],
        mappings.create(FunctionName=name, EventSourceArn=second)["UUID"],
        mappings.create(FunctionName=other, EventSourceArn=queue)["UUID"],
    ]
    mine = lam.list_event_source_mappings(FunctionName=name)["EventSourceMappings"]
    assert sorted(m["UUID"] for m in mine) == sorted(made[:2])
    of_queue = lam.list_event_source_mappings(EventSourceArn=queue)["EventSourceMappings"]
    assert sorted(m["UUID"] for m in of_queue) == sorted([made[0], made[2]])
    both = lam.list_event_source_mappings(FunctionName=name, EventSourceArn=second)
    assert [m["UUID"] for m in both["EventSourceMappings"]] == [made[1]]
    assert lam.list_event_source_mappings(EventSourceArn=third)["EventSourceMappings"] == []
    assert lam.list_event_source_mappings(FunctionName="nosuch")["EventSourceMappings"] == []

    page = lam.list_event_source_mappings(FunctionName=name, MaxItems=1)
    assert len(page["EventSourceMappings"]) == 1 and page["NextMarker"]
    rest = lam.list_event_source_mappings(FunctionName=name, Marker=page["NextMarker"])
    assert "NextMarker" not in rest
    paged = {m["UUID"] for m in page["EventSourceMappings"] + rest["EventSourceMappings"]}
    assert paged == set(made[:2])
    pages = lam.get_paginator("list_event_source_mappings").paginate(
        FunctionName=name, PaginationConfig={"PageSize": 1}
    )
    assert {m["UUID"] for p in pages for m in p["EventSourceMappings"]} == set(made[:2])


def test_a_mapping_outlives_its_function(
    lam: Any, deploy: Callable[..., str], queues: Queues, mappings: Mappings
) -> None:
    name = deploy(CODE)
    made = mappings.create(FunctionName=name, EventSourceArn=queues.make())
    settled(lam, made["UUID"])
    lam.delete_function(FunctionName=name)
    after = lam.get_event_source_mapping(UUID=made["UUID"])  # as AWS: still there, still Enabled
    assert (after["FunctionArn"], after["State"]) == (fn_arn(name), "Enabled")
    assert lam.delete_event_source_mapping(UUID=made["UUID"])["State"] == "Deleting"
    assert gone(lam, made["UUID"])


def test_mappings_survive_a_restart(daemon_factory: Callable[[], Daemon]) -> None:
    d = daemon_factory()
    d.start()
    try:
        lam, sqs = d.lambda_client(), d.sqs_client()
        assert d.create("survivor", CODE).status == 201
        url = sqs.create_queue(QueueName="survivor-queue")["QueueUrl"]
        queue = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
            "QueueArn"
        ]
        try:
            made = lam.create_event_source_mapping(
                FunctionName="survivor", EventSourceArn=queue, BatchSize=7, Enabled=False
            )
        except botocore.exceptions.ClientError as exc:
            if "ReceiveMessage" in str(exc):
                pytest.skip("the daemon does not wire the queue service into Services.wire yet")
            raise
        before = settled(lam, made["UUID"])
        d.stop()
        d.start()
        lam = d.lambda_client()
        after = lam.get_event_source_mapping(UUID=made["UUID"])
        for answer in (before, after):
            answer.pop("ResponseMetadata")
        assert after == before
        assert after["State"] == "Disabled" and after["BatchSize"] == 7
    finally:
        d.stop()


@pytest.fixture
def streams(daemon: Daemon, lam: Any, deploy: Callable[..., str]) -> Iterator[Callable[[], str]]:
    """Makes Kinesis streams (deleted after); skips unless the daemon serves Kinesis and tells
    the mappings service which streams exist."""
    kinesis = daemon.kinesis_client()
    names: list[str] = []

    def make() -> str:
        name = f"esm-{uuid.uuid4().hex[:10]}"
        try:
            kinesis.create_stream(StreamName=name, ShardCount=1)
        except botocore.exceptions.ClientError as exc:
            pytest.skip(f"the daemon serves no Kinesis yet ({exc.response['Error']['Code']})")
        names.append(name)
        kinesis.get_waiter("stream_exists").wait(StreamName=name)
        arn: str = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamARN"
        ]
        return arn

    probe = make()
    try:
        made = lam.create_event_source_mapping(
            FunctionName=deploy(CODE), EventSourceArn=probe, StartingPosition="LATEST"
        )
    except lam.exceptions.InvalidParameterValueException as exc:
        if "Stream not found" not in str(exc):
            raise
        pytest.skip("the daemon does not wire the stream service into Services.wire yet")
    settled(lam, made["UUID"])
    lam.delete_event_source_mapping(UUID=made["UUID"])
    assert gone(lam, made["UUID"])
    yield make
    for name in names:
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


def test_stream_mapping_lifecycle(
    lam: Any,
    deploy: Callable[..., str],
    streams: Callable[[], str],
    queues: Queues,
    mappings: Mappings,
) -> None:
    name = deploy(CODE)
    stream = streams()
    made = mappings.create(FunctionName=name, EventSourceArn=stream, StartingPosition="LATEST")
    mapping_uuid = made["UUID"]
    assert made["ResponseMetadata"]["HTTPStatusCode"] == 202
    assert isinstance(made.pop("LastModified"), datetime.datetime)
    made.pop("ResponseMetadata")
    assert made == {
        "UUID": mapping_uuid,
        "StartingPosition": "LATEST",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 0,
        "ParallelizationFactor": 1,
        "EventSourceArn": stream,
        "FunctionArn": fn_arn(name),
        "LastProcessingResult": "No records processed",
        "State": "Creating",
        "StateTransitionReason": "User action",
        "DestinationConfig": {"OnFailure": {}},
        "MaximumRecordAgeInSeconds": -1,
        "BisectBatchOnFunctionError": False,
        "MaximumRetryAttempts": -1,
        "TumblingWindowInSeconds": 0,
        "FunctionResponseTypes": [],
        "EventSourceMappingArn": (
            f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{mapping_uuid}"
        ),
    }
    assert error(
        lam.create_event_source_mapping,
        FunctionName=name,
        EventSourceArn=stream,
        StartingPosition="TRIM_HORIZON",
    ) == (
        "ResourceConflictException",
        409,
        f'The event source arn (" {stream} ") and function (" {name} ") provided mapping '
        f"already exists. Please update or delete the existing mapping with UUID {mapping_uuid}",
    )
    settled(lam, mapping_uuid)
    failures = queues.make()
    updated = lam.update_event_source_mapping(
        UUID=mapping_uuid,
        ParallelizationFactor=4,
        MaximumRecordAgeInSeconds=60,
        MaximumRetryAttempts=2,
        BisectBatchOnFunctionError=True,
        TumblingWindowInSeconds=30,
        DestinationConfig={"OnFailure": {"Destination": failures}},
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )
    assert updated["State"] == "Updating"
    got = settled(lam, mapping_uuid)
    assert (got["ParallelizationFactor"], got["MaximumRecordAgeInSeconds"]) == (4, 60)
    assert (got["MaximumRetryAttempts"], got["BisectBatchOnFunctionError"]) == (2, True)
    assert got["DestinationConfig"] == {"OnFailure": {"Destination": failures}}
    assert got["TumblingWindowInSeconds"] == 30
    assert lam.delete_event_source_mapping(UUID=mapping_uuid)["State"] == "Deleting"
    assert gone(lam, mapping_uuid)


def test_stream_mapping_at_a_timestamp(
    lam: Any, deploy: Callable[..., str], streams: Callable[[], str], mappings: Mappings
) -> None:
    name = deploy(CODE)
    stream = streams()
    at = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    create = lam.create_event_source_mapping
    assert error(create, FunctionName=name, EventSourceArn=stream, StartingPosition="AT_TIMESTAMP")[
        2
    ] == ("Need to specify a timestamp")
    made = mappings.create(
        FunctionName=name,
        EventSourceArn=stream,
        StartingPosition="AT_TIMESTAMP",
        StartingPositionTimestamp=at,
    )
    assert made["StartingPositionTimestamp"] == at
