"""What every Lambda API handler shares: names, paging, and the per-request boundary.

The boundary (`guard`) checks each request as its operation's input (`engine.api.validation`)
before the handler runs, and turns every `ApiError` into AWS's error shape: status,
``x-amzn-ErrorType`` header, and the JSON body the model gives that error (``Type`` and a
``message`` or ``Message``, as each error's shape spells it).
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.api.aws_routes import match_operation_labels
from engine.api.validation import lambda_model, validate_input
from engine.errors import (
    ApiError,
    InvalidParameterValueException,
    ServiceException,
    TooManyRequestsException,
    ValidationException,
)
from engine.invoke.concurrency import REASON_RESERVED
from engine.model.function import LATEST, FunctionConfig
from engine.model.names import parse_function_name, validate_max_items

logger = logging.getLogger(__name__)

RETRY_AFTER_S: Final = "1"
REQUEST_ID: Final = "x-amzn-RequestId"
T = TypeVar("T")

Handler = Callable[[Request], Awaitable[Response]]


def function_name(request: Request, param: str = "name") -> tuple[str, str | None]:
    """The path's FunctionName (name, name:qualifier, full or partial ARN) and ?Qualifier=.
    A qualifier in both places must agree, as AWS requires."""
    region: str = request.app.state.region
    return name_and_qualifier(
        request.path_params[param], request.query_params.get("Qualifier"), region
    )


def name_and_qualifier(
    path_name: str, query_qualifier: str | None, region: str
) -> tuple[str, str | None]:
    """The path's FunctionName (still percent-encoded once) and ?Qualifier=, which must agree
    with a qualifier in the name."""
    name, qualifier = parse_function_name(unquote(path_name), region)
    if query_qualifier is not None:
        if qualifier is not None and qualifier != query_qualifier:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
        qualifier = query_qualifier
    return name, qualifier


MSG_FUNCTIONS_ONLY: Final = (
    "This operation is permitted on Lambda functions only. Aliases and versions do not support "
    "this operation. Please specify either a function name or an unqualified function ARN."
)


def unqualified(request: Request, operation: str) -> str:
    """For operations on the function itself, which take no qualifier."""
    name, qualifier = function_name(request)
    if qualifier is not None:
        raise InvalidParameterValueException(MSG_FUNCTIONS_ONLY)
    return name


def max_items(request: Request, default: int = 50) -> int:
    raw = request.query_params.get("MaxItems", str(default))
    try:
        return validate_max_items(int(raw))
    except ValueError:
        raise ValidationException(
            f"1 validation error detected: Value '{raw}' at 'maxItems' failed to "
            "satisfy constraint: Member must be an integer"
        ) from None


def paged(
    request: Request,
    items: Sequence[T],
    *,
    field: str,
    key: Callable[[T], str],
    render: Callable[[T], Any],
) -> JSONResponse:
    """A List* answer: the items after ?Marker= (at most ?MaxItems=) as `field`, and the
    NextMarker of the page after it. `items` must be in increasing `key` order."""
    limit = max_items(request)
    marker = request.query_params.get("Marker")
    if marker:
        items = [item for item in items if key(item) > marker]
    out: dict[str, Any] = {field: [render(item) for item in items[:limit]]}
    if len(items) > limit:
        out["NextMarker"] = key(items[limit - 1])
    return JSONResponse(out)


def version_key(config: FunctionConfig) -> str:
    """Orders $LATEST before versions 1, 2, … (paging keys compare as text)."""
    return f"{0 if config.version == LATEST else int(config.version):012d}"


def error_response(status: int, error_type: str, message: str, kind: str = "User") -> Response:
    return JSONResponse(
        {"Type": kind, "message": message},
        status_code=status,
        headers={"x-amzn-ErrorType": error_type},
    )


def error_body(exc: ApiError) -> dict[str, Any]:
    """The body AWS sends for `exc`: its model shape's members, else the generic shape."""
    trait = lambda_model().error(exc.error_type)
    if trait is None:
        return exc.body()
    body: dict[str, Any] = {}
    if trait.has_type and exc.with_type:
        body["Type"] = "User" if trait.sender_fault else "Service"
    body[trait.message_key] = exc.message
    body.update(exc.extra())
    return body


def api_error_response(exc: ApiError) -> Response:
    headers = {"x-amzn-ErrorType": exc.error_type}
    if isinstance(exc, TooManyRequestsException) and exc.reason != REASON_RESERVED:
        headers["Retry-After"] = RETRY_AFTER_S  # AWS sends none for a function's reservation
    return JSONResponse(error_body(exc), status_code=exc.status, headers=headers)


def guard(handler: Handler) -> Handler:
    """The per-request boundary: the request checked as its operation's input, AWS errors as
    AWS shapes; anything else a logged 500."""

    async def guarded(request: Request) -> Response:
        try:
            raw_path = request.scope.get("raw_path") or request.url.path.encode()
            query = request.scope.get("query_string", b"").decode("latin-1")
            found = match_operation_labels(request.method, raw_path.decode("latin-1"), query)
            if found is not None:
                await validate_input(request, *found)
            response = await handler(request)
        except ApiError as exc:
            response = api_error_response(exc)
        except Exception:
            logger.exception("unexpected error in %s %s", request.method, request.url.path)
            err = ServiceException("lambdalet hit an internal error; see the daemon's log")
            response = api_error_response(err)
        # Every AWS answer names its request (boto3: ResponseMetadata.RequestId); Invoke
        # names the invocation itself.
        if REQUEST_ID not in response.headers:
            response.headers[REQUEST_ID] = str(uuid.uuid4())
        return response

    return guarded
