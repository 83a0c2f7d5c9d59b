"""A function's LoggingConfig: the members a request sends, the settings a function keeps, and
AWS's rules between them (pure).

The model checks each member (LogFormat JSON|Text, the level enums, LogGroup's pattern). Past
the model: log levels exist only with JSON (AWS refuses them with Text), switching to JSON
sets both levels to INFO unless they are given, switching to Text drops them, and a member
left out keeps its current value (UpdateFunctionConfiguration merges, as AWS does). LogGroup
is shown as ``/aws/lambda/<name>`` unless a custom one is set.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

from engine.errors import InvalidParameterValueException
from engine.model.json_types import opt_object, opt_str

TEXT: Final = "Text"
JSON: Final = "JSON"
DEFAULT_LEVEL: Final = "INFO"  # both levels, when a function turns to JSON without naming them

# AWS's words (as its CloudFormation handler passes them on) for a level sent with Text.
MSG_LEVEL_WITH_TEXT: Final = (
    'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your'
    ' request or change the LogFormat to "Json" and try again.'
)


def default_log_group(function_name: str) -> str:
    return f"/aws/lambda/{function_name}"


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingRequest:
    """A LoggingConfig as sent: None for each member left out."""

    log_format: str | None = None
    application_log_level: str | None = None
    system_log_level: str | None = None
    log_group: str | None = None

    @property
    def has_levels(self) -> bool:
        return self.application_log_level is not None or self.system_log_level is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class LoggingSettings:
    """What a function keeps (the `FunctionConfig` fields of the same names): levels only with
    JSON (empty with Text); an empty log group is the function's default one."""

    log_format: str = TEXT
    application_log_level: str = ""
    system_log_level: str = ""
    log_group: str = ""

    def fields(self) -> dict[str, str]:
        return dataclasses.asdict(self)


def read_logging_config(body: Mapping[str, Any]) -> LoggingRequest | None:
    """The JSON-type layer: a member of the wrong type fails here."""
    raw = opt_object(body, "LoggingConfig")
    if raw is None:
        return None
    return LoggingRequest(
        log_format=opt_str(raw, "LogFormat", "LoggingConfig.LogFormat"),
        application_log_level=opt_str(
            raw, "ApplicationLogLevel", "LoggingConfig.ApplicationLogLevel"
        ),
        system_log_level=opt_str(raw, "SystemLogLevel", "LoggingConfig.SystemLogLevel"),
        log_group=opt_str(raw, "LogGroup", "LoggingConfig.LogGroup"),
    )


def check_logging_request(request: LoggingRequest | None) -> None:
    """A level sent beside an explicit Text is refused whatever the function has now."""
    if request is not None and request.log_format == TEXT and request.has_levels:
        raise InvalidParameterValueException(MSG_LEVEL_WITH_TEXT)


def apply_logging(current: LoggingSettings, request: LoggingRequest) -> LoggingSettings:
    """`current` changed by `request`: CreateFunction applies it to the defaults,
    UpdateFunctionConfiguration to the function's settings. Raise AWS's error for levels on a
    function that would be Text."""
    log_format = request.log_format or current.log_format
    log_group = current.log_group if request.log_group is None else request.log_group
    if log_format == TEXT:
        if request.has_levels:
            raise InvalidParameterValueException(MSG_LEVEL_WITH_TEXT)
        return LoggingSettings(log_format=TEXT, log_group=log_group)
    # JSON: a level not sent stays as it is, unless this request turns the function to JSON
    # (or restates it), which starts both at INFO.
    restart = request.log_format == JSON or current.log_format != JSON
    base_app = DEFAULT_LEVEL if restart else current.application_log_level
    base_system = DEFAULT_LEVEL if restart else current.system_log_level
    return LoggingSettings(
        log_format=JSON,
        application_log_level=request.application_log_level or base_app,
        system_log_level=request.system_log_level or base_system,
        log_group=log_group,
    )


def logging_to_aws(settings: LoggingSettings, function_name: str) -> dict[str, str]:
    """The LoggingConfig a function's configuration shows (always, LogGroup included)."""
    out = {"LogFormat": settings.log_format}
    if settings.log_format == JSON:
        out["ApplicationLogLevel"] = settings.application_log_level or DEFAULT_LEVEL
        out["SystemLogLevel"] = settings.system_log_level or DEFAULT_LEVEL
    out["LogGroup"] = settings.log_group or default_log_group(function_name)
    return out
