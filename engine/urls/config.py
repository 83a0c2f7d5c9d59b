"""Lambda function URLs: the configuration that Create/Update/Get/ListFunctionUrlConfigs handle,
url ids and the host names that carry them. Pure; the HTTP side is `engine.urls.payload`.
"""

from __future__ import annotations

import re
import secrets
import string
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.errors import InvalidParameterValueException, NotImplementedApiError
from engine.model.json_types import opt_int, opt_str, require_object, type_error
from engine.model.violations import Violations

# --- The model's members (botocore lambda 2015-03-31) ----------------------------------------

AUTH_TYPES: Final = ("NONE", "AWS_IAM")
INVOKE_MODES: Final = ("BUFFERED", "RESPONSE_STREAM")
DEFAULT_INVOKE_MODE: Final = "BUFFERED"
MAX_CORS_ORIGINS: Final = 100
MAX_ORIGIN_CHARS: Final = 253
MAX_CORS_METHODS: Final = 6
MAX_METHOD_CHARS: Final = 6
MAX_CORS_HEADERS: Final = 100
MAX_HEADER_CHARS: Final = 1024
MAX_CORS_MAX_AGE_S: Final = 86400
MAX_URL_LIST_ITEMS: Final = 50  # ListFunctionUrlConfigs' MaxItems
MAX_URL_QUALIFIER_CHARS: Final = 128
URL_QUALIFIER_PATTERN: Final = r"((?!^\d+$)^[0-9a-zA-Z-_]+$)"  # an alias: never a version
# AWS's Method pattern is ".*" (up to 6 characters); anything outside this list could never match
# a browser's request, so it is refused rather than stored.
CORS_METHODS: Final = ("GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*")

URL_ID_CHARS: Final = 32
_URL_ID_ALPHABET: Final = string.ascii_lowercase + string.digits
_URL_QUALIFIER_RE: Final = re.compile(URL_QUALIFIER_PATTERN, re.ASCII)
# <id>.lambda-url.<region>.localhost[:port], or the AWS name <id>.lambda-url.<region>.on.aws
_HOST_RE: Final = re.compile(
    r"(?P<id>[a-z0-9]{32})\.lambda-url\.(?P<region>[a-z0-9-]+)\.(?:localhost|on\.aws)\.?"
    r"(?::\d{1,5})?",
    re.ASCII,
)

# (AWS member, attribute), in the model's order.
_CORS_FIELDS: Final = (
    ("AllowCredentials", "allow_credentials"),
    ("AllowHeaders", "allow_headers"),
    ("AllowMethods", "allow_methods"),
    ("AllowOrigins", "allow_origins"),
    ("ExposeHeaders", "expose_headers"),
    ("MaxAge", "max_age"),
)
_URL_CONFIG_KEYS: Final = ("AuthType", "Cors", "InvokeMode")


