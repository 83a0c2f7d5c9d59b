"""The Lambda API model as AWS applies it before any semantics: member limits, patterns and
enums, the JSON-type layer, and constraint violations collected into one `ValidationException`.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    ValidationException,
)

# --- Limits and defaults of the model's members (AWS quotas for zip functions) ---------------

MIN_MEMORY_MB: Final = 128
MAX_MEMORY_MB: Final = 10240
DEFAULT_MEMORY_MB: Final = 128
MIN_TIMEOUT_S: Final = 1
MAX_TIMEOUT_S: Final = 900
DEFAULT_TIMEOUT_S: Final = 3
MIN_EPHEMERAL_STORAGE_MB: Final = 512
MAX_EPHEMERAL_STORAGE_MB: Final = 10240
DEFAULT_EPHEMERAL_STORAGE_MB: Final = 512
MAX_FUNCTION_NAME_CHARS: Final = 64  # the bare name
MAX_FUNCTION_ARN_CHARS: Final = 140  # a full or partial ARN, qualifier included
MAX_HANDLER_CHARS: Final = 128
MAX_DESCRIPTION_CHARS: Final = 256
MAX_ROLE_CHARS: Final = 10000
MAX_QUALIFIER_CHARS: Final = 128
MAX_LIST_ITEMS: Final = 10000
DEFAULT_ARCHITECTURES: Final = ("x86_64",)

# --- Patterns, spelt exactly as AWS prints them in its messages --------------------------------

FUNCTION_NAME_PATTERN: Final = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)
ROLE_PATTERN: Final = r"arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?[a-zA-Z_0-9+=,.@\-_/]+"
HANDLER_PATTERN: Final = r"[^\s]+"
ENV_KEY_PATTERN: Final = r"[a-zA-Z]([a-zA-Z0-9_])+"
QUALIFIER_PATTERN: Final = r"(|[a-zA-Z0-9$_-]+)"

# Java's regex classes (\s, \d) are ASCII-only; re.ASCII makes Python agree with AWS.
_ROLE_RE: Final = re.compile(ROLE_PATTERN, re.ASCII)
_HANDLER_RE: Final = re.compile(HANDLER_PATTERN, re.ASCII)
_ENV_KEY_RE: Final = re.compile(ENV_KEY_PATTERN, re.ASCII)
_QUALIFIER_RE: Final = re.compile(QUALIFIER_PATTERN, re.ASCII)
# The same language as FUNCTION_NAME_PATTERN, with named groups to pull the parts out.
_FUNCTION_NAME_RE: Final = re.compile(
    r"(?P<arn>arn:(?:aws[a-zA-Z-]*)?:lambda:)?"
    r"(?P<region>(?:eusc-)?[a-z]{2}(?:-gov|-iso[a-z]?)?-[a-z]+-\d:)?"
    r"(?P<account>\d{12}:)?"
    r"(?P<function>function:)?"
    r"(?P<name>[a-zA-Z0-9_-]+)"
    r"(?::(?P<qualifier>\$LATEST|[a-zA-Z0-9_-]+))?",
    re.ASCII,
)

# The Runtime enum of the Lambda API model (botocore 1.44), deprecated values included: a value
# outside it is a ValidationException, a value inside it that this host lacks is not.
AWS_RUNTIMES: Final = (
    "nodejs", "nodejs4.3", "nodejs6.10", "nodejs8.10", "nodejs10.x", "nodejs12.x", "nodejs14.x",
    "nodejs16.x", "nodejs18.x", "nodejs20.x", "nodejs22.x", "nodejs24.x", "java8", "java8.al2",
    "java11", "java17", "java21", "java25", "python2.7", "python3.6", "python3.7", "python3.8",
    "python3.9", "python3.10", "python3.11", "python3.12", "python3.13", "python3.14",
    "dotnetcore1.0", "dotnetcore2.0", "dotnetcore2.1", "dotnetcore3.1", "dotnet6", "dotnet8",
    "dotnet10", "nodejs4.3-edge", "go1.x", "ruby2.5", "ruby2.7", "ruby3.2", "ruby3.3", "ruby3.4",
    "ruby4.0", "provided", "provided.al2", "provided.al2023", "nodejs26.x", "python3.15",
    "java8.al2023", "java11.al2023", "java17.al2023", "custom",
)  # fmt: skip
AWS_ARCHITECTURES: Final = ("x86_64", "arm64")
_PACKAGE_TYPES: Final = ("Zip", "Image")
_TRACING_MODES: Final = ("Active", "PassThrough")


# --- Settings shared by create and update-configuration -------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class _Settings:
    runtime: str | None
    handler: str | None
    description: str | None
    memory_mb: int | None
    timeout_s: int | None
    ephemeral_storage_mb: int | None
    storage_present: bool  # EphemeralStorage given, so its Size is required
    environment: dict[str, str] | None
    architectures: list[str] | None
    tracing_mode: str | None


def _read_settings(body: Mapping[str, Any], *, with_architectures: bool = True) -> _Settings:
    """The JSON-type layer: wrong types fail here, before any constraint."""
    storage = _opt_object(body, "EphemeralStorage")
    tracing = _opt_object(body, "TracingConfig")
    return _Settings(
        runtime=_opt_str(body, "Runtime"),
        handler=_opt_str(body, "Handler"),
        description=_opt_str(body, "Description"),
        memory_mb=_opt_int(body, "MemorySize"),
        timeout_s=_opt_int(body, "Timeout"),
        ephemeral_storage_mb=(
            _opt_int(storage, "Size", "EphemeralStorage.Size") if storage is not None else None
        ),
        storage_present=storage is not None,
        environment=_read_environment(body),
        architectures=_opt_str_list(body, "Architectures") if with_architectures else None,
        tracing_mode=(
            _opt_str(tracing, "Mode", "TracingConfig.Mode") if tracing is not None else None
        ),
    )


def _read_environment(body: Mapping[str, Any]) -> dict[str, str] | None:
    env = _opt_object(body, "Environment")
    if env is None:
        return None
    variables = _opt_object(env, "Variables", "Environment.Variables")
    if variables is None:
        return {}  # {"Environment": {}} clears the variables, as on AWS
    out: dict[str, str] = {}
    for key, value in variables.items():
        if not isinstance(value, str):
            # Name the key, never echo the value: variables often hold secrets.
            raise _type_error(f"Environment.Variables.{key}", "a string", value)
        out[str(key)] = value
    return out


def _check_settings(
    problems: _Violations, settings: _Settings, *, supported_runtimes: Collection[str]
) -> None:
    """The model's constraints, collected so that one ValidationException names them all."""
    runtime = settings.runtime
    if runtime is not None and runtime not in supported_runtimes and runtime not in AWS_RUNTIMES:
        problems.add_enum("runtime", runtime, AWS_RUNTIMES)
    if settings.handler is not None:
        if len(settings.handler) > MAX_HANDLER_CHARS:
            problems.add_max_length("handler", settings.handler, MAX_HANDLER_CHARS)
        if not _HANDLER_RE.fullmatch(settings.handler):
            problems.add_pattern("handler", settings.handler, HANDLER_PATTERN)
    if settings.description is not None and len(settings.description) > MAX_DESCRIPTION_CHARS:
        problems.add_max_length("description", settings.description, MAX_DESCRIPTION_CHARS)
    if settings.timeout_s is not None:
        problems.check_range("timeout", settings.timeout_s, MIN_TIMEOUT_S, MAX_TIMEOUT_S)
    if settings.memory_mb is not None:
        problems.check_range("memorySize", settings.memory_mb, MIN_MEMORY_MB, MAX_MEMORY_MB)
    if settings.storage_present:
        if settings.ephemeral_storage_mb is None:
            problems.add_null("ephemeralStorage.size")
        else:
            problems.check_range(
                "ephemeralStorage.size",
                settings.ephemeral_storage_mb,
                MIN_EPHEMERAL_STORAGE_MB,
                MAX_EPHEMERAL_STORAGE_MB,
            )
    if settings.environment and any(not _ENV_KEY_RE.fullmatch(k) for k in settings.environment):
        # AWS models the variables as sensitive, so its message leaves the value out.
        problems.add_sensitive(
            "environment.variables",
            "Map keys must satisfy constraint: "
            f"[Member must satisfy regular expression pattern: {ENV_KEY_PATTERN}]",
        )
    if settings.architectures is not None:
        _check_architectures(problems, settings.architectures)
    if settings.tracing_mode is not None and settings.tracing_mode not in _TRACING_MODES:
        problems.add_enum("tracingConfig.mode", settings.tracing_mode, _TRACING_MODES)


