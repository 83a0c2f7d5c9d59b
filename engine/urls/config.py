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

DEFAULT_INVOKE_MODE: Final = "BUFFERED"
# AWS's Method pattern is ".*" (up to 6 characters); anything outside this list could never match
# a browser's request, so it is refused rather than stored.
CORS_METHODS: Final = ("GET", "PUT", "HEAD", "POST", "PATCH", "DELETE", "*")

URL_ID_CHARS: Final = 32
_URL_ID_ALPHABET: Final = string.ascii_lowercase + string.digits
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
    """A Create (`create=True`) or UpdateFunctionUrlConfig body (its model constraints checked at
    the API boundary) as a request: unknown members and JSON types, then what this host
    supports."""
    body = require_object(body)
    _reject_unknown(body, _URL_CONFIG_KEYS, where="input")
    auth_type = opt_str(body, "AuthType")
    invoke_mode = opt_str(body, "InvokeMode")
    raw_cors = body.get("Cors")
    cors = _read_cors(raw_cors) if raw_cors is not None else None

    if create and auth_type is None:  # required by the model: only a caller past the boundary
        problems = Violations()
        problems.add_null("authType")
        problems.raise_if_any()
    if cors is not None:
        _check_cors_methods(cors)
    if invoke_mode == "RESPONSE_STREAM":
        raise NotImplementedApiError(
            "InvokeMode RESPONSE_STREAM is not supported by this lambdalet host: it does not"
            " stream responses yet; use BUFFERED"
        )
    return UrlConfigRequest(auth_type=auth_type, cors=cors, invoke_mode=invoke_mode)


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
