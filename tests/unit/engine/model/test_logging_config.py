"""LoggingConfig on CreateFunction and UpdateFunctionConfiguration: the model's checks, AWS's
rules past them, the merge of an update into a function's settings, and the shape shown."""

from __future__ import annotations

from typing import Any

import pytest

from engine.errors import ApiError, InvalidParameterValueException, ValidationException
from engine.model.function_requests import (
    parse_create_function,
    parse_update_function_configuration,
)
from engine.model.logging_config import (
    MSG_LEVEL_WITH_TEXT,
    LoggingRequest,
    LoggingSettings,
    apply_logging,
    logging_to_aws,
)
from tests.unit.engine.model.test_validation import (
    CURRENT,
    RUNTIMES,
    create,
    create_body,
    one,
    validated,
)

JSON_INFO = LoggingSettings(
    log_format="JSON", application_log_level="INFO", system_log_level="INFO"
)


def shown(settings: LoggingSettings, name: str = "my-fn") -> dict[str, str]:
    return logging_to_aws(settings, name)


# --- CreateFunction ------------------------------------------------------------------------


def test_without_logging_config_a_function_is_text_in_its_default_group() -> None:
    req = create()
    assert req.logging == LoggingSettings()
    assert shown(req.logging) == {"LogFormat": "Text", "LogGroup": "/aws/lambda/my-fn"}


def test_json_starts_both_levels_at_info() -> None:
    req = create(LoggingConfig={"LogFormat": "JSON"})
    assert req.logging == JSON_INFO
    assert shown(req.logging) == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": "/aws/lambda/my-fn",
    }


def test_every_member_is_kept() -> None:
    req = create(
        LoggingConfig={
            "LogFormat": "JSON",
            "ApplicationLogLevel": "TRACE",
            "SystemLogLevel": "WARN",
            "LogGroup": "/custom/group#1",
        }
    )
    assert shown(req.logging) == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "TRACE",
        "SystemLogLevel": "WARN",
        "LogGroup": "/custom/group#1",
    }


def test_a_custom_group_with_text() -> None:
    req = create(LoggingConfig={"LogGroup": "cool_lambda"})
    assert shown(req.logging) == {"LogFormat": "Text", "LogGroup": "cool_lambda"}


def test_an_empty_logging_config_asks_for_nothing() -> None:
    assert create(LoggingConfig={}).logging == LoggingSettings()


@pytest.mark.parametrize(
    "config",
    [
        {"LogFormat": "Text", "ApplicationLogLevel": "DEBUG"},
        {"LogFormat": "Text", "SystemLogLevel": "WARN"},
        {"ApplicationLogLevel": "DEBUG"},  # Text is the default
        {"SystemLogLevel": "INFO", "LogGroup": "g"},
    ],
)
def test_levels_without_json_are_refused_in_aws_words(config: dict[str, str]) -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        create(LoggingConfig=config)
    assert caught.value.message == MSG_LEVEL_WITH_TEXT
    assert caught.value.message == (
        'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your'
        ' request or change the LogFormat to "Json" and try again.'
    )


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            {"LogFormat": "json"},
            "Value 'json' at 'loggingConfig.logFormat' failed to satisfy constraint: Member"
            " must satisfy enum value set: [JSON, Text]",
        ),
        (
            {"LogFormat": "JSON", "ApplicationLogLevel": "WARNING"},
            "Value 'WARNING' at 'loggingConfig.applicationLogLevel' failed to satisfy"
            " constraint: Member must satisfy enum value set: [TRACE, DEBUG, INFO, WARN, ERROR,"
            " FATAL]",
        ),
        (
            {"LogFormat": "JSON", "SystemLogLevel": "ERROR"},
            "Value 'ERROR' at 'loggingConfig.systemLogLevel' failed to satisfy constraint:"
            " Member must satisfy enum value set: [DEBUG, INFO, WARN]",
        ),
        (
            {"LogGroup": "has space"},
            "Value 'has space' at 'loggingConfig.logGroup' failed to satisfy constraint: Member"
            " must satisfy regular expression pattern: [\\.\\-_/#A-Za-z0-9]+",
        ),
        (
            {"LogGroup": "g" * 513},
            f"Value '{'g' * 513}' at 'loggingConfig.logGroup' failed to satisfy constraint:"
            " Member must have length less than or equal to 512",
        ),
    ],
)
def test_the_models_constraints(config: dict[str, str], message: str) -> None:
    with pytest.raises(ValidationException) as caught:
        create(LoggingConfig=config)
    assert caught.value.message == one(message)