# --- Member constraints shared by the parsers ------------------------------------------------


def _check_architectures(problems: _Violations, architectures: list[str]) -> None:
    if len(architectures) > 1:
        problems.add_max_length("architectures", architectures, 1)
    elif not architectures:
        problems.add("architectures", [], "Member must have length greater than or equal to 1")
    if any(a not in AWS_ARCHITECTURES for a in architectures):
        problems.add(
            "architectures",
            architectures,
            "Member must satisfy constraint: [Member must satisfy enum value set: "
            f"[{', '.join(AWS_ARCHITECTURES)}], Member must not be null]",
        )


def _check_role(problems: _Violations, role: str) -> None:
    if len(role) > MAX_ROLE_CHARS:
        problems.add_max_length("role", role, MAX_ROLE_CHARS)
    if not _ROLE_RE.fullmatch(role):
        problems.add_pattern("role", role, ROLE_PATTERN)


def _check_function_name(
    problems: _Violations, raw: str | None, *, creating: bool
) -> tuple[str | None, str | None]:
    """Add the violations of `functionName`; return (name, qualifier) when it parses."""
    if raw is None:
        problems.add_null("functionName")
        return None, None
    if not raw:
        problems.add("functionName", raw, "Member must have length greater than or equal to 1")
        return None, None
    match = _FUNCTION_NAME_RE.fullmatch(raw)
    # An "arn:" prefix alone would satisfy AWS's pattern; a usable ARN names region and account.
    if match is not None and match["arn"] and not (match["region"] and match["account"]):
        match = None
    if match is None or not match["name"]:
        problems.add_pattern("functionName", raw, FUNCTION_NAME_PATTERN)
        return None, None
    name = match["name"]
    bare = raw == name
    if len(name) > MAX_FUNCTION_NAME_CHARS and (bare or creating):
        problems.add_max_length("functionName", raw, MAX_FUNCTION_NAME_CHARS)
        return None, None
    if len(raw) > MAX_FUNCTION_ARN_CHARS:
        problems.add_max_length("functionName", raw, MAX_FUNCTION_ARN_CHARS)
        return None, None
    qualifier: str | None = match["qualifier"]
    if qualifier is not None and len(qualifier) > MAX_QUALIFIER_CHARS:
        problems.add_max_length("qualifier", qualifier, MAX_QUALIFIER_CHARS)
        return None, None
    return name, qualifier


