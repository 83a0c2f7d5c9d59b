"""CreateEventSourceMapping and UpdateEventSourceMapping bodies: parsed, checked in AWS's order
and words, and turned into the mapping they make.

Pure. The model's constraints (ranges, enums, the ARN pattern) are checked at the API boundary;
here come the rules past them: which source kinds this host has, which settings a kind takes,
the batching rules, the filters. Whether the function, the queue or the stream exists, and
duplicates, are the service's (`engine.control.event_source_mappings`), after these.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from engine.errors import InvalidParameterValueException
from engine.model.event_filters import parse_filter_criteria
from engine.model.event_invoke import SQS_ARN_RE, invalid_destination
from engine.model.event_source_mapping import (
    DEFAULT_BATCH_SIZE,
    DEFAULT_MAX_BATCHING_WINDOW_S,
    KINESIS,
    NO_RECORDS_PROCESSED,
    REASON_BY_KIND,
    SQS,
    EventSourceMapping,
    initial_state,
    updated_state,
)
from engine.model.json_types import (
    opt_bool,
    opt_int,
    opt_object,
    opt_str,
    opt_str_list,
    require_object,
    type_error,
)
from engine.model.tags import parse_tags

T = TypeVar("T")

MSG_UNRECOGNIZED_SOURCE: Final = "Unrecognized event source."
MSG_NO_STARTING_POSITION: Final = (
    "1 validation error detected: Value null at 'startingPosition' failed to satisfy "
    "constraint: Member must not be null."
)
MSG_NEED_TIMESTAMP: Final = "Need to specify a timestamp"
MSG_SQS_STARTING_POSITION: Final = "StartingPosition is not valid for SQS event sources."
MSG_BATCH_WINDOW: Final = (
    "Maximum batch window in seconds must be greater than 0 if maximum batch size is greater "
    "than 10"
)
MSG_FIFO_WINDOW: Final = "Batching window is not supported for FIFO queues"
MSG_RECORD_AGE: Final = (
    "MaximumRecordAgeInSeconds must be either -1 (forever) or between 60 and 604800 (inclusive)"
)
MSG_INVALID_FILTER: Final = "Invalid filter pattern definition."
MIN_RECORD_AGE_S: Final = 60

# Settings only a stream takes, by the member a request names them with.
_STREAM_ONLY: Final = (
    "ParallelizationFactor", "MaximumRecordAgeInSeconds", "BisectBatchOnFunctionError",
    "MaximumRetryAttempts", "TumblingWindowInSeconds",
)  # fmt: skip
# Settings of sources this host has no service for (Kafka, Amazon MQ, DocumentDB).
_OTHER_SOURCES: Final = (
    "Topics", "Queues", "SourceAccessConfigurations", "AmazonManagedKafkaEventSourceConfig",
    "SelfManagedKafkaEventSourceConfig", "DocumentDBEventSourceConfig",
)  # fmt: skip
# Settings AWS takes for queues and streams that lambdalet has nothing behind.
_NOT_ON_THIS_HOST: Final = {
    "KMSKeyArn": "it keeps filter criteria unencrypted (there is no KMS here)",
    "MetricsConfig": "it has no CloudWatch metrics for event source mappings",
    "LoggingConfig": "it has no CloudWatch Logs settings for event source mappings",
    "ProvisionedPollerConfig": "its pollers scale with the backlog, with no provisioned mode",
}
# Event sources AWS has and this host does not, by the ARN's service.
_NO_SERVICE_HERE: Final = {
    "dynamodb": "DynamoDB Streams",
    "kafka": "Amazon MSK",
    "mq": "Amazon MQ",
    "rds": "Amazon DocumentDB",
    "docdb": "Amazon DocumentDB",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class MappingChanges:
    """The settings a Create or Update body sends; None: not sent."""

    function_name: str | None = None  # as sent: a name, a partial or a full ARN
    enabled: bool | None = None
    batch_size: int | None = None
    max_batching_window_s: int | None = None
    parallelization_factor: int | None = None
    max_record_age_s: int | None = None
    max_retry_attempts: int | None = None
    bisect_on_error: bool | None = None
    tumbling_window_s: int | None = None
    function_response_types: tuple[str, ...] | None = None
    filters: tuple[str, ...] | None = None  # () clears them
    destination_given: bool = False
    on_success_given: bool = False
    on_failure: str | None = None  # None with destination_given: cleared
    scaling_given: bool = False
    max_concurrency: int | None = None  # None with scaling_given: cleared
    sent: frozenset[str] = frozenset()  # every member the body has


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateMappingRequest:
    changes: MappingChanges
    source_arn: str | None
    starting_position: str | None
    starting_position_timestamp: float | None
    tags: dict[str, str]


def parse_create(body: object) -> CreateMappingRequest:
    """A CreateEventSourceMapping body (its model constraints already checked)."""
    body = require_object(body)
    timestamp = body.get("StartingPositionTimestamp")
    if timestamp is not None and (
        isinstance(timestamp, bool) or not isinstance(timestamp, int | float)
    ):
        raise type_error("StartingPositionTimestamp", "a timestamp", timestamp)
    tags = opt_object(body, "Tags")
    return CreateMappingRequest(
        changes=_changes(body),
        source_arn=opt_str(body, "EventSourceArn"),
        starting_position=opt_str(body, "StartingPosition"),
        starting_position_timestamp=None if timestamp is None else float(timestamp),
        tags=parse_tags(tags) if tags else {},
    )


def parse_update(body: object) -> MappingChanges:
    """An UpdateEventSourceMapping body (its model constraints already checked)."""
    return _changes(require_object(body))


def check_create(req: CreateMappingRequest, *, fifo: bool) -> str:
    """AWS's checks of a new mapping that need nothing but the request (and whether its queue
    is a FIFO queue), in AWS's order; the source's kind."""
    changes = req.changes
    if changes.on_success_given:
        raise unsupported("DestinationConfig")
    if "SelfManagedEventSource" in changes.sent:
        raise _no_service("self-managed Apache Kafka", "a SelfManagedEventSource")
    if req.source_arn is None:
        raise InvalidParameterValueException(MSG_UNRECOGNIZED_SOURCE)
    kind = source_kind(req.source_arn)
    _check_members(changes, kind)
    if kind == SQS and req.starting_position is not None:
        raise InvalidParameterValueException(MSG_SQS_STARTING_POSITION)
    if kind == KINESIS:
        if req.starting_position is None:
            raise InvalidParameterValueException(MSG_NO_STARTING_POSITION)
        if req.starting_position == "AT_TIMESTAMP" and req.starting_position_timestamp is None:
            raise InvalidParameterValueException(MSG_NEED_TIMESTAMP)
    _check_settings(
        kind,
        batch_size=_given(changes.batch_size, DEFAULT_BATCH_SIZE[kind]),
        window_s=_given(changes.max_batching_window_s, DEFAULT_MAX_BATCHING_WINDOW_S),
        record_age_s=changes.max_record_age_s,
        fifo=fifo,
    )
    _check_filters(changes.filters, kind)
    return kind


def check_update(current: EventSourceMapping, changes: MappingChanges, *, fifo: bool) -> None:
    """AWS's checks of an update that need nothing but the request and the mapping: the
    settings its source takes, the batching rules of the result, the filters."""
    if changes.on_success_given:
        raise unsupported("DestinationConfig")
    _check_members(changes, current.source_kind)
    _check_settings(
        current.source_kind,
        batch_size=_given(changes.batch_size, current.batch_size),
        window_s=_given(changes.max_batching_window_s, current.max_batching_window_s),
        record_age_s=changes.max_record_age_s,
        fifo=fifo,
    )
    _check_filters(changes.filters, current.source_kind)


def new_mapping(
    req: CreateMappingRequest,
    kind: str,
    *,
    uuid: str,
    function_name: str,
    qualifier: str | None,
    now: float,
) -> EventSourceMapping:
    """The mapping a checked request makes, with each kind's defaults."""
    changes = req.changes
    enabled = _given(changes.enabled, True)
    base = EventSourceMapping(
        uuid=uuid,
        function_name=function_name,
        qualifier=qualifier,
        source_arn=req.source_arn or "",
        source_kind=kind,
        batch_size=_given(changes.batch_size, DEFAULT_BATCH_SIZE[kind]),
        max_batching_window_s=DEFAULT_MAX_BATCHING_WINDOW_S,
        enabled=enabled,
        state=initial_state(enabled),
        state_reason=REASON_BY_KIND[kind],
        last_modified=now,
        last_processing_result=NO_RECORDS_PROCESSED if kind == KINESIS else None,
        starting_position=req.starting_position,
        starting_position_timestamp=(
            req.starting_position_timestamp if req.starting_position == "AT_TIMESTAMP" else None
        ),
    )
    return apply_changes(base, changes, now=now)


