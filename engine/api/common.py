"""What every Lambda API handler shares: reading bodies and names, and the error boundary.

Every `ApiError` becomes AWS's error shape: status, ``x-amzn-ErrorType`` header, JSON body.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, Final, TypeVar
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from engine.errors import (
    ApiError,
    InvalidParameterValueException,
    InvalidRequestContentException,
    RequestTooLargeException,
    ServiceException,
    TooManyRequestsException,
    ValidationException,
)
from engine.model.function import LATEST, FunctionConfig
from engine.model.limits import MAX_ZIP_BYTES
from engine.model.names import parse_function_name, validate_max_items, validate_qualifier

logger = logging.getLogger(__name__)

# A base64 ZipFile of 50 MiB inside JSON is about 70 MB; allow a little more for the rest.
MAX_CONTROL_BODY_BYTES: Final = MAX_ZIP_BYTES * 4 // 3 + 1024 * 1024
RETRY_AFTER_S: Final = "1"
T = TypeVar("T")

Handler = Callable[[Request], Awaitable[Response]]


async def read_body(request: Request, limit: int, operation: str) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise RequestTooLargeException(
            f"Request must be smaller than {limit} bytes for the {operation} operation"
        )
    if declared is not None:  # hypercorn enforces Content-Length: the body is that long
        return await request.body()
    chunks = bytearray()
    async for chunk in request.stream():  # chunked: count as it comes
        chunks += chunk
        if len(chunks) > limit:
            raise RequestTooLargeException(
                f"Request must be smaller than {limit} bytes for the {operation} operation"
            )
    return bytes(chunks)


async def read_json(request: Request, operation: str) -> dict[str, Any]:
    raw = await read_body(request, MAX_CONTROL_BODY_BYTES, operation)
    try:
        body = json.loads(raw or b"{}")
    except ValueError:
        raise InvalidRequestContentException(
            "Could not parse request body into json: the body is not valid JSON"
        ) from None
    if not isinstance(body, dict):
        raise InvalidRequestContentException(
            "Could not parse request body into json: expected a JSON object"
        )
    return body


def function_name(request: Request, param: str = "name") -> tuple[str, str | None]:
    """The path's FunctionName (name, name:qualifier, full or partial ARN) and ?Qualifier=.
    A qualifier in both places must agree, as AWS requires."""
    name, qualifier = parse_function_name(unquote(request.path_params[param]))
    query = request.query_params.get("Qualifier")
    if query is not None:
        query = validate_qualifier(query)
        if qualifier is not None and qualifier != query:
            raise InvalidParameterValueException(
                "The derived qualifier from the function name does not match the specified "
                "qualifier."
            )
        qualifier = query
    return name, qualifier


def unqualified(request: Request, operation: str) -> str:
    """For operations on the function itself, which take no qualifier."""
    name, qualifier = function_name(request)
    if qualifier is not None:
        raise InvalidParameterValueException(
            f"{operation} does not accept a qualifier (got {qualifier}); name the function only"
        )
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


def guard(handler: Handler) -> Handler:
    """The per-request boundary: AWS errors as AWS shapes; anything else a logged 500."""

    async def guarded(request: Request) -> Response:
        try:
            return await handler(request)
        except ApiError as exc:
            headers = {"x-amzn-ErrorType": exc.error_type}
            if isinstance(exc, TooManyRequestsException):
                headers["Retry-After"] = RETRY_AFTER_S
            return JSONResponse(exc.body(), status_code=exc.status, headers=headers)
        except Exception:
            logger.exception("unexpected error in %s %s", request.method, request.url.path)
            err = ServiceException("lambdalet hit an internal error; see the daemon's log")
            return JSONResponse(
                err.body(), status_code=500, headers={"x-amzn-ErrorType": err.error_type}
            )

    return guarded
