"""The environment variables a runtime starts with."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from engine.model.function import FunctionConfig
from engine.model.logging_config import JSON
from engine.runtime.logs import log_group_name
from sandbox.protocol import INIT_TYPE_SNAP_START
from sandbox.spec import RUNTIME_DIR, TASK_ROOT

INIT_ON_DEMAND: Final = "on-demand"
INIT_PROVISIONED: Final = "provisioned-concurrency"
INIT_SNAP_START: Final = INIT_TYPE_SNAP_START

# Variables a function may override (Lambda lets you change these).
_DEFAULTS: Final = {
    "PATH": "/usr/local/bin:/usr/bin/:/bin:/opt/bin",
    "LANG": "en_US.UTF-8",
    "LD_LIBRARY_PATH": (
        "/lib64:/usr/lib64:/var/runtime:/var/runtime/lib:/var/task:/var/task/lib:/opt/lib"
    ),
}


def runtime_environment(
    function: FunctionConfig,
    *,
    region: str,
    log_stream_name: str,
    runtime_vars: Mapping[str, str],
    init_type: str = INIT_ON_DEMAND,
) -> dict[str, str]:
    """The runtime's whole environment: defaults, then the function's own, then reserved
    ones, then the runtime's (`RuntimeKind.env`: AWS_EXECUTION_ENV, AWS_LAMBDA_RUNTIME_API,
    NODE_PATH). A SnapStart version's has no log group or stream (as on Lambda: its
    environments are clones of one initialised runtime; each still logs to its own stream)."""
    env = dict(_DEFAULTS)
    env.update(function.environment)
    env.update(
        {
            "AWS_LAMBDA_FUNCTION_NAME": function.name,
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(function.memory_mb),
            "AWS_LAMBDA_FUNCTION_VERSION": function.version,
            "AWS_REGION": region,
            "AWS_DEFAULT_REGION": region,
            "AWS_LAMBDA_INITIALIZATION_TYPE": init_type,
            "AWS_LAMBDA_LOG_GROUP_NAME": log_group_name(function),
            "AWS_LAMBDA_LOG_STREAM_NAME": log_stream_name,
            "_HANDLER": function.handler,
            "LAMBDA_TASK_ROOT": TASK_ROOT,
            "LAMBDA_RUNTIME_DIR": RUNTIME_DIR,
            "TZ": ":UTC",
        }
    )
    if init_type == INIT_SNAP_START:
        del env["AWS_LAMBDA_LOG_GROUP_NAME"], env["AWS_LAMBDA_LOG_STREAM_NAME"]
    if function.log_format == JSON:
        # As Lambda sets them for a JSON function only; runtimes format and filter by them.
        env["AWS_LAMBDA_LOG_FORMAT"] = JSON
        env["AWS_LAMBDA_LOG_LEVEL"] = function.application_log_level
    env.update(runtime_vars)
    return env
