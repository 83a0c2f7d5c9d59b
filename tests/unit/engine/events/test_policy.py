"""Lambda's retry rules: function errors twice (1 min, then 2 min), throttles and platform
errors with exponential backoff (1 s to 5 min), and the age lookahead before each retry."""

from __future__ import annotations

import pytest

from engine.events import policy
from engine.events.policy import Attempt, Finish, Retry, after_attempt, too_old

SIX_HOURS_S = 21600


def test_a_success_ends_the_event_with_success() -> None:
    step = after_attempt(
        Attempt.SUCCEEDED,
        attempts=1,
        backoffs=0,
        age_s=0,
        max_retry_attempts=2,
        max_event_age_s=SIX_HOURS_S,
    )
    assert step == Finish(policy.SUCCESS)
    assert isinstance(step, Finish) and step.succeeded


def test_a_success_after_the_last_retry_is_still_a_success() -> None:
    step = after_attempt(
        Attempt.SUCCEEDED,
        attempts=3,
        backoffs=4,
        age_s=SIX_HOURS_S,
        max_retry_attempts=2,
        max_event_age_s=SIX_HOURS_S,
    )
    assert step == Finish(policy.SUCCESS)


def function_error_steps(max_retry_attempts: int) -> list[Retry | Finish]:
    """The steps after each attempt of an event whose function always fails."""
    steps: list[Retry | Finish] = []
    for attempts in range(1, 5):
        step = after_attempt(
            Attempt.FUNCTION_ERROR,
            attempts=attempts,
            backoffs=0,
            age_s=0,
            max_retry_attempts=max_retry_attempts,
            max_event_age_s=SIX_HOURS_S,
        )
        steps.append(step)
        if isinstance(step, Finish):
            break
    return steps


@pytest.mark.parametrize(
    ("max_retry_attempts", "expected"),
    [
        (0, [Finish(policy.RETRIES_EXHAUSTED)]),
        (1, [Retry(60), Finish(policy.RETRIES_EXHAUSTED)]),
        (2, [Retry(60), Retry(120), Finish(policy.RETRIES_EXHAUSTED)]),
    ],
)
def test_a_function_error_is_retried_after_one_then_two_minutes(
    max_retry_attempts: int, expected: list[Retry | Finish]
) -> None:
    steps = function_error_steps(max_retry_attempts)
    assert steps == expected
    assert not any(isinstance(s, Finish) and s.succeeded for s in steps)


@pytest.mark.parametrize("result", [Attempt.THROTTLED, Attempt.PLATFORM_ERROR])
def test_throttles_and_platform_errors_back_off_from_one_second_to_five_minutes(
    result: Attempt,
) -> None:
    delays = []
    for backoffs in range(1, 13):
        step = after_attempt(
            result,
            attempts=0,
            backoffs=backoffs,
            age_s=0,
            max_retry_attempts=2,
            max_event_age_s=SIX_HOURS_S,
        )
        assert isinstance(step, Retry)
        delays.append(step.delay_s)
    assert delays == [1, 2, 4, 8, 16, 32, 64, 128, 256, 300, 300, 300]


def test_backoff_does_not_count_against_the_retry_attempts() -> None:
    # MaximumRetryAttempts 0 stops function errors, not throttles
    step = after_attempt(
        Attempt.THROTTLED,
        attempts=1,
        backoffs=1,
        age_s=0,
        max_retry_attempts=0,
        max_event_age_s=SIX_HOURS_S,
    )
    assert step == Retry(1)


def test_a_long_throttled_event_keeps_the_five_minute_cap() -> None:
    step = after_attempt(
        Attempt.THROTTLED,
        attempts=0,
        backoffs=5000,
        age_s=0,
        max_retry_attempts=2,
        max_event_age_s=SIX_HOURS_S,
    )
    assert step == Retry(300)


@pytest.mark.parametrize(
    ("result", "backoffs", "attempts", "age_s", "max_age_s", "expected"),
    [
        # a throttle retry 1 s later: allowed while ceil(age) + 1 <= max age
        (Attempt.THROTTLED, 1, 0, 59.0, 60, Retry(1)),
        (Attempt.THROTTLED, 1, 0, 59.2, 60, Finish(policy.EVENT_AGE_EXCEEDED)),
        (Attempt.PLATFORM_ERROR, 6, 0, 31.0, 60, Finish(policy.EVENT_AGE_EXCEEDED)),
        # a function error's retry 1 min (then 2 min) later
        (Attempt.FUNCTION_ERROR, 0, 1, 0.0, 60, Retry(60)),
        (Attempt.FUNCTION_ERROR, 0, 1, 0.5, 60, Finish(policy.EVENT_AGE_EXCEEDED)),
        (Attempt.FUNCTION_ERROR, 0, 2, 21480.0, SIX_HOURS_S, Retry(120)),
        (Attempt.FUNCTION_ERROR, 0, 2, 21481.0, SIX_HOURS_S, Finish(policy.EVENT_AGE_EXCEEDED)),
    ],
)
def test_a_retry_that_would_start_after_the_maximum_age_ends_the_event(
    result: Attempt,
    backoffs: int,
    attempts: int,
    age_s: float,
    max_age_s: int,
    expected: Retry | Finish,
) -> None:
    step = after_attempt(
        result,
        attempts=attempts,
        backoffs=backoffs,
        age_s=age_s,
        max_retry_attempts=2,
        max_event_age_s=max_age_s,
    )
    assert step == expected


def test_exhausted_retries_are_reported_as_such_even_for_an_old_event() -> None:
    step = after_attempt(
        Attempt.FUNCTION_ERROR,
        attempts=3,
        backoffs=0,
        age_s=SIX_HOURS_S + 10,
        max_retry_attempts=2,
        max_event_age_s=SIX_HOURS_S,
    )
    assert step == Finish(policy.RETRIES_EXHAUSTED)


@pytest.mark.parametrize(
    ("age_s", "expected"), [(0.0, False), (60.0, False), (60.001, True), (3600.0, True)]
)
def test_an_event_older_than_its_maximum_age_is_too_old(age_s: float, expected: bool) -> None:
    assert too_old(age_s, 60) is expected
