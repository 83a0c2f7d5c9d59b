"""A queue's settable attributes: defaults, checks in SQS's words, and their typed reading.

A queue keeps its attributes as SQS shows them (strings, defaults included); `settings_of`
reads the ones the engine acts on. Computed attributes (counts, timestamps, the ARN) are the
service's. Pure.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.sqs.errors import (
    InvalidAttributeName,
    InvalidAttributeValue,
    InvalidParameterValue,
)

MAX_MESSAGE_BYTES: Final = 1_048_576  # SQS's limit since August 2025 (botocore: 1 MiB)
_QUEUE_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,80}")
_FIFO_NAME: Final = re.compile(r"[A-Za-z0-9_-]{1,75}\.fifo")

# name -> (low, high) for the integer attributes.
_RANGES: Final = {
    "DelaySeconds": (0, 900),
    "MaximumMessageSize": (1024, MAX_MESSAGE_BYTES),
    "MessageRetentionPeriod": (60, 1_209_600),
    "ReceiveMessageWaitTimeSeconds": (0, 20),
    "VisibilityTimeout": (0, 43_200),
    "KmsDataKeyReusePeriodSeconds": (60, 86_400),
}
_BOOLEANS: Final = ("SqsManagedSseEnabled", "ContentBasedDeduplication", "FifoQueue")
_ENUMS: Final = {
    "DeduplicationScope": ("messageGroup", "queue"),
    "FifoThroughputLimit": ("perQueue", "perMessageGroupId"),
}
_FREE_TEXT: Final = ("Policy", "KmsMasterKeyId", "RedriveAllowPolicy")
_FIFO_ONLY: Final = ("ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit")
SETTABLE: Final = frozenset((*_RANGES, *_BOOLEANS, *_ENUMS, *_FREE_TEXT, "RedrivePolicy"))
COMPUTED: Final = (
    "ApproximateNumberOfMessages",
    "ApproximateNumberOfMessagesNotVisible",
    "ApproximateNumberOfMessagesDelayed",
    "CreatedTimestamp",
    "LastModifiedTimestamp",
    "QueueArn",
)
DEFAULTS: Final = {
    "DelaySeconds": "0",
    "MaximumMessageSize": str(MAX_MESSAGE_BYTES),
    "MessageRetentionPeriod": "345600",
    "ReceiveMessageWaitTimeSeconds": "0",
    "VisibilityTimeout": "30",
    "SqsManagedSseEnabled": "true",
}
FIFO_DEFAULTS: Final = {
    "FifoQueue": "true",
    "ContentBasedDeduplication": "false",
    "DeduplicationScope": "queue",
    "FifoThroughputLimit": "perQueue",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class Redrive:
    dead_letter_arn: str
    max_receive_count: int


@dataclass(frozen=True, slots=True, kw_only=True)
class QueueSettings:
    fifo: bool
    delay_s: int
    max_message_bytes: int
    retention_s: int
    wait_s: int
    visibility_s: int
    redrive: Redrive | None
    content_dedup: bool
    dedup_per_group: bool


def check_queue_name(name: str, attributes: Mapping[str, str]) -> bool:
    """Whether the queue is FIFO; raises SQS's error for a name its type does not allow."""
    fifo = attributes.get("FifoQueue", "false").lower() == "true"
    if fifo or name.endswith(".fifo"):
        if not fifo or _FIFO_NAME.fullmatch(name) is None:
            raise InvalidParameterValue(
                "The name of a FIFO queue can only include alphanumeric characters, hyphens, or "
                "underscores, must end with .fifo suffix and be 1 to 80 in length."
            )
        return True
    if _QUEUE_NAME.fullmatch(name) is None:
        raise InvalidParameterValue(
            "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length"
        )
    return False


def new_attributes(fifo: bool, given: Mapping[str, Any]) -> dict[str, str]:
    """A new queue's attributes: the defaults, then `given` checked."""
    base = {**DEFAULTS, **(FIFO_DEFAULTS if fifo else {})}
    return {**base, **_checked(given, fifo=fifo, creating=True)}


def updated_attributes(
    current: Mapping[str, str], fifo: bool, given: Mapping[str, Any]
) -> dict[str, str]:
    """The attributes after SetQueueAttributes (an empty RedrivePolicy removes it)."""
    changes = _checked(given, fifo=fifo, creating=False)
    merged = {**current, **changes}
    for name in ("RedrivePolicy", "Policy", "RedriveAllowPolicy", "KmsMasterKeyId"):
        if merged.get(name) == "":
            del merged[name]
    return merged


