"""Event source mappings: their lifecycle, states, defaults, function names and errors, as AWS
answers them (the control-plane answers of LocalStack's recordings; the invocations the
recordings also made are the pollers' and are not replayed here).

Not replayed: the DynamoDB-stream lifecycles (`test_event_source_mapping_lifecycle*`,
`test_create_event_filter_criteria_validation`: this host has no DynamoDB), and the SQS and
Kinesis filter scenarios' create answers (the recording shows each pattern parsed to an
object; boto3 gives the string sent). Scenarios on queues and streams are skipped until the
daemon tells the mappings service which queues and streams exist (engine/daemon.py
`Services.wire(source_exists=…)`).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.conftest import Daemon
from tests.integration.parity.conftest import Maker, Scenario, short_uid

pytestmark = pytest.mark.privileged

Parity = Callable[[str], Scenario]
REGION = "us-east-1"
ACCOUNT = "000000000000"


class Queues:
    """SQS queues made the way the recordings' `sqs_create_queue` made them; deleted after."""

    def __init__(self, sqs: Any) -> None:
        self.sqs = sqs
        self.urls: list[str] = []

    def make(self, name: str | None = None, **attributes: str) -> str:
        """The new queue's ARN."""
        url = self.sqs.create_queue(
            QueueName=name or f"queue-{short_uid()}", Attributes=attributes
        )["QueueUrl"]
        self.urls.append(url)
        arn: str = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])[
            "Attributes"
        ]["QueueArn"]
        return arn

    def cleanup(self) -> None:
        for url in self.urls:
            self.sqs.delete_queue(QueueUrl=url)


class Mappings:
    def __init__(self, lam: Any) -> None:
        self.lam = lam
        self.uuids: list[str] = []

    def track(self, answer: dict[str, Any]) -> dict[str, Any]:
        if "UUID" in answer:
            self.uuids.append(answer["UUID"])
        return answer

    def cleanup(self) -> None:
        for mapping_uuid in self.uuids:
            try:
                settled(self.lam, mapping_uuid)
                self.lam.delete_event_source_mapping(UUID=mapping_uuid)
            except self.lam.exceptions.ClientError:
                pass


@pytest.fixture(scope="module")
def wired(lam: Any, daemon: Daemon) -> bool:
    """Whether the daemon knows which queues exist (its mappings' source check is wired)."""
    name = f"probe-{short_uid()}"
    assert daemon.create(name, "def handler(event, context):\n    return event\n").status == 201
    sqs = daemon.sqs_client()
    url = sqs.create_queue(QueueName=name)["QueueUrl"]
    arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    try:
        made = lam.create_event_source_mapping(FunctionName=name, EventSourceArn=arn)
    except lam.exceptions.InvalidParameterValueException:
        return False
    finally:
        sqs.delete_queue(QueueUrl=url)
        lam.delete_function(FunctionName=name)
    settled(lam, made["UUID"])
    lam.delete_event_source_mapping(UUID=made["UUID"])
    return True


@pytest.fixture
def queues(daemon: Daemon, wired: bool) -> Iterator[Queues]:
    if not wired:
        pytest.skip("the daemon does not wire the queue service into Services.wire yet")
    made = Queues(daemon.sqs_client())
    yield made
    made.cleanup()


@pytest.fixture
def mappings(lam: Any) -> Iterator[Mappings]:
    made = Mappings(lam)
    yield made
    made.cleanup()


def settled(lam: Any, mapping_uuid: str, timeout_s: float = 10.0) -> dict[str, Any]:
    """`_await_event_source_mapping_enabled`: the mapping once it left its transitional state."""
    deadline = time.monotonic() + timeout_s
    while True:
        got: dict[str, Any] = lam.get_event_source_mapping(UUID=mapping_uuid)
        if got["State"] in ("Enabled", "Disabled") or time.monotonic() > deadline:
            return got
        time.sleep(0.05)


