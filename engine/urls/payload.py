"""A function URL's HTTP side: the request as a payload format 2.0 event, the function's answer as
an HTTP response, and CORS. Pure; the listener and the invoke are wired elsewhere.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final
from urllib.parse import parse_qsl

from engine.urls.config import Cors

Headers = Sequence[tuple[str, str]]

# Request bodies of these media types reach the function as text; every other body, and a body
# without a content type, is base64-encoded. AWS documents only "if the content type of the
# request is binary, the body is base64-encoded"; in practice text/* and application/json arrive
# as text and form posts (application/x-www-form-urlencoded) arrive base64-encoded, so they do so
# here too. The XML and JavaScript types are a guess.
TEXT_MEDIA_TYPES: Final = frozenset(
    {"application/json", "application/javascript", "application/xml"}
)
TEXT_MEDIA_PREFIXES: Final = ("text/",)
TEXT_MEDIA_SUFFIXES: Final = ("+json", "+xml")  # application/vnd.api+json, application/atom+xml

# English month names whatever the locale (strftime's %b follows LC_TIME).
_MONTHS: Final = (
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
)  # fmt: skip
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
# RFC 9110 token (header names) and field values without control characters (no CR/LF splitting).
_TOKEN_RE: Final = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_BAD_VALUE_RE: Final = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
# The listener frames the body itself; a function's own framing headers would contradict it.
_FRAMING_HEADERS: Final = frozenset({"content-length", "transfer-encoding", "connection"})
# The CORS answer headers that the URL's CORS settings own when they exist.
_CORS_ANSWER_HEADERS: Final = frozenset({
    "access-control-allow-origin", "access-control-allow-credentials",
    "access-control-expose-headers", "access-control-allow-methods",
    "access-control-allow-headers", "access-control-max-age",
})  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class HttpAnswer:
    """An HTTP response to send; header names as given, in order, repeats allowed."""

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


@dataclass(frozen=True, slots=True, kw_only=True)
class IamIdentity:
    """The caller of an AWS_IAM function URL, as the event's `authorizer.iam` shows it."""

    access_key: str
    account_id: str
    caller_id: str
    user_arn: str
    user_id: str


def iam_identity(access_key_id: str, account_id: str) -> IamIdentity:
    """The identity behind a verified SigV4 key. lambdalet has no IAM users, so every key acts as
    its account's root user (whose user id and caller id are the account id, as on AWS)."""
    return IamIdentity(
        access_key=access_key_id,
        account_id=account_id,
        caller_id=account_id,
        user_arn=f"arn:aws:iam::{account_id}:root",
        user_id=account_id,
    )


# --- Request -> event ----------------------------------------------------------------------


def build_event(
    *,
    method: str,
    raw_path: str,
    raw_query: str,
    headers: Headers,
    body: bytes,
    source_ip: str,
    url_id: str,
    region: str,
    account_id: str,
    request_id: str,
    now: datetime,
    domain: str,
    iam: IamIdentity | None,
) -> dict[str, Any]:
    """The payload format 2.0 event AWS sends for a function URL request.

    `raw_query` comes without its "?". `now` is taken as UTC when naive. `requestContext.accountId`
    is `account_id` for an AWS_IAM URL and "anonymous" for a NONE one, as AWS sends it. `domain`
    is the Host the client used (without port); when empty it is made from `url_id` and `region`.
    Keys AWS documents as null or absent (authentication, pathParameters, stageVariables) are
    left out, as in the events AWS delivers.
    """
    merged: dict[str, str] = {}
    cookies: list[str] = []
    for name, value in headers:
        key = name.lower()
        if key == "cookie":
            cookies.extend(part.strip() for part in value.split(";") if part.strip())
        elif key in merged:
            merged[key] = f"{merged[key]},{value}"
        else:
            merged[key] = value

    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": raw_path,
        "rawQueryString": raw_query,
    }
    if cookies:
        event["cookies"] = cookies
    event["headers"] = merged
    query = _query_parameters(raw_query)
    if query:
        event["queryStringParameters"] = query

    utc = now.replace(tzinfo=UTC) if now.tzinfo is None else now.astimezone(UTC)
    context: dict[str, Any] = {"accountId": account_id if iam is not None else "anonymous"}
    context["apiId"] = url_id
    if iam is not None:
        context["authorizer"] = {"iam": _iam_fields(iam)}
    context["domainName"] = domain or f"{url_id}.lambda-url.{region}.localhost"
    context["domainPrefix"] = url_id
    context["http"] = {
        "method": method,
        "path": raw_path,
        "protocol": "HTTP/1.1",
        "sourceIp": source_ip,
        "userAgent": merged.get("user-agent", ""),
    }
    context["requestId"] = request_id
    context["routeKey"] = "$default"
    context["stage"] = "$default"
    context["time"] = f"{utc:%d}/{_MONTHS[utc.month - 1]}/{utc:%Y:%H:%M:%S} +0000"
    context["timeEpoch"] = (utc - _EPOCH) // timedelta(milliseconds=1)
    event["requestContext"] = context

    encoded = False
    if body:
        text = _as_text(body, merged.get("content-type"))
        encoded = text is None
        event["body"] = base64.b64encode(body).decode("ascii") if text is None else text
    event["isBase64Encoded"] = encoded
    return event


