"""Turn decoded CreateFunction / UpdateFunction* bodies into typed requests, or AWS's error.

Pure: no I/O. Checks run in AWS's order: JSON types, then the model's constraints (all at once, as
one `ValidationException`), then semantic rules (`InvalidParameterValueException`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from engine.errors import (
    InvalidParameterValueException,
    InvalidRequestContentException,
    NotImplementedApiError,
    RequestEntityTooLargeException,
    ValidationException,
)

# --- Limits (AWS quotas for zip functions) ---------------------------------------------------

# Sizes AWS words "must be smaller than N bytes" are exclusive bounds: N itself is rejected.
MAX_ZIP_BYTES: Final = 50 * 1024 * 1024  # decoded ZipFile of a direct upload
MAX_UNZIPPED_BYTES: Final = 262_144_000  # 250 MiB, the whole extracted package
MAX_ENV_BYTES: Final = 4096  # inclusive: the compact JSON of Environment.Variables, UTF-8
MAX_SYNC_PAYLOAD_BYTES: Final = 6 * 1024 * 1024  # RequestResponse invoke payload
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

# AWS's documented reserved variables. `_HANDLER` and `_X_AMZN_TRACE_ID` are listed for
# completeness; they already fail the key pattern, which AWS checks first. AWS_XRAY_CONTEXT_MISSING
# and AWS_XRAY_DAEMON_ADDRESS are deliberately absent: AWS documents them as settable.
RESERVED_ENV_KEYS: Final = frozenset((
    "_HANDLER", "_X_AMZN_TRACE_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_EXECUTION_ENV",
    "AWS_LAMBDA_FUNCTION_NAME", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "AWS_LAMBDA_FUNCTION_VERSION",
    "AWS_LAMBDA_INITIALIZATION_TYPE", "AWS_LAMBDA_LOG_GROUP_NAME", "AWS_LAMBDA_LOG_STREAM_NAME",
    "AWS_LAMBDA_RUNTIME_API", "AWS_ACCESS_KEY", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY",
    "AWS_SESSION_TOKEN", "LAMBDA_TASK_ROOT", "LAMBDA_RUNTIME_DIR",
))  # fmt: skip

# Valid AWS settings this host does not implement: accepted only while they ask for nothing.
_UNSUPPORTED_FIELDS: Final = (
    "VpcConfig", "Layers", "DeadLetterConfig", "KMSKeyArn", "FileSystemConfigs", "ImageConfig",
    "SnapStart", "LoggingConfig", "CodeSigningConfigArn", "TenancyConfig",
    "CapacityProviderConfig", "DurableConfig", "RuntimeConfig", "AcceleratorConfig", "PublishTo",
)  # fmt: skip
_UNSUPPORTED_CODE_SOURCES: Final = (
    "S3Bucket", "S3Key", "S3ObjectVersion", "S3ObjectStorageMode", "ImageUri", "SourceKMSKeyArn",
)  # fmt: skip

MSG_BAD_ZIP: Final = (
    "Could not unzip uploaded file. Please check your file, then try to upload again."
)
MSG_NO_CODE_SOURCE: Final = "Please provide a source for function code."
MSG_RUNTIME_HANDLER_MANDATORY: Final = (
    "Runtime and Handler are mandatory parameters for functions created with deployment packages."
)
_ENV_PREFIX: Final = (
    "Lambda was unable to configure your environment variables because the environment variables"
    " you have provided"
)


# --- Typed requests ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True, kw_only=True)
class CreateFunctionRequest:
    """A valid CreateFunction request for a zip package."""

    name: str  # bare name, even when the client sent an ARN
    runtime: str
    handler: str
    role: str
    description: str = ""
    memory_mb: int = DEFAULT_MEMORY_MB
    timeout_s: int = DEFAULT_TIMEOUT_S
    ephemeral_storage_mb: int = DEFAULT_EPHEMERAL_STORAGE_MB
    # Values may be secrets and the zip may be 50 MiB: neither belongs in a repr or a log line.
    environment: dict[str, str] = field(default_factory=dict, repr=False)
    architectures: tuple[str, ...] = DEFAULT_ARCHITECTURES
    zip_bytes: bytes = field(repr=False)
    publish: bool = False


_CHANGEABLE_FIELDS: Final = (
    "runtime", "handler", "role", "description", "memory_mb", "timeout_s", "ephemeral_storage_mb",
    "environment",
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class ConfigurationChanges:
    """An UpdateFunctionConfiguration request: `None` means "leave as it is"."""

    runtime: str | None = None
    handler: str | None = None
    role: str | None = None
    description: str | None = None
    memory_mb: int | None = None
    timeout_s: int | None = None
    ephemeral_storage_mb: int | None = None
    environment: dict[str, str] | None = field(default=None, repr=False)
    revision_id: str | None = None

    def replacements(self) -> dict[str, Any]:
        """The `FunctionConfig` fields to replace (revision_id is a precondition, not a field)."""
        names = _CHANGEABLE_FIELDS
        return {n: getattr(self, n) for n in names if getattr(self, n) is not None}


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeUpdate:
    """An UpdateFunctionCode request for a zip package."""

    zip_bytes: bytes = field(repr=False)
    revision_id: str | None = None
    publish: bool = False
    architectures: tuple[str, ...] | None = None  # None: keep the function's


# --- Public parsers ------------------------------------------------------------------------


def parse_create_function(
    body: Mapping[str, Any],
    *,
    supported_runtimes: Collection[str],
    host_architecture: str = "x86_64",
) -> CreateFunctionRequest:
    """Validate a CreateFunction body; raise the ApiError AWS would answer."""
    body = _require_object(body)
    raw_name = _opt_str(body, "FunctionName")
    role = _opt_str(body, "Role")
    package_type = _opt_str(body, "PackageType")
    publish = _opt_bool(body, "Publish")
    code = _opt_object(body, "Code")
    zip_b64 = _opt_str(code, "ZipFile", "Code.ZipFile") if code is not None else None
    settings = _read_settings(body)
    _opt_object(body, "Tags")  # accepted and not stored

    problems = _Violations()
    name, qualifier = _check_function_name(problems, raw_name, creating=True)
    if role is None:
        problems.add_null("role")
    else:
        _check_role(problems, role)
    if package_type is not None and package_type not in _PACKAGE_TYPES:
        problems.add_enum("packageType", package_type, _PACKAGE_TYPES)
    _check_settings(problems, settings, supported_runtimes=supported_runtimes)
    if code is None:
        problems.add_null("code")
    problems.raise_if_any()
    # The nulls were reported just above.
    assert name is not None
    assert role is not None
    assert code is not None

    if qualifier is not None:
        raise InvalidParameterValueException(
            f"Function name {raw_name} must not include a qualifier when creating a function"
        )
    if package_type == "Image":
        raise NotImplementedApiError(
            "PackageType Image is not supported by this lambdalet host; only Zip is supported"
        )
    _reject_other_code_sources(code, prefix="Code.")
    if zip_b64 is None:
        raise InvalidParameterValueException(MSG_NO_CODE_SOURCE)
    if settings.runtime is None or settings.handler is None:
        raise InvalidParameterValueException(MSG_RUNTIME_HANDLER_MANDATORY)
    _check_semantics(
        settings,
        body,
        supported_runtimes=supported_runtimes,
        host_architecture=host_architecture,
        function_name=name,
    )
    zip_bytes = decode_zip_file(zip_b64)

    return CreateFunctionRequest(
        name=name,
        runtime=settings.runtime,
        handler=settings.handler,
        role=role,
        description=settings.description or "",
        memory_mb=_default(settings.memory_mb, DEFAULT_MEMORY_MB),
        timeout_s=_default(settings.timeout_s, DEFAULT_TIMEOUT_S),
        ephemeral_storage_mb=_default(settings.ephemeral_storage_mb, DEFAULT_EPHEMERAL_STORAGE_MB),
        environment=dict(settings.environment or {}),
        architectures=tuple(settings.architectures or DEFAULT_ARCHITECTURES),
        zip_bytes=zip_bytes,
        publish=bool(publish),
    )


def parse_update_function_configuration(
    body: Mapping[str, Any],
    *,
    supported_runtimes: Collection[str],
    function_name: str | None = None,
) -> ConfigurationChanges:
    """Validate an UpdateFunctionConfiguration body (the name comes from the path).

    `function_name`, when given, lets a LoggingConfig that merely restates the default log group
    through; without it any LogGroup counts as a change this host does not support.
    """
    body = _require_object(body)
    role = _opt_str(body, "Role")
    revision_id = _opt_str(body, "RevisionId")
    # Architectures is not a member of UpdateFunctionConfiguration: ignored, as AWS ignores
    # unknown members.
    settings = _read_settings(body, with_architectures=False)

    problems = _Violations()
    if role is not None:
        _check_role(problems, role)
    _check_settings(problems, settings, supported_runtimes=supported_runtimes)
    problems.raise_if_any()

    _check_semantics(
        settings,
        body,
        supported_runtimes=supported_runtimes,
        host_architecture=None,
        function_name=function_name,
    )
    return ConfigurationChanges(
        runtime=settings.runtime,
        handler=settings.handler,
        role=role,
        description=settings.description,
        memory_mb=settings.memory_mb,
        timeout_s=settings.timeout_s,
        ephemeral_storage_mb=settings.ephemeral_storage_mb,
        environment=settings.environment,
        revision_id=revision_id,
    )


def parse_update_function_code(
    body: Mapping[str, Any], *, host_architecture: str = "x86_64"
) -> CodeUpdate:
    """Validate an UpdateFunctionCode body (ZipFile sits at the top level here, not in Code)."""
    body = _require_object(body)
    zip_b64 = _opt_str(body, "ZipFile")
    revision_id = _opt_str(body, "RevisionId")
    publish = _opt_bool(body, "Publish")
    dry_run = _opt_bool(body, "DryRun")
    architectures = _opt_str_list(body, "Architectures")

    problems = _Violations()
    if architectures is not None:
        _check_architectures(problems, architectures)
    problems.raise_if_any()

    _reject_other_code_sources(body, prefix="")
    if "PublishTo" in body and not _is_default(body["PublishTo"], ""):
        raise NotImplementedApiError("PublishTo is not supported by this lambdalet host yet")
    if dry_run:
        raise NotImplementedApiError("DryRun is not supported by this lambdalet host yet")
    if zip_b64 is None:
        raise InvalidParameterValueException(MSG_NO_CODE_SOURCE)
    if architectures is not None:
        _check_host_architecture(architectures, host_architecture)
    return CodeUpdate(
        zip_bytes=decode_zip_file(zip_b64),
        revision_id=revision_id,
        publish=bool(publish),
        architectures=tuple(architectures) if architectures is not None else None,
    )


def parse_function_name(raw: str) -> tuple[str, str | None]:
    """Split `name`, `name:qualifier`, a partial or a full ARN into (name, qualifier)."""
    problems = _Violations()
    name, qualifier = _check_function_name(problems, raw, creating=False)
    problems.raise_if_any()
    assert name is not None
    return name, qualifier


def validate_qualifier(qualifier: str) -> str:
    """Check a `?Qualifier=` value against the model; return it unchanged."""
    problems = _Violations()
    if len(qualifier) > MAX_QUALIFIER_CHARS:
        problems.add_max_length("qualifier", qualifier, MAX_QUALIFIER_CHARS)
    if len(qualifier) < 1:
        problems.add("qualifier", qualifier, "Member must have length greater than or equal to 1")
    if not _QUALIFIER_RE.fullmatch(qualifier):
        problems.add_pattern("qualifier", qualifier, QUALIFIER_PATTERN)
    problems.raise_if_any()
    return qualifier


def validate_max_items(max_items: int) -> int:
    """Check ListFunctions' MaxItems (1..10000); return it unchanged."""
    problems = _Violations()
    problems.check_range("maxItems", max_items, 1, MAX_LIST_ITEMS)
    problems.raise_if_any()
    return max_items