def gone(lam: Any, mapping_uuid: str, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            lam.get_event_source_mapping(UUID=mapping_uuid)
        except lam.exceptions.ResourceNotFoundException:
            return
        time.sleep(0.05)
    raise AssertionError(f"event source mapping {mapping_uuid} was not deleted")


# TestLambdaEventSourceMappings (test_lambda_api)


def test_event_source_mapping_exceptions(parity: Parity, lam: Any) -> None:
    p = parity(
        "test_lambda_api::TestLambdaEventSourceMappings::test_event_source_mapping_exceptions"
    )
    unknown = str(uuid.uuid4())
    p.call("get_unknown_uuid", lam.get_event_source_mapping, UUID=unknown)
    p.call("delete_unknown_uuid", lam.delete_event_source_mapping, UUID=unknown)
    p.call("update_unknown_uuid", lam.update_event_source_mapping, UUID=unknown, Enabled=False)
    # List does not care whether its filters name anything (asserted, not recorded).
    lam.list_event_source_mappings()
    lam.list_event_source_mappings(FunctionName="doesnotexist")
    somequeue = f"arn:aws:sqs:{REGION}:111111111111:somequeue"
    lam.list_event_source_mappings(EventSourceArn=somequeue)
    create = lam.create_event_source_mapping
    p.call("create_no_event_source_arn", create, FunctionName="doesnotexist")
    p.call("create_unknown_params", create, FunctionName="doesnotexist", EventSourceArn=somequeue)
    p.call(
        "destination_config_failure",
        create,
        FunctionName="doesnotexist",
        EventSourceArn=somequeue,
        DestinationConfig={
            "OnSuccess": {"Destination": f"arn:aws:sqs:{REGION}:111111111111:someotherqueue"}
        },
    )


def test_function_name_variations(
    parity: Parity, lam: Any, maker: Maker, queues: Queues, mappings: Mappings
) -> None:
    p = parity("test_lambda_api::TestLambdaEventSourceMappings::test_function_name_variations")
    name = f"lambda_func-{short_uid()}"
    queue = queues.make()
    maker.function(name)
    v1 = lam.publish_version(FunctionName=name)
    alias = lam.create_alias(FunctionName=name, FunctionVersion=v1["Version"], Name="myalias")
    fn = lam.get_function(FunctionName=name)

    def create(scope: str, tested_name: str) -> None:
        made = mappings.track(
            p.call(
                f"{scope}_create_esm",
                lam.create_event_source_mapping,
                FunctionName=tested_name,
                EventSourceArn=queue,
            )
        )
        settled(lam, made["UUID"])
        lam.delete_event_source_mapping(UUID=made["UUID"])
        gone(lam, made["UUID"])

    create("name_only", name)
    create("partial_arn_latest", f"{name}:$LATEST")
    create("partial_arn_version", f"{name}:{v1['Version']}")
    create("partial_arn_alias", f"{name}:{alias['Name']}")
    create("full_arn_latest", fn["Configuration"]["FunctionArn"])
    create("full_arn_version", v1["FunctionArn"])
    create("full_arn_alias", alias["AliasArn"])


def test_create_event_source_validation(parity: Parity, lam: Any, maker: Maker) -> None:
    """On a DynamoDB stream (this host has none: kept.py)."""
    p = parity(
        "test_lambda_api::TestLambdaEventSourceMappings::test_create_event_source_validation"
    )
    name = f"function-{short_uid()}"
    maker.function(name)
    table = f"table-{short_uid()}"
    p.replace("<table-name>", table)
    label = "2025-01-01T00:00:00.000"
    p.replace("<stream-name>", label)
    stream = f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/{table}/stream/{label}"
    create = lam.create_event_source_mapping
    p.call("no_starting_position", create, FunctionName=name, EventSourceArn=stream)
    p.call(
        "invalid_starting_position",
        create,
        FunctionName=name,
        EventSourceArn=stream,
        StartingPosition="invalid",
    )
    p.call(
        "incompatible_starting_position",
        create,
        FunctionName=name,
        EventSourceArn=stream,
        StartingPosition="AT_TIMESTAMP",
        StartingPositionTimestamp="1741010802",
    )


def test_create_event_source_validation_kinesis(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity(
        "test_lambda_api::TestLambdaEventSourceMappings::test_create_event_source_validation_kinesis"
    )
    name = f"function-{short_uid()}"
    maker.function(name)
    stream = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/stream-{short_uid()}"
    create = lam.create_event_source_mapping
    p.call("no_starting_position", create, FunctionName=name, EventSourceArn=stream)
    p.call(
        "invalid_starting_position",
        create,
        FunctionName=name,
        EventSourceArn=stream,
        StartingPosition="invalid",
    )


# event_source_mapping/test_lambda_integration_sqs


def test_esm_with_not_existing_sqs_queue(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity(
        "event_source_mapping/test_lambda_integration_sqs::test_esm_with_not_existing_sqs_queue"
    )
    name = f"simple-lambda-{short_uid()}"
    maker.function(name, Timeout=5)
    missing = f"arn:aws:sqs:{REGION}:{ACCOUNT}:not-existing-queue-{short_uid()}"
    p.call(
        "error",
        lam.create_event_source_mapping,
        EventSourceArn=missing,
        FunctionName=name,
        BatchSize=1,
    )


def test_event_source_mapping_default_batch_size(
    parity: Parity, lam: Any, maker: Maker, queues: Queues, mappings: Mappings
) -> None:
    p = parity(
        "event_source_mapping/test_lambda_integration_sqs::TestSQSEventSourceMapping::test_event_source_mapping_default_batch_size"
    )
    name = f"lambda_func-{short_uid()}"
    queue_1 = queues.make(f"queue-{short_uid()}-1")
    maker.function(name)
    made = mappings.track(
        p.call(
            "create-event-source-mapping",
            lam.create_event_source_mapping,
            EventSourceArn=queue_1,
            FunctionName=name,
        )
    )
    assert made["BatchSize"] == 10
    settled(lam, made["UUID"])
    p.call(
        "invalid-update-event-source-mapping",
        lam.update_event_source_mapping,
        UUID=made["UUID"],
        FunctionName=name,
        BatchSize=11,
    )
    queue_2 = queues.make(f"queue-{short_uid()}-2")
    p.call(
        "invalid-create-event-source-mapping",
        lam.create_event_source_mapping,
        EventSourceArn=queue_2,
        FunctionName=name,
        BatchSize=11,
    )


def test_duplicate_event_source_mappings(
    parity: Parity, lam: Any, maker: Maker, queues: Queues, mappings: Mappings
) -> None:
    p = parity(
        "event_source_mapping/test_lambda_integration_sqs::TestSQSEventSourceMapping::test_duplicate_event_source_mappings"
    )
    name_1, name_2 = f"lambda_func-{short_uid()}", f"lambda_func-{short_uid()}"
    queue = queues.make()
    maker.function(name_1)
    create = lam.create_event_source_mapping
    mappings.track(p.call("create", create, FunctionName=name_1, EventSourceArn=queue))
    p.call("error", create, FunctionName=name_1, EventSourceArn=queue)
    maker.function(name_2)  # another function: no conflict (asserted, not recorded)
    mappings.track(create(FunctionName=name_2, EventSourceArn=queue))


def test_fifo_message_group_parallelism(
    parity: Parity, lam: Any, maker: Maker, queues: Queues, mappings: Mappings
) -> None:
    p = parity(
        "event_source_mapping/test_lambda_integration_sqs::test_fifo_message_group_parallelism"
    )
    queue = queues.make(
        f"test-queue-{short_uid()}.fifo",
        FifoQueue="true",
        ContentBasedDeduplication="true",
        VisibilityTimeout="60",
    )
    name = f"function-name-{short_uid()}"
    maker.function(name, Timeout=10, Environment={"Variables": {"TEST_SLEEP_S": "5"}})
    made = mappings.track(
        p.call(
            "create_esm_disabled",
            lam.create_event_source_mapping,
            FunctionName=name,
            EventSourceArn=queue,
            Enabled=False,
            BatchSize=1,
        )
    )
    p.call("update_esm_enabling", lam.update_event_source_mapping, UUID=made["UUID"], Enabled=True)
    settled(lam, made["UUID"])
    p.call("get_esm_enabled", lam.get_event_source_mapping, UUID=made["UUID"])


@pytest.mark.parametrize(
    ("variant", "invalid_filter"),
    [
        ("None", None),
        ("simple string", "simple string"),
        ("invalid_filter2", {"eventSource": "aws:sqs"}),
        ("invalid_filter3", {"eventSource": []}),
    ],
)
def test_sqs_invalid_event_filter(
    parity: Parity,
    lam: Any,
    maker: Maker,
    queues: Queues,
    mappings: Mappings,
    variant: str,
    invalid_filter: Any,
) -> None:
    p = parity(
        f"event_source_mapping/test_lambda_integration_sqs::TestSQSEventSourceMapping::test_sqs_invalid_event_filter[{variant}]"
    )
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    queue = queues.make()
    pattern = invalid_filter if isinstance(invalid_filter, str) else json.dumps(invalid_filter)
    made = p.call(
        "create_event_source_mapping_exception",
        lam.create_event_source_mapping,
        EventSourceArn=queue,
        FunctionName=name,
        MaximumBatchingWindowInSeconds=1,
        FilterCriteria={"Filters": [{"Pattern": pattern}]},
    )
    mappings.track(made)


def test_sqs_event_source_mapping_update(
    parity: Parity, lam: Any, maker: Maker, queues: Queues, mappings: Mappings
) -> None:
    """Its control-plane answers: the mapping moved from version 1 to version 2."""
    p = parity(
        "event_source_mapping/test_lambda_integration_sqs::TestSQSEventSourceMapping::test_sqs_event_source_mapping_update"
    )
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"CUSTOM_VAR": "a"}}
    )
    v1 = lam.publish_version(FunctionName=name)
    queue = queues.make(f"queue-{short_uid()}-1")
    made = mappings.track(
        p.call(
            "create-event-source-mapping-response",
            lam.create_event_source_mapping,
            EventSourceArn=queue,
            FunctionName=v1["FunctionArn"],
            MaximumBatchingWindowInSeconds=1,
        )
    )
    settled(lam, made["UUID"])
    lam.update_function_configuration(
        FunctionName=name, Environment={"Variables": {"CUSTOM_VAR": "b"}}
    )
    v2 = lam.publish_version(FunctionName=name)
    updated = p.call(
        "updated_esm",
        lam.update_event_source_mapping,
        UUID=made["UUID"],
        FunctionName=v2["FunctionArn"],
    )
    assert updated["FunctionArn"] == v2["FunctionArn"]
    settled(lam, made["UUID"])
    p.call("updated_event_source_mapping", lam.get_event_source_mapping, UUID=made["UUID"])


