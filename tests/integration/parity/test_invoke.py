"""Invoke: invocation types, logs, qualifiers, the client context, function errors and
timeouts, and the errors of the call itself, as AWS answers them."""

from __future__ import annotations

import base64
import io
import json
import re
import zipfile
from collections.abc import Callable, Mapping
from typing import Any

import pytest

from tests.integration.conftest import ROLE, Daemon
from tests.integration.parity.conftest import RUNTIME, Maker, Scenario
from tests.integration.parity.snapshots import answer, ask, mask

pytestmark = pytest.mark.privileged

Parity = Callable[[str], Scenario]
NODE = "nodejs20.x"  # the host's Node; recordings of other Node versions are read as this

# LocalStack's test functions (tests/aws/services/lambda_/functions/), as they behave.
PY_ECHO = """\
import json


def handler(event, context):
    print(json.dumps(event))
    return event
"""
NODE_ECHO = """\
exports.handler = async function(event, context) {
	console.log(event);
	return event;
};
"""
PY_NONE = """\
import json


def handler(event, context):
    print(json.dumps(event))
    return
"""
NODE_NONE = """\
exports.handler = async (event) => {
   console.log(JSON.stringify(event))
}
"""
# lambda_integration.py, as it answers a plain event (without its AWS SDK imports).
PY_INTEGRATION = """\
import logging

logging.basicConfig(level=logging.INFO)
LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)


def handler(event, context):
    print("Lambda log message - print function", flush=True)
    LOGGER.info("Lambda log message - logging module")
    for h in logging.getLogger().handlers:
        h.flush()
    result_map = {"event": event, "context": {}}
    result_map["context"]["invoked_function_arn"] = context.invoked_function_arn
    result_map["context"]["function_version"] = context.function_version
    result_map["context"]["function_name"] = context.function_name
    result_map["context"]["memory_limit_in_mb"] = context.memory_limit_in_mb
    result_map["context"]["aws_request_id"] = context.aws_request_id
    result_map["context"]["log_group_name"] = context.log_group_name
    result_map["context"]["log_stream_name"] = context.log_stream_name
    if hasattr(context, "client_context"):
        result_map["context"]["client_context"] = context.client_context
    return result_map
"""
NODE_INTEGRATION = """\
exports.handler = function(event, context, callback) {
	console.log('Node.js Lambda handler executing.');
	var result = {context};
	if (callback) {
		callback(null, result);
	} else {
		context.succeed(result);
	}
};
"""
PY_UNHANDLED_ERROR = """\
class CustomException(Exception):
    pass


def handler(event, context):
    raise CustomException("some error occurred")
"""
PY_RUNTIME_ERROR = 'raise Exception("Runtime startup fails")\n'
PY_RUNTIME_EXIT = "import sys\n\nsys.exit(0)\n"
PY_RUNTIME_EXIT_SEGFAULT = """\
import sys

sys.setrecursionlimit(10**6)


def recursion(n):
    print(f"In recursion {n}")
    recursion(n + 1)


recursion(1)
"""
PY_HANDLER_ERROR = 'def handler(event, context):\n    raise Exception("Handler fails")\n'
PY_HANDLER_EXIT = "import sys\n\n\ndef handler(event, context):\n    sys.exit(0)\n"
PY_RESPONSE_SIZE = """\
def handler(event, ctx):
    print("generating bytes...")
    bytenum = event["bytenum"]
    return "a" * bytenum
"""
PY_TIMEOUT = """\
import logging
import time


def handler(event, context):
    try:
        print("starting wait")
        time.sleep(event["wait"])
        print("done waiting")
    except Exception as e:
        print("exception while waiting")
        logging.error(e)
"""
PY_REQUEST_ID = """\
import logging

logging.basicConfig(level=logging.INFO)
LOGGER = logging.getLogger(__name__)
LOGGER.setLevel(logging.INFO)


def handler(event, context):
    LOGGER.info("RequestId log message")
    return context.aws_request_id
"""
# test_lambda_common's "uncaughtexception" scenario.
PY_UNCAUGHT = """\
import json


def handler(event, ctx):
    print(json.dumps(event))
    raise Exception(f"Failed: {event.get('error_msg')}")
"""
NODE_UNCAUGHT = """\
exports.handler = async function(event, context) {
    throw Error(`Error: ${event.error_msg}`)
};
"""
PY_INTROSPECTION = """\
import json
import os


def handler(event, context):
    print(json.dumps(event))
    return {
        "environment": dict(os.environ),
        "ctx": {
            "function_name": context.function_name,
            "function_version": context.function_version,
            "invoked_function_arn": context.invoked_function_arn,
            "memory_limit_in_mb": context.memory_limit_in_mb,
            "aws_request_id": context.aws_request_id,
            "log_group_name": context.log_group_name,
            "log_stream_name": context.log_stream_name,
            "remaining_time_in_millis": context.get_remaining_time_in_millis(),
        },
        "packages": [],
    }
"""
NODE_INTROSPECTION = """\
exports.handler = async function(event, context) {
    return {environment: process.env, ctx: {
            function_name: context.functionName,
            function_version: context.functionVersion,
            invoked_function_arn: context.invokedFunctionArn,
            memory_limit_in_mb: context.memoryLimitInMb,
            aws_request_id: context.awsRequestId,
            log_group_name: context.logGroupName,
            log_stream_name: context.logStreamName,
            remaining_time_in_millis: context.getRemainingTimeInMillis(),
        }, packages: []}
};
"""