def decode_zip_file(zip_b64: str) -> bytes:
    """Decode a JSON ZipFile (base64); enforce the direct-upload size limit.

    The limit is checked on the decoded bytes ("Zipped size must be smaller than 52428800 bytes",
    413) rather than on the whole request as AWS does ("Request must be smaller than 70167211 bytes
    for the CreateFunction operation"): the API layer owns request sizes.
    """
    # Reject from the encoded length before decoding: any text longer than the encoding of
    # MAX_ZIP_BYTES decodes to more than MAX_ZIP_BYTES.
    if len(zip_b64) > 4 * -(-MAX_ZIP_BYTES // 3):
        raise _zip_too_large()
    try:
        zip_bytes = base64.b64decode(zip_b64, validate=True)
    except (binascii.Error, ValueError):
        raise InvalidParameterValueException(MSG_BAD_ZIP) from None
    if len(zip_bytes) >= MAX_ZIP_BYTES:
        raise _zip_too_large()
    return zip_bytes


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


def _check_semantics(
    settings: _Settings,
    body: Mapping[str, Any],
    *,
    supported_runtimes: Collection[str],
    host_architecture: str | None,
    function_name: str | None,
) -> None:
    """Rules past the model: what this host runs, reserved variables, the 4 KB budget."""
    runtime = settings.runtime
    if runtime is not None and runtime not in supported_runtimes:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is not supported by this lambdalet host;"
            f" supported runtimes: {', '.join(sorted(supported_runtimes))}"
        )
    if settings.architectures is not None and host_architecture is not None:
        _check_host_architecture(settings.architectures, host_architecture)
    _reject_unsupported_fields(body, function_name=function_name)
    if settings.environment:
        _check_environment(settings.environment)