def updated_mapping(
    current: EventSourceMapping,
    changes: MappingChanges,
    *,
    function_name: str,
    qualifier: str | None,
    now: float,
) -> EventSourceMapping:
    """The mapping after a checked update, in the state the update answers."""
    enabled = _given(changes.enabled, current.enabled)
    changed = current.replace(
        function_name=function_name,
        qualifier=qualifier,
        enabled=enabled,
        state=updated_state(current, enabled),
    )
    return apply_changes(changed, changes, now=now)


def apply_changes(
    mapping: EventSourceMapping, changes: MappingChanges, *, now: float
) -> EventSourceMapping:
    """`mapping` with every setting `changes` sends (what it leaves out keeps its value)."""
    m = mapping
    return m.replace(
        batch_size=_given(changes.batch_size, m.batch_size),
        max_batching_window_s=_given(changes.max_batching_window_s, m.max_batching_window_s),
        parallelization_factor=_given(changes.parallelization_factor, m.parallelization_factor),
        max_record_age_s=_given(changes.max_record_age_s, m.max_record_age_s),
        max_retry_attempts=_given(changes.max_retry_attempts, m.max_retry_attempts),
        bisect_on_error=_given(changes.bisect_on_error, m.bisect_on_error),
        tumbling_window_s=_given(changes.tumbling_window_s, m.tumbling_window_s),
        function_response_types=_given(changes.function_response_types, m.function_response_types),
        filters=_given(changes.filters, m.filters),
        on_failure=changes.on_failure if changes.destination_given else m.on_failure,
        max_concurrency=changes.max_concurrency if changes.scaling_given else m.max_concurrency,
        last_modified=now,
    )