# --- Configuration -------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class Cors:
    """A function URL's CORS settings; `None` marks a member the client did not give."""

    allow_credentials: bool | None = None
    allow_headers: tuple[str, ...] | None = None
    allow_methods: tuple[str, ...] | None = None
    allow_origins: tuple[str, ...] | None = None
    expose_headers: tuple[str, ...] | None = None
    max_age: int | None = None  # seconds a browser may cache a preflight answer

    def to_aws(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, attr in _CORS_FIELDS:
            value = getattr(self, attr)
            if value is not None:
                out[key] = list(value) if isinstance(value, tuple) else value
        return out

    def is_empty(self) -> bool:
        return all(getattr(self, attr) is None for _, attr in _CORS_FIELDS)


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlConfigRequest:
    """A Create/UpdateFunctionUrlConfig body; `None` means "not given" (keep, on update)."""

    auth_type: str | None = None
    cors: Cors | None = None  # Cors() (given as {}) removes the CORS settings
    invoke_mode: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class UrlConfig:
    """A function URL as stored: one per function or alias."""

    function_name: str
    qualifier: str | None  # an alias name; None for the unqualified function
    url_id: str
    auth_type: str
    cors: Cors | None
    invoke_mode: str
    invoke_mode_set: bool = False  # InvokeMode was ever given: AWS's write answers show it
    creation_time: str  # AWS's ISO format, made by the caller's clock
    last_modified_time: str

    def to_aws(
        self,
        *,
        function_arn: str,
        url: str,
        for_create: bool = False,
        for_write: bool = False,
    ) -> dict[str, Any]:
        """The FunctionUrlConfig shape. `function_arn` is qualified when the URL is an alias's;
        CreateFunctionUrlConfig's answer has no LastModifiedTime (`for_create`); the answers
        of Create and Update (`for_write`) show InvokeMode only once it was ever given."""
        out: dict[str, Any] = {
            "FunctionUrl": url,
            "FunctionArn": function_arn,
            "AuthType": self.auth_type,
        }
        if self.cors is not None:
            out["Cors"] = self.cors.to_aws()
        out["CreationTime"] = self.creation_time
        if not for_create:
            out["LastModifiedTime"] = self.last_modified_time
        if not (for_create or for_write) or self.invoke_mode_set:
            out["InvokeMode"] = self.invoke_mode
        return out

    def apply(self, changes: UrlConfigRequest, now_text: str) -> UrlConfig:
        """This config after an UpdateFunctionUrlConfig: given members replace (Cors as a
        whole, not member by member), absent ones stay, and the modification time moves."""
        cors = self.cors
        if changes.cors is not None:
            cors = None if changes.cors.is_empty() else changes.cors
        return UrlConfig(
            function_name=self.function_name,
            qualifier=self.qualifier,
            url_id=self.url_id,
            auth_type=changes.auth_type or self.auth_type,
            cors=cors,
            invoke_mode=changes.invoke_mode or self.invoke_mode,
            invoke_mode_set=self.invoke_mode_set or changes.invoke_mode is not None,
            creation_time=self.creation_time,
            last_modified_time=now_text,
        )


def new_url_config(
    request: UrlConfigRequest,
    *,
    function_name: str,
    qualifier: str | None,
    url_id: str,
    now_text: str,
) -> UrlConfig:
    """The config a CreateFunctionUrlConfig request (parsed with `create=True`) makes."""
    if request.auth_type is None:
        raise ValueError("a create request always has an AuthType; parse it with create=True")
    cors = request.cors
    return UrlConfig(
        function_name=function_name,
        qualifier=qualifier,
        url_id=url_id,
        auth_type=request.auth_type,
        cors=None if cors is None or cors.is_empty() else cors,
        invoke_mode=request.invoke_mode or DEFAULT_INVOKE_MODE,
        invoke_mode_set=request.invoke_mode is not None,
        creation_time=now_text,
        last_modified_time=now_text,
    )


# --- Parsers ---------------------------------------------------------------------------------


def parse_url_config(body: Mapping[str, Any], *, create: bool) -> UrlConfigRequest:
    """Validate a Create (`create=True`) or UpdateFunctionUrlConfig body; raise the ApiError AWS
    would answer. Checks run in the project's order: unknown members and JSON types, then the
    model's constraints (one ValidationException), then what this host supports."""
    body = require_object(body)
    _reject_unknown(body, _URL_CONFIG_KEYS, where="input")
    auth_type = opt_str(body, "AuthType")
    invoke_mode = opt_str(body, "InvokeMode")
    raw_cors = body.get("Cors")
    cors = _read_cors(raw_cors) if raw_cors is not None else None

    problems = Violations()
    if auth_type is None:
        if create:
            problems.add_null("authType")
    elif auth_type not in AUTH_TYPES:
        problems.add_enum("authType", auth_type, AUTH_TYPES)
    if cors is not None:
        _check_cors(problems, cors)
    if invoke_mode is not None and invoke_mode not in INVOKE_MODES:
        problems.add_enum("invokeMode", invoke_mode, INVOKE_MODES)
    problems.raise_if_any()

    if cors is not None:
        _check_cors_methods(cors)
    if invoke_mode == "RESPONSE_STREAM":
        raise NotImplementedApiError(
            "InvokeMode RESPONSE_STREAM is not supported by this lambdalet host: it does not"
            " stream responses yet; use BUFFERED"
        )
    return UrlConfigRequest(auth_type=auth_type, cors=cors, invoke_mode=invoke_mode)


def parse_cors(value: object) -> Cors:
    """Validate a Cors object on its own (the same checks `parse_url_config` applies)."""
    cors = _read_cors(value)
    problems = Violations()
    _check_cors(problems, cors)
    problems.raise_if_any()
    _check_cors_methods(cors)
    return cors


def validate_url_qualifier(qualifier: str) -> str:
    """Check a function URL's `?Qualifier=` (an alias name); return it unchanged."""
    problems = Violations()
    if len(qualifier) > MAX_URL_QUALIFIER_CHARS:
        problems.add_max_length("qualifier", qualifier, MAX_URL_QUALIFIER_CHARS)
    if not qualifier:
        problems.add("qualifier", qualifier, "Member must have length greater than or equal to 1")
    elif not _URL_QUALIFIER_RE.fullmatch(qualifier):
        problems.add_pattern("qualifier", qualifier, URL_QUALIFIER_PATTERN)
    problems.raise_if_any()
    return qualifier


def validate_url_max_items(max_items: int) -> int:
    """Check ListFunctionUrlConfigs' MaxItems (1..50); return it unchanged."""
    problems = Violations()
    problems.check_range("maxItems", max_items, 1, MAX_URL_LIST_ITEMS)
    problems.raise_if_any()
    return max_items


def _read_cors(value: object) -> Cors:
    """The JSON-type layer of Cors: wrong types and unknown members fail here."""
    if not isinstance(value, Mapping):
        raise type_error("Cors", "an object", value)
    _reject_unknown(value, tuple(key for key, _ in _CORS_FIELDS), where="Cors")
    credentials = value.get("AllowCredentials")
    if credentials is not None and not isinstance(credentials, bool):
        raise type_error("Cors.AllowCredentials", "a boolean", credentials)
    return Cors(
        allow_credentials=credentials,
        allow_headers=_str_tuple(value, "AllowHeaders"),
        allow_methods=_str_tuple(value, "AllowMethods"),
        allow_origins=_str_tuple(value, "AllowOrigins"),
        expose_headers=_str_tuple(value, "ExposeHeaders"),
        max_age=opt_int(value, "MaxAge", "Cors.MaxAge"),
    )


def _check_cors(problems: Violations, cors: Cors) -> None:
    """The model's constraints on Cors, as AWS words them for list members."""
    lists = (
        ("cors.allowOrigins", cors.allow_origins, MAX_CORS_ORIGINS, 1, MAX_ORIGIN_CHARS),
        ("cors.allowMethods", cors.allow_methods, MAX_CORS_METHODS, 0, MAX_METHOD_CHARS),
        ("cors.allowHeaders", cors.allow_headers, MAX_CORS_HEADERS, 0, MAX_HEADER_CHARS),
        ("cors.exposeHeaders", cors.expose_headers, MAX_CORS_HEADERS, 0, MAX_HEADER_CHARS),
    )
    for path, items, max_items, min_chars, max_chars in lists:
        if items is not None:
            _check_list(problems, path, items, max_items, min_chars, max_chars)
    if cors.max_age is not None:
        problems.check_range("cors.maxAge", cors.max_age, 0, MAX_CORS_MAX_AGE_S)


def _check_list(
    problems: Violations,
    path: str,
    items: tuple[str, ...],
    max_items: int,
    min_chars: int,
    max_chars: int,
) -> None:
    if len(items) > max_items:
        problems.add_max_length(path, items, max_items)
    if any(not min_chars <= len(item) <= max_chars for item in items):
        # AWS lists every constraint of the member shape, whichever one failed.
        problems.add(
            path,
            items,
            "Member must satisfy constraint: ["
            f"Member must have length less than or equal to {max_chars}, "
            f"Member must have length greater than or equal to {min_chars}, "
            "Member must satisfy regular expression pattern: .*, Member must not be null]",
        )


def _check_cors_methods(cors: Cors) -> None:
    for method in cors.allow_methods or ():
        if method not in CORS_METHODS:
            raise InvalidParameterValueException(
                f"Cors.AllowMethods contains '{method}': each method must be one of"
                f" {', '.join(CORS_METHODS)} (upper case)"
            )


def _str_tuple(obj: Mapping[str, Any], key: str) -> tuple[str, ...] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise type_error(f"Cors.{key}", "an array of strings", value)
    return tuple(value)


def _reject_unknown(obj: Mapping[str, Any], known: tuple[str, ...], *, where: str) -> None:
    """Unknown members are refused (AWS would ignore them) so that a typo such as
    `AllowOrigin` fails loudly instead of leaving CORS unset. Worded as botocore words it."""
    unknown = sorted(str(key) for key in obj if key not in known)
    if unknown:
        names = ", ".join(f'"{key}"' for key in unknown)
        raise InvalidParameterValueException(
            f"Unknown parameter in {where}: {names}, must be one of: {', '.join(known)}"
        )


# --- Url ids and host names --------------------------------------------------------------------


def new_url_id() -> str:
    """A fresh url id: 32 characters of [a-z0-9], like AWS's (but random, not derived from the
    account)."""
    return "".join(secrets.choice(_URL_ID_ALPHABET) for _ in range(URL_ID_CHARS))


def function_url(url_id: str, *, region: str, port: int) -> str:
    """The URL clients call. `*.localhost` resolves to the loopback address without DNS set-up
    (RFC 6761; glibc's resolver and browsers honour it)."""
    return f"http://{url_id}.lambda-url.{region}.localhost:{port}/"


def url_id_from_host(host: str, *, region: str) -> str | None:
    """The url id in a Host header, or None when the host is not a function URL of `region`.
    Accepts the local name (with or without a port) and AWS's `….on.aws`, in any case."""
    match = _HOST_RE.fullmatch(host.strip().lower())
    if match is None or match["region"] != region.lower():
        return None
    return match["id"]
