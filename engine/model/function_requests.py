"""CreateFunction / UpdateFunctionConfiguration / UpdateFunctionCode bodies → typed requests, or
AWS's error.

Pure: no I/O. The model's constraints were checked at the API boundary
(`engine.api.validation`); here come JSON types, then the rules past the model, in AWS's order
(`InvalidParameterValueException`).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from typing import Any, Final

from engine.errors import InvalidParameterValueException, NotImplementedApiError
from engine.model.code import decode_zip_file
from engine.model.function import FunctionConfig
from engine.model.function_settings import (
    RuntimeExplainer,
    check_host_architecture,
    check_host_runtime,
    check_runtime,
    check_semantics,
    is_default,
    read_settings,
    reject_other_code_sources,
)
from engine.model.json_types import opt_bool, opt_object, opt_str, opt_str_list, require_object
from engine.model.layers import parse_function_layers
from engine.model.limits import (
    DEFAULT_ARCHITECTURES,
    DEFAULT_EPHEMERAL_STORAGE_MB,
    DEFAULT_MEMORY_MB,
    DEFAULT_TIMEOUT_S,
)
from engine.model.logging_config import LoggingRequest, LoggingSettings, apply_logging
from engine.model.names import name_for_create
from engine.model.snap_start import NONE, check_snap_start
from engine.model.tags import parse_tags
from engine.model.violations import Violations
from engine.model.vpc_config import VpcSelection, parse_vpc_config

MSG_NO_CODE_SOURCE: Final = "Please provide a source for function code."
MSG_RUNTIME_HANDLER_MANDATORY: Final = (
    "Runtime and Handler are mandatory parameters for functions created with deployment packages."
)


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
    environment_set: bool = False  # Environment was sent (AWS then shows it, even empty)
    architectures: tuple[str, ...] = DEFAULT_ARCHITECTURES
    zip_bytes: bytes = field(repr=False)
    publish: bool = False
    vpc: VpcSelection | None = None
    layers: tuple[str, ...] = ()  # layer version ARNs, in order (resolved by the registry)
    tags: dict[str, str] = field(default_factory=dict)
    dead_letter_arn: str | None = None  # DeadLetterConfig.TargetArn
    logging: LoggingSettings = field(default_factory=LoggingSettings)
    snap_start: str = NONE  # SnapStart.ApplyOn


_CHANGEABLE_FIELDS: Final = (
    "runtime", "handler", "role", "description", "memory_mb", "timeout_s", "ephemeral_storage_mb",
    "environment", "snap_start",
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
    dead_letter_arn: str | None = None  # DeadLetterConfig.TargetArn; "" removes it
    logging: LoggingRequest | None = None  # merged into the function's (`apply_logging`)
    snap_start: str | None = None  # SnapStart.ApplyOn
    revision_id: str | None = None

    def replacements(self, current: FunctionConfig) -> dict[str, Any]:
        """The fields of `current` to replace (revision_id is a precondition, not a field).
        Raise AWS's error when the merged LoggingConfig has levels without JSON, or when the
        function would apply SnapStart with a runtime or /tmp SnapStart does not support."""
        names = _CHANGEABLE_FIELDS
        out = {n: getattr(self, n) for n in names if getattr(self, n) is not None}
        if self.environment is not None:
            out["environment_set"] = True
        if self.vpc is not None:
            out["vpc_config_set"] = True
            out["subnet_ids"] = self.vpc.subnet_ids
            out["security_group_ids"] = self.vpc.security_group_ids
            out["vpc_id"] = self.vpc.vpc_id
        if self.dead_letter_arn is not None:
            out["dead_letter_arn"] = self.dead_letter_arn or None
        if self.logging is not None:
            out.update(apply_logging(current.logging(), self.logging).fields())
        check_snap_start(
            apply_on=out.get("snap_start", current.snap_start),
            runtime=out.get("runtime", current.runtime),
            ephemeral_storage_mb=out.get("ephemeral_storage_mb", current.ephemeral_storage_mb),
        )
        return out


@dataclass(frozen=True, slots=True, kw_only=True)
class CodeUpdate:
    """An UpdateFunctionCode request for a zip package."""

    zip_bytes: bytes = field(repr=False)
    revision_id: str | None = None
    publish: bool = False
    architectures: tuple[str, ...] | None = None  # None: keep the function's


def parse_create_function(
    body: Mapping[str, Any],
    *,
    supported_runtimes: Collection[str],
    region: str = "us-east-1",
    host_architecture: str = "x86_64",
    explain_runtime: RuntimeExplainer | None = None,
) -> CreateFunctionRequest:
    """A CreateFunction body (its model constraints already checked) as a typed request; raise
    the ApiError AWS would answer."""
    body = require_object(body)
    raw_name = opt_str(body, "FunctionName")
    role = opt_str(body, "Role")
    package_type = opt_str(body, "PackageType")
    publish = opt_bool(body, "Publish")
    code = opt_object(body, "Code")
    zip_b64 = opt_str(code, "ZipFile", "Code.ZipFile") if code is not None else None
    settings = read_settings(body)
    tags = parse_tags(body.get("Tags", {}))
    layers = opt_str_list(body, "Layers")
    if raw_name is None or role is None or code is None:
        problems = Violations()  # required by the model: only a caller past the boundary
        for value, path in ((raw_name, "functionName"), (role, "role"), (code, "code")):
            if value is None:
                problems.add_null(path)
        problems.raise_if_any()
    assert raw_name is not None and role is not None and code is not None

    check_runtime(settings.runtime)
    name = name_for_create(raw_name, region)
    if package_type == "Image":
        raise NotImplementedApiError(
            "PackageType Image is not supported by this lambdalet host; only Zip is supported"
        )
    reject_other_code_sources(code, prefix="Code.")
    if zip_b64 is None:
        raise InvalidParameterValueException(MSG_NO_CODE_SOURCE)
    if settings.runtime is None or settings.handler is None:
        raise InvalidParameterValueException(MSG_RUNTIME_HANDLER_MANDATORY)
    check_semantics(settings, body, host_architecture=host_architecture)
    snap_start = settings.snap_start or NONE
    check_snap_start(
        apply_on=snap_start,
        runtime=settings.runtime,
        ephemeral_storage_mb=_default(settings.ephemeral_storage_mb, DEFAULT_EPHEMERAL_STORAGE_MB),
    )
    logging = (
        LoggingSettings()
        if settings.logging is None
        else apply_logging(LoggingSettings(), settings.logging)
    )
    if layers:
        parse_function_layers(layers, region=region)  # before the name is looked up, as AWS
    vpc = parse_vpc_config(body)
    zip_bytes = decode_zip_file(zip_b64)
    check_host_runtime(
        settings.runtime, supported_runtimes=supported_runtimes, explain_runtime=explain_runtime
    )

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
        environment_set=settings.environment is not None,
        architectures=tuple(settings.architectures or DEFAULT_ARCHITECTURES),
        zip_bytes=zip_bytes,
        publish=bool(publish),
        vpc=vpc,
        layers=tuple(layers or ()),
        tags=tags,
        dead_letter_arn=settings.dead_letter_arn or None,
        logging=logging,
        snap_start=snap_start,
    )


def parse_update_function_configuration(
    body: Mapping[str, Any],
    *,
    supported_runtimes: Collection[str],
    explain_runtime: RuntimeExplainer | None = None,
) -> ConfigurationChanges:
    """Validate an UpdateFunctionConfiguration body (the name comes from the path)."""
    body = require_object(body)
    role = opt_str(body, "Role")
    revision_id = opt_str(body, "RevisionId")
    layers = opt_str_list(body, "Layers")
    # Architectures is not a member of UpdateFunctionConfiguration: ignored, as AWS ignores
    # unknown members.
    settings = read_settings(body, with_architectures=False)

    check_runtime(settings.runtime)
    check_semantics(settings, body, host_architecture=None)
    check_host_runtime(
        settings.runtime, supported_runtimes=supported_runtimes, explain_runtime=explain_runtime
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
        dead_letter_arn=settings.dead_letter_arn,
        logging=settings.logging,
        snap_start=settings.snap_start,
        revision_id=revision_id,
    )


def parse_update_function_code(
    body: Mapping[str, Any], *, host_architecture: str = "x86_64"
) -> CodeUpdate:
    """Validate an UpdateFunctionCode body (ZipFile sits at the top level here, not in Code)."""
    body = require_object(body)
    zip_b64 = opt_str(body, "ZipFile")
    revision_id = opt_str(body, "RevisionId")
    publish = opt_bool(body, "Publish")
    dry_run = opt_bool(body, "DryRun")
    architectures = opt_str_list(body, "Architectures")

    reject_other_code_sources(body, prefix="")
    if "PublishTo" in body and not is_default(body["PublishTo"], ""):
        raise NotImplementedApiError("PublishTo is not supported by this lambdalet host yet")
    if dry_run:
        raise NotImplementedApiError("DryRun is not supported by this lambdalet host yet")
    if zip_b64 is None:
        raise InvalidParameterValueException(MSG_NO_CODE_SOURCE)
    if architectures is not None:
        check_host_architecture(architectures, host_architecture)
    return CodeUpdate(
        zip_bytes=decode_zip_file(zip_b64),
        revision_id=revision_id,
        publish=bool(publish),
        architectures=tuple(architectures) if architectures is not None else None,
    )


def _default(value: int | None, default: int) -> int:
    return default if value is None else value
