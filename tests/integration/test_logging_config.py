"""LoggingConfig end to end, with boto3 against the real daemon: what the control plane answers,
and what functions log in each format (LogType=Tail shows it as it was written)."""

from __future__ import annotations

import base64
import json
import re
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import ROLE, Daemon, make_zip
from tests.integration.fnhelpers import ONE_VCPU_MB, TS, UUID, host_node_runtime

pytestmark = pytest.mark.privileged

TEXT_DEFAULT = "Text"
MSG_LEVEL_WITH_TEXT = (
    'LogLevel is not supported when LogFormat is set to "Text". Remove LogLevel from your'
    ' request or change the LogFormat to "Json" and try again.'
)
PY_LOGGING = """
import logging
logger = logging.getLogger("app")

def handler(event, context):
    logging.debug("debug from root")
    logger.info("info from app", extra={"orderId": 7})
    logging.warning("warning from root")
    print("printed plainly")
    try:
        {}["missing"]
    except KeyError:
        logger.exception("lookup failed")
    if event.get("raise"):
        raise ValueError("handler failed")
    return {"group": context.log_group_name}
"""
NODE_LOGGING = """
exports.handler = async (event, context) => {
  console.debug("node debug");
  console.log("node log", 1);
  console.warn("node warn");
  console.error(new TypeError("node error"));
  return { group: context.logGroupName };
};
"""


@pytest.fixture
def lam(daemon: Daemon) -> Any:
    return daemon.lambda_client()


@pytest.fixture
def make(lam: Any) -> Iterator[Callable[..., str]]:
    """Create a function with boto3 (python3.11 unless told); deleted after the test."""
    names: list[str] = []

    def create(
        code: str = "def handler(event, context):\n    return 1\n",
        *,
        runtime: str = "python3.11",
        handler: str = "lambda_function.handler",
        filename: str = "lambda_function.py",
        **settings: Any,
    ) -> str:
        name = f"lc-{uuid.uuid4().hex[:10]}"
        lam.create_function(
            FunctionName=name,
            Runtime=runtime,
            Role=ROLE,
            Handler=handler,
            Code={"ZipFile": base64.b64decode(make_zip({filename: code}))},
            **settings,
        )
        names.append(name)
        return name

    yield create
    for name in names:
        lam.delete_function(FunctionName=name)


def tail(lam: Any, name: str, payload: Any = None, **kw: Any) -> tuple[dict[str, Any], str]:
    out = lam.invoke(
        FunctionName=name, LogType="Tail", Payload=json.dumps(payload or {}).encode(), **kw
    )
    return out, base64.b64decode(out["LogResult"]).decode()


def json_lines(log: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in log.splitlines() if line.startswith("{")]


def refused(call: Callable[..., Any], **kw: Any) -> tuple[str, str]:
    with pytest.raises(ClientError) as caught:
        call(**kw)
    error = caught.value.response["Error"]
    return error["Code"], error["Message"]


# --- the control plane ---------------------------------------------------------------------


def test_create_shows_the_default_or_the_requested_logging_config(
    lam: Any, make: Callable[..., str]
) -> None:
    plain = make()
    assert lam.get_function_configuration(FunctionName=plain)["LoggingConfig"] == {
        "LogFormat": "Text",
        "LogGroup": f"/aws/lambda/{plain}",
    }
    structured = make(LoggingConfig={"LogFormat": "JSON"})
    expected = {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{structured}",
    }
    assert lam.get_function(FunctionName=structured)["Configuration"]["LoggingConfig"] == expected
    listed = [
        f["LoggingConfig"]
        for f in lam.list_functions()["Functions"]
        if f["FunctionName"] == structured
    ]
    assert listed == [expected]
    custom = make(
        LoggingConfig={
            "LogFormat": "JSON",
            "ApplicationLogLevel": "ERROR",
            "SystemLogLevel": "DEBUG",
            "LogGroup": "/shared/group",
        }
    )
    assert lam.get_function_configuration(FunctionName=custom)["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "ERROR",
        "SystemLogLevel": "DEBUG",
        "LogGroup": "/shared/group",
    }


def test_updates_merge_switch_formats_and_versions_keep_theirs(
    lam: Any, make: Callable[..., str]
) -> None:
    name = make()
    to_json = lam.update_function_configuration(
        FunctionName=name, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"}
    )
    assert to_json["LoggingConfig"] == {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "DEBUG",
        "SystemLogLevel": "INFO",
        "LogGroup": f"/aws/lambda/{name}",
    }
    version = lam.publish_version(FunctionName=name)["Version"]
    grouped = lam.update_function_configuration(
        FunctionName=name, LoggingConfig={"LogGroup": "cool_lambda"}
    )
    assert grouped["LoggingConfig"] == {**to_json["LoggingConfig"], "LogGroup": "cool_lambda"}
    back = lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "Text"})
    assert back["LoggingConfig"] == {"LogFormat": "Text", "LogGroup": "cool_lambda"}
    assert lam.get_function_configuration(FunctionName=name)["LoggingConfig"] == {
        "LogFormat": "Text",
        "LogGroup": "cool_lambda",
    }
    published = lam.get_function_configuration(FunctionName=name, Qualifier=version)
    assert published["LoggingConfig"] == to_json["LoggingConfig"]