def test_sqs_event_source_mapping_batching_reserved_concurrency(
    parity: Parity, lam: Any, maker: Maker, queues: Queues, mappings: Mappings
) -> None:
    p = parity(
        "event_source_mapping/test_lambda_integration_sqs::TestSQSEventSourceMapping::test_sqs_event_source_mapping_batching_reserved_concurrency"
    )
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    queue = queues.make()
    p.call(
        "put_concurrency_resp",
        lam.put_function_concurrency,
        FunctionName=name,
        ReservedConcurrentExecutions=2,
    )
    mappings.track(
        p.call(
            "create-event-source-mapping-response",
            lam.create_event_source_mapping,
            EventSourceArn=queue,
            FunctionName=name,
            MaximumBatchingWindowInSeconds=1,
            BatchSize=20,
            ScalingConfig={"MaximumConcurrency": 2},
        )
    )


def test_report_batch_item_failures(
    parity: Parity, lam: Any, maker: Maker, queues: Queues, mappings: Mappings
) -> None:
    """Its create answer: a FIFO queue with a redrive policy, ReportBatchItemFailures."""
    p = parity("event_source_mapping/test_lambda_integration_sqs::test_report_batch_item_failures")
    name = f"lambda_func-{short_uid()}"
    maker.function(name, Timeout=10)
    dlq = queues.make(f"event-dlq-{short_uid()}.fifo", FifoQueue="true")
    redrive = json.dumps({"deadLetterTargetArn": dlq, "maxReceiveCount": 2})
    queue = queues.make(
        f"source-queue-{short_uid()}.fifo",
        FifoQueue="true",
        VisibilityTimeout="20",
        RedrivePolicy=redrive,
    )
    mappings.track(
        p.call(
            "create_event_source_mapping",
            lam.create_event_source_mapping,
            EventSourceArn=queue,
            FunctionName=name,
            FunctionResponseTypes=["ReportBatchItemFailures"],
        )
    )


