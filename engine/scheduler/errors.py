"""EventBridge Scheduler's errors, as its rest-json protocol answers them.

The error's type goes in the ``x-amzn-ErrorType`` header and the text in the body's
``Message`` (the model's error shapes all have a ``Message`` member). ValidationException and
ResourceNotFoundException are `engine.errors`' own (the constraint checks raise the first).
"""

from __future__ import annotations

from engine.errors import ApiError


class SchedulerError(ApiError):
    kind = "User"


class ConflictException(SchedulerError):
    error_type = "ConflictException"
    status = 409


class ServiceQuotaExceededException(SchedulerError):
    error_type = "ServiceQuotaExceededException"
    status = 402


class SerializationException(SchedulerError):
    """The body is not JSON, or a member has the wrong JSON type."""

    error_type = "SerializationException"
    status = 400


class UnknownOperationException(SchedulerError):
    error_type = "UnknownOperationException"
    status = 404


class RequestTooLargeException(SchedulerError):
    error_type = "RequestEntityTooLargeException"
    status = 413


class InternalServerException(SchedulerError):
    error_type = "InternalServerException"
    status = 500
    kind = "Service"
