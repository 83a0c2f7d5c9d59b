"""Asynchronous invocation settings: the EventInvokeConfig of a function, version or alias, its
request bodies (Put overwrites, Update merges), its AWS shape, and the destination ARNs this
host can deliver to (Lambda functions and SQS queues).

Pure. The model's constraints (retry and age ranges, the destination ARN's pattern) are checked
at the API boundary; here come the rules past them, in AWS's words where AWS's are on record.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from engine.errors import InvalidParameterValueException
from engine.model.arns import ACCOUNT_ID
from engine.model.json_types import opt_int, opt_object, opt_str, require_object

T = TypeVar("T")

DEFAULT_MAX_RETRY_ATTEMPTS: Final = 2
DEFAULT_MAX_EVENT_AGE_S: Final = 21600

MSG_NO_SETTINGS: Final = "You must specify at least one of error handling or destination setting."
MSG_SELF_DESTINATION: Final = "You can't specify the function as a destination for itself."

MSG_DLQ_SERVICE: Final = (
    "Invalid dead letter queue ARN: The service specified by the TargetArn is not supported for "
    "dead letter configuration."
)
MSG_DLQ_FIFO: Final = (
    "Invalid dead letter queue ARN: FIFO SQS queue is not supported for dead letter configuration"
)

# Services AWS delivers destinations to that lambdalet has no counterpart of.
_NO_SERVICE_HERE: Final = {
    "sns": "an SNS topic",
    "events": "an EventBridge event bus",
    "s3": "an S3 bucket",
}
_LAMBDA_ARN_RE: Final = re.compile(
    r"arn:aws[a-zA-Z0-9-]*:lambda:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):function:"
    r"(?P<name>[a-zA-Z0-9-_]{1,64})(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9-_]{1,128}))?",
    re.ASCII,
)
# An SQS queue: 1 to 80 letters, digits, hyphens and underscores; a FIFO queue ends in ".fifo".
SQS_ARN_RE: Final = re.compile(
    r"arn:aws[a-zA-Z0-9-]*:sqs:(?P<region>[a-z0-9-]+):(?P<account>\d{12}):"
    r"(?P<name>[a-zA-Z0-9_-]{1,80}(?:\.fifo)?)",
    re.ASCII,
)


@dataclass(frozen=True, slots=True, kw_only=True)
class AsyncSettings:
    """What applies to one asynchronous invoke: the invoked qualifier's config, or defaults."""

    max_retry_attempts: int = DEFAULT_MAX_RETRY_ATTEMPTS
    max_event_age_s: int = DEFAULT_MAX_EVENT_AGE_S
    on_success: str | None = None  # destination ARN
    on_failure: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class EventInvokeConfig:
    """One qualifier's stored config; `None` is "not set" (AWS then leaves the key out)."""

    max_retry_attempts: int | None = None
    max_event_age_s: int | None = None
    on_success: str | None = None
    on_failure: str | None = None
    last_modified: float  # epoch seconds, as AWS's rest-json timestamp

    def settings(self) -> AsyncSettings:
        return AsyncSettings(
            max_retry_attempts=_default(self.max_retry_attempts, DEFAULT_MAX_RETRY_ATTEMPTS),
            max_event_age_s=_default(self.max_event_age_s, DEFAULT_MAX_EVENT_AGE_S),
            on_success=self.on_success,
            on_failure=self.on_failure,
        )

    def to_aws(self, function_arn: str) -> dict[str, Any]:
        """The FunctionEventInvokeConfig shape; `function_arn` is always qualified."""
        out: dict[str, Any] = {"LastModified": self.last_modified, "FunctionArn": function_arn}
        if self.max_retry_attempts is not None:
            out["MaximumRetryAttempts"] = self.max_retry_attempts
        if self.max_event_age_s is not None:
            out["MaximumEventAgeInSeconds"] = self.max_event_age_s
        out["DestinationConfig"] = {
            "OnSuccess": _destination(self.on_success),
            "OnFailure": _destination(self.on_failure),
        }
        return out

    def to_doc(self, qualifier: str) -> dict[str, Any]:
        return {
            "qualifier": qualifier,
            "max_retry_attempts": self.max_retry_attempts,
            "max_event_age_s": self.max_event_age_s,
            "on_success": self.on_success,
            "on_failure": self.on_failure,
            "last_modified": self.last_modified,
        }

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> EventInvokeConfig:
        return cls(
            max_retry_attempts=doc.get("max_retry_attempts"),
            max_event_age_s=doc.get("max_event_age_s"),
            on_success=doc.get("on_success"),
            on_failure=doc.get("on_failure"),
            last_modified=float(doc.get("last_modified", 0.0)),
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class EventInvokeConfigRequest:
    """A Put or Update body. A destination is given (`*_given`) when its OnSuccess/OnFailure
    object was sent; its ARN may still be None (``{"OnSuccess": {}}`` clears it)."""

    max_retry_attempts: int | None = None
    max_event_age_s: int | None = None
    success_given: bool = False
    on_success: str | None = None
    failure_given: bool = False
    on_failure: str | None = None

    def overwrite(self, *, now: float) -> EventInvokeConfig:
        """Put: what was left out is unset."""
        return EventInvokeConfig(
            max_retry_attempts=self.max_retry_attempts,
            max_event_age_s=self.max_event_age_s,
            on_success=self.on_success,
            on_failure=self.on_failure,
            last_modified=now,
        )

    def merge(self, current: EventInvokeConfig, *, now: float) -> EventInvokeConfig:
        """Update: what was left out keeps its value; a destination sent replaces that one."""
        return EventInvokeConfig(
            max_retry_attempts=_default(self.max_retry_attempts, current.max_retry_attempts),
            max_event_age_s=_default(self.max_event_age_s, current.max_event_age_s),
            on_success=self.on_success if self.success_given else current.on_success,
            on_failure=self.on_failure if self.failure_given else current.on_failure,
            last_modified=now,
        )

    def destination_arns(self) -> list[str]:
        """The destinations sent, OnSuccess first."""
        return [arn for arn in (self.on_success, self.on_failure) if arn]


def parse_event_invoke_config(body: object) -> EventInvokeConfigRequest:
    """A PutFunctionEventInvokeConfig / UpdateFunctionEventInvokeConfig body (its model
    constraints already checked); InvalidParameterValueException when it sets nothing."""
    body = require_object(body)
    retries = opt_int(body, "MaximumRetryAttempts")
    age = opt_int(body, "MaximumEventAgeInSeconds")
    config = opt_object(body, "DestinationConfig")
    success = opt_object(config, "OnSuccess", "DestinationConfig.OnSuccess") if config else None
    failure = opt_object(config, "OnFailure", "DestinationConfig.OnFailure") if config else None
    if retries is None and age is None and config is None:
        raise InvalidParameterValueException(MSG_NO_SETTINGS)
    return EventInvokeConfigRequest(
        max_retry_attempts=retries,
        max_event_age_s=age,
        success_given=success is not None,
        on_success=_arn(success, "DestinationConfig.OnSuccess.Destination"),
        failure_given=failure is not None,
        on_failure=_arn(failure, "DestinationConfig.OnFailure.Destination"),
    )


@dataclass(frozen=True, slots=True)
class LambdaDestination:
    """A destination that is a Lambda function (the service checks it exists)."""

    arn: str
    name: str
    qualifier: str | None


def check_destinations(
    req: EventInvokeConfigRequest, *, region: str, function_name: str
) -> list[LambdaDestination]:
    """Refuse destinations this host cannot deliver to; the Lambda ones, for the caller to
    check they exist. AWS's texts: a service it never delivers to, the function itself."""
    arns = req.destination_arns()
    services = [_service(arn) for arn in arns]
    if any(s not in ("lambda", "sqs", *_NO_SERVICE_HERE) for s in services):
        raise InvalidParameterValueException(
            "The provided destination config DestinationConfig("
            f"onSuccess={_java_destination('OnSuccess', req.on_success)}, "
            f"onFailure={_java_destination('OnFailure', req.on_failure)}) is invalid."
        )
    for arn, service in zip(arns, services, strict=True):
        if service in _NO_SERVICE_HERE:
            raise InvalidParameterValueException(
                f"The destination ARN {arn} is {_NO_SERVICE_HERE[service]}: lambdalet delivers "
                "destinations to Lambda functions and SQS queues only"
            )
    out: list[LambdaDestination] = []
    for arn, service in zip(arns, services, strict=True):
        if service == "sqs":
            if SQS_ARN_RE.fullmatch(arn) is None:
                raise invalid_destination(arn)
            continue
        match = _LAMBDA_ARN_RE.fullmatch(arn)
        if match is None or match["region"] != region or match["account"] != ACCOUNT_ID:
            raise invalid_destination(arn)  # not a function this host could have
        if match["name"] == function_name:
            raise InvalidParameterValueException(MSG_SELF_DESTINATION)
        out.append(LambdaDestination(arn, match["name"], match["qualifier"]))
    return out


def check_dead_letter_target(arn: str) -> None:
    """A DeadLetterConfig.TargetArn (not empty): an SQS queue's ARN. AWS also takes SNS topics,
    which this host has no service for."""
    service = _service(arn)
    if service == "sns":
        raise InvalidParameterValueException(
            f"Invalid dead letter queue ARN: {arn} is an SNS topic; lambdalet has no SNS "
            "service and delivers dead letters to SQS queues only"
        )
    if service != "sqs":
        raise InvalidParameterValueException(MSG_DLQ_SERVICE)
    match = SQS_ARN_RE.fullmatch(arn)
    if match is None:
        raise InvalidParameterValueException(
            f"Invalid dead letter queue ARN: {arn} is not an SQS queue's ARN "
            "(arn:aws:sqs:<region>:<account>:<queue name>)"
        )
    if match["name"].endswith(".fifo"):
        raise InvalidParameterValueException(MSG_DLQ_FIFO)


def invalid_destination(arn: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(f"The destination ARN {arn} is invalid.")


def _service(arn: str) -> str:
    """The ARN's service (`arn:partition:service:…`); "" for anything else (kafka://…)."""
    parts = arn.split(":")
    return parts[2] if len(parts) > 2 and parts[0] == "arn" else ""


def _java_destination(kind: str, arn: str | None) -> str:
    # AWS prints the request as its Java object's toString.
    return f"{kind}(destination={arn})" if arn else "null"


def _arn(destination: Mapping[str, Any] | None, path: str) -> str | None:
    if destination is None:
        return None
    return opt_str(destination, "Destination", path) or None  # "" (the model allows it): none


def _destination(arn: str | None) -> dict[str, str]:
    return {} if arn is None else {"Destination": arn}


def _default(value: T | None, default: T) -> T:
    return default if value is None else value
