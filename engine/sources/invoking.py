"""How a poller invokes its function, and what it learns from the answer.

A mapping invokes synchronously (RequestResponse), as Lambda's pollers do. `attempt` turns
the answer into a `Verdict` (`batch_response`): a function error or a throttle fails the whole
batch; a successful answer is read for batch item failures when the mapping asked for them.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Collection
from dataclasses import dataclass
from typing import Any, Protocol

from engine.errors import ApiError, TooManyRequestsException
from engine.invoke.invoker import InvokeResult
from engine.sources.batch_response import AllFailed, AllSucceeded, Verdict, judge

logger = logging.getLogger(__name__)

REPORT_BATCH_ITEM_FAILURES = "ReportBatchItemFailures"


class FunctionInvoker(Protocol):
    async def invoke(
        self,
        name: str,
        qualifier: str | None,
        payload: bytes,
        *,
        client_context: str | None = None,
    ) -> InvokeResult: ...


@dataclass(frozen=True, slots=True, kw_only=True)
class Attempt:
    verdict: Verdict
    throttled: bool = False
    result: InvokeResult | None = None  # None: the function did not run


async def attempt(
    invoker: FunctionInvoker,
    *,
    function: str,
    qualifier: str | None,
    event: dict[str, Any],
    batch_ids: Collection[str],
    report_failures: bool,
) -> Attempt:
    payload = json.dumps(event, separators=(",", ":")).encode()
    try:
        result = await invoker.invoke(function, qualifier, payload)
    except TooManyRequestsException:
        return Attempt(verdict=AllFailed("throttled"), throttled=True)
    except ApiError as exc:
        logger.warning("event source mapping: invoking %s failed: %s", function, exc.message)
        return Attempt(verdict=AllFailed(exc.message))
    if result.outcome.function_error:
        return Attempt(verdict=AllFailed("function error"), result=result)
    if not report_failures:
        return Attempt(verdict=AllSucceeded(), result=result)
    return Attempt(verdict=judge(result.outcome.payload, batch_ids), result=result)
