"""One AWS operation's HTTP binding, as botocore's service model states it (a record, no logic)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True, kw_only=True)
class Operation:
    """One operation's HTTP binding, as botocore's service model states it."""

    name: str  # "GetFunction"
    method: str  # "GET"
    uri: str  # requestUri template: "/2015-03-31/functions/{FunctionName}", maybe "…?List=ALL"
    success_status: int = 200  # http.responseCode
