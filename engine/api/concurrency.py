"""Lambda API handlers for the account's limits, reserved and provisioned concurrency.

GET    /2016-08-19/account-settings                                GetAccountSettings
PUT    /2017-10-31/functions/{name}/concurrency                    PutFunctionConcurrency
DELETE /2017-10-31/functions/{name}/concurrency                    DeleteFunctionConcurrency
GET    /2019-09-30/functions/{name}/concurrency                    GetFunctionConcurrency
PUT|GET|DELETE /2019-09-30/functions/{name}/provisioned-concurrency?Qualifier=
GET    /2019-09-30/functions/{name}/provisioned-concurrency?List=ALL
"""

from __future__ import annotations

import functools
from collections.abc import Callable

import trio
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from engine.api.common import Handler, function_name, paged, read_json, unqualified
from engine.control.functions import FunctionService
from engine.errors import InvalidParameterValueException
from engine.invoke.concurrency import Concurrency
from engine.invoke.provisioned import Provisioner
from engine.model.json_types import opt_int
from engine.model.limits import MAX_UNZIPPED_BYTES, MAX_ZIP_BYTES
from engine.model.violations import Violations

KIND = "concurrency"
TOTAL_CODE_SIZE = 80 * 1024**3  # AWS's default 75 GB code storage quota


class ConcurrencyApi:
    def __init__(
        self,
        functions: FunctionService,
        concurrency: Concurrency,
        provisioner: Provisioner,
    ) -> None:
        self.functions = functions
        self.registry = functions.registry
        self.concurrency = concurrency
        self.provisioner = provisioner
        for doc in self.registry.documents(KIND):
            concurrency.set_reserved(doc["name"], int(doc["reserved"]))

    async def get_account_settings(self, request: Request) -> Response:
        configs = self.registry.all_functions()
        code_size = sum(c.code_size for c in configs)
        return JSONResponse(
            {
                "AccountLimit": {
                    "TotalCodeSize": TOTAL_CODE_SIZE,
                    "CodeSizeUnzipped": MAX_UNZIPPED_BYTES,
                    "CodeSizeZipped": MAX_ZIP_BYTES,
                    "ConcurrentExecutions": self.concurrency.account_limit,
                    "UnreservedConcurrentExecutions": self.concurrency.unreserved,
                },
                "AccountUsage": {"TotalCodeSize": code_size, "FunctionCount": len(configs)},
            }
        )

    # -- reserved -------------------------------------------------------------------------

    async def put_function_concurrency(self, request: Request) -> Response:
        name = unqualified(request, "PutFunctionConcurrency")
        body = await read_json(request, "PutFunctionConcurrency")
        value = opt_int(body, "ReservedConcurrentExecutions")
        problems = Violations()
        if value is None:
            problems.add_null("reservedConcurrentExecutions")
        elif value < 0:
            problems.check_range("reservedConcurrentExecutions", value, 0, 2**31 - 1)
        problems.raise_if_any()
        assert value is not None
        self.functions.get(name)
        self.concurrency.check_reservation(name, value)
        provisioned = self.provisioner.total_for(name)
        if provisioned > value:
            raise InvalidParameterValueException(
                f"ReservedConcurrentExecutions ({value}) must be greater than or equal to the "
                f"function's total provisioned concurrency ({provisioned})."
            )
        doc = {"name": name, "reserved": value}
        await trio.to_thread.run_sync(
            functools.partial(self.registry.put_function_document, KIND, name, None, doc)
        )
        self.concurrency.set_reserved(name, value)
        return JSONResponse({"ReservedConcurrentExecutions": value})

    async def get_function_concurrency(self, request: Request) -> Response:
        name = unqualified(request, "GetFunctionConcurrency")
        self.functions.get(name)
        reserved = self.concurrency.reserved.get(name)
        return JSONResponse({} if reserved is None else {"ReservedConcurrentExecutions": reserved})

    async def delete_function_concurrency(self, request: Request) -> Response:
        name = unqualified(request, "DeleteFunctionConcurrency")
        self.functions.get(name)
        await trio.to_thread.run_sync(functools.partial(self.registry.delete_document, KIND, name))
        self.concurrency.set_reserved(name, None)
        return Response(status_code=204)

    # -- provisioned ----------------------------------------------------------------------

    def _owner(self, request: Request) -> tuple[str, str]:
        name, qualifier = function_name(request)
        return name, self.provisioner.check_owner(name, qualifier)

    async def put_provisioned(self, request: Request) -> Response:
        name, qualifier = self._owner(request)
        body = await read_json(request, "PutProvisionedConcurrencyConfig")
        value = opt_int(body, "ProvisionedConcurrentExecutions")
        problems = Violations()
        if value is None:
            problems.add_null("provisionedConcurrentExecutions")
        else:
            problems.check_range("provisionedConcurrentExecutions", value, 1, 2**31 - 1)
        problems.raise_if_any()
        assert value is not None
        others = self.provisioner.total_for(name) - self.provisioner.requested.get(
            (name, qualifier), 0
        )
        reserved = self.concurrency.reserved.get(name)
        if reserved is not None and others + value > reserved:
            raise InvalidParameterValueException(
                f"Requested Provisioned Concurrency ({others + value}) should not be greater "
                f"than the reservedConcurrentExecution for function ({reserved})."
            )
        if reserved is None and others + value > self.concurrency.unreserved - (
            self.concurrency.unreserved_minimum
        ):
            raise InvalidParameterValueException(
                "Specified ConcurrentExecutions for function is greater than account's "
                "unreserved concurrency minus its minimum."
            )
        out = await self.provisioner.put(name, qualifier, value)
        return JSONResponse(out, status_code=202)

    async def get_provisioned(self, request: Request) -> Response:
        if request.query_params.get("List") == "ALL":
            return await self.list_provisioned(request)
        name, qualifier = self._owner(request)
        return JSONResponse(self.provisioner.describe((name, qualifier)))

    async def delete_provisioned(self, request: Request) -> Response:
        name, qualifier = self._owner(request)
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
