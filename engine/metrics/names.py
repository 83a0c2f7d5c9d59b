"""The metrics' names, labels and histogram buckets: shared by the collectors and `lambdalet top`
(which reads them back). Names follow Prometheus' conventions: one prefix, base units (seconds,
bytes), ``_total`` on counters; README's table maps them to Lambda's CloudWatch names.
"""

from __future__ import annotations

from typing import Final

PREFIX: Final = "lambdalet_"

# -- per function and qualifier (Lambda's CloudWatch metrics) ---------------------------------
INVOCATIONS: Final = "lambdalet_invocations_total"  # {function, qualifier, invocation_type}
ERRORS: Final = "lambdalet_errors_total"  # {function, qualifier, error_type}
THROTTLES: Final = "lambdalet_throttles_total"  # {function, qualifier}
DURATION: Final = "lambdalet_duration_seconds"  # histogram {function, qualifier}
INIT_DURATION: Final = "lambdalet_init_duration_seconds"  # histogram {function, qualifier}
PROVISIONED_INVOCATIONS: Final = "lambdalet_provisioned_concurrency_invocations_total"
MAX_MEMORY_USED: Final = "lambdalet_max_memory_used_bytes"  # the last invoke's peak
MEMORY_SIZE: Final = "lambdalet_memory_size_bytes"  # MemorySize, as of the last invoke
ASYNC_RECEIVED: Final = "lambdalet_async_events_received_total"
ASYNC_AGE: Final = "lambdalet_async_event_age_seconds"  # histogram
ASYNC_DROPPED: Final = "lambdalet_async_events_dropped_total"  # {..., reason}
DEAD_LETTER_ERRORS: Final = "lambdalet_dead_letter_errors_total"
DESTINATION_FAILURES: Final = "lambdalet_destination_delivery_failures_total"

# -- concurrency (read when scraped) ------------------------------------------------------------
CONCURRENT: Final = "lambdalet_concurrent_executions"  # {function}
UNRESERVED_CONCURRENT: Final = "lambdalet_unreserved_concurrent_executions"
PROVISIONED_CONCURRENT: Final = "lambdalet_provisioned_concurrent_executions"  # {fn, qualifier}
PROVISIONED_UTILIZATION: Final = "lambdalet_provisioned_concurrency_utilization"  # 0..1
PROVISIONED_ENVIRONMENTS: Final = "lambdalet_provisioned_environments"  # allocated, initialised

# -- event source mappings -----------------------------------------------------------------------
ESM_EVENTS: Final = "lambdalet_esm_events_total"  # {esm, function, outcome}
ESM_ITERATOR_AGE: Final = "lambdalet_esm_iterator_age_seconds"  # {esm, function}, last batch

# -- the host -------------------------------------------------------------------------------------
ENVIRONMENTS: Final = "lambdalet_environments"  # {function, state}
STEMS_READY: Final = "lambdalet_stems_ready"
STEMS_PENDING: Final = "lambdalet_stems_pending"
STEMS_TARGET: Final = "lambdalet_stems_target"
COLD_STARTS: Final = "lambdalet_cold_starts_total"  # {kind}
ENIS_READY: Final = "lambdalet_enis_ready"  # {network}
ENIS_IN_USE: Final = "lambdalet_enis_in_use"
UIDS_AVAILABLE: Final = "lambdalet_uids_available"
TEARDOWN: Final = "lambdalet_sandbox_teardown_seconds"  # histogram
LOOP_LAG: Final = "lambdalet_event_loop_lag_seconds"  # histogram

# Label values.
FUNCTION: Final = "function"
QUALIFIER: Final = "qualifier"
STATE_IDLE: Final = "idle"  # warm, not frozen
STATE_FROZEN: Final = "frozen"  # idle and frozen
STATE_BUSY: Final = "busy"
STATE_INITIALIZING: Final = "initializing"  # creating or initialising
COLD_READY_STEM: Final = "ready_stem"
COLD_OWN_STEM: Final = "own_stem"
UNHANDLED: Final = "Unhandled"  # the function's own error (X-Amz-Function-Error)
# Error types counted under their own name; any other (the function's exception classes, an
# unbounded set) counts as UNHANDLED.
KNOWN_ERROR_TYPES: Final = frozenset({
    "Sandbox.Timedout", "Runtime.ExitError", "Runtime.OutOfMemory", "Runtime.InvalidResponse",
    "Function.ResponseSizeTooLarge", "Runtime.ImportModuleError", "Runtime.HandlerNotFound",
    "Runtime.UserCodeSyntaxError", "Runtime.MalformedHandlerName", "Runtime.MarshalError",
    "Runtime.InvalidEntrypoint",
})  # fmt: skip

# Histogram buckets, seconds. Durations: OpenTelemetry's FaaS buckets (0.005 .. 10 s), with
# finer ones below (a warm invoke here takes well under a millisecond) and Lambda's longer
# timeouts above.
DURATION_BUCKETS: Final = (
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5,
    5.0, 7.5, 10.0, 30.0, 60.0, 300.0, 900.0,
)  # fmt: skip
# Async events wait up to 6 hours (MaximumEventAgeInSeconds).
AGE_BUCKETS: Final = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0,
    600.0, 1800.0, 3600.0, 10800.0, 21600.0,
)  # fmt: skip
TEARDOWN_BUCKETS: Final = (
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
)  # fmt: skip
LOOP_LAG_BUCKETS: Final = (
    0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 5.0,
)  # fmt: skip
