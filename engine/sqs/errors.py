"""SQS's errors as its JSON protocol answers them.

The body names the error's model shape (``{"__type": "com.amazonaws.sqs#QueueDoesNotExist",
"message": …}``); the ``x-amzn-query-error`` header carries the legacy Query code and fault
(``AWS.SimpleQueueService.NonExistentQueue;Sender``), which botocore reports as the error's
``Code`` (the service is ``awsQueryCompatible``). Codes and texts follow AWS's recorded answers.
"""

from __future__ import annotations

from engine.errors import ApiError

NAMESPACE = "com.amazonaws.sqs#"


class SqsError(ApiError):
    """An SQS error: `error_type` is the JSON ``__type`` shape, `query_code` the legacy code."""

    error_type = "InternalError"
    query_code = "InternalError"
    status = 400
    sender_fault = True

    def type_name(self) -> str:
        return NAMESPACE + self.error_type

    def query_header(self) -> str:
        return f"{self.query_code};{'Sender' if self.sender_fault else 'Receiver'}"


class QueueDoesNotExist(SqsError):
    error_type = "QueueDoesNotExist"
    query_code = "AWS.SimpleQueueService.NonExistentQueue"

    def __init__(self, message: str = "The specified queue does not exist.") -> None:
        super().__init__(message)


class QueueNameExists(SqsError):
    error_type = "QueueNameExists"
    query_code = "QueueAlreadyExists"


class InvalidParameterValue(SqsError):
    error_type = "InvalidParameterValueException"
    query_code = "InvalidParameterValue"


class MissingParameter(SqsError):
    error_type = "MissingRequiredParameterException"
    query_code = "MissingParameter"


class InvalidAttributeName(SqsError):
    error_type = "InvalidAttributeName"
    query_code = "InvalidAttributeName"


class InvalidAttributeValue(SqsError):
    error_type = "InvalidAttributeValue"
    query_code = "InvalidAttributeValue"


class ReceiptHandleIsInvalid(SqsError):
    error_type = "ReceiptHandleIsInvalid"
    query_code = "ReceiptHandleIsInvalid"


class MessageNotInflight(SqsError):
    error_type = "MessageNotInflight"
    query_code = "AWS.SimpleQueueService.MessageNotInflight"


class BatchEntryIdsNotDistinct(SqsError):
    error_type = "BatchEntryIdsNotDistinct"
    query_code = "AWS.SimpleQueueService.BatchEntryIdsNotDistinct"


class EmptyBatchRequest(SqsError):
    error_type = "EmptyBatchRequest"
    query_code = "AWS.SimpleQueueService.EmptyBatchRequest"


class TooManyEntriesInBatchRequest(SqsError):
    error_type = "TooManyEntriesInBatchRequest"
    query_code = "AWS.SimpleQueueService.TooManyEntriesInBatchRequest"


class InvalidBatchEntryId(SqsError):
    error_type = "InvalidBatchEntryId"
    query_code = "AWS.SimpleQueueService.InvalidBatchEntryId"


class BatchRequestTooLong(SqsError):
    error_type = "BatchRequestTooLong"
    query_code = "AWS.SimpleQueueService.BatchRequestTooLong"


class PurgeQueueInProgress(SqsError):
    error_type = "PurgeQueueInProgress"
    query_code = "AWS.SimpleQueueService.PurgeQueueInProgress"
    status = 403


class InvalidMessageContents(SqsError):
    error_type = "InvalidMessageContents"
    query_code = "InvalidMessageContents"


class UnsupportedOperation(SqsError):
    error_type = "UnsupportedOperation"
    query_code = "AWS.SimpleQueueService.UnsupportedOperation"


class SerializationException(SqsError):
    """The body is not JSON, or a member has the wrong JSON type (Coral's framework error)."""

    error_type = "SerializationException"
    query_code = "SerializationException"

    def type_name(self) -> str:
        return "com.amazon.coral.service#SerializationException"


class UnknownOperation(SqsError):
    error_type = "UnknownOperationException"
    query_code = "UnknownOperationException"

    def type_name(self) -> str:
        return "com.amazon.coral.service#UnknownOperationException"


class RequestTooLarge(SqsError):
    error_type = "RequestEntityTooLarge"
    query_code = "RequestEntityTooLarge"
    status = 413


class InternalError(SqsError):
    error_type = "InternalError"
    query_code = "InternalError"
    status = 500
    sender_fault = False


def invalid_value(name: str, value: object, reason: str) -> InvalidParameterValue:
    """AWS's common wording: ``Value 11 for parameter MaxNumberOfMessages is invalid. …``"""
    return InvalidParameterValue(f"Value {value} for parameter {name} is invalid. Reason: {reason}")
