"""The settings CreateFunction and UpdateFunctionConfiguration share, checked in AWS's order: JSON
types (`read_settings`), then the rules past the model (`check_runtime`: AWS's own runtime
rules; `check_semantics`: the architecture this host runs, reserved variables, the 4 KB budget;
`check_host_runtime`: what this host runs, once the package is known to be good).

The model's constraints (lengths, ranges, patterns, enums) are checked before, at the API
boundary (`engine.api.validation`), from the service model.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.errors import InvalidParameterValueException, NotImplementedApiError
from engine.model.event_invoke import check_dead_letter_target
from engine.model.json_types import (
    opt_int,
    opt_object,
    opt_str,
    opt_str_list,
    type_error,
)
from engine.model.limits import (
    AWS_RUNTIMES,
    AWS_SUPPORTED_RUNTIMES,
    AWS_SUPPORTED_RUNTIMES_TEXT,
    MAX_ENV_BYTES,
    MAX_EPHEMERAL_STORAGE_MB,
    MAX_MEMORY_MB,
    MAX_TIMEOUT_S,
    MIN_EPHEMERAL_STORAGE_MB,
    MIN_MEMORY_MB,
    MIN_TIMEOUT_S,
    RESERVED_ENV_KEYS,
)
from engine.model.logging_config import (
    LoggingRequest,
    check_logging_request,
    read_logging_config,
)
from engine.model.snap_start import read_snap_start
from engine.model.violations import Violations

# Valid AWS settings this host does not implement: accepted only while they ask for nothing.
_UNSUPPORTED_FIELDS: Final = (
    "KMSKeyArn", "FileSystemConfigs", "ImageConfig", "CodeSigningConfigArn", "TenancyConfig",
    "CapacityProviderConfig", "DurableConfig", "RuntimeConfig", "AcceleratorConfig", "PublishTo",
)  # fmt: skip
_UNSUPPORTED_CODE_SOURCES: Final = (
    "S3Bucket", "S3Key", "S3ObjectVersion", "S3ObjectStorageMode", "ImageUri", "SourceKMSKeyArn",
)  # fmt: skip
_ENV_PREFIX: Final = (
    "Lambda was unable to configure your environment variables because the environment variables"
    " you have provided"
)

# Explains why a runtime name does not run on this host (`RuntimeCatalog.unsupported_reason`).
RuntimeExplainer = Callable[[str], str | None]


@dataclass(frozen=True, slots=True, kw_only=True)
class Settings:
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
    dead_letter_arn: str | None  # DeadLetterConfig.TargetArn: None not sent, "" none
    logging: LoggingRequest | None  # LoggingConfig: None not sent
    snap_start: str | None  # SnapStart.ApplyOn: None not sent


def read_settings(body: Mapping[str, Any], *, with_architectures: bool = True) -> Settings:
    """The JSON-type layer: wrong types fail here, before any constraint."""
    storage = opt_object(body, "EphemeralStorage")
    tracing = opt_object(body, "TracingConfig")
    dead_letter = opt_object(body, "DeadLetterConfig")
    return Settings(
        runtime=opt_str(body, "Runtime"),
        handler=opt_str(body, "Handler"),
        description=opt_str(body, "Description"),
        memory_mb=opt_int(body, "MemorySize"),
        timeout_s=opt_int(body, "Timeout"),
        ephemeral_storage_mb=(
            opt_int(storage, "Size", "EphemeralStorage.Size") if storage is not None else None
        ),
        storage_present=storage is not None,
        environment=_read_environment(body),
        architectures=opt_str_list(body, "Architectures") if with_architectures else None,
        tracing_mode=(
            opt_str(tracing, "Mode", "TracingConfig.Mode") if tracing is not None else None
        ),
        dead_letter_arn=(
            opt_str(dead_letter, "TargetArn", "DeadLetterConfig.TargetArn")
            if dead_letter is not None
            else None
        ),
        logging=read_logging_config(body),
        snap_start=read_snap_start(body),
    )


def _read_environment(body: Mapping[str, Any]) -> dict[str, str] | None:
    env = opt_object(body, "Environment")
    if env is None:
        return None
    variables = opt_object(env, "Variables", "Environment.Variables")
    if variables is None:
        return {}  # {"Environment": {}} clears the variables, as on AWS
    out: dict[str, str] = {}
    for key, value in variables.items():
        if not isinstance(value, str):
            # Name the key, never echo the value: variables often hold secrets.
            raise type_error(f"Environment.Variables.{key}", "a string", value)
        out[str(key)] = value
    return out


def check_runtime(runtime: str | None) -> None:
    """AWS's rules for a Runtime: a name it does not know, or one it no longer creates
    functions on, is refused before anything else about the request."""
    if runtime is None or runtime in AWS_SUPPORTED_RUNTIMES:
        return
    if runtime in AWS_RUNTIMES:
        raise InvalidParameterValueException(
            f"The runtime parameter of {runtime} is no longer supported for creating or updating"
            " AWS Lambda functions. We recommend you use a supported runtime while creating or"
            " updating functions."
        )
    raise InvalidParameterValueException(
        f"Value {runtime} at 'runtime' failed to satisfy constraint: Member must satisfy enum"
        f" value set: {AWS_SUPPORTED_RUNTIMES_TEXT} or be a valid ARN"
    )


def check_host_runtime(
    runtime: str | None,
    *,
    supported_runtimes: Collection[str],
    explain_runtime: RuntimeExplainer | None = None,
) -> None:
    """A runtime AWS runs but this host does not (lambdalet's own refusal)."""
    if runtime is not None and runtime not in supported_runtimes:
        reason = explain_runtime(runtime) if explain_runtime is not None else None
        raise InvalidParameterValueException(
            reason
            or f"The runtime parameter of {runtime} is not supported by this lambdalet host;"
            f" supported runtimes: {', '.join(sorted(supported_runtimes))}"
        )


def check_semantics(
    settings: Settings,
    body: Mapping[str, Any],
    *,
    host_architecture: str | None,
) -> None:
    """Rules past the model: today's quotas, the architecture this host runs, settings it does
    not implement, log levels only with JSON, the dead-letter target, reserved variables, the
    4 KB budget."""
    _check_quotas(settings)
    if settings.architectures is not None and host_architecture is not None:
        check_host_architecture(settings.architectures, host_architecture)
    _reject_unsupported_fields(body)
    check_logging_request(settings.logging)
    if settings.dead_letter_arn:
        check_dead_letter_target(settings.dead_letter_arn)
    if settings.environment:
        _check_environment(settings.environment)


def _check_quotas(settings: Settings) -> None:
    """The model allows more (memory and storage to 32 GB, 90-minute timeouts) than a zip
    function may have; the function's quotas are answered as the model's ranges would be."""
    problems = Violations()
    if settings.timeout_s is not None:
        problems.check_range("timeout", settings.timeout_s, MIN_TIMEOUT_S, MAX_TIMEOUT_S)
    if settings.memory_mb is not None:
        problems.check_range("memorySize", settings.memory_mb, MIN_MEMORY_MB, MAX_MEMORY_MB)
    if settings.ephemeral_storage_mb is not None:
        problems.check_range(
            "ephemeralStorage.size",
            settings.ephemeral_storage_mb,
            MIN_EPHEMERAL_STORAGE_MB,
            MAX_EPHEMERAL_STORAGE_MB,
        )
    problems.raise_if_any()


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


def check_host_architecture(architectures: list[str], host_architecture: str) -> None:
    for arch in architectures:
        if arch != host_architecture:
            raise InvalidParameterValueException(
                f"The architecture {arch} is not supported by this lambdalet host;"
                f" supported architectures: {host_architecture}"
            )


def reject_other_code_sources(code: Mapping[str, Any], *, prefix: str) -> None:
    for key in _UNSUPPORTED_CODE_SOURCES:
        if code.get(key) not in (None, ""):
            raise NotImplementedApiError(
                f"{prefix}{key} is not supported by this lambdalet host;"
                f" only {prefix}ZipFile is supported"
            )


def _reject_unsupported_fields(body: Mapping[str, Any]) -> None:
    for key in _UNSUPPORTED_FIELDS:
        if key in body and not is_default(body[key], None):
            raise NotImplementedApiError(f"{key} is not supported by this lambdalet host yet")


def is_default(value: Any, default: Any) -> bool:
    """True when `value` asks for nothing: empty, false, or equal to AWS's default."""
    if value is None or value is False or value in ("", [], {}):
        return True
    if isinstance(value, Mapping):
        sub_defaults = default if isinstance(default, Mapping) else {}
        return all(is_default(v, sub_defaults.get(k)) for k, v in value.items())
    if isinstance(value, list):
        return all(is_default(v, None) for v in value)
    return default is not None and value == default
