"""The message operations: translation between SQS's JSON and the service, nothing more."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engine.sqs.context import Body, Context, Handler
from engine.sqs.errors import BatchRequestTooLong, SqsError
from engine.sqs.md5 import md5_of_attributes
from engine.sqs.message import Message, receipt_handle, system_attributes
from engine.sqs.message_attributes import (
    parse_message_attributes,
    parse_system_attributes,
    select,
)
from engine.sqs.queue_attributes import MAX_MESSAGE_BYTES
from engine.sqs.requests import batch_entries, optional_int
from engine.sqs.sending import SendRequest, SendResult, message_size
from engine.sqs.service import MAX_VISIBILITY_S

_VISIBILITY_REASON: Final = f"Must be >= 0 and <= {MAX_VISIBILITY_S}, if provided."


def _send_request(body: Mapping[str, Any]) -> SendRequest:
    return SendRequest(
        body=body["MessageBody"],
        attributes=parse_message_attributes(body.get("MessageAttributes")),
        system=parse_system_attributes(body.get("MessageSystemAttributes")),
        delay_s=body.get("DelaySeconds"),
        group_id=body.get("MessageGroupId"),
        dedup_id=body.get("MessageDeduplicationId"),
    )


def _sent(result: SendResult) -> Body:
    out: Body = {"MD5OfMessageBody": result.md5_body}
    if result.md5_attributes is not None:
        out["MD5OfMessageAttributes"] = result.md5_attributes
    if result.md5_system is not None:
        out["MD5OfMessageSystemAttributes"] = result.md5_system
    out["MessageId"] = result.message_id
    if result.sequence_number is not None:
        out["SequenceNumber"] = result.sequence_number
    return out


def _failed(entry_id: str, error: SqsError) -> Body:
    return {
        "Id": entry_id,
        "SenderFault": error.sender_fault,
        "Code": error.query_code,
        "Message": error.message,
    }


async def send_message(ctx: Context, body: Body) -> Body:
    queue = ctx.queue(body)
    (result,) = await ctx.service.send(queue, [_send_request(body)])
    if isinstance(result, SqsError):
        raise result
    return _sent(result)


async def send_message_batch(ctx: Context, body: Body) -> Body:
    queue = ctx.queue(body)
    entries = batch_entries(body, "SendMessageBatchRequestEntry")
    requests: list[SendRequest | SqsError] = []
    for entry in entries:
        try:
            requests.append(_send_request(entry))
        except SqsError as exc:
            requests.append(exc)
    total = sum(message_size(r) for r in requests if isinstance(r, SendRequest))
    if total > MAX_MESSAGE_BYTES:
        raise BatchRequestTooLong(
            f"Batch requests cannot be longer than {MAX_MESSAGE_BYTES} bytes. You have sent "
            f"{total} bytes."
        )
    valid = [r for r in requests if isinstance(r, SendRequest)]
    results = iter(await ctx.service.send(queue, valid))
    successful, failed = [], []
    for entry, request in zip(entries, requests, strict=True):
        outcome = request if isinstance(request, SqsError) else next(results)
        if isinstance(outcome, SqsError):
            failed.append(_failed(entry["Id"], outcome))
        else:
            successful.append({"Id": entry["Id"], **_sent(outcome)})
    return {"Successful": successful, "Failed": failed}


async def receive_message(ctx: Context, body: Body) -> Body:
    queue = ctx.queue(body)
    count = optional_int(
        body, "MaxNumberOfMessages", 1, 10, "Must be between 1 and 10, if provided."
    )
    wait_s = optional_int(body, "WaitTimeSeconds", 0, 20, "Must be >= 0 and <= 20, if provided.")
    visibility_s = optional_int(body, "VisibilityTimeout", 0, MAX_VISIBILITY_S, _VISIBILITY_REASON)
    system_names = [
        *(body.get("AttributeNames") or ()),
        *(body.get("MessageSystemAttributeNames") or ()),
    ]
    attribute_names = body.get("MessageAttributeNames") or []
    messages = await ctx.service.receive(
        queue, count=count or 1, visibility_s=visibility_s, wait_s=wait_s
    )
    if not messages:
        return {}
    return {
        "Messages": [
            _shown(queue.name, m, system_names, attribute_names, fifo=queue.fifo) for m in messages
        ]
    }


def _shown(
    queue: str, message: Message, system_names: list[str], attribute_names: list[str], *, fifo: bool
) -> Body:
    out: Body = {
        "MessageId": message.id,
        "ReceiptHandle": receipt_handle(queue, message),
        "MD5OfBody": message.md5_body,
        "Body": message.body,
    }
    system = system_attributes(message, system_names, fifo=fifo)
    if system:
        out["Attributes"] = system
    chosen = select(message.attributes, attribute_names)
    if chosen:
        out["MD5OfMessageAttributes"] = (
            message.md5_attributes
            if len(chosen) == len(message.attributes)
            else md5_of_attributes(chosen)
        )
        out["MessageAttributes"] = chosen
    return out


async def delete_message(ctx: Context, body: Body) -> Body:
    (error,) = await ctx.service.delete(ctx.queue(body), [body["ReceiptHandle"]])
    if error is not None:
        raise error
    return {}


async def delete_message_batch(ctx: Context, body: Body) -> Body:
    queue = ctx.queue(body)
    entries = batch_entries(body, "DeleteMessageBatchRequestEntry")
    errors = await ctx.service.delete(queue, [e["ReceiptHandle"] for e in entries])
    return _batch_answer(entries, errors)


def _batch_answer(entries: list[Body], errors: list[SqsError | None]) -> Body:
    successful, failed = [], []
    for entry, error in zip(entries, errors, strict=True):
        if error is None:
            successful.append({"Id": entry["Id"]})
        else:
            failed.append(_failed(entry["Id"], error))
    return {"Successful": successful, "Failed": failed}


async def change_message_visibility(ctx: Context, body: Body) -> Body:
    ctx.service.change_visibility(ctx.queue(body), body["ReceiptHandle"], body["VisibilityTimeout"])
    return {}


async def change_message_visibility_batch(ctx: Context, body: Body) -> Body:
    queue = ctx.queue(body)
    entries = batch_entries(body, "ChangeMessageVisibilityBatchRequestEntry")
    errors: list[SqsError | None] = []
    for entry in entries:
        try:
            timeout = entry.get("VisibilityTimeout")
            ctx.service.change_visibility(
                queue,
                entry["ReceiptHandle"],
                queue.settings.visibility_s if timeout is None else timeout,
            )
        except SqsError as exc:
            errors.append(exc)
        else:
            errors.append(None)
    return _batch_answer(entries, errors)


MESSAGE_HANDLERS: Final[dict[str, Handler]] = {
    "SendMessage": send_message,
    "SendMessageBatch": send_message_batch,
    "ReceiveMessage": receive_message,
    "DeleteMessage": delete_message,
    "DeleteMessageBatch": delete_message_batch,
    "ChangeMessageVisibility": change_message_visibility,
    "ChangeMessageVisibilityBatch": change_message_visibility_batch,
}
