"""Lambda event filtering: the operators and matching rules of AWS's documentation (Lambda's
invocation-eventfiltering.html, EventBridge's event-pattern pages, event-ruler's README), the
patterns Lambda refuses, the five-filter quota, and the SQS and Kinesis documents."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from engine.errors import InvalidParameterValueException
from engine.model.event_filters import (
    MAX_FILTERS,
    MSG_INVALID_PATTERN,
    MSG_TOO_MANY_FILTERS,
    DataFormat,
    FilterCriteria,
    FilterDocument,
    kinesis_filter_document,
    parse_filter_criteria,
    sqs_filter_document,
)
from engine.model.event_filters_patterns import JsonFloat


def criteria(*patterns: object) -> FilterCriteria:
    """Patterns as objects (dumped to JSON) or as raw text (kept as written)."""
    return parse_filter_criteria([p if isinstance(p, str) else json.dumps(p) for p in patterns])


def sqs_record(body: str, **extra: Any) -> dict[str, Any]:
    return {
        "messageId": "059f36b4-87a3-44ab-83d2-661975830a7d",
        "receiptHandle": "AQEBwJnKyrHigUMZj6rYigCgxlaS3SLy0a",
        "body": body,
        "attributes": {
            "ApproximateReceiveCount": "1",
            "SentTimestamp": "1545082649183",
            "SenderId": "AIDAIENQZJOLO23YVJ4VO",
            "ApproximateFirstReceiveTimestamp": "1545082649185",
        },
        "messageAttributes": {},
        "md5OfBody": "e4e68fb7bd0e697a0ae8f1bb342846b3",
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-2:123456789012:my-queue",
        "awsRegion": "us-east-2",
        **extra,
    }


def kinesis_record(data: bytes, *, partition_key: str = "1") -> dict[str, Any]:
    return {
        "kinesis": {
            "kinesisSchemaVersion": "1.0",
            "partitionKey": partition_key,
            "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
            "data": base64.b64encode(data).decode(),
            "approximateArrivalTimestamp": 1545084650.987,
        },
        "eventSource": "aws:kinesis",
        "eventVersion": "1.0",
        "eventID": "shardId-000000000006:49590338271490256608559692538361571095921575989136588898",
        "eventName": "aws:kinesis:record",
        "invokeIdentityArn": "arn:aws:iam::123456789012:role/lambda-role",
        "awsRegion": "us-east-2",
        "eventSourceARN": "arn:aws:kinesis:us-east-2:123456789012:stream/lambda-stream",
    }


def body_document(body: str) -> Any:
    """The SQS document of a message whose JSON body is `body` (numbers keep their text)."""
    return sqs_filter_document(sqs_record(body))


# --- Each operator, matching and not ----------------------------------------------------------

MATCHING: list[Any] = [
    # Null and empty are different values (eb-event-patterns-null-values.html)
    pytest.param({"UserID": [None]}, {"UserID": None}, True, id="null"),
    pytest.param({"UserID": [None]}, {"UserID": "null"}, False, id="null-vs-string-null"),
    pytest.param({"UserID": [None]}, {"UserID": ""}, False, id="null-vs-empty"),
    pytest.param({"UserID": [None]}, {}, False, id="null-vs-missing"),
    pytest.param({"LastName": [""]}, {"LastName": ""}, True, id="empty"),
    pytest.param({"LastName": [""]}, {"LastName": None}, False, id="empty-vs-null"),
    # Equals: character by character, no case folding
    pytest.param({"Name": ["Alice"]}, {"Name": "Alice"}, True, id="equals"),
    pytest.param({"Name": ["Alice"]}, {"Name": "alice"}, False, id="equals-case"),
    pytest.param({"Name": ["Alice"]}, {"Name": "Alice "}, False, id="equals-whitespace"),
    pytest.param({"s": ["emoji 🚀 "]}, {"s": "emoji 🚀 "}, True, id="equals-unicode"),
    pytest.param({"Name": [{"equals-ignore-case": "alice"}]}, {"Name": "ALICE"}, True, id="eic"),
    pytest.param(
        {"Name": [{"equals-ignore-case": "alice"}]}, {"Name": "Alicia"}, False, id="eic-no"
    ),
    pytest.param({"v": [{"equals-ignore-case": ""}]}, {"v": ""}, True, id="eic-empty"),
    pytest.param({"v": [{"equals-ignore-case": ""}]}, {"v": "x"}, False, id="eic-empty-no"),
    pytest.param({"v": [{"equals-ignore-case": "1"}]}, {"v": 1}, False, id="eic-number"),
    # And across keys, or within a list
    pytest.param(
        {"Location": ["New York"], "Day": ["Monday"]},
        {"Location": "New York", "Day": "Monday"},
        True,
        id="and",
    ),
    pytest.param(
        {"Location": ["New York"], "Day": ["Monday"]},
        {"Location": "New York", "Day": "Tuesday"},
        False,
        id="and-one-fails",
    ),
    pytest.param(
        {"Location": ["New York"], "Day": ["Monday"]},
        {"Location": "New York"},
        False,
        id="and-one-missing",
    ),
    pytest.param({"PaymentType": ["Credit", "Debit"]}, {"PaymentType": "Debit"}, True, id="or"),
    pytest.param({"PaymentType": ["Credit", "Debit"]}, {"PaymentType": "Cash"}, False, id="or-no"),
    pytest.param(
        {"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]},
        {"Location": "Paris", "Day": "Monday"},
        True,
        id="$or",
    ),
    pytest.param(
        {"$or": [{"Location": ["New York"]}, {"Day": ["Monday"]}]},
        {"Location": "Paris", "Day": "Sunday"},
        False,
        id="$or-no",
    ),
    # Not: anything-but matches any present value but the listed ones
    pytest.param({"Weather": [{"anything-but": ["Raining"]}]}, {"Weather": "Sunny"}, True, id="ab"),
    pytest.param(
        {"Weather": [{"anything-but": ["Raining"]}]}, {"Weather": "Raining"}, False, id="ab-no"
    ),
    pytest.param({"Weather": [{"anything-but": ["Raining"]}]}, {}, False, id="ab-missing"),
    pytest.param(
        {"Weather": [{"anything-but": ["Raining"]}]}, {"Weather": None}, True, id="ab-null"
    ),
    pytest.param(
        {"Weather": [{"anything-but": ["Raining"]}]}, {"Weather": 5}, True, id="ab-number"
    ),
    pytest.param(
        {"state": [{"anything-but": "initializing"}]}, {"state": "pending"}, True, id="ab-1"
    ),
    pytest.param(
        {"state": [{"anything-but": "initializing"}]},
        {"state": "initializing"},
        False,
        id="ab-1-no",
    ),
    pytest.param(
        {"state": [{"anything-but": ["stopped", "overloaded"]}]},
        {"state": "stopped"},
        False,
        id="ab-list-no",
    ),
    pytest.param({"x": [{"anything-but": 123}]}, {"x": 789}, True, id="ab-number-single"),
    pytest.param({"x": [{"anything-but": 123}]}, {"x": 123}, False, id="ab-number-single-no"),
    pytest.param({"x": [{"anything-but": [100, 200, 300]}]}, {"x": 999}, True, id="ab-numbers"),
    pytest.param({"x": [{"anything-but": [100, 200, 300]}]}, {"x": 300}, False, id="ab-numbers-no"),
    pytest.param(
        {"x": [{"anything-but": [100, 200, 300]}]}, {"x": 300.0}, False, id="ab-numbers-numerically"
    ),
    pytest.param({"x": [{"anything-but": [100]}]}, {"x": "100"}, True, id="ab-number-vs-string"),
    pytest.param({"x": [{"anything-but": ["100"]}]}, {"x": 100}, True, id="ab-string-vs-number"),
    pytest.param({"x": [{"anything-but": [0]}]}, {"x": 789}, True, id="ab-zero"),
    # Numeric: JSON numbers only, compared as numbers
    pytest.param({"Price": [{"numeric": ["=", 100]}]}, {"Price": 100}, True, id="num-eq"),
    pytest.param({"Price": [{"numeric": ["=", 100]}]}, {"Price": 100.0}, True, id="num-eq-float"),
    pytest.param({"Price": [{"numeric": ["=", 100]}]}, {"Price": 101}, False, id="num-eq-no"),
    pytest.param({"Price": [{"numeric": ["=", 100]}]}, {"Price": "100"}, False, id="num-string"),
    pytest.param({"Price": [{"numeric": ["=", 100]}]}, {"Price": None}, False, id="num-null"),
    pytest.param({"Price": [{"numeric": ["=", 1]}]}, {"Price": True}, False, id="num-bool"),
    pytest.param({"x": [{"numeric": ["=", 3.018e2]}]}, {"x": 301.8}, True, id="num-exponent"),
    pytest.param(
        {"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 20}, True, id="range-top"
    ),
    pytest.param(
        {"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 10}, False, id="range-open"
    ),
    pytest.param(
        {"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 15.5}, True, id="range-in"
    ),
    pytest.param(
        {"Price": [{"numeric": [">", 10, "<=", 20]}]}, {"Price": 21}, False, id="range-out"
    ),
    pytest.param({"n": [{"numeric": [">=", 100, "<", 200]}]}, {"n": 100}, True, id="range-closed"),
    pytest.param({"n": [{"numeric": [">=", 100, "<", 200]}]}, {"n": 200}, False, id="range-lt"),
    pytest.param({"n": [{"numeric": ["<", 10]}]}, {"n": 9.999}, True, id="lt"),
    pytest.param({"n": [{"numeric": ["<", 10]}]}, {"n": 10}, False, id="lt-no"),
    pytest.param({"n": [{"numeric": ["<=", 10]}]}, {"n": 10}, True, id="le"),
    pytest.param({"n": [{"numeric": [">=", -5]}]}, {"n": -5}, True, id="ge-negative"),
    pytest.param({"n": [{"numeric": [">", 100]}]}, {"n": 2**70}, False, id="num-not-a-double"),
    pytest.param({"n": [{"numeric": [">", 0]}]}, {"n": 1e300}, True, id="num-large-double"),
    # Exists works on leaves: null is a value, an object or an empty list holds none
    pytest.param({"ProductName": [{"exists": True}]}, {"ProductName": "x"}, True, id="exists"),
    pytest.param({"ProductName": [{"exists": True}]}, {"Product": "x"}, False, id="exists-no"),
    pytest.param(
        {"ProductName": [{"exists": True}]}, {"ProductName": None}, True, id="exists-null"
    ),
    pytest.param({"resources": [{"exists": True}]}, {"resources": []}, False, id="exists-empty"),
    pytest.param({"c": [{"exists": True}]}, {"c": {"c1": 100}}, False, id="exists-object"),
    pytest.param({"ProductName": [{"exists": False}]}, {"Product": "x"}, True, id="not-exists"),
    pytest.param(
        {"ProductName": [{"exists": False}]}, {"ProductName": ""}, False, id="not-exists-no"
    ),
    pytest.param({"c": [{"exists": False}]}, {"c": {"c1": 100}}, True, id="not-exists-object"),
    pytest.param(
        {"detail": {"level1": {"level2": [{"exists": False}]}}},
        {"detail": {"other": 1}},
        True,
        id="not-exists-deep",
    ),
    # Begins with / ends with: strings only
    pytest.param({"Region": [{"prefix": "us-"}]}, {"Region": "us-east-1"}, True, id="prefix"),
    pytest.param({"Region": [{"prefix": "us-"}]}, {"Region": "eu-west-1"}, False, id="prefix-no"),
    pytest.param({"Region": [{"prefix": "us-"}]}, {"Region": "US-EAST-1"}, False, id="prefix-case"),
    pytest.param({"n": [{"prefix": "12"}]}, {"n": 123}, False, id="prefix-number"),
    pytest.param({"s": [{"prefix": ""}]}, {"s": "anything"}, True, id="prefix-empty"),
    pytest.param(
        {"service": [{"prefix": {"equals-ignore-case": "EventB"}}]},
        {"service": "eVeNtBridge"},
        True,
        id="prefix-eic",
    ),
    pytest.param({"FileName": [{"suffix": ".png"}]}, {"FileName": "image.png"}, True, id="suffix"),
    pytest.param(
        {"FileName": [{"suffix": ".PNG"}]}, {"FileName": "image.png"}, False, id="sfx-case"
    ),
    pytest.param(
        {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]},
        {"FileName": "image.PNG"},
        True,
        id="suffix-eic",
    ),
    pytest.param(
        {"FileName": [{"suffix": {"equals-ignore-case": ".png"}}]},
        {"FileName": "image.jpg"},
        False,
        id="suffix-eic-no",
    ),
    # Types never mix: strings, numbers, booleans and null are distinct
    pytest.param({"v": ["300"]}, {"v": 300}, False, id="string-vs-number"),
    pytest.param({"v": [300]}, {"v": "300"}, False, id="number-vs-string"),
    pytest.param({"v": [False]}, {"v": False}, True, id="false"),
    pytest.param({"v": [False]}, {"v": True}, False, id="false-no"),
    pytest.param({"v": [False]}, {"v": 0}, False, id="false-vs-zero"),
    pytest.param({"v": [True]}, {"v": 1}, False, id="true-vs-one"),
    pytest.param({"v": [1]}, {"v": True}, False, id="one-vs-true"),
    pytest.param({"v": ["true"]}, {"v": True}, False, id="string-true"),
    # Several kinds in one list: any of them
    pytest.param(
        {"admins": ["skyli", {"prefix": "hey"}, {"prefix": "ad"}]},
        {"admins": "admin"},
        True,
        id="mixed-list",
    ),
    pytest.param(
        {"S": [{"anything-but": ["roses"]}, {"exists": False}]},
        {"S": "tulips"},
        True,
        id="ab-or-absent",
    ),
    pytest.param(
        {"S": [{"anything-but": ["roses"]}, {"exists": False}]}, {}, True, id="absent-or-ab"
    ),
    pytest.param(
        {"S": [{"anything-but": ["roses"]}, {"exists": False}]},
        {"S": "roses"},
        False,
        id="ab-or-no",
    ),
    pytest.param(
        {"N": [{"numeric": [">", 100]}, {"anything-but": "101"}]}, {"N": "42"}, True, id="num-or-ab"
    ),
    pytest.param(
        {"N": [{"numeric": [">", 100]}, {"anything-but": "101"}]},
        {"N": "101"},
        False,
        id="num-or-ab-no",
    ),
    # Keys are case-sensitive; every key of the pattern must be present
    pytest.param({"MY_KEY": ["v"]}, {"my_key": "v"}, False, id="key-case"),
    pytest.param({"a": ["1"]}, {"a": "1", "b": "ignored"}, True, id="extra-fields-ignored"),
]


@pytest.mark.parametrize(("pattern", "document", "expected"), MATCHING)
def test_operator(pattern: dict[str, Any], document: dict[str, Any], expected: bool) -> None:
    assert criteria(pattern).matches(document) is expected


# --- Nested keys and arrays -------------------------------------------------------------------

NESTED_AND_ARRAYS: list[Any] = [
    # Lambda's multi-level example: a DynamoDB key, three levels down
    pytest.param(
        {"dynamodb": {"Keys": {"Id": {"N": ["101"]}}}},
        {"dynamodb": {"Keys": {"Id": {"N": "101"}}, "SequenceNumber": "111"}},
        True,
        id="dynamodb-keys",
    ),
    pytest.param(
        {"dynamodb": {"Keys": {"Id": {"N": ["101"]}}}},
        {"dynamodb": {"Keys": {"Id": {"N": "102"}}}},
        False,
        id="dynamodb-keys-no",
    ),
    pytest.param(
        {"dynamodb": {"NewImage": {"presentKey": [{"exists": True}]}}},
        {"dynamodb": {"NewImage": {"presentKey": {"S": "x"}}}},
        False,
        id="exists-needs-the-leaf",
    ),
    pytest.param(
        {"dynamodb": {"NewImage": {"presentKey": {"S": [{"exists": True}]}}}},
        {"dynamodb": {"NewImage": {"presentKey": {"S": "x"}}}},
        True,
        id="exists-on-the-leaf",
    ),
    # A pattern object needs an object there; a plain value is not looked into
    pytest.param(
        {"detail": {"k": ["v"]}}, {"detail": '{"k": "v"}'}, False, id="no-json-in-strings"
    ),
    pytest.param({"detail": {"k": ["v"]}}, {"detail": "v"}, False, id="object-vs-scalar"),
    # Arrays in the event: a non-empty intersection (eb-event-patterns-arrays.html)
    pytest.param(
        {"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f", "arn:other"]},
        {
            "resources": [
                "arn:aws:autoscaling:asg",
                "arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f",
            ]
        },
        True,
        id="array-intersection",
    ),
    pytest.param(
        {"resources": ["arn:aws:ec2:us-east-1:123456789012:instance/i-b188560f"]},
        {"resources": ["arn:aws:autoscaling:asg"]},
        False,
        id="array-no-intersection",
    ),
    pytest.param(
        {"tags": [{"prefix": "In"}]}, {"tags": ["Custom_Alert", "Insider"]}, True, id="array-op"
    ),
    pytest.param(
        {"n": [{"numeric": [">", 5]}]}, {"n": [[1, 2], [3, [9]]]}, True, id="nested-arrays"
    ),
    pytest.param({"n": [{"numeric": [">", 50]}]}, {"n": [[1, 2], [3, [9]]]}, False, id="nested-no"),
    pytest.param({"tags": [None]}, {"tags": []}, False, id="empty-array-vs-null"),
    pytest.param(
        {"detail-type": [{"equals-ignore-case": "ec2 instance state-change notification"}]},
        {"detail-type": ["EC2 Instance State-change Notification"]},
        True,
        id="array-eic",
    ),
    # Objects inside arrays, and array consistency
    pytest.param(
        {"detail": {"automations": {"id": [{"exists": True}]}}},
        {"detail": {"automations": [{"key1": "v"}, {"id": "here"}, {"key2": "v"}]}},
        True,
        id="array-of-objects",
    ),
    pytest.param(
        {"x": {"a": [1], "b": [2]}},
        {"x": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]},
        True,
        id="same-element",
    ),
    pytest.param(
        {"x": {"a": [1], "b": [4]}},
        {"x": [{"a": 1, "b": 2}, {"a": 3, "b": 4}]},
        False,
        id="different-elements",
    ),
    pytest.param(
        {"x": {"a": [1], "b": [{"exists": False}]}},
        {"x": [{"a": 2, "b": 5}, {"a": 1}]},
        True,
        id="absent-in-the-chosen-element",
    ),
    pytest.param(
        {"x": {"a": [2], "b": [{"exists": False}]}},
        {"x": [{"a": 2, "b": 5}, {"a": 1}]},
        False,
        id="present-in-the-chosen-element",
    ),
    pytest.param(
        {"x": {"a": [1]}, "y": {"b": [4]}},
        {"x": [{"a": 1}, {"a": 3}], "y": [{"b": 2}, {"b": 4}]},
        True,
        id="different-arrays-are-free",
    ),
    # Paths join keys with "." (AWS-validated: a dotted key is the same path as nesting)
    pytest.param(
        {"detail": {"state.status": ["running"]}},
        {"detail": {"state": {"status": "running"}}},
        True,
        id="dotted-pattern-key",
    ),
    pytest.param(
        {"detail": {"state": {"status": ["running"]}}},
        {"detail": {"state.status": "running"}},
        True,
        id="dotted-event-key",
    ),
    pytest.param(
        {"detail": {"state": {"status": ["running"]}}},
        {"detail": {"state.status": {"status": "running"}}},
        False,
        id="dotted-event-key-deeper",
    ),
    # "$or" inside an object, next to other keys, and nested
    pytest.param(
        {
            "detail": {
                "$or": [{"c": [{"numeric": [">", 0, "<=", 5]}]}, {"d": [{"numeric": ["<", 10]}]}]
            }
        },
        {"detail": {"c": 0, "d": 9}},
        True,
        id="$or-in-object",
    ),
    pytest.param(
        {
            "detail": {
                "$or": [{"c": [{"numeric": [">", 0, "<=", 5]}]}, {"d": [{"numeric": ["<", 10]}]}]
            }
        },
        {"detail": {"c": 0, "d": 10}},
        False,
        id="$or-in-object-no",
    ),
    pytest.param(
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {"metricType": ["MetricType"], "namespace": ["AWS/EC2"]},
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/EC2"},
        True,
        id="$or-with-an-and",
    ),
    pytest.param(
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {"metricType": ["MetricType"], "namespace": ["AWS/EC2"]},
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "namespace": "AWS/ES"},
        False,
        id="$or-with-an-and-no",
    ),
    pytest.param(
        {
            "source": ["aws.cloudwatch"],
            "$or": [
                {"metricName": ["CPUUtilization"]},
                {"metricType": ["MetricType"], "$or": [{"metricId": [1234]}, {"spaceId": [1000]}]},
            ],
        },
        {"source": "aws.cloudwatch", "metricType": "MetricType", "spaceId": 1000},
        True,
        id="nested-$or",
    ),
    pytest.param(
        {"source": ["aws.cloudwatch"], "$or": [{"metricName": ["CPU"]}, {"namespace": ["EC2"]}]},
        {"source": "aws.other", "metricName": "CPU"},
        False,
        id="$or-and-the-rest",
    ),
]


@pytest.mark.parametrize(("pattern", "document", "expected"), NESTED_AND_ARRAYS)
def test_nested_keys_and_arrays(
    pattern: dict[str, Any], document: dict[str, Any], expected: bool
) -> None:
    assert criteria(pattern).matches(document) is expected


def test_numbers_in_exact_matches_compare_by_their_text() -> None:
    # "300, 300.0, and 3.0e2 are not considered equal" (invocation-eventfiltering.html)
    assert criteria({"body": {"n": [300]}}).matches(body_document('{"n": 300}'))
    assert not criteria({"body": {"n": [300]}}).matches(body_document('{"n": 300.0}'))
    assert not criteria({"body": {"n": [300]}}).matches(body_document('{"n": 3.0e2}'))
    assert criteria('{"body": {"n": [3.0e2]}}').matches(body_document('{"n": 3.0e2}'))
    assert not criteria('{"body": {"n": [3.0e2]}}').matches(body_document('{"n": 300.0}'))
    # ... while numeric operators compare values
    assert criteria({"body": {"n": [{"numeric": ["=", 300]}]}}).matches(
        body_document('{"n": 3.0e2}')
    )


def test_a_document_float_without_its_text_compares_by_its_shortest_form() -> None:
    assert criteria('{"n": [300.0]}').matches({"n": 300.0})
    assert criteria('{"n": [300.5]}').matches({"n": JsonFloat("300.5")})
    assert not criteria('{"n": [300.5]}').matches({"n": JsonFloat("300.50")})


def test_a_repeated_key_keeps_its_last_value() -> None:
    # AWS-validated (the duplicate "location" of EventBridge's complex example)
    pattern = (
        '{"detail": {"location": [{"prefix": "us-"}], "location": [{"anything-but": "us-east"}]}}'
    )
    assert criteria(pattern).matches({"detail": {"location": "eu-central-1"}})
    assert not criteria(pattern).matches({"detail": {"location": "us-east"}})


def test_a_repeated_object_key_adds_its_fields() -> None:
    pattern = '{"a": {"b": [1]}, "a": {"c": [2]}}'
    assert criteria(pattern).matches({"a": {"b": 1, "c": 2}})
    assert not criteria(pattern).matches({"a": {"c": 2}})


def test_or_with_operator_names_is_a_plain_field_named_or() -> None:
    # event-ruler's README: "numeric" and "prefix" are reserved, so this "$or" is a field name
    pattern = {"$or": [{"numeric": [">", 123]}, {"prefix": "abc"}]}
    assert criteria(pattern).matches({"$or": "abcd"})
    assert criteria(pattern).matches({"$or": 124})
    assert not criteria(pattern).matches({"$or": 5})
    assert not criteria(pattern).matches({"a": 124})


def test_or_with_an_object_is_a_plain_field_named_or() -> None:
    pattern = {"source": ["aws.cloudwatch"], "$or": {"metricType": ["MetricType"]}}
    assert criteria(pattern).matches(
        {"source": "aws.cloudwatch", "$or": {"metricType": "MetricType"}}
    )
    assert not criteria(pattern).matches({"source": "aws.cloudwatch", "metricType": "MetricType"})


def test_array_consistency_does_not_multiply_the_work() -> None:
    # Twelve fields over twelve 40-element lists, the last never satisfied: 40**11 ways to
    # choose, which only a search that forgets unrelated lists finishes.
    document = {f"l{i}": [{"v": n} for n in range(40)] for i in range(12)}
    pattern: dict[str, Any] = {f"l{i}": {"v": [{"anything-but": -1}]} for i in range(11)}
    pattern["l11"] = {"v": [{"numeric": [">", 1000]}]}
    assert not criteria(pattern).matches(document)
    pattern["l11"] = {"v": [39]}
    assert criteria(pattern).matches(document)


# --- FilterCriteria: OR over patterns, empty criteria, the quota ------------------------------


def test_patterns_are_ored() -> None:
    both = criteria({"a": ["1"]}, {"b": ["2"]})
    assert both.matches({"a": "1"})
    assert both.matches({"b": "2"})
    assert not both.matches({"a": "2", "b": "1"})


def test_no_patterns_match_everything() -> None:
    assert parse_filter_criteria([]).matches({})
    assert FilterCriteria().matches({"anything": [1, 2]})


def test_the_patterns_are_kept_as_sent() -> None:
    texts = ['{ "a" : [ 1, 2 ] }', '{"b": [{"prefix": "x"}]}']
    assert parse_filter_criteria(texts).pattern_texts == tuple(texts)


def test_up_to_five_filters() -> None:
    five = [json.dumps({f"k{i}": ["v"]}) for i in range(MAX_FILTERS)]
    assert parse_filter_criteria(five).matches({"k4": "v"})
    with pytest.raises(InvalidParameterValueException) as refused:
        parse_filter_criteria([*five, '{"k5": ["v"]}'])
    assert refused.value.message == MSG_TOO_MANY_FILTERS
    assert refused.value.status == 400


def test_the_filter_quota_can_be_raised_to_ten() -> None:
    ten = [json.dumps({f"k{i}": ["v"]}) for i in range(10)]
    assert parse_filter_criteria(ten, max_filters=10).matches({"k9": "v"})
    with pytest.raises(InvalidParameterValueException):
        parse_filter_criteria([*ten, '{"k": ["v"]}'], max_filters=10)


def test_one_string_is_not_a_list_of_patterns() -> None:
    with pytest.raises(TypeError):
        parse_filter_criteria('{"a": ["1"]}')


# --- Malformed patterns -------------------------------------------------------------------------

MALFORMED: list[Any] = [
    # recorded against AWS (LocalStack's ESM snapshots)
    pytest.param("null", id="aws-null"),
    pytest.param("simple string", id="aws-simple-string"),
    pytest.param('{"eventSource": "aws:sqs"}', id="aws-leaf-not-a-list"),
    pytest.param('{"eventSource": []}', id="aws-empty-list"),
    pytest.param("single-string", id="aws-single-string"),
    pytest.param('[{"eventName": ["INSERT"=123}]', id="aws-broken-json"),
    # not a JSON object
    pytest.param("", id="empty-text"),
    pytest.param("[]", id="array"),
    pytest.param("123", id="number"),
    pytest.param('"text"', id="json-string"),
    pytest.param('{"a": ["1"]} trailing', id="trailing-text"),
    pytest.param('{"a": [NaN]}', id="nan"),
    pytest.param('{"a": [Infinity]}', id="infinity"),
    pytest.param('{"a": [1,]}', id="trailing-comma"),
    # empty objects, leaves that are no list, values a list cannot hold
    pytest.param("{}", id="empty-pattern"),
    pytest.param('{"a": {}}', id="empty-object"),
    pytest.param('{"a": 42}', id="number-leaf"),
    pytest.param('{"a": null}', id="null-leaf"),
    pytest.param('{"a": true}', id="bool-leaf"),
    pytest.param('{"a": [["x"]]}', id="nested-list"),
    pytest.param('{"a": [{}]}', id="empty-expression"),
    pytest.param('{"a": [{"prefix": "x", "suffix": "y"}]}', id="two-operators"),
    pytest.param('{"a": [{"prefix": "x", "prefix": "y"}]}', id="operator-twice"),
    # operators Lambda does not know, or knows in another case
    pytest.param('{"a": [{"contains": "x"}]}', id="unknown-operator"),
    pytest.param('{"a": [{"EXISTS": true}]}', id="operator-case"),
    pytest.param('{"a": [{"NUMERIC": ["=", 5]}]}', id="numeric-case"),
    pytest.param('{"a": [{"wildcard": "*.png"}]}', id="wildcard"),
    pytest.param('{"a": [{"cidr": "10.0.0.0/24"}]}', id="cidr"),
    pytest.param('{"a": [{"exactly": "x"}]}', id="exactly"),
    pytest.param('{"a": [{"anything-but": {"prefix": "init"}}]}', id="ab-prefix"),
    pytest.param('{"a": [{"anything-but": {"suffix": ".txt"}}]}', id="ab-suffix"),
    pytest.param('{"a": [{"anything-but": {"equals-ignore-case": "x"}}]}', id="ab-ignore-case"),
    pytest.param('{"a": [{"anything-but": {"wildcard": "*/lib/*"}}]}', id="ab-wildcard"),
    # operands of the wrong type
    pytest.param('{"a": [{"prefix": 123}]}', id="prefix-number"),
    pytest.param('{"a": [{"prefix": ["x"]}]}', id="prefix-list"),
    pytest.param('{"a": [{"prefix": {"equals-ignore-case": 1}}]}', id="prefix-eic-number"),
    pytest.param('{"a": [{"prefix": {"suffix": "x"}}]}', id="prefix-other-modifier"),
    pytest.param('{"a": [{"suffix": 123}]}', id="suffix-number"),
    pytest.param('{"a": [{"suffix": [".png"]}]}', id="suffix-list"),
    pytest.param('{"a": [{"equals-ignore-case": ["x"]}]}', id="eic-list"),
    pytest.param('{"a": [{"equals-ignore-case": {"prefix": "x"}}]}', id="eic-object"),
    pytest.param('{"a": [{"anything-but": null}]}', id="ab-null"),
    pytest.param('{"a": [{"anything-but": true}]}', id="ab-bool"),
    pytest.param('{"a": [{"anything-but": []}]}', id="ab-empty"),
    pytest.param('{"a": [{"anything-but": ["x", 1]}]}', id="ab-mixed"),
    pytest.param('{"a": [{"anything-but": ["x", null]}]}', id="ab-list-null"),
    pytest.param('{"a": [{"anything-but": [["x"]]}]}', id="ab-nested-list"),
    pytest.param('{"a": [{"exists": "true"}]}', id="exists-string"),
    pytest.param('{"a": [{"exists": 1}]}', id="exists-number"),
    pytest.param('{"a": [{"exists": null}]}', id="exists-null"),
    # numeric: [=, n] | [>|>=, n] | [>|>=, n, <|<=, m] with n < m | [<|<=, n]
    pytest.param('{"a": [{"numeric": 10}]}', id="numeric-number"),
    pytest.param('{"a": [{"numeric": []}]}', id="numeric-empty"),
    pytest.param('{"a": [{"numeric": [">"]}]}', id="numeric-no-operand"),
    pytest.param('{"a": [{"numeric": [">", 0, "<"]}]}', id="numeric-dangling"),
    pytest.param('{"a": [{"numeric": [">", 0, ">", 0]}]}', id="numeric-twice-gt"),
    pytest.param('{"a": [{"numeric": ["=", 5, "<", 10]}]}', id="numeric-eq-range"),
    pytest.param('{"a": [{"numeric": ["<", 10, ">", 0]}]}', id="numeric-top-first"),
    pytest.param('{"a": [{"numeric": [">", 10, "<", 5]}]}', id="numeric-inverted"),
    pytest.param('{"a": [{"numeric": [">=", 5, "<=", 5]}]}', id="numeric-empty-range"),
    pytest.param('{"a": [{"numeric": [">", 0, "<", 5, "<", 6]}]}', id="numeric-five-terms"),
    pytest.param('{"a": [{"numeric": ["!=", 5]}]}', id="numeric-unknown-operator"),
    pytest.param('{"a": [{"numeric": ["=", "5"]}]}', id="numeric-string-operand"),
    pytest.param('{"a": [{"numeric": [">", true]}]}', id="numeric-bool-operand"),
    pytest.param('{"a": [{"numeric": [">", 0, "<", "9"]}]}', id="numeric-string-top"),
    pytest.param('{"a": [{"numeric": [5, ">"]}]}', id="numeric-operand-first"),
    pytest.param('{"a": [{"numeric": ["=", 1e400]}]}', id="numeric-overflow"),
    pytest.param('{"a": [{"numeric": ["=", 0.10000000000000000001]}]}', id="numeric-too-precise"),
    pytest.param('{"a": [{"anything-but": 1e400}]}', id="ab-number-overflow"),
    # $or: an array of at least two objects
    pytest.param('{"$or": [{"a": ["1"]}]}', id="or-one-choice"),
    pytest.param('{"$or": []}', id="or-empty"),
    pytest.param('{"$or": [{"a": ["1"]}, "b"]}', id="or-non-object"),
    pytest.param('{"$or": [{"a": ["1"]}, {}]}', id="or-empty-choice"),
    pytest.param('{"$or": "a"}', id="or-string"),
    pytest.param('{"$or": [{"a": ["1"]}, {"b": {"prefix": ["x"]}}]}', id="or-reserved-nested"),
]


@pytest.mark.parametrize("pattern", MALFORMED)
def test_malformed_patterns_are_refused_in_aws_words(pattern: str) -> None:
    with pytest.raises(InvalidParameterValueException) as refused:
        parse_filter_criteria([pattern])
    assert refused.value.message == MSG_INVALID_PATTERN == "Invalid filter pattern definition."
    assert refused.value.error_type == "InvalidParameterValueException"
    assert refused.value.status == 400


def test_one_malformed_pattern_among_good_ones_refuses_all() -> None:
    with pytest.raises(InvalidParameterValueException, match="Invalid filter pattern definition"):
        parse_filter_criteria(['{"a": ["1"]}', '{"b": "2"}'])


def test_the_refusal_keeps_its_reason_for_the_log() -> None:
    with pytest.raises(InvalidParameterValueException) as refused:
        parse_filter_criteria(['{"a": [{"wildcard": "*"}]}'])
    assert "wildcard" in str(refused.value.__cause__)


def test_a_pattern_over_4096_characters_is_refused() -> None:
    at_limit = '{"a": ["' + "x" * (4096 - 11) + '"]}'
    assert len(at_limit) == 4096
    assert criteria(at_limit).matches({"a": "x" * (4096 - 11)})
    with pytest.raises(InvalidParameterValueException):
        parse_filter_criteria([at_limit.replace('"]}', 'x"]}')])


VALID_EDGES: list[Any] = [
    pytest.param('{"a": [1e400]}', id="exact-number-beyond-doubles"),
    pytest.param('{"a": [{"numeric": [">", -1e300, "<=", 1e300]}]}', id="wide-range"),
    pytest.param('{"a": [{"anything-but": ""}]}', id="anything-but-empty-string"),
    pytest.param('{"a": [{"suffix": ""}]}', id="empty-suffix"),
    pytest.param('{"": ["x"]}', id="empty-key"),
    pytest.param('{"a": [{"exists": false}, {"exists": true}]}', id="exists-both"),
    pytest.param('{"$or": {"a": ["1"]}}', id="or-object-is-a-field"),
    pytest.param('\n{ "a" : [ 1, 2 ] }\n', id="whitespace"),
]


@pytest.mark.parametrize("pattern", VALID_EDGES)
def test_edge_patterns_are_accepted(pattern: str) -> None:
    assert parse_filter_criteria([pattern]).pattern_texts == (pattern,)


def test_deep_nesting_within_the_limit_is_accepted() -> None:
    depth = (4096 - 8) // 7
    pattern = '{"a":' * depth + '["x"]' + "}" * depth
    assert len(pattern) <= 4096
    document: Any = "x"
    for _ in range(depth):
        document = {"a": document}
    assert criteria(pattern).matches(document)


def test_or_combinations_are_bounded() -> None:
    pair = '"$or": [{"a": ["1"]}, {"b": ["1"]}]'
    ten = "{" + ", ".join([pair] * 10) + "}"  # 1024 branches: the most lambdalet compiles
    assert criteria(ten).matches({"a": "1"})
    with pytest.raises(InvalidParameterValueException):
        parse_filter_criteria(["{" + ", ".join([pair] * 11) + "}"])


# --- SQS: the body as JSON or as plain text ----------------------------------------------------


def test_sqs_json_body_is_filtered_by_its_fields() -> None:
    # with-sqs-filtering.html: RequestCode "BBBB" and RecordNumber > 9999
    body = (
        '{\n "RecordNumber": 1234,\n "TimeStamp": "yyyy-mm-ddThh:mm:ss",\n "RequestCode": "AAAA"\n}'
    )
    document = sqs_filter_document(sqs_record(body))
    assert document is not None
    assert document["body"] == {
        "RecordNumber": 1234,
        "TimeStamp": "yyyy-mm-ddThh:mm:ss",
        "RequestCode": "AAAA",
    }
    assert criteria({"body": {"RequestCode": ["AAAA"]}}).matches(document)
    assert not criteria({"body": {"RequestCode": ["BBBB"]}}).matches(document)
    assert not criteria({"body": {"RecordNumber": [{"numeric": [">", 9999]}]}}).matches(document)
    assert criteria({"body": {"RecordNumber": [{"numeric": [">", 999]}]}}).matches(document)


SQS_FORMATS: list[Any] = [
    # with-sqs-filtering.html's table: body format x pattern format
    pytest.param("plain text", {"body": ["plain text"]}, True, id="text-body-text-pattern"),
    pytest.param("plain text", {"body": [{"prefix": "plain"}]}, True, id="text-body-prefix"),
    pytest.param("plain text", {"body": ["other"]}, False, id="text-body-text-pattern-no"),
    pytest.param("plain text", {"body": {"k": ["v"]}}, False, id="text-body-json-pattern"),
    pytest.param("plain text", {"body": {"k": [{"exists": False}]}}, False, id="text-body-absent"),
    pytest.param('{"k": "v"}', {"body": {"k": ["v"]}}, True, id="json-body-json-pattern"),
    pytest.param('{"k": "v"}', {"body": ['{"k": "v"}']}, False, id="json-body-text-pattern"),
    pytest.param('{"k": "v"}', {"body": [{"exists": False}]}, False, id="json-body-absent"),
    pytest.param('{"k": "v"}', {"body": [{"anything-but": "x"}]}, False, id="json-body-anything"),
    pytest.param("[1, 2]", {"body": ["[1, 2]"]}, True, id="json-array-is-text"),
    pytest.param("42", {"body": ["42"]}, True, id="json-number-is-text"),
    pytest.param('{"k": NaN}', {"body": ['{"k": NaN}']}, True, id="nan-is-no-json"),
    pytest.param("", {"body": [""]}, True, id="empty-body"),
]


@pytest.mark.parametrize(("body", "pattern", "expected"), SQS_FORMATS)
def test_sqs_body_format_against_pattern_format(
    body: str, pattern: dict[str, Any], expected: bool
) -> None:
    document = sqs_filter_document(sqs_record(body))
    assert document is not None
    assert criteria(pattern).matches(document) is expected


@pytest.mark.parametrize("body", ["plain text", '{"k": "v"}'])
def test_sqs_patterns_without_body_filter_on_metadata_only(body: str) -> None:
    document = sqs_filter_document(sqs_record(body))
    assert document is not None
    assert criteria({"attributes": {"ApproximateReceiveCount": ["1"]}}).matches(document)
    assert not criteria({"attributes": {"ApproximateReceiveCount": ["2"]}}).matches(document)
    assert criteria({"messageId": [{"prefix": "059f"}]}).matches(document)


def test_sqs_message_attributes_are_filterable() -> None:
    attributes = {"Tier": {"stringValue": "gold", "dataType": "String"}}
    document = sqs_filter_document(sqs_record("x", messageAttributes=attributes))
    assert document is not None
    assert criteria({"messageAttributes": {"Tier": {"stringValue": ["gold"]}}}).matches(document)
    assert not criteria({"messageAttributes": {"Tier": {"stringValue": ["silver"]}}}).matches(
        document
    )


def test_sqs_fields_the_poller_adds_are_not_filterable() -> None:
    document = sqs_filter_document(sqs_record('{"k": "v"}'))
    assert document is not None
    assert set(document) == {
        "messageId", "receiptHandle", "body", "attributes", "messageAttributes", "md5OfBody"
    }  # fmt: skip
    assert not criteria({"eventSource": ["aws:sqs"]}).matches(document)
    assert criteria({"eventSource": [{"exists": False}]}).matches(document)


def test_sqs_document_leaves_the_record_alone() -> None:
    record = sqs_record('{"k": "v"}')
    document = sqs_filter_document(record)
    assert isinstance(document, FilterDocument)
    assert document.data_key == "body"
    assert document.data_format is DataFormat.JSON
    assert record["body"] == '{"k": "v"}'
    assert record["eventSource"] == "aws:sqs"


def test_sqs_record_without_a_string_body_has_no_document() -> None:
    assert sqs_filter_document({"messageId": "1"}) is None
    assert sqs_filter_document({"messageId": "1", "body": {"k": "v"}}) is None


def test_a_plain_mapping_has_no_data_rule() -> None:
    # Only a FilterDocument says which key is the source's data; a plain mapping is an event
    # like any other, where exists:false holds on a path that leads into a string.
    assert criteria({"body": {"k": [{"exists": False}]}}).matches({"body": "plain text"})


# --- Kinesis: base64 data decoded under "data" -------------------------------------------------


def test_kinesis_json_data_is_filtered_under_data() -> None:
    # with-kinesis-filtering.html: order type "buy"
    data = b'{"record": 12345, "order": {"type": "buy", "stock": "ANYCO", "quantity": 1000}}'
    document = kinesis_filter_document(kinesis_record(data))
    assert document["data"] == {
        "record": 12345,
        "order": {"type": "buy", "stock": "ANYCO", "quantity": 1000},
    }
    assert criteria({"data": {"order": {"type": ["buy"]}}}).matches(document)
    assert not criteria({"data": {"order": {"type": ["sell"]}}}).matches(document)
    assert criteria({"data": {"order": {"quantity": [{"numeric": [">=", 1000]}]}}}).matches(
        document
    )


def test_kinesis_metadata_is_at_the_top_level() -> None:
    # invocation-eventfiltering.html: {"partitionKey": ["1"], "data": {"Location": [...]}}
    document = kinesis_filter_document(kinesis_record(b'{"Location": "Los Angeles"}'))
    pattern = {"partitionKey": ["1"], "data": {"Location": ["Los Angeles"]}}
    assert criteria(pattern).matches(document)
    other_key = kinesis_filter_document(
        kinesis_record(b'{"Location": "Los Angeles"}', partition_key="2")
    )
    assert not criteria(pattern).matches(other_key)
    assert criteria({"approximateArrivalTimestamp": [{"numeric": [">", 1.5e9]}]}).matches(document)


def test_kinesis_fields_the_poller_adds_are_not_filterable() -> None:
    document = kinesis_filter_document(kinesis_record(b'{"k": "v"}'))
    assert set(document) == {
        "kinesisSchemaVersion", "partitionKey", "sequenceNumber", "data",
        "approximateArrivalTimestamp",
    }  # fmt: skip
    assert not criteria({"eventName": ["aws:kinesis:record"]}).matches(document)
    assert not criteria({"kinesis": {"partitionKey": ["1"]}}).matches(document)


NON_JSON_DATA: list[Any] = [
    pytest.param(b"Hello, this is a test.", id="plain-text"),
    pytest.param(b"\xff\xfe{}", id="not-utf8"),
    pytest.param(b"[1, 2]", id="json-array"),
    pytest.param(b'"a string"', id="json-string"),
    pytest.param(b"", id="empty"),
]


@pytest.mark.parametrize("data", NON_JSON_DATA)
def test_kinesis_data_that_is_no_json_object_only_passes_patterns_off_data(data: bytes) -> None:
    document = kinesis_filter_document(kinesis_record(data))
    assert isinstance(document, FilterDocument)
    assert document.data_format is DataFormat.OPAQUE
    assert not criteria({"data": {"k": ["v"]}}).matches(document)
    assert not criteria({"data": {"k": [{"exists": False}]}}).matches(document)
    assert not criteria({"data": [document["data"]]}).matches(document)
    assert criteria({"partitionKey": ["1"]}).matches(document)
    assert criteria({"data": {"k": ["v"]}}, {"partitionKey": ["1"]}).matches(document)


def test_kinesis_data_that_is_no_base64_is_opaque() -> None:
    record = kinesis_record(b"{}")
    record["kinesis"]["data"] = "not base64!"
    document = kinesis_filter_document(record)
    assert isinstance(document, FilterDocument)
    assert document.data_format is DataFormat.OPAQUE
    assert not criteria({"data": {"k": [{"exists": False}]}}).matches(document)


def test_kinesis_json_data_does_not_match_a_plain_pattern() -> None:
    document = kinesis_filter_document(kinesis_record(b'{"k": "v"}'))
    assert not criteria({"data": [{"exists": True}]}).matches(document)


def test_kinesis_bare_record_is_read_as_the_kinesis_member() -> None:
    bare = kinesis_record(b'{"k": "v"}')["kinesis"]
    document = kinesis_filter_document(bare)
    assert criteria({"partitionKey": ["1"], "data": {"k": ["v"]}}).matches(document)


def test_kinesis_numbers_in_data_keep_their_text() -> None:
    document = kinesis_filter_document(kinesis_record(b'{"t": 46.0}'))
    assert criteria('{"data": {"t": [46.0]}}').matches(document)
    assert not criteria('{"data": {"t": [46]}}').matches(document)


def test_stream_mappings_refuse_plain_patterns_on_data() -> None:
    criteria({"data": {"k": ["v"]}}, {"partitionKey": ["1"]}).check_json_data_patterns("data")
    with pytest.raises(InvalidParameterValueException) as refused:
        criteria({"partitionKey": ["1"]}, {"data": ["v"]}).check_json_data_patterns("data")
    assert refused.value.message == MSG_INVALID_PATTERN
    with pytest.raises(InvalidParameterValueException):
        criteria({"$or": [{"a": ["1"]}, {"data": [{"prefix": "x"}]}]}).check_json_data_patterns(
            "data"
        )
