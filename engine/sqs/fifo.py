"""FIFO rules: which send parameters a queue type takes, and deduplication. Pure.

A FIFO send needs a MessageGroupId, and a MessageDeduplicationId unless the queue has
ContentBasedDeduplication (then the id is the body's SHA-256). A second send with a dedup id
seen in the last five minutes (per queue, or per group with DeduplicationScope=messageGroup)
is accepted and answered with the first message's id, but not enqueued again.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Final

from engine.sqs.errors import InvalidParameterValue, MissingParameter, invalid_value
from engine.sqs.queue_attributes import QueueSettings

DEDUP_WINDOW_MS: Final = 5 * 60 * 1000
_ID: Final = re.compile(r"[!-~]{1,128}")  # alphanumeric and punctuation


@dataclass(frozen=True, slots=True)
class DedupEntry:
    message_id: str
    seq: int
    expires_ms: int


@dataclass(frozen=True, slots=True)
class FifoFields:
    group_id: str | None
    dedup_id: str | None


def send_fields(
    settings: QueueSettings,
    body: str,
    *,
    group_id: str | None,
    dedup_id: str | None,
    delay_s: int | None,
) -> FifoFields:
    """The group and dedup ids a send carries on this queue, checked as SQS checks them."""
    for name, value in (("MessageGroupId", group_id), ("MessageDeduplicationId", dedup_id)):
        if value is not None and _ID.fullmatch(value) is None:
            raise invalid_value(
                name,
                value,
                f"{name} can only include alphanumeric and punctuation characters. 1 to 128 in "
                "length.",
            )
    if not settings.fifo:
        if dedup_id is not None:
            raise invalid_value(
                "MessageDeduplicationId",
                dedup_id,
                "The request include parameter that is not valid for this queue type.",
            )
        return FifoFields(group_id, None)
    if delay_s is not None and delay_s != 0:
        raise invalid_value(
            "DelaySeconds",
            delay_s,
            "The request include parameter that is not valid for this queue type.",
        )
    if group_id is None:
        raise MissingParameter("The request must contain the parameter MessageGroupId.")
    if dedup_id is None:
        if not settings.content_dedup:
            raise InvalidParameterValue(
                "The queue should either have ContentBasedDeduplication enabled or "
                "MessageDeduplicationId provided explicitly"
            )
        dedup_id = hashlib.sha256(body.encode("utf-8")).hexdigest()
    return FifoFields(group_id, dedup_id)


def dedup_key(settings: QueueSettings, fields: FifoFields) -> tuple[str, str] | None:
    """The key a send is deduplicated under (None: standard queues do not deduplicate)."""
    if fields.dedup_id is None:
        return None
    scope = (fields.group_id or "") if settings.dedup_per_group else ""
    return scope, fields.dedup_id