_TIMESTAMP = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d+)?Z")
_DURATION = re.compile(r"Duration: \d+(\.\d{2})? ms")
_MEMORY = re.compile(r"Used: \d+ MB")


# --- Reading answers as the recordings did ---------------------------------------------------


def _dated(line: str) -> str:
    """A log line with its timestamps as the recording wrote them."""
    return _TIMESTAMP.sub("date", line)


def _reported(line: str) -> str:
    """A log line with its timestamps and REPORT figures as the recording wrote them (its
    `lambda_report_logs` transformer; compare would hold the several `<duration>`s equal)."""
    line = _DURATION.sub("Duration: <duration> ms", _dated(line))
    return _MEMORY.sub("Used: <memory> MB", line)


def _tail(response: Mapping[str, Any]) -> str:
    return base64.b64decode(response.get("LogResult", "")).decode(errors="replace")


def _logged(daemon: Daemon, name: str) -> list[str]:
    """Every line `name` logged so far (its CloudWatch log group, on AWS)."""
    lines: list[str] = []
    for path in sorted((daemon.state_dir / "logs" / name).glob("*.log")):
        lines += path.read_text(errors="replace").splitlines()
    return lines


_CODE_SHA = {"CodeSha256": "code-sha256"}  # test_lambda.py records every CodeSha256 as this


def _echo(maker: Maker, runtime: str) -> dict[str, Any]:
    """LocalStack's `invocation_echo_lambda` fixture: an echo function on `runtime`."""
    if runtime.startswith("nodejs"):
        return maker.function(Runtime=NODE, Code={"ZipFile": maker.zip(NODE_ECHO, "handler.js")})
    return maker.function(Code={"ZipFile": maker.zip(PY_ECHO)})


# --- TestLambdaFunction (test_lambda_api) ------------------------------------------------------


def test_invalid_invoke(parity: Parity, lam: Any) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_invalid_invoke")
    ask(
        p,
        "invoke_function_name_pattern_exc",
        lam.invoke,
        FunctionName="arn:aws:lambda:us-east-1:123400000000@function:myfn",
        Payload=b"{}",
    )


# --- TestLambdaFeatures (test_lambda) ----------------------------------------------------------


@pytest.mark.parametrize("runtime", ["python3.10", "nodejs16.x"])
def test_invocation_with_logs(parity: Parity, lam: Any, maker: Maker, runtime: str) -> None:
    p = parity(f"test_lambda::TestLambdaFeatures::test_invocation_with_logs[{runtime}]")
    arn = _echo(maker, runtime)["FunctionArn"]
    result = ask(
        p,
        "invoke",
        lam.invoke,
        masks={"LogResult": "log-result"},
        FunctionName=arn,
        Payload=b"{}",
        LogType="Tail",
    )
    p.expect_raw("logs", {"logs": [_reported(line) for line in _tail(result).splitlines(True)]})


