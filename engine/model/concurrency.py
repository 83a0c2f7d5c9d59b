"""PutFunctionConcurrency and PutProvisionedConcurrencyConfig bodies: one count each, checked
against the model."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from engine.model.json_types import opt_int
from engine.model.violations import Violations

MAX_CONCURRENCY: Final = 2**31 - 1  # the model's Integer


def parse_reserved_concurrency(body: Mapping[str, Any]) -> int:
    """`ReservedConcurrentExecutions`: required, 0 or more (0 throttles every invoke)."""
    value = opt_int(body, "ReservedConcurrentExecutions")
    problems = Violations()
    if value is None:
        problems.add_null("reservedConcurrentExecutions")
    elif value < 0:
        problems.check_range("reservedConcurrentExecutions", value, 0, MAX_CONCURRENCY)
    problems.raise_if_any()
    assert value is not None
    return value


def parse_provisioned_concurrency(body: Mapping[str, Any]) -> int:
    """`ProvisionedConcurrentExecutions`: required, 1 or more."""
    value = opt_int(body, "ProvisionedConcurrentExecutions")
    problems = Violations()
    if value is None:
        problems.add_null("provisionedConcurrentExecutions")
    else:
        problems.check_range("provisionedConcurrentExecutions", value, 1, MAX_CONCURRENCY)
    problems.raise_if_any()
    assert value is not None
    return value