def is_text_media_type(content_type: str | None) -> bool:
    """Whether a request body of this Content-Type reaches the function as text."""
    if not content_type:
        return False
    media = content_type.split(";", 1)[0].strip().lower()
    return (
        media in TEXT_MEDIA_TYPES
        or media.startswith(TEXT_MEDIA_PREFIXES)
        or (media.startswith("application/") and media.endswith(TEXT_MEDIA_SUFFIXES))
    )


def _as_text(body: bytes, content_type: str | None) -> str | None:
    if not is_text_media_type(content_type):
        return None
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError:  # labelled text but not UTF-8: only base64 carries it intact
        return None


def _query_parameters(raw_query: str) -> dict[str, str]:
    params: dict[str, str] = {}
    for key, value in parse_qsl(raw_query, keep_blank_values=True, errors="replace"):
        params[key] = f"{params[key]},{value}" if key in params else value
    return params


def _iam_fields(iam: IamIdentity) -> dict[str, Any]:
    return {
        "accessKey": iam.access_key,
        "accountId": iam.account_id,
        "callerId": iam.caller_id,
        "cognitoIdentity": None,
        "principalOrgId": None,
        "userArn": iam.user_arn,
        "userId": iam.user_id,
    }


# --- Function answer -> HTTP response ----------------------------------------------------------

_BAD_GATEWAY: Final = HttpAnswer(
    status=502, headers=(("content-type", "text/plain"),), body=b"Internal Server Error"
)


class _BadResponse(Exception):
    """The function's answer cannot be turned into an HTTP response."""


def build_response(payload: bytes, *, function_error: bool) -> HttpAnswer:
    """The HTTP response AWS makes of a function's answer (payload format 2.0).

    - A function error (raised, timed out, crashed) is 502 "Internal Server Error".
    - A JSON object with a non-null `statusCode` is a response: the status (an integer in
      100..599; an integral float or a string of digits is read as that integer, as AWS's JSON
      reader coerces them), `headers` (strings; numbers and booleans as their JSON text, null
      dropped), `cookies` (one Set-Cookie each), `body` (a string, base64-decoded when
      `isBase64Encoded` is true; any other JSON value is sent as its compact JSON text) and
      content-type application/json unless the function set one. `multiValueHeaders` belongs to
      format 1.0 and is ignored. Anything malformed there (status out of range, a header that is
      an object or holds CR/LF, bad base64) is 502.
    - Any other JSON value, an object without `statusCode` included, is 200 application/json
      with the value as compact JSON (a string: its bare text) as the body, as AWS answers
      ("Lambda infers the response format").
    - An empty or non-JSON payload is 502: AWS's inference applies only to "valid JSON", and the
      managed runtimes never send one (a Node handler returning undefined sends `null`).
    """
    if function_error:
        return _BAD_GATEWAY
    try:
        value = json.loads(payload, parse_constant=_reject_constant)
    except ValueError:  # JSONDecodeError and UnicodeDecodeError both are
        return _BAD_GATEWAY
    if not isinstance(value, dict) or value.get("statusCode") is None:
        # AWS sends the value back as compact JSON, and a string as its bare text.
        text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
        return HttpAnswer(
            status=200, headers=(("content-type", "application/json"),), body=text.encode()
        )
    try:
        return _shaped_response(value)
    except _BadResponse:
        return _BAD_GATEWAY


def _shaped_response(answer: Mapping[str, Any]) -> HttpAnswer:
    status = _status(answer["statusCode"])
    headers: list[tuple[str, str]] = []
    raw_headers = answer.get("headers")
    if raw_headers is not None:
        if not isinstance(raw_headers, Mapping):
            raise _BadResponse
        for name, raw_value in raw_headers.items():
            if raw_value is None:
                continue
            value = _header_text(raw_value)
            _check_header(name, value)
            if name.lower() not in _FRAMING_HEADERS:
                headers.append((name, value))
    cookies = answer.get("cookies")
    if cookies is not None:
        if not isinstance(cookies, list) or not all(isinstance(c, str) for c in cookies):
            raise _BadResponse
        for cookie in cookies:
            _check_header("set-cookie", cookie)
            headers.append(("set-cookie", cookie))
    if not any(name.lower() == "content-type" for name, _ in headers):
        headers.insert(0, ("content-type", "application/json"))
    body = _body_bytes(answer.get("body"), _flag(answer.get("isBase64Encoded")))
    return HttpAnswer(status=status, headers=tuple(headers), body=body)


def _status(value: object) -> int:
    match value:
        case bool():
            raise _BadResponse
        case int():
            status = value
        case float() if value.is_integer():
            status = int(value)
        case str() if value.isascii() and value.isdigit():
            status = int(value)
        case _:
            raise _BadResponse
    if not 100 <= status <= 599:
        raise _BadResponse
    return status


