"""Engine errors: one base, and the AWS-shaped API errors clients see.

Every `ApiError` carries the AWS error type (the `x-amzn-ErrorType` header), the HTTP status
and a message in AWS's words, so the API layer maps it to a response without knowing cases.
"""

from __future__ import annotations

from typing import Any


class EngineError(Exception):
    """Base of every error the engine raises on purpose."""


class ConfigError(EngineError):
    """The daemon's configuration is invalid; fatal at start-up."""


class ApiError(EngineError):
    """An error answered to an API client in AWS's shape."""

    error_type: str = "ServiceException"
    status: int = 500
    kind: str = "Service"  # AWS's body "Type": "User" or "Service"

    def __init__(self, message: str, *, with_type: bool = True) -> None:
        super().__init__(message)
        self.message = message
        # AWS leaves "Type" out of some answers of an error that usually carries it (the
        # concurrency limits, for one); False answers so.
        self.with_type = with_type

    def body(self) -> dict[str, Any]:
        """The body of an error the service model does not describe."""
        return {"Type": self.kind, "message": self.message}

    def extra(self) -> dict[str, Any]:
        """Body members beyond ``Type`` and the message (the model's other members)."""
        return {}


class _UserError(ApiError):
    kind = "User"


class ValidationException(_UserError):
    error_type = "ValidationException"
    status = 400


class InvalidParameterValueException(_UserError):
    error_type = "InvalidParameterValueException"
    status = 400


class InvalidRequestContentException(_UserError):
    error_type = "InvalidRequestContentException"
    status = 400


class ResourceNotFoundException(_UserError):
    error_type = "ResourceNotFoundException"
    status = 404


class ResourceConflictException(_UserError):
    error_type = "ResourceConflictException"
    status = 409


class ResourceInUseException(_UserError):
    """The resource is between states (an event source mapping being created, updated or
    deleted) and cannot take this change yet."""

    error_type = "ResourceInUseException"
    status = 400


class ProvisionedConcurrencyConfigNotFoundException(_UserError):
    error_type = "ProvisionedConcurrencyConfigNotFoundException"
    status = 404


class PreconditionFailedException(_UserError):
    error_type = "PreconditionFailedException"
    status = 412


class RequestTooLargeException(_UserError):
    error_type = "RequestTooLargeException"
    status = 413


class RequestEntityTooLargeException(_UserError):
    error_type = "RequestEntityTooLargeException"
    status = 413


class TooManyRequestsException(_UserError):
    error_type = "TooManyRequestsException"
    status = 429

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason

    def body(self) -> dict[str, Any]:
        return {**super().body(), **self.extra()}

    def extra(self) -> dict[str, Any]:
        return {"Reason": self.reason}


class RequestTimeoutException(_UserError):
    """The client did not send its request body within the daemon's deadline."""

    error_type = "RequestTimeoutException"
    status = 408


class AccessDeniedException(_UserError):
    """A resource of another account: AWS answers 403 with no message at all."""

    error_type = "AccessDeniedException"
    status = 403

    def __init__(self) -> None:
        super().__init__("")

    def body(self) -> dict[str, Any]:
        return {"Message": None}


class SnapStartException(_UserError):
    """A restored environment's after-restore hook failed (Invoke, SnapStart versions)."""

    error_type = "SnapStartException"
    status = 400


class SnapStartTimeoutException(_UserError):
    """A restored environment did not finish its after-restore hooks within 10 s."""

    error_type = "SnapStartTimeoutException"
    status = 408


class ServiceException(ApiError):
    error_type = "ServiceException"
    status = 500


class ServiceStopping(ServiceException):
    """The daemon is stopping (SIGTERM): a new invoke is refused with 503, which AWS's SDKs
    retry; the caller's next attempt finds the restarted daemon."""

    status = 503


class NotImplementedApiError(_UserError):
    """A valid AWS request this engine does not support yet (answered 400, not 500)."""

    error_type = "InvalidParameterValueException"
    status = 400


class InvalidSubnetIDException(ApiError):
    """Invoke: a subnet of the function's VpcConfig no longer exists."""

    error_type = "InvalidSubnetIDException"
    status = 502


class InvalidSecurityGroupIDException(ApiError):
    """Invoke: a security group of the function's VpcConfig no longer exists."""

    error_type = "InvalidSecurityGroupIDException"
    status = 502


class SubnetIPAddressLimitReachedException(ApiError):
    """Invoke: no subnet of the function's VpcConfig has a free address for a new ENI."""

    error_type = "SubnetIPAddressLimitReachedException"
    status = 502


class InvalidRuntimeException(ApiError):
    """Invoke: the function's runtime is not available on this host (any more)."""

    error_type = "InvalidRuntimeException"
    status = 502


class MissingAuthenticationTokenException(_UserError):
    """SigV4: the request carries no Authorization header."""

    error_type = "MissingAuthenticationTokenException"
    status = 403


class IncompleteSignatureException(_UserError):
    """SigV4: the Authorization header is malformed or lacks a part."""

    error_type = "IncompleteSignatureException"
    status = 400


class UnrecognizedClientException(_UserError):
    """SigV4: the access key id is unknown (or a session token was sent)."""

    error_type = "UnrecognizedClientException"
    status = 403


class InvalidSignatureException(_UserError):
    """SigV4: wrong scope, host or time, or the signature does not match."""

    error_type = "InvalidSignatureException"
    status = 403