def test_levels_without_json_and_values_outside_the_model_are_refused(
    lam: Any, make: Callable[..., str]
) -> None:
    base = dict(
        FunctionName=f"lc-{uuid.uuid4().hex[:10]}",
        Runtime="python3.11",
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": base64.b64decode(make_zip({"lambda_function.py": "x = 1\n"}))},
    )
    assert refused(
        lam.create_function,
        **base,
        LoggingConfig={"LogFormat": "Text", "SystemLogLevel": "WARN"},
    ) == ("InvalidParameterValueException", MSG_LEVEL_WITH_TEXT)
    assert refused(lam.create_function, **base, LoggingConfig={"ApplicationLogLevel": "DEBUG"}) == (
        "InvalidParameterValueException",
        MSG_LEVEL_WITH_TEXT,
    )
    assert refused(lam.create_function, **base, LoggingConfig={"LogFormat": "json"}) == (
        "ValidationException",
        "1 validation error detected: Value 'json' at 'loggingConfig.logFormat' failed to"
        " satisfy constraint: Member must satisfy enum value set: [JSON, Text]",
    )
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=base["FunctionName"])  # none of them was created
    name = make()
    revision = lam.get_function_configuration(FunctionName=name)["RevisionId"]
    assert refused(
        lam.update_function_configuration,
        FunctionName=name,
        LoggingConfig={"ApplicationLogLevel": "DEBUG"},  # the function is Text
    ) == ("InvalidParameterValueException", MSG_LEVEL_WITH_TEXT)
    assert refused(
        lam.update_function_configuration,
        FunctionName=name,
        LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "ERROR"},
    ) == (
        "ValidationException",
        "1 validation error detected: Value 'ERROR' at 'loggingConfig.systemLogLevel' failed"
        " to satisfy constraint: Member must satisfy enum value set: [DEBUG, INFO, WARN]",
    )
    after = lam.get_function_configuration(FunctionName=name)
    assert after["RevisionId"] == revision  # nothing changed
    assert after["LoggingConfig"]["LogFormat"] == TEXT_DEFAULT


# --- what functions log --------------------------------------------------------------------


def test_a_json_python_function_logs_json_records_filtered_by_level(
    lam: Any, make: Callable[..., str]
) -> None:
    name = make(PY_LOGGING, LoggingConfig={"LogFormat": "JSON"})
    out, log = tail(lam, name)
    rid = out["ResponseMetadata"]["RequestId"]
    assert json.loads(out["Payload"].read()) == {"group": f"/aws/lambda/{name}"}
    lines = log.splitlines()
    assert "printed plainly" in lines  # print stays plain text
    records = json_lines(log)
    start, *app, report = records
    assert start["type"] == "platform.start"
    assert start["record"] == {"requestId": rid, "version": "$LATEST"}
    assert re.fullmatch(TS, start["time"])
    assert report["type"] == "platform.report"
    assert report["record"]["requestId"] == rid and report["record"]["status"] == "success"
    assert set(report["record"]["metrics"]) == {
        "durationMs", "billedDurationMs", "memorySizeMB", "maxMemoryUsedMB", "initDurationMs",
    }  # fmt: skip
    assert report["record"]["metrics"]["memorySizeMB"] == 128
    # INFO: the debug record is filtered out; levels as Python names them.
    assert [(r["level"], r["logger"], r["message"]) for r in app] == [
        ("INFO", "app", "info from app"),
        ("WARNING", "root", "warning from root"),
        ("ERROR", "app", "lookup failed"),
    ]
    assert all(r["requestId"] == rid and re.fullmatch(TS, r["timestamp"]) for r in app)
    assert app[0]["orderId"] == 7
    assert (app[2]["errorType"], app[2]["errorMessage"]) == ("KeyError", "'missing'")
    assert '{}["missing"]' in "".join(app[2]["stackTrace"])
    assert not any(line.startswith(("START ", "END ", "REPORT ")) for line in lines)
    # A warm invoke: the report has no init duration.
    _, warm = tail(lam, name)
    assert "initDurationMs" not in json_lines(warm)[-1]["record"]["metrics"]