def conflicting(current: Mapping[str, str], fifo: bool, given: Mapping[str, Any]) -> str | None:
    """The first attribute of a repeated CreateQueue whose value differs from the queue's."""
    wanted = new_attributes(fifo, given)
    for name in given:
        if wanted.get(name) != current.get(name):
            return name
    return None


def _checked(given: Mapping[str, Any], *, fifo: bool, creating: bool) -> dict[str, str]:
    out: dict[str, str] = {}
    for name, raw in given.items():
        value = raw if isinstance(raw, str) else json.dumps(raw)
        if name not in SETTABLE or (not fifo and name == "ContentBasedDeduplication"):
            raise InvalidAttributeName(f"Unknown Attribute {name}.")
        if name == "FifoQueue" and not creating:
            if not fifo:
                raise InvalidAttributeName("Unknown Attribute FifoQueue.")
            raise InvalidAttributeValue(
                "Invalid value for the parameter FifoQueue. Reason: Modifying queue type is not "
                "supported."
            )
        if not fifo and name in _FIFO_ONLY:
            raise InvalidAttributeName(
                f"You can specify the {name} only when FifoQueue is set to true."
            )
        out[name] = _CHECKS.get(name, _free_text)(name, value)
    return out


def _integer(name: str, value: str) -> str:
    low, high = _RANGES[name]
    if not re.fullmatch(r"-?\d+", value) or not low <= int(value) <= high:
        raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
    return str(int(value))


def _boolean(name: str, value: str) -> str:
    if value.lower() not in ("true", "false"):
        raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
    return value.lower()


def _enum(name: str, value: str) -> str:
    if value not in _ENUMS[name]:
        raise InvalidAttributeValue(f"Invalid value for the parameter {name}.")
    return value


def _free_text(_name: str, value: str) -> str:
    return value


def _redrive(name: str, value: str) -> str:
    if value == "":
        return value
    policy = parse_redrive(value)
    return json.dumps(
        {
            "deadLetterTargetArn": policy.dead_letter_arn,
            "maxReceiveCount": policy.max_receive_count,
        },
        separators=(",", ":"),
    )


def parse_redrive(value: str) -> Redrive:
    """A RedrivePolicy's JSON, checked (that the target exists is the service's to check)."""

    def invalid(reason: str) -> InvalidParameterValue:
        return InvalidParameterValue(
            f"Value {value} for parameter RedrivePolicy is invalid. Reason: {reason}"
        )

    try:
        policy = json.loads(value)
    except ValueError:
        raise invalid("Redrive policy is not a valid JSON map.") from None
    if not isinstance(policy, dict):
        raise invalid("Redrive policy is not a valid JSON map.")
    arn, count = policy.get("deadLetterTargetArn"), policy.get("maxReceiveCount")
    if arn is None or count is None:
        raise invalid(
            "Redrive policy does not contain mandatory attribute: "
            f"{'deadLetterTargetArn' if arn is None else 'maxReceiveCount'}."
        )
    try:
        receives = int(count)
    except (TypeError, ValueError):
        receives = 0
    if not 1 <= receives <= 1000:
        raise invalid(
            f"Invalid value for maxReceiveCount: {count}, valid values are from 1 to 1000 both "
            "inclusive."
        )
    if not isinstance(arn, str) or not arn.startswith("arn:aws:sqs:"):
        raise invalid("Dead letter target does not exist.")
    return Redrive(dead_letter_arn=arn, max_receive_count=receives)


_CHECKS: Final[dict[str, Callable[[str, str], str]]] = {
    **dict.fromkeys(_RANGES, _integer),
    **dict.fromkeys(_BOOLEANS, _boolean),
    **dict.fromkeys(_ENUMS, _enum),
    "RedrivePolicy": _redrive,
}


def settings_of(attributes: Mapping[str, str]) -> QueueSettings:
    redrive = attributes.get("RedrivePolicy")
    return QueueSettings(
        fifo=attributes.get("FifoQueue") == "true",
        delay_s=int(attributes["DelaySeconds"]),
        max_message_bytes=int(attributes["MaximumMessageSize"]),
        retention_s=int(attributes["MessageRetentionPeriod"]),
        wait_s=int(attributes["ReceiveMessageWaitTimeSeconds"]),
        visibility_s=int(attributes["VisibilityTimeout"]),
        redrive=parse_redrive(redrive) if redrive else None,
        content_dedup=attributes.get("ContentBasedDeduplication") == "true",
        dedup_per_group=attributes.get("DeduplicationScope") == "messageGroup",
    )
