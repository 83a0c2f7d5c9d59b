"""What happens to an asynchronous event after an attempt, as Lambda decides (pure).

Lambda's rules (AWS docs, "Error handling and automatic retries in Lambda"):
- a function error (an exception, a runtime crash, a timeout) is retried
  `MaximumRetryAttempts` times (0 to 2, default 2): one minute after the first attempt, two
  minutes after the second;
- a throttle or a platform error puts the event back in the queue with an interval that grows
  exponentially from 1 s to at most 5 minutes, for as long as the event is younger than
  `MaximumEventAgeInSeconds` (60 to 21600, default 6 hours);
- a retry that would start after the event's maximum age ends it with `EventAgeExceeded`
  (the check is made before scheduling, with the age rounded up).

Times here are AWS's seconds; the queue multiplies delays (and divides ages) by the daemon's
`events.time_scale`, which tests set below 1.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass
from typing import Final

FUNCTION_ERROR_DELAY_S: Final = 60  # times the attempt number: 60 s, then 120 s
BACKOFF_CAP_S: Final = 300

SUCCESS: Final = "Success"
RETRIES_EXHAUSTED: Final = "RetriesExhausted"
EVENT_AGE_EXCEEDED: Final = "EventAgeExceeded"
# No attempt is made for a function whose reserved concurrency is 0 (Lambda sends its events
# to the failure targets at once).
ZERO_RESERVED_CONCURRENCY: Final = "ZeroReservedConcurrency"


class Attempt(enum.Enum):
    SUCCEEDED = "succeeded"
    FUNCTION_ERROR = "function error"  # the function's fault: counted against MaximumRetryAttempts
    THROTTLED = "throttled"  # 429: backoff
    PLATFORM_ERROR = "platform error"  # the host could not run it (5xx): backoff


@dataclass(frozen=True, slots=True)
class Retry:
    delay_s: float


@dataclass(frozen=True, slots=True)
class Finish:
    condition: str

    @property
    def succeeded(self) -> bool:
        return self.condition == SUCCESS


def after_attempt(
    result: Attempt,
    *,
    attempts: int,
    backoffs: int,
    age_s: float,
    max_retry_attempts: int,
    max_event_age_s: int,
) -> Retry | Finish:
    """The next step for an event after `result`. `attempts` counts the invocations that ran
    (this one included); `backoffs` the throttles and platform errors (this one included)."""
    if result is Attempt.SUCCEEDED:
        return Finish(SUCCESS)
    if result is Attempt.FUNCTION_ERROR:
        if attempts > max_retry_attempts:
            return Finish(RETRIES_EXHAUSTED)
        delay_s = float(attempts * FUNCTION_ERROR_DELAY_S)
    else:
        delay_s = float(min(2 ** max(backoffs - 1, 0), BACKOFF_CAP_S))
    if math.ceil(age_s) + delay_s > max_event_age_s:
        return Finish(EVENT_AGE_EXCEEDED)
    return Retry(delay_s)


def too_old(age_s: float, max_event_age_s: int) -> bool:
    """An event older than its maximum age is not attempted (it waited too long in the queue)."""
    return age_s > max_event_age_s
