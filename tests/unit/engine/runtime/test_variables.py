"""The environment a runtime starts with."""

from __future__ import annotations

from engine.model.function import FunctionConfig
from engine.runtime.catalog import PYTHON_RUNTIME_DIR
from engine.runtime.variables import INIT_SNAP_START, runtime_environment


def config(**env: str) -> FunctionConfig:
    return FunctionConfig(
        name="fn",
        runtime="python3.11",
        handler="app.handler",
        role="arn:aws:iam::000000000000:role/r",
        memory_mb=256,
        environment=dict(env),
        code_digest="ab" * 32,
        code_sha256="x",
        code_size=1,
        last_modified="2026-01-01T00:00:00.000+0000",
        revision_id="rev",
    )


def test_reserved_variables_are_set() -> None:
    env = runtime_environment(
        config(),
        region="eu-west-1",
        log_stream_name="2026/01/01/[$LATEST]ab",
        runtime_vars={"AWS_EXECUTION_ENV": "AWS_Lambda_python3.11"},
    )
    assert env["AWS_LAMBDA_FUNCTION_NAME"] == "fn"
    assert env["AWS_LAMBDA_FUNCTION_MEMORY_SIZE"] == "256"
    assert env["AWS_LAMBDA_FUNCTION_VERSION"] == "$LATEST"
    assert env["AWS_REGION"] == env["AWS_DEFAULT_REGION"] == "eu-west-1"
    assert env["_HANDLER"] == "app.handler"
    assert env["LAMBDA_TASK_ROOT"] == "/var/task"
    assert env["LAMBDA_RUNTIME_DIR"] == "/var/runtime"
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/aws/lambda/fn"
    assert env["AWS_LAMBDA_LOG_STREAM_NAME"] == "2026/01/01/[$LATEST]ab"
    assert env["AWS_EXECUTION_ENV"] == "AWS_Lambda_python3.11"
    assert env["TZ"] == ":UTC"
    assert "PATH" in env


def test_function_variables_can_override_path_but_never_reserved_ones() -> None:
    env = runtime_environment(
        config(PATH="/custom", AWS_REGION="evil", MY_VAR="1"),
        region="us-east-1",
        log_stream_name="s",
        runtime_vars={},
    )
    assert env["PATH"] == "/custom"
    assert env["MY_VAR"] == "1"
    assert env["AWS_REGION"] == "us-east-1"


def test_python_runtime_directory_holds_the_bootstrap() -> None:
    assert (PYTHON_RUNTIME_DIR / "bootstrap.py").is_file()


def test_runtime_variables_win_over_the_functions_own() -> None:
    env = runtime_environment(
        config(NODE_PATH="/mine"),
        region="us-east-1",
        log_stream_name="s",
        runtime_vars={"NODE_PATH": "/opt/nodejs/node_modules", "AWS_LAMBDA_RUNTIME_API": "x:1"},
    )
    assert env["NODE_PATH"] == "/opt/nodejs/node_modules"
    assert env["AWS_LAMBDA_RUNTIME_API"] == "x:1"


def test_a_text_function_gets_no_log_format_or_level() -> None:
    # As on Lambda (the recordings of a Text function's environment have neither).
    env = runtime_environment(config(), region="r", log_stream_name="s", runtime_vars={})
    assert "AWS_LAMBDA_LOG_FORMAT" not in env
    assert "AWS_LAMBDA_LOG_LEVEL" not in env


def test_a_json_function_gets_its_format_level_and_group() -> None:
    function = config(AWS_LAMBDA_LOG_LEVEL="TRACE").replace(
        log_format="JSON",
        application_log_level="WARN",
        system_log_level="DEBUG",
        log_group="/custom/group",
    )
    env = runtime_environment(function, region="r", log_stream_name="s", runtime_vars={})
    assert env["AWS_LAMBDA_LOG_FORMAT"] == "JSON"
    assert env["AWS_LAMBDA_LOG_LEVEL"] == "WARN"  # the configured level, not the function's own
    assert env["AWS_LAMBDA_LOG_GROUP_NAME"] == "/custom/group"


def test_a_snapstart_function_has_no_log_group_or_stream_variable() -> None:
    env = runtime_environment(
        config(), region="r", log_stream_name="s", runtime_vars={}, init_type=INIT_SNAP_START
    )
    assert env["AWS_LAMBDA_INITIALIZATION_TYPE"] == "snap-start"
    assert "AWS_LAMBDA_LOG_GROUP_NAME" not in env and "AWS_LAMBDA_LOG_STREAM_NAME" not in env
    ordinary = runtime_environment(config(), region="r", log_stream_name="s", runtime_vars={})
    assert ordinary["AWS_LAMBDA_LOG_STREAM_NAME"] == "s"  # control
