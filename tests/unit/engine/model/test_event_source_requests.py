"""Event source mapping requests: defaults per source, AWS's checks in AWS's order and words,
updates that merge, and the mapping's AWS shape (as the recorded answers show it)."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import InvalidParameterValueException
from engine.model.event_source_mapping import (
    CREATING,
    DISABLED,
    DISABLING,
    ENABLED,
    ENABLING,
    UPDATING,
    EventSourceMapping,
)
from engine.model.event_source_requests import (
    check_create,
    check_update,
    new_mapping,
    parse_create,
    parse_update,
    source_kind,
    updated_mapping,
)

REGION = "us-east-1"
ACCOUNT = "000000000000"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
FIFO = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q.fifo"
STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s"
UUID = "a1b2c3d4-0000-4000-8000-000000000001"
PATTERN = '{"body": {"a": ["b"]}}'


def make(body: dict[str, Any], *, fifo: bool = False) -> EventSourceMapping:
    req = parse_create({"FunctionName": "fn", **body})
    kind = check_create(req, fifo=fifo)
    return new_mapping(req, kind, uuid=UUID, function_name="fn", qualifier=None, now=1.5)


def refused(body: dict[str, Any], *, fifo: bool = False) -> str:
    with pytest.raises(InvalidParameterValueException) as caught:
        make(body, fifo=fifo)
    return caught.value.message


def update(current: EventSourceMapping, body: dict[str, Any], *, fifo: bool = False) -> Any:
    changes = parse_update(body)
    check_update(current, changes, fifo=fifo)
    return updated_mapping(current, changes, function_name="fn", qualifier=None, now=2.5)


def update_refused(current: EventSourceMapping, body: dict[str, Any], fifo: bool = False) -> str:
    with pytest.raises(InvalidParameterValueException) as caught:
        update(current, body, fifo=fifo)
    return caught.value.message


# -- defaults and shapes ---------------------------------------------------------------------


def test_a_queue_mapping_has_aws_defaults_and_shape() -> None:
    mapping = make({"EventSourceArn": QUEUE})
    assert mapping.to_aws(REGION) == {
        "UUID": UUID,
        "BatchSize": 10,
        "MaximumBatchingWindowInSeconds": 0,
        "EventSourceArn": QUEUE,
        "FunctionArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn",
        "LastModified": 1.5,
        "State": CREATING,
        "StateTransitionReason": "USER_INITIATED",
        "FunctionResponseTypes": [],
        "EventSourceMappingArn": f"arn:aws:lambda:{REGION}:{ACCOUNT}:event-source-mapping:{UUID}",
    }


def test_a_stream_mapping_has_aws_defaults_and_shape() -> None:
    mapping = make({"EventSourceArn": STREAM, "StartingPosition": "LATEST"})
    shown = mapping.to_aws(REGION)
    assert {
        k: v for k, v in shown.items() if k not in ("FunctionArn", "EventSourceMappingArn")
    } == {
        "UUID": UUID,
        "StartingPosition": "LATEST",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 0,
        "ParallelizationFactor": 1,
        "EventSourceArn": STREAM,
        "LastModified": 1.5,
        "LastProcessingResult": "No records processed",
        "State": CREATING,
        "StateTransitionReason": "User action",
        "DestinationConfig": {"OnFailure": {}},
        "MaximumRecordAgeInSeconds": -1,
        "BisectBatchOnFunctionError": False,
        "MaximumRetryAttempts": -1,
        "TumblingWindowInSeconds": 0,
        "FunctionResponseTypes": [],
    }


def test_every_setting_is_kept_and_shown() -> None:
    mapping = make(
        {
            "EventSourceArn": STREAM, "StartingPosition": "AT_TIMESTAMP",
            "StartingPositionTimestamp": 1700000000, "BatchSize": 7,
            "MaximumBatchingWindowInSeconds": 3, "ParallelizationFactor": 4,
            "MaximumRecordAgeInSeconds": 60, "MaximumRetryAttempts": 2,
            "BisectBatchOnFunctionError": True, "TumblingWindowInSeconds": 30,
            "FunctionResponseTypes": ["ReportBatchItemFailures"],
            "FilterCriteria": {"Filters": [{"Pattern": '{"data": {"a": [1]}}'}]},
            "DestinationConfig": {"OnFailure": {"Destination": QUEUE}},
        }
    )  # fmt: skip
    assert (mapping.starting_position_timestamp, mapping.parallelization_factor) == (1.7e9, 4)
    assert (mapping.max_record_age_s, mapping.max_retry_attempts) == (60, 2)
    assert mapping.bisect_on_error and mapping.tumbling_window_s == 30
    assert mapping.filters == ('{"data": {"a": [1]}}',)
    assert mapping.on_failure == QUEUE
    shown = mapping.to_aws(REGION)
    assert shown["StartingPositionTimestamp"] == 1.7e9
    assert shown["DestinationConfig"] == {"OnFailure": {"Destination": QUEUE}}
    assert shown["FilterCriteria"] == {"Filters": [{"Pattern": '{"data": {"a": [1]}}'}]}
    assert shown["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_a_queue_mapping_shows_its_scaling_config_and_qualified_function() -> None:
    req = parse_create({"FunctionName": "fn:live", "EventSourceArn": QUEUE,
                        "ScalingConfig": {"MaximumConcurrency": 2}})  # fmt: skip
    kind = check_create(req, fifo=False)
    mapping = new_mapping(req, kind, uuid=UUID, function_name="fn", qualifier="live", now=0.0)
    shown = mapping.to_aws(REGION)
    assert shown["ScalingConfig"] == {"MaximumConcurrency": 2}
    assert shown["FunctionArn"].endswith(":function:fn:live")
    latest = mapping.replace(qualifier="$LATEST").to_aws(REGION)["FunctionArn"]
    assert latest.endswith(":function:fn:$LATEST")  # as named, like AWS


def test_created_disabled_is_disabled_at_once() -> None:
    assert make({"EventSourceArn": QUEUE, "Enabled": False}).state == DISABLED


def test_the_document_round_trips() -> None:
    mapping = make({"EventSourceArn": QUEUE, "FilterCriteria": {"Filters": [{"Pattern": PATTERN}]},
                    "FunctionResponseTypes": ["ReportBatchItemFailures"]})  # fmt: skip
    assert EventSourceMapping.from_doc(mapping.to_doc()) == mapping


# -- sources --------------------------------------------------------------------------------


def test_no_source_is_aws_s_unrecognized_event_source() -> None:
    assert refused({}) == "Unrecognized event source."
    assert refused({"EventSourceArn": "arn:aws:s3:::bucket"}) == "Unrecognized event source."
    assert source_kind(QUEUE) == "sqs" and source_kind(STREAM) == "kinesis"


@pytest.mark.parametrize(
    ("arn", "service"),
    [
        (f"arn:aws:dynamodb:{REGION}:{ACCOUNT}:table/t/stream/2024-01-01T00:00:00.000", "DynamoDB"),
        (f"arn:aws:kafka:{REGION}:{ACCOUNT}:cluster/c/abc", "Amazon MSK"),
        (f"arn:aws:mq:{REGION}:{ACCOUNT}:broker:b:id", "Amazon MQ"),
        (f"arn:aws:rds:{REGION}:{ACCOUNT}:cluster:docs", "Amazon DocumentDB"),
    ],
)
def test_sources_this_host_has_no_service_for_are_refused_clearly(arn: str, service: str) -> None:
    message = refused({"EventSourceArn": arn, "StartingPosition": "LATEST"})
    assert message.startswith(f"lambdalet has no {service}") and arn in message


def test_self_managed_kafka_and_stream_consumers_are_refused_clearly() -> None:
    kafka = {"SelfManagedEventSource": {"Endpoints": {"KAFKA_BOOTSTRAP_SERVERS": ["k:9092"]}}}
    assert "self-managed Apache Kafka" in refused(kafka)
    consumer = f"{STREAM}/consumer/c:1700000000"
    assert "consumer" in refused({"EventSourceArn": consumer, "StartingPosition": "LATEST"})


# -- checks, in AWS's order and words ---------------------------------------------------------


def test_on_success_is_refused_before_anything_else() -> None:
    body = {"DestinationConfig": {"OnSuccess": {"Destination": QUEUE}}}
    assert (
        refused(body)
        == "Unsupported DestinationConfig parameter for given event source mapping type."
    )


def test_a_stream_needs_a_starting_position() -> None:
    assert refused({"EventSourceArn": STREAM}) == (
        "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
        "constraint: Member must not be null."
    )
    at = {"EventSourceArn": STREAM, "StartingPosition": "AT_TIMESTAMP"}
    assert refused(at) == "Need to specify a timestamp"


def test_a_queue_takes_no_stream_settings() -> None:
    assert refused({"EventSourceArn": QUEUE, "StartingPosition": "LATEST"}) == (
        "StartingPosition is not valid for SQS event sources."
    )
    for member, value in [("ParallelizationFactor", 2), ("MaximumRetryAttempts", 1),
                          ("BisectBatchOnFunctionError", True), ("TumblingWindowInSeconds", 5),
                          ("MaximumRecordAgeInSeconds", 60)]:  # fmt: skip
        assert refused({"EventSourceArn": QUEUE, member: value}) == (
            f"Unsupported {member} parameter for given event source mapping type."
        )
    on_failure = {"DestinationConfig": {"OnFailure": {"Destination": QUEUE}}}
    assert "DestinationConfig" in refused({"EventSourceArn": QUEUE, **on_failure})
    # An empty destination is no destination.
    make({"EventSourceArn": QUEUE, "DestinationConfig": {"OnFailure": {}}})


def test_a_stream_takes_no_scaling_config_and_sends_failures_to_queues() -> None:
    stream = {"EventSourceArn": STREAM, "StartingPosition": "LATEST"}
    assert "ScalingConfig" in refused({**stream, "ScalingConfig": {"MaximumConcurrency": 2}})
    topic = f"arn:aws:sns:{REGION}:{ACCOUNT}:t"
    assert "SNS topic" in refused(
        {**stream, "DestinationConfig": {"OnFailure": {"Destination": topic}}}
    )
    other = f"arn:aws:iam::{ACCOUNT}:role/r"
    assert refused({**stream, "DestinationConfig": {"OnFailure": {"Destination": other}}}) == (
        f"The destination ARN {other} is invalid."
    )


def test_settings_of_other_sources_and_of_aws_alone_are_refused() -> None:
    assert refused({"EventSourceArn": QUEUE, "Topics": ["t"]}) == (
        "Unsupported Topics parameter for given event source mapping type."
    )
    assert "KMSKeyArn" in refused({"EventSourceArn": QUEUE, "KMSKeyArn": "arn:aws:kms:x"})


def test_a_queue_batch_over_10_needs_a_window() -> None:
    message = (
        "Maximum batch window in seconds must be greater than 0 if maximum batch size is "
        "greater than 10"
    )
    assert refused({"EventSourceArn": QUEUE, "BatchSize": 11}) == message
    assert make({"EventSourceArn": QUEUE, "BatchSize": 10000,
                 "MaximumBatchingWindowInSeconds": 1}).batch_size == 10000  # fmt: skip
    # A FIFO queue takes no window, so at most 10.
    assert refused({"EventSourceArn": FIFO, "BatchSize": 11}, fifo=True) == message
    window = {"EventSourceArn": FIFO, "BatchSize": 11, "MaximumBatchingWindowInSeconds": 1}
    assert refused(window, fifo=True) == "Batching window is not supported for FIFO queues"
    assert make({"EventSourceArn": FIFO, "BatchSize": 10}, fifo=True).batch_size == 10
    # Streams have no such rule (a stream's default is 100 with no window).
    assert make({"EventSourceArn": STREAM, "StartingPosition": "LATEST", "BatchSize": 500})


def test_a_record_age_is_forever_or_at_least_a_minute() -> None:
    stream = {"EventSourceArn": STREAM, "StartingPosition": "LATEST"}
    assert refused({**stream, "MaximumRecordAgeInSeconds": 59}) == (
        "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)"
    )
    assert make({**stream, "MaximumRecordAgeInSeconds": -1}).max_record_age_s == -1


@pytest.mark.parametrize(
    "pattern", ["", "simple string", "null", '{"eventSource": "aws:sqs"}', '{"eventSource": []}']
)
def test_malformed_filters_are_aws_s_invalid_pattern(pattern: str) -> None:
    body = {"EventSourceArn": QUEUE, "FilterCriteria": {"Filters": [{"Pattern": pattern}]}}
    assert refused(body) == "Invalid filter pattern definition."


def test_empty_filter_criteria_are_no_filters() -> None:
    assert make({"EventSourceArn": QUEUE, "FilterCriteria": {"Filters": []}}).filters == ()
    assert "FilterCriteria" not in make({"EventSourceArn": QUEUE, "FilterCriteria": {}}).to_aws(
        REGION
    )


def test_json_types_are_checked() -> None:
    with pytest.raises(InvalidParameterValueException, match="BatchSize"):
        parse_create({"FunctionName": "fn", "BatchSize": "10"})
    with pytest.raises(InvalidParameterValueException, match="StartingPositionTimestamp"):
        parse_create({"FunctionName": "fn", "StartingPositionTimestamp": "soon"})


# -- updates ----------------------------------------------------------------------------------


def test_an_update_merges_and_answers_updating() -> None:
    current = make({"EventSourceArn": QUEUE, "MaximumBatchingWindowInSeconds": 5}).replace(
        state=ENABLED
    )
    after = update(current, {"BatchSize": 50})
    assert (after.batch_size, after.max_batching_window_s, after.state) == (50, 5, UPDATING)
    assert after.last_modified == 2.5 and after.enabled


def test_turning_a_mapping_on_or_off_answers_enabling_or_disabling() -> None:
    enabled = make({"EventSourceArn": QUEUE}).replace(state=ENABLED)
    assert update(enabled, {"Enabled": False}).state == DISABLING
    assert update(enabled, {"Enabled": True}).state == UPDATING
    disabled = make({"EventSourceArn": QUEUE, "Enabled": False})
    assert update(disabled, {"Enabled": True}).state == ENABLING


def test_an_update_is_checked_as_its_result() -> None:
    current = make({"EventSourceArn": QUEUE}).replace(state=ENABLED)
    assert update_refused(current, {"BatchSize": 11}).startswith("Maximum batch window")
    assert "Unsupported ParallelizationFactor" in update_refused(
        current, {"ParallelizationFactor": 2}
    )
    stream = make({"EventSourceArn": STREAM, "StartingPosition": "LATEST"}).replace(state=ENABLED)
    assert update_refused(stream, {"MaximumRecordAgeInSeconds": 10}).startswith(
        "MaximumRecordAgeInSeconds"
    )


def test_an_update_sets_and_clears_filters_destinations_and_scaling() -> None:
    stream = make({"EventSourceArn": STREAM, "StartingPosition": "LATEST"}).replace(state=ENABLED)
    filters = {"Filters": [{"Pattern": '{"data": {"a": [1]}}'}]}
    destination = {"OnFailure": {"Destination": QUEUE}}
    on = update(stream, {"DestinationConfig": destination, "FilterCriteria": filters})
    assert on.on_failure == QUEUE and on.filters
    off = update(on.replace(state=ENABLED), {"DestinationConfig": {"OnFailure": {}},
                                             "FilterCriteria": {"Filters": []}})  # fmt: skip
    assert off.on_failure is None and off.filters == ()
    queue = make({"EventSourceArn": QUEUE, "ScalingConfig": {"MaximumConcurrency": 5}})
    assert update(queue.replace(state=ENABLED), {"ScalingConfig": {}}).max_concurrency is None
