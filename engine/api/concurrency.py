"""Lambda API handlers for the account's limits, reserved and provisioned concurrency.

GET    /2016-08-19/account-settings                                GetAccountSettings
PUT    /2017-10-31/functions/{name}/concurrency                    PutFunctionConcurrency
DELETE /2017-10-31/functions/{name}/concurrency                    DeleteFunctionConcurrency
GET    /2019-09-30/functions/{name}/concurrency                    GetFunctionConcurrency
PUT|GET|DELETE /2019-09-30/functions/{name}/provisioned-concurrency?Qualifier=
GET    /2019-09-30/functions/{name}/provisioned-concurrency?List=ALL
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.body import read_json
from engine.api.common import Handler, function_name, paged, unqualified
from engine.control.functions import FunctionService
from engine.invoke.provisioned import Provisioner
from engine.invoke.reservations import Reservations
from engine.model.concurrency import parse_provisioned_concurrency, parse_reserved_concurrency
from engine.model.limits import MAX_UNZIPPED_BYTES, MAX_ZIP_BYTES

TOTAL_CODE_SIZE: Final = 80 * 1024**3  # AWS's default 75 GB code storage quota


class ConcurrencyApi:
    def __init__(
        self, functions: FunctionService, reservations: Reservations, provisioner: Provisioner
    ) -> None:
        self.functions = functions
        self.reservations = reservations
        self.concurrency = reservations.concurrency
        self.provisioner = provisioner

    async def get_account_settings(self, request: Request) -> Response:
        code_size, count = self.functions.account_usage()
        return JSONResponse(
            {
                "AccountLimit": {
                    "TotalCodeSize": TOTAL_CODE_SIZE,
                    "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                    "CodeSizeZipped": MAX_ZIP_BYTES,
                    "ConcurrentExecutions": self.concurrency.account_limit,
                    "UnreservedConcurrentExecutions": self.concurrency.unreserved,
                },
                "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": count},
            }
        )

    # -- reserved -------------------------------------------------------------------------

    async def put_function_concurrency(self, request: Request) -> Response:
        name = unqualified(request, "PutFunctionConcurrency")
        body = await read_json(request, "PutFunctionConcurrency")
        value = parse_reserved_concurrency(body)
        await self.reservations.put(name, value)
        return JSONResponse({"ReservedConcurrentExecutions": value})

    async def get_function_concurrency(self, request: Request) -> Response:
        name = unqualified(request, "GetFunctionConcurrency")
        reserved = self.reservations.get(name)
        return JSONResponse({} if reserved is None else {"ReservedConcurrentExecutions": reserved})

    async def delete_function_concurrency(self, request: Request) -> Response:
        name = unqualified(request, "DeleteFunctionConcurrency")
        await self.reservations.delete(name)
        return Response(status_code=204)

    # -- provisioned ----------------------------------------------------------------------

    def _owner(self, request: Request, operation: str) -> tuple[str, str]:
        name, qualifier = function_name(request)
        return name, self.provisioner.check_owner(name, qualifier, operation=operation)

    async def put_provisioned(self, request: Request) -> Response:
        name, qualifier = self._owner(request, "PutProvisionedConcurrencyConfig")
        body = await read_json(request, "PutProvisionedConcurrencyConfig")
        value = parse_provisioned_concurrency(body)
        self.functions.check_provisioned_concurrency(name, qualifier)  # SnapStart's versions
        out = await self.provisioner.put(name, qualifier, value)
        return JSONResponse(out, status_code=202)

    async def get_provisioned(self, request: Request) -> Response:
        if request.query_params.get("List") == "ALL":
            return await self.list_provisioned(request)
        name, qualifier = self._owner(request, "GetProvisionedConcurrencyConfig")
        return JSONResponse(self.provisioner.describe((name, qualifier)))

    async def delete_provisioned(self, request: Request) -> Response:
        name, qualifier = self._owner(request, "DeleteProvisionedConcurrencyConfig")
        await self.provisioner.delete(name, qualifier)
        return Response(status_code=204)

    async def list_provisioned(self, request: Request) -> Response:
        name = unqualified(request, "ListProvisionedConcurrencyConfigs")
        self.functions.get(name)
        owners = self.provisioner.owners(name)
        return paged(
            request,
            owners,
            field="ProvisionedConcurrencyConfigs",
            key=lambda o: o[1],
            render=self.provisioner.list_item,
        )


def concurrency_routes(api: ConcurrencyApi, guard: Callable[[Handler], Handler]) -> list[Route]:
    reserved = "/2017-10-31/functions/{name}/concurrency"
    provisioned = "/2019-09-30/functions/{name}/provisioned-concurrency"
    return [
        Route("/2016-08-19/account-settings", guard(api.get_account_settings), methods=["GET"]),
        Route("/2016-08-19/account-settings/", guard(api.get_account_settings), methods=["GET"]),
        Route(reserved, guard(api.put_function_concurrency), methods=["PUT"]),
        Route(reserved, guard(api.delete_function_concurrency), methods=["DELETE"]),
        Route(
            "/2019-09-30/functions/{name}/concurrency",
            guard(api.get_function_concurrency),
            methods=["GET"],
        ),
        Route(provisioned, guard(api.put_provisioned), methods=["PUT"]),
        Route(provisioned, guard(api.get_provisioned), methods=["GET"]),
        Route(provisioned, guard(api.delete_provisioned), methods=["DELETE"]),
    ]
