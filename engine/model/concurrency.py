"""PutFunctionConcurrency and PutProvisionedConcurrencyConfig bodies: one count each (its range
is the model's, checked at the API boundary)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from engine.model.json_types import opt_int
from engine.model.violations import Violations


def parse_reserved_concurrency(body: Mapping[str, Any]) -> int:
    """`ReservedConcurrentExecutions`: required, 0 or more (0 throttles every invoke)."""
    value = opt_int(body, "ReservedConcurrentExecutions")
    return _required(value, "reservedConcurrentExecutions")


def parse_provisioned_concurrency(body: Mapping[str, Any]) -> int:
    """`ProvisionedConcurrentExecutions`: required, 1 or more."""
    value = opt_int(body, "ProvisionedConcurrentExecutions")
    return _required(value, "provisionedConcurrentExecutions")


def _required(value: int | None, path: str) -> int:
    if value is None:  # required by the model: only a caller past the boundary
        problems = Violations()
        problems.add_null(path)
        problems.raise_if_any()
    assert value is not None
    return value
