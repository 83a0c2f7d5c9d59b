"""One message as the engine keeps it, its receipt handles, and its system attributes shown.

Pure. A receipt handle names the queue, the message and the receive that issued it, so a
handle of an earlier receive is recognised as such (for FIFO queues: "expired").
"""

from __future__ import annotations

import base64
import binascii
import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

from engine.sqs.errors import ReceiptHandleIsInvalid
from engine.sqs.message_attributes import Attributes

# The system attributes a receive may ask for ("All" is every one that has a value).
SYSTEM_NAMES: Final = (
    "SenderId",
    "SentTimestamp",
    "ApproximateReceiveCount",
    "ApproximateFirstReceiveTimestamp",
    "SequenceNumber",
    "MessageDeduplicationId",
    "MessageGroupId",
    "AWSTraceHeader",
    "DeadLetterQueueSourceArn",
)
SEQUENCE_BASE: Final = 10**19  # sequence numbers print with 20 digits, as SQS's


@dataclass(slots=True, eq=False, kw_only=True)
class Message:
    id: str
    seq: int  # the engine-wide send order; a FIFO message's SequenceNumber is made from it
    body: str
    attributes: Attributes
    system: Attributes  # AWSTraceHeader, set by the sender
    md5_body: str
    md5_attributes: str | None
    md5_system: str | None
    sender_id: str
    sent_ms: int
    visible_at_ms: int
    group_id: str | None = None
    dedup_id: str | None = None
    source_arn: str | None = None  # the queue a dead-lettered message came from
    receive_count: int = 0
    first_receive_ms: int = 0
    inflight: bool = False
    pending: bool = False  # FIFO: enqueued, its commit not yet on disk (holds its group back)
    receipt: str = ""  # the nonce of the latest receive
    generation: int = 0  # bumped when a scheduled wake-up for this message is superseded

    @property
    def sequence_number(self) -> str:
        return str(SEQUENCE_BASE + self.seq)


def new_receipt() -> str:
    return secrets.token_hex(8)


def receipt_handle(queue: str, message: Message) -> str:
    raw = f"{queue}\n{message.id}\n{message.receipt}".encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def parse_receipt_handle(handle: str) -> tuple[str, str, str]:
    """(queue name, message id, receipt nonce); SQS's error for anything else."""
    try:
        parts = base64.urlsafe_b64decode(handle.encode("ascii")).decode().split("\n")
    except (binascii.Error, UnicodeError, ValueError):
        parts = []
    if len(parts) != 3 or not all(parts):
        raise ReceiptHandleIsInvalid(
            f'The input receipt handle "{handle}" is not a valid receipt handle.'
        )
    return parts[0], parts[1], parts[2]


def system_attributes(message: Message, names: Iterable[str], *, fifo: bool) -> dict[str, str]:
    """The system attributes a receive asked for (``All`` for every one with a value)."""
    wanted = set(names)
    if not wanted:
        return {}
    every = "All" in wanted
    values: dict[str, str | None] = {
        "SenderId": message.sender_id,
        "SentTimestamp": str(message.sent_ms),
        "ApproximateReceiveCount": str(message.receive_count),
        "ApproximateFirstReceiveTimestamp": str(message.first_receive_ms),
        "SequenceNumber": message.sequence_number if fifo else None,
        "MessageDeduplicationId": message.dedup_id,
        "MessageGroupId": message.group_id,
        "AWSTraceHeader": message.system.get("AWSTraceHeader", {}).get("StringValue"),
        "DeadLetterQueueSourceArn": message.source_arn,
    }
    return {
        name: value
        for name, value in values.items()
        if value is not None and (every or name in wanted)
    }