def source_kind(arn: str) -> str:
    """SQS or KINESIS for an ARN this host can poll; a clear refusal for the sources AWS has
    and this host does not."""
    parts = arn.split(":", 5)
    service = parts[2] if len(parts) == 6 and parts[0] == "arn" else ""
    if service == SQS:
        return SQS
    if service == KINESIS:
        resource = parts[5]
        if resource.startswith("stream/") and "/" not in resource.removeprefix("stream/"):
            return KINESIS
        if resource.startswith("stream/") and "/consumer/" in resource:
            raise InvalidParameterValueException(
                f"{arn} is a Kinesis stream consumer: lambdalet's streams have no enhanced "
                "fan-out consumers; use the stream's ARN (arn:aws:kinesis:<region>:<account>:"
                "stream/<name>)"
            )
        raise InvalidParameterValueException(MSG_UNRECOGNIZED_SOURCE)
    if service in _NO_SERVICE_HERE:
        raise _no_service(_NO_SERVICE_HERE[service], arn)
    raise InvalidParameterValueException(MSG_UNRECOGNIZED_SOURCE)


def unsupported(member: str) -> InvalidParameterValueException:
    """AWS's words for a setting the mapping's kind of source does not take."""
    return InvalidParameterValueException(
        f"Unsupported {member} parameter for given event source mapping type."
    )


def check_on_failure(arn: str) -> None:
    """A stream's OnFailure destination: an SQS queue (the only destination service here)."""
    service = arn.split(":")[2] if arn.startswith("arn:") and arn.count(":") >= 5 else ""
    if service in ("sns", "s3") or arn.startswith("kafka://"):
        what = {"sns": "an SNS topic", "s3": "an S3 bucket"}.get(service, "a Kafka topic")
        raise InvalidParameterValueException(
            f"The destination ARN {arn} is {what}: lambdalet sends a stream's failed batches "
            "to SQS queues only"
        )
    if service != SQS or SQS_ARN_RE.fullmatch(arn) is None:
        raise invalid_destination(arn)


# -- helpers ------------------------------------------------------------------------------


