"""Where lambdalet answers differently from AWS on purpose, and why (the README repeats these).

Key paths as `compare` reads them; ``*`` stands for any one level.
"""

from __future__ import annotations

from typing import Final

_SYNC = (
    "AWS creates and updates functions asynchronously (State Pending, LastUpdateStatus "
    "InProgress, then Active/Successful); lambdalet finishes before it answers, so it answers "
    "the settled state"
)

_FIELDS = (
    "State", "StateReason", "StateReasonCode",
    "LastUpdateStatus", "LastUpdateStatusReason", "LastUpdateStatusReasonCode",
)  # fmt: skip

KEPT: Final = {path: _SYNC for field in _FIELDS for path in (field, f"*.{field}")}

# Not a key path: AWS gives a function a new RevisionId when its tags or its resource policy
# change; lambdalet keys warm environments by revision, so a new one would cold-start the
# function for a change that does not touch what runs. A policy's RevisionId is its target's.
SAME_REVISION_ON_TAGS_AND_POLICY: Final = (
    "tags and resource policies do not change a function's RevisionId in lambdalet"
)

_PROVISIONING = (
    "lambdalet initialises provisioned environments in milliseconds, AWS in minutes: a Get "
    "right after a Put or an alias move sees whatever state the race left"
)
PROVISIONING_RACE: Final = {
    path: _PROVISIONING
    for path in (
        "Status",
        "StatusReason",
        "AllocatedProvisionedConcurrentExecutions",
        "AvailableProvisionedConcurrentExecutions",
    )
}

# Whole answers that differ on purpose (or until a later issue): (scenario glob, label glob)
# -> reason. The harness still compares them; it reports the difference under the reason
# instead of failing, and fails if such an answer has become identical (remove its entry).
_STALE = (
    "recorded before AWS answered this call with SnapStart, LoggingConfig and "
    "RuntimeVersionConfig (or on a runtime AWS has retired): the recording is out of date"
)
_HOST_PYTHON = (
    "stack frames name the host's Python (/usr/lib/python3.11), not AWS's image "
    "(/var/lang/lib/python3.13)"
)
_INIT_RETRY = (
    "AWS retries an init that overruns its 10 s inside the invoke and times the invoke out; "
    "lambdalet answers the init timeout"
)
_WRAPPER = "lambdalet does not run AWS_LAMBDA_EXEC_WRAPPER scripts"
_JSON_DETAIL = (
    "AWS appends its JSON parser's detail (byte and column) to a payload it cannot parse; "
    "lambdalet stops after the summary"
)
_ENVIRONMENT = (
    "functions get no IAM credentials (lambdalet has no IAM) and no X-Ray variables, and "
    "lambdalet's own runtimes speak msgpack on a socket instead of AWS_LAMBDA_RUNTIME_API"
)
_STREAMING = "lambdalet does not stream responses: InvokeMode RESPONSE_STREAM is refused"
_TLS = "the function URL listener speaks plain HTTP: no x-amzn-tls-* headers"
_NO_DYNAMODB = (
    "lambdalet has no DynamoDB Streams: a mapping on a DynamoDB stream is refused for its "
    "source (saying so) before its StartingPosition is looked at"
)

KNOWN_DIFFERENCES: Final = (
    ("*::test_invocation_type_event_error", "creation_response", _STALE),
    ("*::test_lambda_with_context", "creation", _STALE),
    ("*::test_uncaught_exception_invoke[[]python3.8]", "error_result", _STALE),
    ("*::test_lambda_runtime_error", "invocation_error", _HOST_PYTHON),
    ("*::test_lambda_runtime_exit_segfault", "invocation_error", _INIT_RETRY),
    ("*::test_lambda_runtime_wrapper_not_found", "invocation_error", _WRAPPER),
    ("*::test_lambda_invoke_payload_encoding_error[[]*", "invoke_function_invalid_*", _JSON_DETAIL),
    ("*::test_introspection_invoke[[]*", "invocation_result_payload*", _ENVIRONMENT),
    ("*::test_lambda_url_echo_invoke[[]RESPONSE_STREAM]", "create_lambda_url_config", _STREAMING),
    ("*::test_lambda_update_function_url_config", "modify_lambda_url_config*", _STREAMING),
    ("*::test_lambda_update_function_url_config", "get_url_config_[23]", _STREAMING),
    ("*::test_lambda_url_echo_http_fixture_default", "url_response", _TLS),
    ("*::test_create_event_source_validation", "no_starting_position", _NO_DYNAMODB),
    ("*::test_create_event_source_validation", "incompatible_starting_position", _NO_DYNAMODB),
)