# event_source_mapping/test_lambda_integration_kinesis


def test_esm_with_not_existing_kinesis_stream(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity(
        "event_source_mapping/test_lambda_integration_kinesis::TestKinesisSource::test_esm_with_not_existing_kinesis_stream"
    )
    name = f"simple-lambda-{short_uid()}"
    maker.function(name, Timeout=5)
    p.call(
        "error",
        lam.create_event_source_mapping,
        EventSourceArn=f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/test-foobar-81ded7e8",
        FunctionName=name,
        StartingPosition="LATEST",
    )


@pytest.fixture
def streams(daemon: Daemon, lam: Any, wired: bool) -> Iterator[Callable[[], str]]:
    """Makes one-shard Kinesis streams as the recordings' `kinesis_create_stream` did (deleted
    after); skips unless the daemon serves Kinesis and its mappings service knows streams."""
    if not wired:
        pytest.skip("the daemon does not wire the queue service into Services.wire yet")
    kinesis = daemon.kinesis_client()
    names: list[str] = []

    def make() -> str:
        name = f"test-stream-{short_uid()}"
        try:
            kinesis.create_stream(StreamName=name, ShardCount=1)
        except kinesis.exceptions.ClientError as exc:
            pytest.skip(f"the daemon serves no Kinesis yet ({exc.response['Error']['Code']})")
        names.append(name)
        kinesis.get_waiter("stream_exists").wait(StreamName=name)
        arn: str = kinesis.describe_stream_summary(StreamName=name)["StreamDescriptionSummary"][
            "StreamARN"
        ]
        if not names[1:]:  # the first: does the mappings service know streams?
            probe = f"probe-{short_uid()}"
            assert (
                daemon.create(probe, "def handler(event, context):\n    return event\n").status
                == 201
            )
            try:
                made = lam.create_event_source_mapping(
                    FunctionName=probe, EventSourceArn=arn, StartingPosition="LATEST"
                )
            except lam.exceptions.InvalidParameterValueException as exc:
                if "Stream not found" not in str(exc):
                    raise
                pytest.skip("the daemon does not wire the stream service into Services.wire yet")
            else:
                settled(lam, made["UUID"])
                lam.delete_event_source_mapping(UUID=made["UUID"])
                gone(lam, made["UUID"])
            finally:
                lam.delete_function(FunctionName=probe)
        return arn

    yield make
    for name in names:
        kinesis.delete_stream(StreamName=name, EnforceConsumerDeletion=True)


def _create_on_stream(
    p: Scenario, label: str, lam: Any, mappings: Mappings, **kwargs: Any
) -> dict[str, Any]:
    return mappings.track(p.call(label, lam.create_event_source_mapping, **kwargs))


def test_create_kinesis_event_source_mapping(
    parity: Parity, lam: Any, maker: Maker, streams: Callable[[], str], mappings: Mappings
) -> None:
    p = parity(
        "event_source_mapping/test_lambda_integration_kinesis::TestKinesisSource::test_create_kinesis_event_source_mapping"
    )
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    stream = streams()
    _create_on_stream(
        p, "create_event_source_mapping_response", lam, mappings,
        EventSourceArn=stream, FunctionName=name, StartingPosition="LATEST",
    )  # fmt: skip


def test_kinesis_duplicate_event_source_mappings(
    parity: Parity, lam: Any, maker: Maker, streams: Callable[[], str], mappings: Mappings
) -> None:
    p = parity(
        "event_source_mapping/test_lambda_integration_kinesis::TestKinesisSource::test_duplicate_event_source_mappings"
    )
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    stream = streams()
    args = {"FunctionName": name, "EventSourceArn": stream, "StartingPosition": "LATEST"}
    _create_on_stream(p, "create", lam, mappings, **args)
    _create_on_stream(p, "error", lam, mappings, **args)


def test_kinesis_event_source_mapping_with_on_failure_destination_config(
    parity: Parity,
    lam: Any,
    maker: Maker,
    streams: Callable[[], str],
    queues: Queues,
    mappings: Mappings,
) -> None:
    p = parity(
        "event_source_mapping/test_lambda_integration_kinesis::TestKinesisSource::test_kinesis_event_source_mapping_with_on_failure_destination_config"
    )
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    failures = queues.make()
    stream = streams()
    _create_on_stream(
        p, "create_event_source_mapping_response", lam, mappings,
        FunctionName=name, BatchSize=1, StartingPosition="TRIM_HORIZON", EventSourceArn=stream,
        MaximumBatchingWindowInSeconds=1, MaximumRetryAttempts=1,
        DestinationConfig={"OnFailure": {"Destination": failures}},
    )  # fmt: skip


def test_create_kinesis_event_source_mapping_multiple_lambdas_single_kinesis_event_stream(
    parity: Parity, lam: Any, maker: Maker, streams: Callable[[], str], mappings: Mappings
) -> None:
    p = parity(
        "event_source_mapping/test_lambda_integration_kinesis::TestKinesisSource::test_create_kinesis_event_source_mapping_multiple_lambdas_single_kinesis_event_stream"
    )
    stream = streams()
    for suffix in ("a", "b"):
        name = f"lambda_func-{short_uid()}"
        maker.function(name)
        _create_on_stream(
            p, f"create_event_source_mapping_response-{suffix}", lam, mappings,
            EventSourceArn=stream, FunctionName=name, StartingPosition="TRIM_HORIZON",
        )  # fmt: skip


def test_disable_kinesis_event_source_mapping(
    parity: Parity, lam: Any, maker: Maker, streams: Callable[[], str], mappings: Mappings
) -> None:
    """Its create answer (the recording then disables it while records flow)."""
    p = parity(
        "event_source_mapping/test_lambda_integration_kinesis::TestKinesisSource::test_disable_kinesis_event_source_mapping"
    )
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    stream = streams()
    made = _create_on_stream(
        p, "create_event_source_mapping_response", lam, mappings,
        EventSourceArn=stream, FunctionName=name, StartingPosition="LATEST", BatchSize=10,
    )  # fmt: skip
    settled(lam, made["UUID"])
    assert lam.update_event_source_mapping(UUID=made["UUID"], Enabled=False)["State"] == (
        "Disabling"
    )
    assert settled(lam, made["UUID"])["State"] == "Disabled"


def test_kinesis_report_batch_item_failures(
    parity: Parity,
    lam: Any,
    maker: Maker,
    streams: Callable[[], str],
    queues: Queues,
    mappings: Mappings,
) -> None:
    p = parity(
        "event_source_mapping/test_lambda_integration_kinesis::TestKinesisSource::test_kinesis_report_batch_item_failures"
    )
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    failures = queues.make()
    stream = streams()
    _create_on_stream(
        p, "create_event_source_mapping_response", lam, mappings,
        FunctionName=name, BatchSize=3, StartingPosition="TRIM_HORIZON", EventSourceArn=stream,
        MaximumBatchingWindowInSeconds=1, MaximumRetryAttempts=3,
        DestinationConfig={"OnFailure": {"Destination": failures}},
        FunctionResponseTypes=["ReportBatchItemFailures"],
    )  # fmt: skip


def test_kinesis_empty_provided(
    parity: Parity, lam: Any, maker: Maker, streams: Callable[[], str], mappings: Mappings
) -> None:
    """Its create answer (the recording's later Get shows LastProcessingResult OK, after a
    batch: the pollers' part)."""
    p = parity(
        "event_source_mapping/test_lambda_integration_kinesis::TestKinesisSource::test_kinesis_empty_provided"
    )
    name = f"lambda_func-{short_uid()}"
    maker.function(name)
    stream = streams()
    _create_on_stream(
        p, "create_event_source_mapping_response", lam, mappings,
        EventSourceArn=stream, FunctionName=name, StartingPosition="TRIM_HORIZON",
        BatchSize=1, MaximumBatchingWindowInSeconds=1, MaximumRetryAttempts=2,
    )  # fmt: skip