@pytest.mark.parametrize(
    ("config", "path", "expected"),
    [
        ("JSON", "LoggingConfig", "an object"),
        ({"LogFormat": 1}, "LoggingConfig.LogFormat", "a string"),
        ({"LogGroup": ["g"]}, "LoggingConfig.LogGroup", "a string"),
    ],
)
def test_wrong_json_types(config: Any, path: str, expected: str) -> None:
    # Past the model check (a client that skips it sends such bodies): the JSON-type layer.
    body = create_body(LoggingConfig=config)
    with pytest.raises(InvalidParameterValueException) as caught:
        parse_create_function(body, supported_runtimes=RUNTIMES)
    assert caught.value.message.startswith(
        f"Invalid type for parameter {path}: expected {expected}"
    )


# --- UpdateFunctionConfiguration -----------------------------------------------------------


TEXT = LoggingSettings()


def update(config: dict[str, str], current: LoggingSettings = TEXT) -> dict[str, Any]:
    body = validated(
        "UpdateFunctionConfiguration", {"FunctionName": "my-fn", "LoggingConfig": config}
    )
    del body["FunctionName"]
    changes = parse_update_function_configuration(body, supported_runtimes=RUNTIMES)
    return changes.replacements(CURRENT.replace(**current.fields()))


def test_update_to_json_then_back_to_text_drops_the_levels() -> None:
    to_json = update({"LogFormat": "JSON"})
    assert to_json == JSON_INFO.fields()
    back = update({"LogFormat": "Text"}, LoggingSettings(**to_json))
    assert back == LoggingSettings().fields()


@pytest.mark.parametrize(
    ("config", "after"),
    [
        ({"LogFormat": "JSON"}, JSON_INFO),
        (
            {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"},
            LoggingSettings(
                log_format="JSON", application_log_level="DEBUG", system_log_level="INFO"
            ),
        ),
        (
            {"LogFormat": "JSON", "SystemLogLevel": "DEBUG"},
            LoggingSettings(
                log_format="JSON", application_log_level="INFO", system_log_level="DEBUG"
            ),
        ),
        ({"LogGroup": "cool_lambda"}, LoggingSettings(log_group="cool_lambda")),
    ],
)
def test_partial_updates_of_a_text_function(config: dict[str, str], after: LoggingSettings) -> None:
    # The four partial updates AWS answered in its recordings (tests/integration/parity).
    assert update(config) == after.fields()


def test_a_member_left_out_keeps_its_value_on_a_json_function() -> None:
    current = LoggingSettings(
        log_format="JSON", application_log_level="ERROR", system_log_level="WARN", log_group="g"
    )
    assert update({"ApplicationLogLevel": "DEBUG"}, current) == {
        **current.fields(),
        "application_log_level": "DEBUG",
    }
    assert update({"LogGroup": "h"}, current) == {**current.fields(), "log_group": "h"}
    # Naming JSON again starts the levels not named at INFO.
    assert update({"LogFormat": "JSON", "SystemLogLevel": "DEBUG"}, current) == {
        **current.fields(),
        "application_log_level": "INFO",
        "system_log_level": "DEBUG",
    }


def test_text_keeps_a_custom_group() -> None:
    current = LoggingSettings(
        log_format="JSON", application_log_level="INFO", system_log_level="INFO", log_group="g"
    )
    assert update({"LogFormat": "Text"}, current) == LoggingSettings(log_group="g").fields()


@pytest.mark.parametrize(
    ("config", "current"),
    [
        ({"ApplicationLogLevel": "DEBUG"}, LoggingSettings()),  # the function is Text
        ({"LogFormat": "Text", "SystemLogLevel": "DEBUG"}, JSON_INFO),
    ],
)
def test_update_refuses_levels_on_a_text_function(
    config: dict[str, str], current: LoggingSettings
) -> None:
    with pytest.raises(ApiError) as caught:
        update(config, current)
    assert type(caught.value) is InvalidParameterValueException
    assert caught.value.message == MSG_LEVEL_WITH_TEXT


def test_an_update_without_logging_config_changes_none_of_it() -> None:
    changes = parse_update_function_configuration({"MemorySize": 256}, supported_runtimes=RUNTIMES)
    assert changes.replacements(CURRENT.replace(**JSON_INFO.fields())) == {"memory_mb": 256}


def test_apply_logging_is_pure() -> None:
    current = LoggingSettings()
    assert apply_logging(current, LoggingRequest(log_format="JSON")) == JSON_INFO
    assert current == LoggingSettings()
