from __future__ import annotations

import pytest

from engine.sqs.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValue,
)
from engine.sqs.queue_attributes import (
    check_queue_name,
    conflicting,
    new_attributes,
    parse_redrive,
    settings_of,
    updated_attributes,
)


def test_defaults_are_sqs_defaults() -> None:
    values = new_attributes(False, {})
    assert values == {
        "DelaySeconds": "0",
        "MaximumMessageSize": "1048576",
        "MessageRetentionPeriod": "345600",
        "ReceiveMessageWaitTimeSeconds": "0",
        "VisibilityTimeout": "30",
        "SqsManagedSseEnabled": "true",
    }
    fifo = new_attributes(True, {"FifoQueue": "true"})
    assert fifo["ContentBasedDeduplication"] == "false"
    assert fifo["DeduplicationScope"] == "queue"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("DelaySeconds", "901"),
        ("MessageRetentionPeriod", "59"),
        ("MessageRetentionPeriod", "1209601"),
        ("MaximumMessageSize", "1023"),
        ("VisibilityTimeout", "abc"),
        ("ReceiveMessageWaitTimeSeconds", "21"),
    ],
)
def test_out_of_range_values_are_refused(name: str, value: str) -> None:
    with pytest.raises(InvalidAttributeValue, match=f"Invalid value for the parameter {name}"):
        new_attributes(False, {name: value})


def test_unknown_and_fifo_only_attributes() -> None:
    with pytest.raises(InvalidAttributeName, match=r"Unknown Attribute Nope\."):
        new_attributes(False, {"Nope": "1"})
    with pytest.raises(InvalidAttributeName, match="Unknown Attribute ContentBasedDeduplication"):
        new_attributes(False, {"ContentBasedDeduplication": "true"})
    with pytest.raises(InvalidAttributeName, match="DeduplicationScope only when FifoQueue"):
        new_attributes(False, {"DeduplicationScope": "queue"})


def test_queue_type_cannot_change() -> None:
    current = new_attributes(True, {"FifoQueue": "true"})
    with pytest.raises(InvalidAttributeValue, match="Modifying queue type is not supported"):
        updated_attributes(current, True, {"FifoQueue": "false"})
    with pytest.raises(InvalidAttributeName, match=r"Unknown Attribute FifoQueue\."):
        updated_attributes(new_attributes(False, {}), False, {"FifoQueue": "true"})


def test_names() -> None:
    assert check_queue_name("jobs", {}) is False
    assert check_queue_name("jobs.fifo", {"FifoQueue": "true"}) is True
    with pytest.raises(InvalidParameterValue, match="FIFO queue"):
        check_queue_name("jobs.fifo", {})
    with pytest.raises(InvalidParameterValue, match="FIFO queue"):
        check_queue_name("jobs", {"FifoQueue": "true"})
    with pytest.raises(InvalidParameterValue, match="alphanumeric"):
        check_queue_name("a b", {})
    with pytest.raises(InvalidParameterValue):
        check_queue_name("x" * 81, {})


def test_conflicting_names_the_first_differing_given_attribute() -> None:
    current = new_attributes(False, {"DelaySeconds": "5"})
    assert conflicting(current, False, {}) is None
    assert conflicting(current, False, {"DelaySeconds": "5"}) is None
    assert conflicting(current, False, {"VisibilityTimeout": "30"}) is None
    assert conflicting(current, False, {"DelaySeconds": "6"}) == "DelaySeconds"


def test_redrive_policy_is_normalised_and_read() -> None:
    arn = "arn:aws:sqs:us-east-1:000000000000:dlq"
    values = new_attributes(
        False, {"RedrivePolicy": f'{{"deadLetterTargetArn": "{arn}", "maxReceiveCount": "3"}}'}
    )
    assert values["RedrivePolicy"] == f'{{"deadLetterTargetArn":"{arn}","maxReceiveCount":3}}'
    redrive = settings_of(values).redrive
    assert redrive is not None
    assert (redrive.dead_letter_arn, redrive.max_receive_count) == (arn, 3)
    assert "RedrivePolicy" not in updated_attributes(values, False, {"RedrivePolicy": ""})
    with pytest.raises(InvalidParameterValue, match="maxReceiveCount: 0"):
        parse_redrive(f'{{"deadLetterTargetArn": "{arn}", "maxReceiveCount": 0}}')
    with pytest.raises(InvalidParameterValue, match="not a valid JSON map"):
        parse_redrive("[")
