"""`check_bodiless_input`: the model's checks on a raw request, remembered only for successes."""

from __future__ import annotations

import pytest

from engine.api.validation import check_bodiless_input, lambda_model
from engine.errors import ValidationException

INVOKE = lambda_model().operations["Invoke"]
LABELS = {"FunctionName": "fn"}


def test_a_good_request_passes_again_and_again() -> None:
    headers = {"x-amz-invocation-type": "RequestResponse", "x-amz-log-type": "Tail"}
    for _ in range(3):
        assert check_bodiless_input(INVOKE, LABELS, [("Qualifier", "prod")], headers)


def test_a_broken_request_is_refused_every_time() -> None:
    for _ in range(2):
        with pytest.raises(ValidationException, match="logType"):
            check_bodiless_input(INVOKE, LABELS, [], {"x-amz-log-type": "Bogus"})
    with pytest.raises(ValidationException, match="qualifier"):
        check_bodiless_input(INVOKE, LABELS, [("Qualifier", "")], {})


def test_the_first_of_repeated_query_keys_is_checked() -> None:
    with pytest.raises(ValidationException, match="qualifier"):
        check_bodiless_input(INVOKE, LABELS, [("Qualifier", "no good"), ("Qualifier", "1")], {})


def test_long_values_are_checked_without_being_remembered() -> None:
    name = {"FunctionName": "f" * 300}
    with pytest.raises(ValidationException, match="functionName"):
        check_bodiless_input(INVOKE, name, [], {})


def test_an_operation_with_body_members_is_left_to_validate_input() -> None:
    operation = lambda_model().operations["CreateAlias"]
    assert not check_bodiless_input(operation, LABELS, [], {})