def test_invoke_exceptions(parity: Parity, lam: Any) -> None:
    p = parity("test_lambda::TestLambdaFeatures::test_invoke_exceptions")
    ask(p, "invoke_function_doesnotexist", lam.invoke, FunctionName="doesnotexist")


_ECHO_RUNTIMES = ["python3.9", "python3.10", "nodejs16.x"]


@pytest.mark.parametrize("runtime", _ECHO_RUNTIMES)
def test_invocation_type_request_response(
    parity: Parity, lam: Any, maker: Maker, runtime: str
) -> None:
    p = parity(f"test_lambda::TestLambdaFeatures::test_invocation_type_request_response[{runtime}]")
    arn = _echo(maker, runtime)["FunctionArn"]
    ask(
        p,
        "invoke-result",
        lam.invoke,
        FunctionName=arn,
        Payload=b"{}",
        InvocationType="RequestResponse",
    )


@pytest.mark.parametrize("runtime", _ECHO_RUNTIMES)
def test_invocation_type_event(parity: Parity, lam: Any, maker: Maker, runtime: str) -> None:
    p = parity(f"test_lambda::TestLambdaFeatures::test_invocation_type_event[{runtime}]")
    arn = _echo(maker, runtime)["FunctionArn"]
    # Only the answer is compared; that the function then runs is not (asynchronous).
    ask(p, "invoke-result", lam.invoke, FunctionName=arn, Payload=b"{}", InvocationType="Event")


@pytest.mark.parametrize("runtime", _ECHO_RUNTIMES)
def test_invocation_type_dry_run(parity: Parity, lam: Any, maker: Maker, runtime: str) -> None:
    p = parity(f"test_lambda::TestLambdaFeatures::test_invocation_type_dry_run[{runtime}]")
    arn = _echo(maker, runtime)["FunctionArn"]
    ask(p, "invoke-result", lam.invoke, FunctionName=arn, Payload=b"{}", InvocationType="DryRun")


@pytest.mark.parametrize("invocation_type", ["RequestResponse", "Event"])
@pytest.mark.parametrize("language", ["python", "nodejs"])
def test_invocation_type_no_return_payload(
    parity: Parity, lam: Any, maker: Maker, language: str, invocation_type: str
) -> None:
    p = parity(
        f"test_lambda::TestLambdaFeatures::test_invocation_type_no_return_payload[{language}-{invocation_type}]"
    )
    name = maker.name("test-function")
    if language == "nodejs":
        maker.function(name, Runtime=NODE, Code={"ZipFile": maker.zip(NODE_NONE, "handler.js")})
    else:
        maker.function(name, Code={"ZipFile": maker.zip(PY_NONE)})
    ask(
        p,
        "invoke-result",
        lam.invoke,
        FunctionName=name,
        Payload=b"{}",
        InvocationType=invocation_type,
    )


