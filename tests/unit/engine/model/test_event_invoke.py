"""EventInvokeConfig bodies, their AWS shape, Put's overwrite and Update's merge, the destinations
and dead-letter targets this host accepts."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import InvalidParameterValueException, InvalidRequestContentException
from engine.model.event_invoke import (
    AsyncSettings,
    EventInvokeConfig,
    check_dead_letter_target,
    check_destinations,
    parse_event_invoke_config,
)

REGION = "us-east-1"
ACCOUNT = "000000000000"
FN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"


def destinations(success: str | None = None, failure: str | None = None) -> dict[str, Any]:
    config: dict[str, Any] = {}
    if success is not None:
        config["OnSuccess"] = {"Destination": success}
    if failure is not None:
        config["OnFailure"] = {"Destination": failure}
    return {"DestinationConfig": config}


def refused(body: dict[str, Any], name: str = "me") -> str:
    with pytest.raises(InvalidParameterValueException) as caught:
        check_destinations(parse_event_invoke_config(body), region=REGION, function_name=name)
    return caught.value.message


def test_a_body_that_sets_nothing_is_refused_in_aws_words() -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        parse_event_invoke_config({})
    assert caught.value.message == (
        "You must specify at least one of error handling or destination setting."
    )


def test_an_empty_destination_config_is_a_setting() -> None:
    req = parse_event_invoke_config({"DestinationConfig": {"OnSuccess": {}}})
    assert req.success_given and req.on_success is None and not req.failure_given


def test_json_types_are_checked() -> None:
    with pytest.raises(InvalidParameterValueException, match="MaximumRetryAttempts"):
        parse_event_invoke_config({"MaximumRetryAttempts": "2"})
    with pytest.raises(InvalidParameterValueException, match=r"DestinationConfig\.OnSuccess"):
        parse_event_invoke_config({"DestinationConfig": {"OnSuccess": "x"}})
    with pytest.raises(InvalidRequestContentException):
        parse_event_invoke_config([])


def test_put_overwrites() -> None:
    req = parse_event_invoke_config({"MaximumRetryAttempts": 0})
    config = req.overwrite(now=12.5)
    assert config == EventInvokeConfig(max_retry_attempts=0, last_modified=12.5)


def test_update_merges_each_setting_and_each_destination() -> None:
    current = EventInvokeConfig(
        max_retry_attempts=1, max_event_age_s=60, on_success=QUEUE, on_failure=QUEUE,
        last_modified=1.0,
    )  # fmt: skip
    merged = parse_event_invoke_config(
        {"MaximumRetryAttempts": 0, "DestinationConfig": {"OnSuccess": {}}}
    ).merge(current, now=2.0)
    assert merged == EventInvokeConfig(
        max_retry_attempts=0, max_event_age_s=60, on_success=None, on_failure=QUEUE,
        last_modified=2.0,
    )  # fmt: skip


def test_aws_shape_leaves_out_unset_numbers_and_always_shows_destinations() -> None:
    config = EventInvokeConfig(max_event_age_s=120, on_failure=QUEUE, last_modified=1573686021.479)
    assert config.to_aws(f"{FN}:f:1") == {
        "LastModified": 1573686021.479,
        "FunctionArn": f"{FN}:f:1",
        "MaximumEventAgeInSeconds": 120,
        "DestinationConfig": {"OnSuccess": {}, "OnFailure": {"Destination": QUEUE}},
    }


def test_settings_fill_in_aws_defaults() -> None:
    assert EventInvokeConfig(last_modified=0).settings() == AsyncSettings(
        max_retry_attempts=2, max_event_age_s=21600
    )
    config = EventInvokeConfig(max_retry_attempts=0, on_success=QUEUE, last_modified=0)
    assert config.settings() == AsyncSettings(
        max_retry_attempts=0, max_event_age_s=21600, on_success=QUEUE
    )


def test_doc_round_trip() -> None:
    config = EventInvokeConfig(max_retry_attempts=1, on_success=QUEUE, last_modified=3.25)
    doc = config.to_doc("live")
    assert doc["qualifier"] == "live"
    assert EventInvokeConfig.from_doc(doc) == config


def test_lambda_and_sqs_destinations_are_accepted() -> None:
    req = parse_event_invoke_config(destinations(f"{FN}:other:live", QUEUE))
    found = check_destinations(req, region=REGION, function_name="me")
    assert [(d.name, d.qualifier) for d in found] == [("other", "live")]
    fifo = parse_event_invoke_config(destinations(failure=f"{QUEUE}.fifo"))
    assert check_destinations(fifo, region=REGION, function_name="me") == []


def test_the_function_itself_is_refused() -> None:
    assert refused(destinations(failure=f"{FN}:me")) == (
        "You can't specify the function as a destination for itself."
    )
    assert refused(destinations(failure=f"{FN}:me:1")) == (
        "You can't specify the function as a destination for itself."
    )


@pytest.mark.parametrize(
    "arn",
    [
        f"arn:aws:lambda:eu-west-1:{ACCOUNT}:function:other",  # another region
        f"arn:aws:lambda:{REGION}:123456789012:function:other",  # another account
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:l:1",
        f"arn:aws:sqs:{REGION}:{ACCOUNT}:bad/name",
    ],
)
def test_arns_that_name_nothing_here_are_invalid(arn: str) -> None:
    assert refused(destinations(arn)) == f"The destination ARN {arn} is invalid."


def test_an_unknown_service_is_refused_with_the_whole_config_printed() -> None:
    iam = f"arn:aws:iam::{ACCOUNT}:role/r"
    assert refused(destinations(iam)) == (
        "The provided destination config DestinationConfig(onSuccess=OnSuccess(destination="
        f"{iam}), onFailure=null) is invalid."
    )
    assert refused(destinations(QUEUE, "kafka://broker")) == (
        "The provided destination config DestinationConfig(onSuccess=OnSuccess(destination="
        f"{QUEUE}), onFailure=OnFailure(destination=kafka://broker)) is invalid."
    )


@pytest.mark.parametrize(
    ("arn", "what"),
    [
        (f"arn:aws:sns:{REGION}:{ACCOUNT}:t", "an SNS topic"),
        (f"arn:aws:events:{REGION}:{ACCOUNT}:event-bus/default", "an EventBridge event bus"),
        ("arn:aws:s3:::bucket", "an S3 bucket"),
    ],
)
def test_services_lambdalet_lacks_are_refused_clearly(arn: str, what: str) -> None:
    assert refused(destinations(failure=arn)) == (
        f"The destination ARN {arn} is {what}: lambdalet delivers destinations to Lambda "
        "functions and SQS queues only"
    )


def test_dead_letter_targets() -> None:
    check_dead_letter_target(QUEUE)
    for arn, text in [
        (f"arn:aws:sns:{REGION}:{ACCOUNT}:t", "is an SNS topic; lambdalet has no SNS service"),
        (f"{FN}:f", "The service specified by the TargetArn is not supported"),
        (f"arn:aws:sqs:{REGION}:{ACCOUNT}:a/b", "is not an SQS queue's ARN"),
        (f"{QUEUE}.fifo", "FIFO SQS queue is not supported for dead letter configuration"),
    ]:
        with pytest.raises(InvalidParameterValueException) as caught:
            check_dead_letter_target(arn)
        assert caught.value.message.startswith("Invalid dead letter queue ARN: ")
        assert text in caught.value.message
