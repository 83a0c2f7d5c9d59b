"""Kinesis's errors as its JSON protocol answers them: ``{"__type": …, "message": …}``, 400.

Codes and texts follow AWS's (the model's error shapes; texts as Kinesis words them).
"""

from __future__ import annotations

from engine.errors import ApiError
from engine.model.arns import ACCOUNT_ID


class KinesisError(ApiError):
    """A Kinesis error: `error_type` is the body's ``__type``; every one is a 400 but
    InternalFailure."""

    error_type = "InternalFailure"
    status = 400


class ResourceNotFoundException(KinesisError):
    error_type = "ResourceNotFoundException"


class ResourceInUseException(KinesisError):
    error_type = "ResourceInUseException"


class InvalidArgumentException(KinesisError):
    error_type = "InvalidArgumentException"


class LimitExceededException(KinesisError):
    error_type = "LimitExceededException"


class ExpiredIteratorException(KinesisError):
    error_type = "ExpiredIteratorException"


class ExpiredNextTokenException(KinesisError):
    error_type = "ExpiredNextTokenException"


class SerializationException(KinesisError):
    """The body is not JSON, or a member has the wrong JSON type (Coral's framework error)."""

    error_type = "SerializationException"


class UnknownOperationException(KinesisError):
    error_type = "UnknownOperationException"


class RequestTooLarge(KinesisError):
    error_type = "RequestEntityTooLargeException"
    status = 413


class InternalFailure(KinesisError):
    error_type = "InternalFailure"
    status = 500


def stream_not_found(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Stream {name} under account {ACCOUNT_ID} not found.")


def not_implemented(operation: str) -> InvalidArgumentException:
    """An operation of the model this engine does not build: a client error naming it."""
    return InvalidArgumentException(
        f"lambdalet does not implement the Kinesis operation {operation}."
    )


class DryRunOperationException(KinesisError):
    error_type = "DryRunOperationException"