# --- The model's constraint messages ---------------------------------------------------------


class _Violations:
    """Collects constraint failures; AWS reports them all in one message."""

    def __init__(self) -> None:
        self._messages: list[str] = []

    def add(self, path: str, value: object, constraint: str) -> None:
        self._messages.append(
            f"Value {_render(value)} at '{path}' failed to satisfy constraint: {constraint}"
        )

    def add_sensitive(self, path: str, constraint: str) -> None:
        self._messages.append(f"Value at '{path}' failed to satisfy constraint: {constraint}")

    def add_null(self, path: str) -> None:
        self.add(path, None, "Member must not be null")

    def add_pattern(self, path: str, value: str, pattern: str) -> None:
        self.add(path, value, f"Member must satisfy regular expression pattern: {pattern}")

    def add_enum(self, path: str, value: str, allowed: Collection[str]) -> None:
        self.add(path, value, f"Member must satisfy enum value set: [{', '.join(allowed)}]")

    def add_max_length(self, path: str, value: object, limit: int) -> None:
        self.add(path, value, f"Member must have length less than or equal to {limit}")

    def check_range(self, path: str, value: int, low: int, high: int) -> None:
        if value < low:
            self.add(path, value, f"Member must have value greater than or equal to {low}")
        elif value > high:
            self.add(path, value, f"Member must have value less than or equal to {high}")

    def raise_if_any(self) -> None:
        count = len(self._messages)
        if count:
            noun = "error" if count == 1 else "errors"
            raise ValidationException(
                f"{count} validation {noun} detected: {'; '.join(self._messages)}"
            )


def _render(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | tuple):  # Java's List.toString, as AWS prints it
        return f"'[{', '.join(str(v) for v in value)}]'"
    return f"'{value}'"


# --- The JSON-type layer -------------------------------------------------------------------


def _require_object(body: object) -> Mapping[str, Any]:
    if not isinstance(body, Mapping):
        raise InvalidRequestContentException(
            f"Could not parse request body: expected a JSON object, got {_json_type(body)}"
        )
    return body


def _opt_str(obj: Mapping[str, Any], key: str, path: str | None = None) -> str | None:
    value = obj.get(key)
    if value is None or isinstance(value, str):
        return value
    raise _type_error(path or key, "a string", value)


def _opt_bool(obj: Mapping[str, Any], key: str) -> bool | None:
    value = obj.get(key)
    if value is None or isinstance(value, bool):
        return value
    raise _type_error(key, "a boolean", value)


def _opt_int(obj: Mapping[str, Any], key: str, path: str | None = None) -> int | None:
    value = obj.get(key)
    if value is None:
        return None
    if isinstance(value, bool):  # bool is an int in Python, not in JSON
        raise _type_error(path or key, "an integer", value)
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():  # 256.0 is 256 to a JSON reader
        return int(value)
    raise _type_error(path or key, "an integer", value)


def _opt_object(
    obj: Mapping[str, Any], key: str, path: str | None = None
) -> Mapping[str, Any] | None:
    value = obj.get(key)
    if value is None or isinstance(value, Mapping):
        return value
    raise _type_error(path or key, "an object", value)


def _opt_str_list(obj: Mapping[str, Any], key: str) -> list[str] | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise _type_error(key, "an array of strings", value)
    return list(value)


def _type_error(path: str, expected: str, value: object) -> InvalidParameterValueException:
    return InvalidParameterValueException(
        f"Invalid type for parameter {path}: expected {expected}, got {_json_type(value)}"
    )


def _json_type(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__
