"""Turn decoded CreateFunction / UpdateFunction* bodies into typed requests, or AWS's error.

Pure: no I/O. Checks run in AWS's order: JSON types, then the model's constraints (all at once, as
one `ValidationException`), then semantic rules (`InvalidParameterValueException`).
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from engine.errors import (
    InvalidParameterValueException,
    NotImplementedApiError,
    RequestEntityTooLargeException,
)
from engine.model.rules import (
    _PACKAGE_TYPES,
    _QUALIFIER_RE,
    AWS_ARCHITECTURES,
    AWS_RUNTIMES,
    DEFAULT_ARCHITECTURES,
    DEFAULT_EPHEMERAL_STORAGE_MB,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
    ENV_KEY_PATTERN,
    FUNCTION_NAME_PATTERN,
    HANDLER_PATTERN,
    MAX_DESCRIPTION_CHARS,
    MAX_EPHEMERAL_STORAGE_MB,
    MAX_FUNCTION_ARN_CHARS,
    MAX_FUNCTION_NAME_CHARS,
    MAX_HANDLER_CHARS,
    MAX_LIST_ITEMS,
    MAX_MEMORY_MB,
    MAX_QUALIFIER_CHARS,
    MAX_ROLE_CHARS,
    MAX_TIMEOUT_S,
    MIN_EPHEMERAL_STORAGE_MB,
    MIN_MEMORY_MB,
    MIN_TIMEOUT_S,
    QUALIFIER_PATTERN,
    ROLE_PATTERN,
    _check_architectures,
    _check_function_name,
    _check_role,
    _check_settings,
    _opt_bool,
    _opt_object,
    _opt_str,
    _opt_str_list,
    _read_settings,
    _require_object,
    _Settings,
    _Violations,
)

# Public names that live in engine.model.rules stay importable from here.
__all__ = [
    "AWS_ARCHITECTURES", "AWS_RUNTIMES", "DEFAULT_ARCHITECTURES", "DEFAULT_EPHEMERAL_STORAGE_MB",
    "DEFAULT_MEMORY_MB", "DEFAULT_TIMEOUT_S", "ENV_KEY_PATTERN", "FUNCTION_NAME_PATTERN",
    "HANDLER_PATTERN", "MAX_DESCRIPTION_CHARS", "MAX_ENV_BYTES", "MAX_EPHEMERAL_STORAGE_MB",
    "MAX_FUNCTION_ARN_CHARS", "MAX_FUNCTION_NAME_CHARS", "MAX_HANDLER_CHARS", "MAX_LIST_ITEMS",
    "MAX_MEMORY_MB", "MAX_QUALIFIER_CHARS", "MAX_ROLE_CHARS", "MAX_SYNC_PAYLOAD_BYTES",
    "MAX_TIMEOUT_S", "MAX_UNZIPPED_BYTES", "MAX_ZIP_BYTES", "MIN_EPHEMERAL_STORAGE_MB",
    "MIN_MEMORY_MB", "MIN_TIMEOUT_S", "MSG_BAD_ZIP", "MSG_NO_CODE_SOURCE",
    "MSG_RUNTIME_HANDLER_MANDATORY", "QUALIFIER_PATTERN", "RESERVED_ENV_KEYS", "ROLE_PATTERN",
    "CodeUpdate", "ConfigurationChanges", "CreateFunctionRequest", "decode_zip_file",
    "parse_create_function", "parse_function_name", "parse_update_function_code",
    "parse_update_function_configuration", "validate_max_items", "validate_qualifier",
]  # fmt: skip

# --- Limits (AWS quotas for zip functions) ---------------------------------------------------

# Sizes AWS words "must be smaller than N bytes" are exclusive bounds: N itself is rejected.
MAX_ZIP_BYTES: Final = 50 * 1024 * 1024  # decoded ZipFile of a direct upload
MAX_UNZIPPED_BYTES: Final = 262_144_000  # 250 MiB, the whole extracted package
MAX_ENV_BYTES: Final = 4096  # inclusive: the compact JSON of Environment.Variables, UTF-8
MAX_SYNC_PAYLOAD_BYTES: Final = 6 * 1024 * 1024  # RequestResponse invoke payload

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
    "DeadLetterConfig", "KMSKeyArn", "FileSystemConfigs", "ImageConfig",
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
    vpc: VpcSelection | None = None
    layers: tuple[str, ...] = ()  # layer version ARNs, in order (resolved by the registry)
    tags: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class VpcSelection:
    """A VpcConfig as requested; `vpc_id` is filled in once the network knows the subnets.
    Empty lists detach the function from its VPC (AWS's way)."""

    subnet_ids: tuple[str, ...] = ()
    security_group_ids: tuple[str, ...] = ()
    vpc_id: str = ""


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
    vpc: VpcSelection | None = None
    layers: tuple[str, ...] | None = None  # layer version ARNs; () removes every layer
    revision_id: str | None = None

    def replacements(self) -> dict[str, Any]:
        """The `FunctionConfig` fields to replace (revision_id is a precondition, not a field)."""
        names = _CHANGEABLE_FIELDS
        out = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        if self.vpc is not None:
            out["subnet_ids"] = self.vpc.subnet_ids
            out["security_group_ids"] = self.vpc.security_group_ids
            out["vpc_id"] = self.vpc.vpc_id
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeUpdate:
    """An UpdateFunctionCode request for a zip package."""

    zip_bytes: bytes = field(repr=False)
    revision_id: str | None = None
    publish: bool = False
    architectures: tuple[str, ...] | None = None  # None: keep the function's


# Explains why a runtime name does not run on this host (`RuntimeCatalog.unsupported_reason`).
RuntimeExplainer = Callable[[str], str | None]


# --- Public parsers ------------------------------------------------------------------------


def parse_create_function(
    body: Mapping[str, Any],
    *,
    supported_runtimes: Collection[str],
    host_architecture: str = "x86_64",
    explain_runtime: RuntimeExplainer | None = None,
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
    tags = parse_tags(body.get("Tags", {}))
    layers = _opt_str_list(body, "Layers")

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
        explain_runtime=explain_runtime,
    )
    vpc = parse_vpc_config(body)
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
        vpc=vpc,
        layers=tuple(layers or ()),
        tags=tags,
    )