def _changes(body: Mapping[str, Any]) -> MappingChanges:
    destination = opt_object(body, "DestinationConfig")
    on_failure = (
        opt_object(destination, "OnFailure", "DestinationConfig.OnFailure") if destination else None
    )
    failure_arn = (
        opt_str(on_failure, "Destination", "DestinationConfig.OnFailure.Destination")
        if on_failure
        else None
    )
    scaling = opt_object(body, "ScalingConfig")
    types = opt_str_list(body, "FunctionResponseTypes")
    return MappingChanges(
        function_name=opt_str(body, "FunctionName"),
        enabled=opt_bool(body, "Enabled"),
        batch_size=opt_int(body, "BatchSize"),
        max_batching_window_s=opt_int(body, "MaximumBatchingWindowInSeconds"),
        parallelization_factor=opt_int(body, "ParallelizationFactor"),
        max_record_age_s=opt_int(body, "MaximumRecordAgeInSeconds"),
        max_retry_attempts=opt_int(body, "MaximumRetryAttempts"),
        bisect_on_error=opt_bool(body, "BisectBatchOnFunctionError"),
        tumbling_window_s=opt_int(body, "TumblingWindowInSeconds"),
        function_response_types=None if types is None else tuple(types),
        filters=_filters(body),
        destination_given=destination is not None,
        on_success_given=destination is not None and "OnSuccess" in destination,
        on_failure=failure_arn or None,  # "" (the model allows it): none
        scaling_given=scaling is not None,
        max_concurrency=(
            opt_int(scaling, "MaximumConcurrency", "ScalingConfig.MaximumConcurrency")
            if scaling
            else None
        ),
        sent=frozenset(k for k, v in body.items() if v is not None),
    )


def _filters(body: Mapping[str, Any]) -> tuple[str, ...] | None:
    """FilterCriteria's patterns; a pattern that is missing, empty or not a string is AWS's
    invalid pattern (its JSON is checked with the others, in `_check_filters`)."""
    criteria = opt_object(body, "FilterCriteria")
    if criteria is None:
        return None
    filters = criteria.get("Filters") or []
    if not isinstance(filters, list):
        raise type_error("FilterCriteria.Filters", "an array", filters)
    patterns: list[str] = []
    for item in filters:
        pattern = item.get("Pattern") if isinstance(item, Mapping) else None
        if not isinstance(pattern, str) or not pattern:
            raise InvalidParameterValueException(MSG_INVALID_FILTER)
        patterns.append(pattern)
    return tuple(patterns)


def _check_members(changes: MappingChanges, kind: str) -> None:
    """The settings sent are ones this kind of source takes, on this host."""
    for member in _OTHER_SOURCES:
        if member in changes.sent:
            raise unsupported(member)
    for member, why in _NOT_ON_THIS_HOST.items():
        if member in changes.sent:
            raise InvalidParameterValueException(
                f"lambdalet does not take {member} on event source mappings: {why}"
            )
    if kind == SQS:
        for member in _STREAM_ONLY:
            if member in changes.sent:
                raise unsupported(member)
        if changes.on_failure is not None:
            raise unsupported("DestinationConfig")
    else:
        if "ScalingConfig" in changes.sent:
            raise unsupported("ScalingConfig")
        if changes.on_failure is not None:
            check_on_failure(changes.on_failure)


def _check_settings(
    kind: str, *, batch_size: int, window_s: int, record_age_s: int | None, fifo: bool
) -> None:
    if kind == SQS:
        if batch_size > 10 and window_s == 0:
            raise InvalidParameterValueException(MSG_BATCH_WINDOW)
        if fifo and window_s > 0:
            raise InvalidParameterValueException(MSG_FIFO_WINDOW)
    if record_age_s is not None and record_age_s != -1 and record_age_s < MIN_RECORD_AGE_S:
        raise InvalidParameterValueException(MSG_RECORD_AGE)


def _check_filters(filters: tuple[str, ...] | None, kind: str) -> None:
    if filters:
        criteria = parse_filter_criteria(list(filters))
        if kind == KINESIS:  # a stream's data is matched as JSON only
            criteria.check_json_data_patterns("data")


def _no_service(what: str, source: str) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"lambdalet has no {what} service, so {source} cannot be an event source here: this "
        "host polls SQS queues (arn:aws:sqs:…) and Kinesis streams "
        "(arn:aws:kinesis:…:stream/<name>)"
    )


def _given(value: T | None, default: T) -> T:
    return default if value is None else value
