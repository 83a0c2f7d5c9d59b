"""What the workload would cost on Lambda: the usage ledger's report under `/lambdalet/v1/`.

    GET /lambdalet/v1/usage?since=24h&until=…&function=NAME[:QUALIFIER]

`since` / `until`: a duration before now (`30m`, `24h`, `7d`) or an ISO 8601 time; by default
the current calendar month (UTC) up to now. The answer is `engine.usage.pricing.report`'s
document: per function, qualifier, architecture and memory size, requests, billed
milliseconds and GB-seconds, provisioned concurrency, and their price at the configured rates,
with the total (and the free tier's credit when it is on). `lambdalet cost` prints it.
"""

from __future__ import annotations

from collections.abc import Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.common import Handler
from engine.usage.service import UsageService


class UsageApi:
    def __init__(self, usage: UsageService) -> None:
        self.usage = usage

    async def get(self, request: Request) -> Response:
        query = request.query_params
        doc = await self.usage.report(
            since=query.get("since"), until=query.get("until"), function=query.get("function")
        )
        return JSONResponse(doc)


def usage_routes(api: UsageApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    return [Route("/lambdalet/v1/usage", guard(api.get), methods=["GET"])]