def parse_update_function_configuration(
    body: Mapping[str, Any],
    *,
    supported_runtimes: Collection[str],
    function_name: str | None = None,
    explain_runtime: RuntimeExplainer | None = None,
) -> ConfigurationChanges:
    """Validate an UpdateFunctionConfiguration body (the name comes from the path).

    `function_name`, when given, lets a LoggingConfig that merely restates the default log group
    through; without it any LogGroup counts as a change this host does not support.
    """
    body = _require_object(body)
    role = _opt_str(body, "Role")
    revision_id = _opt_str(body, "RevisionId")
    layers = _opt_str_list(body, "Layers")
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
        explain_runtime=explain_runtime,
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
        vpc=parse_vpc_config(body),
        layers=None if layers is None else tuple(layers),
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


MAX_VPC_SUBNETS: Final = 16
MAX_VPC_SECURITY_GROUPS: Final = 5
_SUBNET_ID_RE: Final = re.compile(r"^subnet-[0-9a-z][0-9a-z-]{0,62}$")
_SG_ID_RE: Final = re.compile(r"^sg-[0-9a-z][0-9a-z-]{0,62}$")


def parse_vpc_config(body: Mapping[str, Any]) -> VpcSelection | None:
    """The shape of VpcConfig (whether its subnets exist is the network's business)."""
    vpc = _opt_object(body, "VpcConfig")
    if vpc is None:
        return None
    subnets = _opt_str_list(vpc, "SubnetIds") or []
    groups = _opt_str_list(vpc, "SecurityGroupIds") or []
    if _opt_bool(vpc, "Ipv6AllowedForDualStack"):
        raise NotImplementedApiError(
            "VpcConfig.Ipv6AllowedForDualStack is not supported by this lambdalet host: "
            "ENIs are IPv4 only"
        )
    if len(subnets) > MAX_VPC_SUBNETS:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value at 'vpcConfig.subnetIds' failed to satisfy "
            f"constraint: Member must have length less than or equal to {MAX_VPC_SUBNETS}"
        )
    if len(groups) > MAX_VPC_SECURITY_GROUPS:
        raise InvalidParameterValueException(
            f"1 validation error detected: Value at 'vpcConfig.securityGroupIds' failed to "
            f"satisfy constraint: Member must have length less than or equal to "
            f"{MAX_VPC_SECURITY_GROUPS}"
        )
    if bool(subnets) != bool(groups):
        raise InvalidParameterValueException(
            "VpcConfig needs both SubnetIds and SecurityGroupIds, or neither (to leave the VPC)"
        )
    for subnet in subnets:
        if not _SUBNET_ID_RE.match(subnet):
            raise InvalidParameterValueException(
                f"Error occurred while DescribeSubnets. EC2 Error Code: InvalidSubnetID.Malformed. "
                f'EC2 Error Message: Invalid id: "{subnet}"'
            )
    for group in groups:
        if not _SG_ID_RE.match(group):
            raise InvalidParameterValueException(
                f"Error occurred while DescribeSecurityGroups. EC2 Error Code: "
                f'InvalidGroupId.Malformed. EC2 Error Message: Invalid id: "{group}"'
            )
    return VpcSelection(
        subnet_ids=tuple(dict.fromkeys(subnets)), security_group_ids=tuple(dict.fromkeys(groups))
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


MAX_TAGS: Final = 50
MAX_TAG_KEY_CHARS: Final = 128
MAX_TAG_VALUE_CHARS: Final = 256
_TAG_RE: Final = re.compile(r"[\w\s_.:/=+\-@]*")


def parse_tags(value: object) -> dict[str, str]:
    """A `Tags` map (CreateFunction, TagResource): string keys and values, AWS's limits."""
    if not isinstance(value, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in value.items()
    ):
        raise InvalidParameterValueException("Tags must be a map of string keys to string values")
    if len(value) > MAX_TAGS:
        raise InvalidParameterValueException(
            f"Number of tags exceeds resource tag limit ({MAX_TAGS})."
        )
    problems = _Violations()
    for key, val in value.items():
        if not 1 <= len(key) <= MAX_TAG_KEY_CHARS or not _TAG_RE.fullmatch(key):
            problems.add("tags.key", key, "Member must have length between 1 and 128 and "
                         "contain only letters, digits, spaces and _.:/=+-@")  # fmt: skip
        if len(val) > MAX_TAG_VALUE_CHARS or not _TAG_RE.fullmatch(val):
            problems.add("tags.value", val, "Member must have length less than or equal to "
                         "256 and contain only letters, digits, spaces and _.:/=+-@")  # fmt: skip
        if key.lower().startswith("aws:"):
            raise InvalidParameterValueException("Tag keys must not start with aws:")
    problems.raise_if_any()
    return dict(value)


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


# --- Semantic rules, past the model ----------------------------------------------------------


def _check_semantics(
    settings: _Settings,
    body: Mapping[str, Any],
    *,
    supported_runtimes: Collection[str],
    host_architecture: str | None,
    function_name: str | None,
    explain_runtime: RuntimeExplainer | None = None,
) -> None:
    """Rules past the model: what this host runs, reserved variables, the 4 KB budget."""
    runtime = settings.runtime
    if runtime is not None and runtime not in supported_runtimes:
        reason = explain_runtime(runtime) if explain_runtime is not None else None
        raise InvalidParameterValueException(
            reason
            or f"The runtime parameter of {runtime} is not supported by this lambdalet host;"
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


def _check_host_architecture(architectures: list[str], host_architecture: str) -> None:
    for arch in architectures:
        if arch != host_architecture:
            raise InvalidParameterValueException(
                f"The architecture {arch} is not supported by this lambdalet host;"
                f" supported architectures: {host_architecture}"
            )


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