def _check_environment(variables: Mapping[str, str]) -> None:
    reserved = sorted(k for k in variables if k in RESERVED_ENV_KEYS)
    if reserved:
        raise InvalidParameterValueException(
            f"{_ENV_PREFIX} contains reserved keys that are currently not supported for"
            f" modification. Reserved keys used in this request: {', '.join(reserved)}"
        )
    # AWS measures the variables serialised as compact JSON (its message prints that string),
    # not the sum of key and value lengths: quotes, colons and commas count too.
    measured = json.dumps(dict(variables), separators=(",", ":"), ensure_ascii=False)
    if len(measured.encode("utf-8")) > MAX_ENV_BYTES:
        raise InvalidParameterValueException(
            f"{_ENV_PREFIX} exceeded the 4KB limit. String measured: {measured}"
        )


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


def _check_host_architecture(architectures: list[str], host_architecture: str) -> None:
    for arch in architectures:
        if arch != host_architecture:
            raise InvalidParameterValueException(
                f"The architecture {arch} is not supported by this lambdalet host;"
                f" supported architectures: {host_architecture}"
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


def _reject_other_code_sources(code: Mapping[str, Any], *, prefix: str) -> None:
    for key in _UNSUPPORTED_CODE_SOURCES:
        if code.get(key) not in (None, ""):
            raise NotImplementedApiError(
                f"{prefix}{key} is not supported by this lambdalet host;"
                f" only {prefix}ZipFile is supported"
            )


def _reject_unsupported_fields(body: Mapping[str, Any], *, function_name: str | None) -> None:
    defaults: dict[str, Any] = {
        "SnapStart": {"ApplyOn": "None"},
        "LoggingConfig": {"LogFormat": "Text"},
    }
    if function_name is not None:
        defaults["LoggingConfig"]["LogGroup"] = f"/aws/lambda/{function_name}"
    for key in _UNSUPPORTED_FIELDS:
        if key in body and not _is_default(body[key], defaults.get(key)):
            raise NotImplementedApiError(f"{key} is not supported by this lambdalet host yet")


def _is_default(value: Any, default: Any) -> bool:
    """True when `value` asks for nothing: empty, false, or equal to AWS's default."""
    if value is None or value is False or value in ("", [], {}):
        return True
    if isinstance(value, Mapping):
        sub_defaults = default if isinstance(default, Mapping) else {}
        return all(_is_default(v, sub_defaults.get(k)) for k, v in value.items())
    if isinstance(value, list):
        return all(_is_default(v, None) for v in value)
    return default is not None and value == default


def _zip_too_large() -> RequestEntityTooLargeException:
    return RequestEntityTooLargeException(f"Zipped size must be smaller than {MAX_ZIP_BYTES} bytes")


def _default(value: int | None, default: int) -> int:
    return default if value is None else value


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
