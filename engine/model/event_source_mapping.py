"""An event source mapping as stored and as AWS shows it: which queue or stream feeds which
function, with what batching, error handling and filters, and where it is in its lifecycle.

Pure data. The requests that make and change one are parsed in
`engine.model.event_source_requests`; the service that keeps them is
`engine.control.event_source_mappings`.

States (AWS's words): a create answers `Creating` (`Disabled` when created disabled), an
update `Updating` (`Enabling`/`Disabling` when it turns the mapping on or off), a delete
`Deleting`; the runtime that polls the sources then settles them as `Enabled` or `Disabled`,
or removes the mapping.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.model.arns import ACCOUNT_ID, function_arn

SQS: Final = "sqs"
KINESIS: Final = "kinesis"

CREATING: Final = "Creating"
ENABLING: Final = "Enabling"
ENABLED: Final = "Enabled"
DISABLING: Final = "Disabling"
DISABLED: Final = "Disabled"
UPDATING: Final = "Updating"
DELETING: Final = "Deleting"
STATES: Final = (CREATING, ENABLING, ENABLED, DISABLING, DISABLED, UPDATING, DELETING)
# States a mapping rests in; the others last until the runtime has caught up with a change.
SETTLED: Final = frozenset({ENABLED, DISABLED})

# AWS words the reason for a user's change differently per source (recorded answers).
REASON_BY_KIND: Final = {SQS: "USER_INITIATED", KINESIS: "User action"}
# What a stream mapping shows before its first batch (queues show no LastProcessingResult).
NO_RECORDS_PROCESSED: Final = "No records processed"

# Defaults per source (CreateEventSourceMapping's documentation and recorded answers).
DEFAULT_BATCH_SIZE: Final = {SQS: 10, KINESIS: 100}
DEFAULT_MAX_BATCHING_WINDOW_S: Final = 0
DEFAULT_PARALLELIZATION_FACTOR: Final = 1
DEFAULT_MAX_RECORD_AGE_S: Final = -1  # -1: until the record expires
DEFAULT_MAX_RETRY_ATTEMPTS: Final = -1  # -1: until the record expires
DEFAULT_TUMBLING_WINDOW_S: Final = 0


def mapping_arn(region: str, uuid: str) -> str:
    return f"arn:aws:lambda:{region}:{ACCOUNT_ID}:event-source-mapping:{uuid}"


@dataclass(frozen=True, slots=True, kw_only=True)
class EventSourceMapping:
    """One mapping. The stream settings keep their defaults on a queue's mapping (AWS shows
    them only for streams)."""

    uuid: str
    function_name: str  # unqualified
    qualifier: str | None  # None or "$LATEST": $LATEST (kept as the caller named it)
    source_arn: str
    source_kind: str  # SQS or KINESIS
    batch_size: int
    max_batching_window_s: int
    enabled: bool  # what the user asked for; `state` says how far the runtime has got
    state: str
    state_reason: str
    last_modified: float  # epoch seconds, as AWS's rest-json timestamp
    last_processing_result: str | None  # streams only
    starting_position: str | None  # streams: TRIM_HORIZON, LATEST or AT_TIMESTAMP
    starting_position_timestamp: float | None  # with AT_TIMESTAMP, epoch seconds
    parallelization_factor: int = DEFAULT_PARALLELIZATION_FACTOR
    max_record_age_s: int = DEFAULT_MAX_RECORD_AGE_S
    max_retry_attempts: int = DEFAULT_MAX_RETRY_ATTEMPTS
    bisect_on_error: bool = False
    tumbling_window_s: int = DEFAULT_TUMBLING_WINDOW_S
    function_response_types: tuple[str, ...] = ()
    filters: tuple[str, ...] = ()  # FilterCriteria's patterns, as sent
    on_failure: str | None = None  # DestinationConfig.OnFailure.Destination (streams)
    max_concurrency: int | None = None  # ScalingConfig.MaximumConcurrency (queues)

    @property
    def is_stream(self) -> bool:
        return self.source_kind == KINESIS

    def arn(self, region: str) -> str:
        return mapping_arn(region, self.uuid)

    def function_arn(self, region: str) -> str:
        """Qualified as the mapping was named: `f`, `f:$LATEST`, `f:1` and `f:live` differ."""
        return function_arn(region, self.function_name, self.qualifier)

    def replace(self, **changes: Any) -> EventSourceMapping:
        return dataclasses.replace(self, **changes)

    def to_aws(self, region: str) -> dict[str, Any]:
        """The EventSourceMappingConfiguration shape, with the members AWS shows for this
        kind of source (recorded answers: a queue's has no stream settings)."""
        out: dict[str, Any] = {"UUID": self.uuid}
        if self.is_stream:
            out["StartingPosition"] = self.starting_position
            if self.starting_position_timestamp is not None:
                out["StartingPositionTimestamp"] = self.starting_position_timestamp
        out["BatchSize"] = self.batch_size
        out["MaximumBatchingWindowInSeconds"] = self.max_batching_window_s
        if self.is_stream:
            out["ParallelizationFactor"] = self.parallelization_factor
        out["EventSourceArn"] = self.source_arn
        if self.filters:
            out["FilterCriteria"] = {"Filters": [{"Pattern": p} for p in self.filters]}
        if self.max_concurrency is not None:
            out["ScalingConfig"] = {"MaximumConcurrency": self.max_concurrency}
        out["FunctionArn"] = self.function_arn(region)
        out["LastModified"] = self.last_modified
        if self.last_processing_result is not None:
            out["LastProcessingResult"] = self.last_processing_result
        out["State"] = self.state
        out["StateTransitionReason"] = self.state_reason
        if self.is_stream:
            destination = {} if self.on_failure is None else {"Destination": self.on_failure}
            out["DestinationConfig"] = {"OnFailure": destination}
            out["MaximumRecordAgeInSeconds"] = self.max_record_age_s
            out["BisectBatchOnFunctionError"] = self.bisect_on_error
            out["MaximumRetryAttempts"] = self.max_retry_attempts
            out["TumblingWindowInSeconds"] = self.tumbling_window_s
        out["FunctionResponseTypes"] = list(self.function_response_types)
        out["EventSourceMappingArn"] = self.arn(region)
        return out

    def to_doc(self) -> dict[str, Any]:
        """The registry document (kind "event-source-mapping", id the UUID)."""
        doc = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}
        doc["function_response_types"] = list(self.function_response_types)
        doc["filters"] = list(self.filters)
        return doc

    @classmethod
    def from_doc(cls, doc: Mapping[str, Any]) -> EventSourceMapping:
        names = {f.name for f in dataclasses.fields(cls)}
        values = {k: v for k, v in doc.items() if k in names}
        values["function_response_types"] = tuple(doc.get("function_response_types") or ())
        values["filters"] = tuple(doc.get("filters") or ())
        return cls(**values)


def initial_state(enabled: bool) -> str:
    """A new mapping's state: AWS answers a disabled one as `Disabled` at once (recorded)."""
    return CREATING if enabled else DISABLED


def updated_state(current: EventSourceMapping, enabled: bool) -> str:
    """The state an update answers: `Enabling`/`Disabling` when it turns the mapping on or
    off, else `Updating` (recorded answers)."""
    if enabled != current.enabled:
        return ENABLING if enabled else DISABLING
    return UPDATING