def test_invocation_type_event_error(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaFeatures::test_invocation_type_event_error")
    p.replace("python3.10", RUNTIME)  # recorded on python3.10
    name = maker.name("test-function")
    maker.track(name)
    code = maker.zip(PY_UNHANDLED_ERROR)
    p.expect(
        "creation_response",
        mask(
            answer(lam.create_function, **maker.function_args(name, Code={"ZipFile": code})),
            _CODE_SHA,
        ),
    )
    # Only the answer is compared; the retried runs it causes are not (asynchronous).
    ask(
        p,
        "invocation_response",
        lam.invoke,
        FunctionName=name,
        Payload=b"{}",
        InvocationType="Event",
    )


def test_invocation_with_qualifier(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaFeatures::test_invocation_with_qualifier")
    name = maker.name("test_lambda")
    maker.track(name)
    # The recording uploaded the same code through S3; the answer does not depend on that.
    ask(
        p,
        "creation-response",
        lam.create_function,
        masks=_CODE_SHA,
        FunctionName=name,
        Runtime=RUNTIME,
        Role=ROLE,
        Publish=True,
        Handler="handler.handler",
        Code={"ZipFile": maker.zip(PY_INTEGRATION)},
        Timeout=10,
    )
    result = answer(
        lam.invoke,
        FunctionName=name,
        Payload=b'{"foo": "bar with \'quotes\\""}',
        Qualifier="1",  # the version AWS published (the answer's Version)
        LogType="Tail",
    )
    lines = [_dated(line) for line in _tail(result).splitlines()]
    p.expect_raw("log_result", {"log_result": [x for x in lines if not x.startswith("REPORT")]})
    p.expect("invocation-response", result)


def test_lambda_with_context(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaFeatures::test_lambda_with_context")
    p.replace("nodejs16.x", NODE)
    name = maker.name("test-function")
    maker.track(name)
    p.expect(
        "creation",
        mask(
            answer(
                lam.create_function,
                **maker.function_args(
                    name,
                    Runtime=NODE,
                    Handler="lambda_integration.handler",
                    Code={"ZipFile": maker.zip(NODE_INTEGRATION, "lambda_integration.js")},
                ),
            ),
            _CODE_SHA,
        ),
    )
    ctx = {
        "custom": {"foo": "bar"},
        "client": {"snap": ["crackle", "pop"]},
        "env": {"fizz": "buzz"},
    }
    ask(
        p,
        "invocation",
        lam.invoke,
        FunctionName=name,
        Payload=b"{}",
        ClientContext=base64.b64encode(json.dumps(ctx).encode()).decode(),
    )


# --- TestLambdaErrors (test_lambda) ------------------------------------------------------------


def _failing(maker: Maker, module: str, code: str, **settings: Any) -> str:
    """A python function whose file `module`.py is `code` (LocalStack zips the file under its
    own name when the test names the handler)."""
    name = maker.name("test-function")
    maker.function(
        name,
        Handler=f"{module}.handler",
        Code={"ZipFile": maker.zip(code, f"{module}.py")},
        **settings,
    )
    return name


_ERRORS = {
    "test_lambda_runtime_error": ("lambda_runtime_error", PY_RUNTIME_ERROR),
    "test_lambda_runtime_exit": ("lambda_runtime_exit", PY_RUNTIME_EXIT),
    "test_lambda_runtime_exit_segfault": ("lambda_runtime_exit_segfault", PY_RUNTIME_EXIT_SEGFAULT),
    "test_lambda_handler_error": ("lambda_handler_error", PY_HANDLER_ERROR),
    "test_lambda_handler_exit": ("lambda_handler_exit", PY_HANDLER_EXIT),
}


def test_lambda_runtime_error(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaErrors::test_lambda_runtime_error")
    name = _failing(maker, *_ERRORS["test_lambda_runtime_error"])
    ask(p, "invocation_error", lam.invoke, FunctionName=name)


def test_lambda_runtime_exit(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaErrors::test_lambda_runtime_exit")
    name = _failing(maker, *_ERRORS["test_lambda_runtime_exit"])
    ask(p, "invocation_error", lam.invoke, FunctionName=name)


def test_lambda_runtime_exit_segfault(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaErrors::test_lambda_runtime_exit_segfault")
    name = _failing(maker, *_ERRORS["test_lambda_runtime_exit_segfault"])
    ask(p, "invocation_error", lam.invoke, FunctionName=name)


def test_lambda_handler_error(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaErrors::test_lambda_handler_error")
    name = _failing(maker, *_ERRORS["test_lambda_handler_error"])
    ask(p, "invocation_error", lam.invoke, FunctionName=name)


def test_lambda_handler_exit(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaErrors::test_lambda_handler_exit")
    name = _failing(maker, *_ERRORS["test_lambda_handler_exit"])
    ask(p, "invocation_error", lam.invoke, FunctionName=name)


def test_lambda_runtime_wrapper_not_found(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaErrors::test_lambda_runtime_wrapper_not_found")
    name = _failing(
        maker,
        "lambda_echo",
        PY_ECHO,
        Environment={"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/idontexist.sh"}},
    )
    ask(p, "invocation_error", lam.invoke, FunctionName=name)


def _pytest_id(payload: bytes) -> str:
    """How pytest names a bytes parameter (and so the recording's key does)."""
    return "".join(chr(b) if 32 <= b < 127 else f"\\x{b:02x}" for b in payload)


@pytest.mark.parametrize(
    ("label", "payload"),
    [("body", b"n\x87r\x9e\xe9\xb5\xd7I\xee\x9bmt"), ("message", b"\x99\xeb,j\x07\xa1zYh")],
)
def test_lambda_invoke_payload_encoding_error(
    parity: Parity, lam: Any, maker: Maker, label: str, payload: bytes
) -> None:
    p = parity(
        f"test_lambda::TestLambdaErrors::test_lambda_invoke_payload_encoding_error[{label}-{_pytest_id(payload)}]"
    )
    name = _failing(maker, "lambda_echo", PY_ECHO)
    ask(
        p,
        f"invoke_function_invalid_payload_{label}",
        lam.invoke,
        FunctionName=name,
        Payload=payload,
    )


# --- TestLambdaBaseFeatures, TestLambdaBehavior (test_lambda) ---------------------------------


def test_lambda_too_large_response(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaBaseFeatures::test_lambda_too_large_response")
    name = maker.name("large_payload")
    maker.function(name, Code={"ZipFile": maker.zip(PY_RESPONSE_SIZE)})
    payload = json.dumps({"bytenum": 7 * 1024 * 1024}).encode()
    ask(p, "invoke_result", lam.invoke, FunctionName=name, Payload=payload)
    ask(p, "invoke_result_2", lam.invoke, FunctionName=name, Payload=payload)


def test_function_state(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaBaseFeatures::test_function_state")
    name = maker.name("test-function")
    maker.track(name)
    ask(
        p,
        "create-fn-response",
        lam.create_function,
        masks=_CODE_SHA,
        FunctionName=name,
        Runtime=RUNTIME,
        Handler="handler.handler",
        Role=ROLE,
        Code={"ZipFile": maker.zip(PY_ECHO)},
    )
    ask(p, "get-fn-response", lam.get_function, masks=_CODE_SHA, FunctionName=name)


def test_lambda_invoke_with_timeout(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda::TestLambdaBehavior::test_lambda_invoke_with_timeout")
    name = maker.name("test_lambda")
    maker.track(name)
    p.expect(
        "create-result",
        mask(
            answer(
                lam.create_function,
                **maker.function_args(name, Timeout=1, Code={"ZipFile": maker.zip(PY_TIMEOUT)}),
            ),
            _CODE_SHA,
        ),
    )
    ask(p, "invoke-result", lam.invoke, FunctionName=name, Payload=json.dumps({"wait": 2}))


# --- TestRequestIdHandling (test_lambda) -------------------------------------------------------

_UUID = re.compile(r"^[a-f0-9]{8}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{4}-[a-f0-9]{12}$")


def test_request_id_format(lam: Any) -> None:
    """test_lambda::TestRequestIdHandling::test_request_id_format (nothing recorded: AWS's
    request ids are lowercase UUIDs, in the header and so in boto3's ResponseMetadata)."""
    meta = lam.list_functions()["ResponseMetadata"]
    assert _UUID.match(meta.get("RequestId", "")), meta
    assert meta["HTTPHeaders"].get("x-amzn-requestid") == meta["RequestId"]


def test_request_id_invoke(parity: Parity, lam: Any, maker: Maker, daemon: Daemon) -> None:
    p = parity("test_lambda::TestRequestIdHandling::test_request_id_invoke")
    name = maker.name("test_lambda")
    maker.function(name, Code={"ZipFile": maker.zip(PY_REQUEST_ID)})
    result = ask(p, "invoke_result", lam.invoke, FunctionName=name)
    request_id = result.get("ResponseMetadata", {}).get("RequestId") or "(no request id)"
    # The recording read CloudWatch; lambdalet keeps the same lines in its log files.
    entries = [
        _reported(line.rstrip()).replace(request_id, "<request-id>")
        for line in _logged(daemon, name)
        if "RequestId" in line
    ]
    p.expect_raw("log_entries", {"logs": entries})


# --- TestLambdaRuntimesCommon (test_lambda_common) ---------------------------------------------

_COMMON_RUNTIMES = [
    "python3.8", "python3.9", "python3.10", "python3.11", "python3.12", "python3.13",
    "python3.14", "nodejs20.x",
]  # fmt: skip


def _multiruntime(
    p: Scenario, maker: Maker, runtime: str, python: str, node: str
) -> tuple[str, dict[str, Any]]:
    """A function name and CreateFunction's arguments as `multiruntime_lambda.create_function`
    makes them (no Environment, Tags or Timeout of its own): `python` or `node` as the code,
    on this host's Python or Node; the recording's Python is read as this host's."""
    name = maker.name("multiruntime")
    maker.track(name)
    if runtime.startswith("nodejs"):
        code, handler, run_as = maker.zip(node, "index.js"), "index.handler", NODE
    else:
        code, handler, run_as = maker.zip(python), "handler.handler", RUNTIME
        p.replace(runtime, RUNTIME)
    args = dict(FunctionName=name, Runtime=run_as, Handler=handler, Role=ROLE)
    return name, {**args, "Code": {"ZipFile": code}, "MemorySize": 1024}


@pytest.mark.parametrize("runtime", _COMMON_RUNTIMES)
def test_uncaught_exception_invoke(parity: Parity, lam: Any, maker: Maker, runtime: str) -> None:
    p = parity(
        f"test_lambda_common::TestLambdaRuntimesCommon::test_uncaught_exception_invoke[{runtime}]"
    )
    name, args = _multiruntime(p, maker, runtime, PY_UNCAUGHT, NODE_UNCAUGHT)
    ask(p, "create_function_result", lam.create_function, **args)
    payload = b'{"error_msg": "some_error_msg"}'
    ask(p, "error_result", lam.invoke, FunctionName=name, Payload=payload)


_INTROSPECTED_RUNTIMES = ["python3.11", "python3.12", "nodejs20.x"]


@pytest.mark.parametrize("runtime", _INTROSPECTED_RUNTIMES)
def test_introspection_invoke(parity: Parity, lam: Any, maker: Maker, runtime: str) -> None:
    p = parity(
        f"test_lambda_common::TestLambdaRuntimesCommon::test_introspection_invoke[{runtime}]"
    )
    name, args = _multiruntime(p, maker, runtime, PY_INTROSPECTION, NODE_INTROSPECTION)
    env: dict[str, Any] = {"Environment": {"Variables": {"TEST_KEY": "TEST_VAL"}}}
    created = ask(p, "create_function_result", lam.create_function, **args, **env)
    payload = b'{"simple": "payload"}'
    result = answer(lam.invoke, FunctionName=name, Payload=payload)
    p.expect_raw("invocation_result_payload", result.get("Payload"))
    qualified = f"{created.get('FunctionArn', name)}:$LATEST"
    result = answer(lam.invoke, FunctionName=qualified, Payload=payload)
    p.expect_raw("invocation_result_payload_qualified", result.get("Payload"))


@pytest.mark.parametrize("runtime", _INTROSPECTED_RUNTIMES)
def test_runtime_wrapper_invoke(parity: Parity, lam: Any, maker: Maker, runtime: str) -> None:
    p = parity(
        f"test_lambda_common::TestLambdaRuntimesCommon::test_runtime_wrapper_invoke[{runtime}]"
    )
    _, args = _multiruntime(p, maker, runtime, PY_INTROSPECTION, NODE_INTROSPECTION)
    wrapper = '#!/bin/bash\nexport WRAPPER_VAR=test-value\nexec "$@"\n'
    code = args["Code"]["ZipFile"]
    args["Code"] = {"ZipFile": _with_executable(code, "environment_wrapper", wrapper)}
    env = {"Variables": {"AWS_LAMBDA_EXEC_WRAPPER": "/var/task/environment_wrapper"}}
    ask(p, "create_function_result", lam.create_function, **args, Environment=env)
    # Not recorded: the test asserts that the wrapper ran (lambdalet has no exec wrappers;
    # test_lambda_runtime_wrapper_not_found shows that difference).


def _with_executable(archive: bytes, filename: str, text: str) -> bytes:
    """`archive` with one more file, mode 0755."""
    buf = io.BytesIO(archive)
    with zipfile.ZipFile(buf, "a") as zf:
        info = zipfile.ZipInfo(filename, date_time=(2020, 1, 1, 0, 0, 0))
        info.external_attr = 0o100755 << 16
        zf.writestr(info, text)
    return buf.getvalue()