def test_levels_and_errors_of_a_json_python_function(lam: Any, make: Callable[..., str]) -> None:
    name = make(
        PY_LOGGING,
        LoggingConfig={
            "LogFormat": "JSON",
            "ApplicationLogLevel": "DEBUG",
            "SystemLogLevel": "WARN",
        },
    )
    out, log = tail(lam, name, {"raise": True})
    rid = out["ResponseMetadata"]["RequestId"]
    assert out["FunctionError"] == "Unhandled"
    records = json_lines(log)
    assert not [r for r in records if "type" in r]  # WARN: no platform events at all
    assert [r.get("level") for r in records] == ["DEBUG", "INFO", "WARNING", "ERROR", None]
    failure = records[-1]  # the runtime's record of the handler's error, as AWS's writes it
    assert failure["log_level"] == "ERROR" and failure["requestId"] == rid
    assert (failure["errorType"], failure["errorMessage"]) == ("ValueError", "handler failed")
    assert any("raise ValueError" in frame for frame in failure["stackTrace"])
    # Back to Text: the next (cold) invoke writes Lambda's text lines again.
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "Text"})
    out, log = tail(lam, name)
    rid = out["ResponseMetadata"]["RequestId"]
    lines = log.splitlines()
    assert lines[0] == f"START RequestId: {rid} Version: $LATEST"
    assert f"END RequestId: {rid}" in lines
    assert re.search(rf"^\[WARNING\]\t{TS}\t{rid}\twarning from root$", log, re.MULTILINE), log
    assert "info from app" not in log  # Text: the root logger stays at WARNING, as on Lambda
    assert not json_lines(log)


def test_system_log_level_debug_adds_runtime_done(lam: Any, make: Callable[..., str]) -> None:
    name = make(LoggingConfig={"LogFormat": "JSON", "SystemLogLevel": "DEBUG"})
    out, log = tail(lam, name)
    rid = out["ResponseMetadata"]["RequestId"]
    events = json_lines(log)
    assert [e["type"] for e in events] == [
        "platform.start", "platform.runtimeDone", "platform.report",
    ]  # fmt: skip
    done = events[1]["record"]
    assert done["requestId"] == rid and done["status"] == "success"
    assert done["metrics"]["producedBytes"] == 1  # the payload "1"


def test_a_timeout_is_the_json_reports_status(lam: Any, make: Callable[..., str]) -> None:
    code = "import time\ndef handler(event, context):\n    time.sleep(5)\n"
    name = make(code, Timeout=1, LoggingConfig={"LogFormat": "JSON"})
    out, log = tail(lam, name)
    assert out["FunctionError"] == "Unhandled"
    report = json_lines(log)[-1]
    assert report["type"] == "platform.report"
    assert (report["record"]["status"], report["record"]["errorType"]) == (
        "timeout",
        "Sandbox.Timedout",
    )
    assert "Task timed out" not in log


def test_a_custom_log_group_is_what_the_function_sees(lam: Any, make: Callable[..., str]) -> None:
    code = (
        "import os\ndef handler(event, context):\n"
        "    return [context.log_group_name, os.environ['AWS_LAMBDA_LOG_GROUP_NAME'],"
        " os.environ.get('AWS_LAMBDA_LOG_FORMAT'), os.environ.get('AWS_LAMBDA_LOG_LEVEL')]\n"
    )
    name = make(code, LoggingConfig={"LogGroup": "/custom/shared"})
    out, _ = tail(lam, name)
    assert json.loads(out["Payload"].read()) == ["/custom/shared", "/custom/shared", None, None]
    lam.update_function_configuration(
        FunctionName=name, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "TRACE"}
    )
    out, _ = tail(lam, name)
    assert json.loads(out["Payload"].read()) == [
        "/custom/shared",
        "/custom/shared",
        "JSON",
        "TRACE",
    ]


NODE = host_node_runtime()


@pytest.mark.skipif(NODE is None, reason="the host has no node")
def test_a_json_node_function_logs_json_filtered_by_level(
    lam: Any, make: Callable[..., str]
) -> None:
    settings = dict(runtime=NODE, handler="index.handler", filename="index.js")
    name = make(
        NODE_LOGGING,
        MemorySize=ONE_VCPU_MB,
        LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "WARN"},
        **settings,
    )
    out, log = tail(lam, name)
    rid = out["ResponseMetadata"]["RequestId"]
    assert json.loads(out["Payload"].read()) == {"group": f"/aws/lambda/{name}"}
    start, warn, error, report = json_lines(log)
    assert (start["type"], report["type"]) == ("platform.start", "platform.report")
    assert warn == {**warn, "level": "WARN", "requestId": rid, "message": "node warn"}
    assert re.fullmatch(TS, warn["timestamp"])
    assert error["level"] == "ERROR"
    assert error["message"]["errorType"] == "TypeError"
    assert error["message"]["errorMessage"] == "node error"
    assert error["message"]["stackTrace"][0] == "TypeError: node error"
    # DEBUG: every console method shows; Text: Node's text lines as before.
    lam.update_function_configuration(
        FunctionName=name, LoggingConfig={"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"}
    )
    _, log = tail(lam, name)
    levels = [r["level"] for r in json_lines(log) if "level" in r]
    assert levels == ["DEBUG", "INFO", "WARN", "ERROR"]
    lam.update_function_configuration(FunctionName=name, LoggingConfig={"LogFormat": "Text"})
    out, log = tail(lam, name)
    rid = out["ResponseMetadata"]["RequestId"]
    assert re.search(rf"^{TS}\t{rid}\tINFO\tnode log 1$", log, re.MULTILINE), log
    assert re.search(rf"^START RequestId: {UUID} Version: \$LATEST$", log, re.MULTILINE), log