def _header_text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, bool | int | float):
        return json.dumps(value)  # true, 42, 1.5: the JSON text, not Python's str()
    raise _BadResponse


def _check_header(name: str, value: str) -> None:
    if not _TOKEN_RE.fullmatch(name) or _BAD_VALUE_RE.search(value):
        raise _BadResponse


def _flag(value: object) -> bool:
    if value is None or isinstance(value, bool):
        return bool(value)
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise _BadResponse


def _body_bytes(body: object, base64_encoded: bool) -> bytes:
    if body is None:
        return b""
    if not isinstance(body, str):
        return json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    if not base64_encoded:
        return body.encode("utf-8")
    try:
        return base64.b64decode("".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise _BadResponse from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


# --- CORS --------------------------------------------------------------------------------------


def preflight(cors: Cors | None, headers: Headers, *, method: str = "OPTIONS") -> HttpAnswer | None:
    """The answer to a CORS preflight, or None when the request goes to the function.

    Only an OPTIONS request carrying Origin and Access-Control-Request-Method is a preflight, and
    only a URL with CORS settings answers it itself. An origin the settings do not allow gets a
    200 without any Access-Control-Allow-* header, which the browser reads as a refusal.
    """
    if cors is None or method.upper() != "OPTIONS":
        return None
    origin = header_value(headers, "origin")
    requested_method = header_value(headers, "access-control-request-method")
    if origin is None or requested_method is None:
        return None
    allowed_origin = _allowed_origin(cors, origin)
    out: list[tuple[str, str]] = []
    if allowed_origin is not None:
        out.append(("access-control-allow-origin", allowed_origin))
        if cors.allow_credentials:
            out.append(("access-control-allow-credentials", "true"))
        methods = cors.allow_methods or ()
        if "*" in methods:
            # Echoed rather than "*": browsers take "*" literally on credentialed requests.
            out.append(("access-control-allow-methods", requested_method.strip()))
        elif methods:
            out.append(("access-control-allow-methods", ", ".join(methods)))
        granted = _allowed_request_headers(
            cors, header_value(headers, "access-control-request-headers")
        )
        if granted:
            out.append(("access-control-allow-headers", ", ".join(granted)))
        if cors.max_age is not None:
            out.append(("access-control-max-age", str(cors.max_age)))
    out.append(("vary", "Origin"))
    return HttpAnswer(status=200, headers=tuple(out))


def cors_headers(cors: Cors | None, request_headers: Headers) -> tuple[tuple[str, str], ...]:
    """The CORS headers of an actual (non-preflight) response; none without CORS settings."""
    if cors is None:
        return ()
    out: list[tuple[str, str]] = []
    origin = header_value(request_headers, "origin")
    allowed_origin = _allowed_origin(cors, origin) if origin is not None else None
    if allowed_origin is not None:
        out.append(("access-control-allow-origin", allowed_origin))
        if cors.allow_credentials:
            out.append(("access-control-allow-credentials", "true"))
        if cors.expose_headers:
            out.append(("access-control-expose-headers", ", ".join(cors.expose_headers)))
    out.append(("vary", "Origin"))  # the answer depends on Origin, whether it was allowed or not
    return tuple(out)


def apply_cors(answer: HttpAnswer, cors: Cors | None, request_headers: Headers) -> HttpAnswer:
    """`answer` with the URL's CORS headers in place of any the function set (AWS's rule: the
    settings win). Without CORS settings the function's headers pass unchanged."""
    if cors is None:
        return answer
    kept = tuple((n, v) for n, v in answer.headers if n.lower() not in _CORS_ANSWER_HEADERS)
    return HttpAnswer(
        status=answer.status,
        headers=kept + cors_headers(cors, request_headers),
        body=answer.body,
    )


def header_value(headers: Headers, name: str) -> str | None:
    """The first value of header `name`, matched case-insensitively."""
    wanted = name.lower()
    for key, value in headers:
        if key.lower() == wanted:
            return value
    return None


def _allowed_origin(cors: Cors, origin: str) -> str | None:
    """The Access-Control-Allow-Origin value for `origin`, or None when it is not allowed.
    Origins compare case-insensitively and without a trailing slash (a common way to write them
    in settings; browsers never send one)."""
    origins = cors.allow_origins or ()
    if "*" in origins:
        # "*" is refused by browsers on credentialed requests, so then the origin is echoed.
        return origin if cors.allow_credentials else "*"
    wanted = origin.strip().rstrip("/").lower()
    if any(allowed.rstrip("/").lower() == wanted for allowed in origins):
        return origin.strip()
    return None


def _allowed_request_headers(cors: Cors, requested: str | None) -> list[str]:
    names = [n.strip() for n in (requested or "").split(",") if n.strip()]
    allowed = {h.lower() for h in cors.allow_headers or ()}
    if "*" in allowed:
        return names
    return [n for n in names if n.lower() in allowed]
