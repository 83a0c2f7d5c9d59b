"""A send request turned into a message: body and size checks, FIFO fields, MD5s. Pure."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Final

from engine.sqs.errors import InvalidMessageContents, InvalidParameterValue, MissingParameter
from engine.sqs.fifo import FifoFields, send_fields
from engine.sqs.md5 import md5_of_attributes, md5_of_body
from engine.sqs.message import Message
from engine.sqs.message_attributes import Attributes, attributes_size
from engine.sqs.queue_attributes import QueueSettings

# Characters a message may hold (the XML 1.0 set): anything else is InvalidMessageContents.
_INVALID: Final = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True, slots=True, kw_only=True)
class SendRequest:
    body: str
    attributes: Attributes = field(default_factory=dict)
    system: Attributes = field(default_factory=dict)
    delay_s: int | None = None
    group_id: str | None = None
    dedup_id: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SendResult:
    message_id: str
    md5_body: str
    md5_attributes: str | None
    md5_system: str | None
    sequence_number: str | None


def check_body(body: str) -> None:
    if not body:
        raise MissingParameter("The request must contain the parameter MessageBody.")
    bad = _INVALID.search(body)
    if bad is not None:
        raise InvalidMessageContents(
            "Invalid characters found. Valid unicode characters are #x9 | #xA | #xD | #x20 to "
            "#xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF"
        )


def message_size(request: SendRequest) -> int:
    return len(request.body.encode("utf-8")) + attributes_size(request.attributes)


def prepare(settings: QueueSettings, request: SendRequest) -> FifoFields:
    """Check `request` against the queue; its FIFO fields (group and dedup ids)."""
    check_body(request.body)
    if message_size(request) > settings.max_message_bytes:
        raise InvalidParameterValue(
            "One or more parameters are invalid. Reason: Message must be shorter than "
            f"{settings.max_message_bytes} bytes."
        )
    if request.delay_s is not None and not 0 <= request.delay_s <= 900:
        raise InvalidParameterValue(
            f"Value {request.delay_s} for parameter DelaySeconds is invalid. Reason: "
            "DelaySeconds must be >= 0 and <= 900."
        )
    return send_fields(
        settings,
        request.body,
        group_id=request.group_id,
        dedup_id=request.dedup_id,
        delay_s=request.delay_s,
    )


def build_message(
    settings: QueueSettings,
    request: SendRequest,
    fields: FifoFields,
    *,
    message_id: str,
    seq: int,
    now_ms: int,
    sender_id: str,
) -> Message:
    delay_s = settings.delay_s if request.delay_s is None else request.delay_s
    return Message(
        id=message_id,
        seq=seq,
        body=request.body,
        attributes=request.attributes,
        system=request.system,
        md5_body=md5_of_body(request.body),
        md5_attributes=md5_of_attributes(request.attributes) if request.attributes else None,
        md5_system=md5_of_attributes(request.system) if request.system else None,
        sender_id=sender_id,
        sent_ms=now_ms,
        visible_at_ms=now_ms + delay_s * 1000,
        group_id=fields.group_id,
        dedup_id=fields.dedup_id,
    )


def result_of(message: Message, *, fifo: bool) -> SendResult:
    return SendResult(
        message_id=message.id,
        md5_body=message.md5_body,
        md5_attributes=message.md5_attributes,
        md5_system=message.md5_system,
        sequence_number=message.sequence_number if fifo else None,
    )


def fill_digests(message: Message) -> None:
    """A loaded message's MD5s (they are not stored)."""
    message.md5_body = md5_of_body(message.body)
    message.md5_attributes = md5_of_attributes(message.attributes) if message.attributes else None
    message.md5_system = md5_of_attributes(message.system) if message.system else None
