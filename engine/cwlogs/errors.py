"""CloudWatch Logs' errors as its JSON protocol answers them: ``{"__type": …, "message": …}``.

Codes and texts follow AWS's: the model's error shapes, in the words CloudWatch Logs uses
("The specified log group does not exist.").
"""

from __future__ import annotations

from engine.errors import ApiError


class LogsError(ApiError):
    """A CloudWatch Logs error: `error_type` is the body's ``__type``; 400 unless said."""

    error_type = "ServiceUnavailableException"
    status = 400


class InvalidParameterException(LogsError):
    error_type = "InvalidParameterException"


class ValidationException(LogsError):
    error_type = "ValidationException"


class ResourceNotFoundException(LogsError):
    error_type = "ResourceNotFoundException"


class ResourceAlreadyExistsException(LogsError):
    error_type = "ResourceAlreadyExistsException"


class SerializationException(LogsError):
    """The body is not JSON, or a member has the wrong JSON type (Coral's framework error)."""

    error_type = "SerializationException"


class UnknownOperationException(LogsError):
    error_type = "UnknownOperationException"


class RequestTooLarge(LogsError):
    error_type = "RequestEntityTooLargeException"
    status = 413


class ServiceUnavailableException(LogsError):
    error_type = "ServiceUnavailableException"
    status = 500


def group_not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException("The specified log group does not exist.")


def stream_not_found() -> ResourceNotFoundException:
    return ResourceNotFoundException("The specified log stream does not exist.")


def not_implemented(operation: str) -> InvalidParameterException:
    """An operation of the model this engine does not build: a client error naming it."""
    return InvalidParameterException(
        f"lambdalet does not implement the CloudWatch Logs operation {operation}."
    )
