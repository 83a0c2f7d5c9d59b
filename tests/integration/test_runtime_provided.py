"""Custom runtimes (provided.al2023 / provided.al2 / provided) over AWS's HTTP Runtime API.

Clients nobody here wrote: a POSIX shell bootstrap driving curl (as in AWS's custom-runtime
tutorial) and the unmodified awslambdaric from PyPI.
"""

from __future__ import annotations

import json
import re
import shutil
import time
from pathlib import Path
from typing import Any

import pytest

from bench.runtimes import ric_files
from tests.integration.fnhelpers import ONE_VCPU_MB, UUID, Functions

pytestmark = pytest.mark.skipif(shutil.which("curl") is None, reason="needs curl")

# The shell bootstrap: the function's own loop over /next, handlers are shell functions.
SHELL_BOOTSTRAP = r"""#!/bin/sh
set -eu
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
. "${LAMBDA_TASK_ROOT}/$(echo "$_HANDLER" | cut -d. -f1).sh"
handler="$(echo "$_HANDLER" | cut -d. -f2)"
calls=0
while true; do
  headers="$(mktemp)"
  event="$(curl -sS -D "$headers" "$api/invocation/next")"
  id="$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | cut -d' ' -f2 | tr -d '\r\n')"
  calls=$((calls + 1))
  export REQUEST_ID="$id" CALLS="$calls" HEADERS="$headers"
  "$handler" "$event" > /tmp/out
  curl -sS -o /dev/null "$api/invocation/$id/response" --data-binary @/tmp/out
  rm -f "$headers"
done
"""


def header(name: str) -> str:
    """Shell: the value of one /next response header."""
    return f"$(grep -i '^{name}:' \"$HEADERS\" | cut -d' ' -f2- | tr -d '\\r\\n')"


FUNCTION_SH = f"""
echo_event() {{
  echo "handling $REQUEST_ID" >&2
  printf '{{"event": %s, "calls": %s, "api": "%s", "handler": "%s", "greeting": "%s",
    "uid": %s, "deadline": %s, "arn": "%s", "trace": "%s", "cc": "%s"}}' \\
    "$1" "$CALLS" "$AWS_LAMBDA_RUNTIME_API" "$_HANDLER" "${{GREETING:-}}" "$(id -u)" \\
    "{header("lambda-runtime-deadline-ms")}" "{header("lambda-runtime-invoked-function-arn")}" \\
    "{header("lambda-runtime-trace-id")}" \\
    "$(grep -ci '^lambda-runtime-client-context:' "$HEADERS" || true)"
}}
sleepy() {{
  sleep 5
  echo '"late"'
}}
"""


def shell_function(functions: Functions, **settings: Any) -> str:
    return functions.create(
        "provided.al2023",
        "function.echo_event",
        {"bootstrap": SHELL_BOOTSTRAP, "function.sh": FUNCTION_SH},
        executable=("bootstrap",),
        MemorySize=ONE_VCPU_MB,
        **settings,
    )


def test_shell_bootstrap_round_trip_headers_environment_and_reuse(functions: Functions) -> None:
    name = shell_function(functions, Timeout=9, Environment={"Variables": {"GREETING": "hi"}})
    before_ms = time.time() * 1000
    first = functions.invoke(name, {"n": 1})
    out = first.ok()
    assert out["event"] == {"n": 1}
    assert out["calls"] == 1
    assert out["api"] == "127.0.0.1:9001"
    assert out["handler"] == "function.echo_event"
    assert out["greeting"] == "hi"
    assert out["uid"] != 0
    assert before_ms + 8000 < out["deadline"] < time.time() * 1000 + 9000
    assert out["arn"].endswith(f":function:{name}")
    assert re.fullmatch(
        r"Root=1-[0-9a-f]{8}-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", out["trace"]
    )
    assert out["cc"] == "0"  # no client context, no header
    first.assert_framed(cold=True)
    assert f"handling {first.request_id}" in first.log  # the bootstrap's stderr is the log

    second = functions.invoke(name, {"n": 2})
    assert second.ok()["calls"] == 2  # the same bootstrap process served it
    second.assert_framed(cold=False)


def test_provided_al2_runs_a_bootstrap(functions: Functions) -> None:
    name = functions.create(
        "provided.al2",
        "function.echo_event",
        {"bootstrap": SHELL_BOOTSTRAP, "function.sh": FUNCTION_SH},
        executable=("bootstrap",),
        MemorySize=ONE_VCPU_MB,
    )
    assert functions.invoke(name, [1]).ok()["event"] == [1]


def test_the_deprecated_provided_runtime_is_refused_as_aws_refuses_it(
    functions: Functions,
) -> None:
    body = functions.create(
        "provided",
        "function.echo_event",
        {"bootstrap": SHELL_BOOTSTRAP, "function.sh": FUNCTION_SH},
        executable=("bootstrap",),
        expect=400,
    )
    assert json.loads(body)["message"] == (
        "The runtime parameter of provided is no longer supported for creating or updating AWS "
        "Lambda functions. We recommend you use a supported runtime while creating or updating "
        "functions."
    )


# A bootstrap that exercises the Runtime API's rules from inside the sandbox and reports the
# HTTP status codes it got. Each invocation's event says which check to run.
PROBE_BOOTSTRAP = r"""#!/bin/sh
set -u
api="http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime"
code() { curl -s -o /tmp/body -w '%{http_code}' "$@"; }
while true; do
  headers="$(mktemp)"
  event="$(curl -sS -D "$headers" "$api/invocation/next")"
  id="$(grep -i '^lambda-runtime-aws-request-id:' "$headers" | cut -d' ' -f2 | tr -d '\r\n')"
  case "$event" in
    *rules*)
      wrong="$(code -X POST "$api/invocation/00000000-0000-0000-0000-000000000000/response" -d 1)"
      wrong_body="$(cat /tmp/body)"
      late_init="$(code -X POST "$api/init/error" -d '{}')"
      late_init_body="$(cat /tmp/body)"
      missing="$(code "$api/nothing/here")"
      method="$(code -X DELETE "$api/invocation/next")"
      printf '{"wrong": %s, "wrong_body": %s, "late_init": %s, "late_init_body": %s,
        "missing": %s, "method": %s}' "$wrong" "$wrong_body" "$late_init" "$late_init_body" \
        "$missing" "$method" > /tmp/out
      code "$api/invocation/$id/response" --data-binary @/tmp/out > /dev/null
      ;;
    *twice*)
      code "$api/invocation/$id/response" -d '"first"' > /tmp/first
      second="$(code "$api/invocation/$id/response" -d '"second"')"
      echo "{\"first\": $(cat /tmp/first), \"second\": $second, \"body\": $(cat /tmp/body)}" \
        > /tmp/twice
      ;;
    *report*)
      code "$api/invocation/$id/response" --data-binary @/tmp/twice > /dev/null
      ;;
    *big*)
      head -c 7000000 /dev/zero | tr '\0' 'x' | sed 's/^/"/; s/$/"/' > /tmp/big
      big="$(code "$api/invocation/$id/response" -H 'Expect:' --data-binary @/tmp/big)"
      echo "{\"big\": $big, \"body\": $(cat /tmp/body)}" > /tmp/twice
      ;;
    *fail-header*)
      code "$api/invocation/$id/error" -H 'Lambda-Runtime-Function-Error-Type: Custom.Header' \
        -d '{"errorMessage": "from the header", "errorType": "Body.Type", "stackTrace": ["a"]}' \
        > /dev/null
      ;;
    *fail-body*)
      code "$api/invocation/$id/error" \
        -d '{"errorMessage": "from the body", "errorType": "Body.Type", "stackTrace": []}' \
        > /dev/null
      ;;
    *fail-text*)
      code "$api/invocation/$id/error" -d 'plain words' > /dev/null
      ;;
  esac
  rm -f "$headers"
done
"""


def probe_function(functions: Functions) -> str:
    return functions.create(
        "provided.al2023",
        "unused.handler",
        {"bootstrap": PROBE_BOOTSTRAP},
        executable=("bootstrap",),
        MemorySize=ONE_VCPU_MB,
    )


def test_runtime_api_answers_out_of_order_calls_as_lambda_does(functions: Functions) -> None:
    name = probe_function(functions)
    out = functions.invoke(name, {"check": "rules"}).ok()
    assert out["wrong"] == 400
    assert out["wrong_body"] == {
        "errorMessage": "Invalid request ID",
        "errorType": "InvalidRequestID",
    }
    assert out["late_init"] == 403
    assert out["late_init_body"]["errorType"] == "InvalidStateTransition"
    assert out["missing"] == 404
    assert out["method"] == 405

    assert functions.invoke(name, {"check": "twice"}).ok() == "first"
    twice = functions.invoke(name, {"check": "report"}).ok()
    assert twice["first"] == 202
    assert twice["second"] == 403  # an answered invocation cannot be answered again
    assert twice["body"]["errorType"] == "InvalidStateTransition"


def test_response_over_6_mb_is_413_and_the_invocation_fails(functions: Functions) -> None:
    name = probe_function(functions)
    err = functions.invoke(name, {"check": "big"}).failed()
    assert err["errorType"] == "Function.ResponseSizeTooLarge"
    told = functions.invoke(name, {"check": "report"}).ok()  # what curl was answered
    assert told["big"] == 413
    assert told["body"]["errorType"] == "RequestEntityTooLarge"


def test_error_reports_keep_the_runtimes_document(functions: Functions) -> None:
    name = probe_function(functions)
    by_header = functions.invoke(name, {"check": "fail-header"}).failed()
    assert by_header == {
        "errorMessage": "from the header",
        "errorType": "Body.Type",
        "stackTrace": ["a"],
    }
    by_body = functions.invoke(name, {"check": "fail-body"}).failed()
    assert by_body["errorType"] == "Body.Type"
    text = functions.invoke(name, {"check": "fail-text"}).failed()
    assert text == {"errorMessage": "plain words", "errorType": "Unhandled", "stackTrace": []}


def test_init_error_is_returned_to_the_first_invoke(functions: Functions) -> None:
    bootstrap = """#!/bin/sh
    curl -sS -o /dev/null "http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/init/error" \\
      -H 'Lambda-Runtime-Function-Error-Type: Runtime.ConfigError' \\
      -d '{"errorMessage": "missing setting", "errorType": "Runtime.ConfigError"}'
    exit 1
    """
    name = functions.create(
        "provided.al2023", "x.y", {"bootstrap": bootstrap}, executable=("bootstrap",)
    )
    call = functions.invoke(name)
    assert call.failed() == {"errorMessage": "missing setting", "errorType": "Runtime.ConfigError"}
    call.assert_framed(cold=True)
    assert "Status: error" in call.report()


NO_BOOTSTRAP = "Couldn't find valid bootstrap(s): [/var/task/bootstrap /opt/bootstrap]"


@pytest.mark.parametrize(
    ("files", "executable", "message"),
    [
        ({"other": "#!/bin/sh\n"}, (), NO_BOOTSTRAP),
        ({"bootstrap": "#!/bin/sh\nexit 0\n"}, (), "permission denied"),
    ],
    ids=["missing", "not-executable"],
)  # fmt: skip
def test_bad_bootstrap_is_an_invalid_entrypoint(
    functions: Functions, files: dict[str, str], executable: tuple[str, ...], message: str
) -> None:
    name = functions.create("provided.al2023", "x.y", files, executable=executable)
    err = functions.invoke(name).failed()
    assert err["errorType"] == "Runtime.InvalidEntrypoint"
    assert message in err["errorMessage"]


def test_bootstrap_that_exits_is_an_exit_error(functions: Functions) -> None:
    name = functions.create(
        "provided.al2023", "x.y", {"bootstrap": "#!/bin/sh\nexit 3\n"}, executable=("bootstrap",)
    )
    err = functions.invoke(name).failed()
    assert err["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in err["errorMessage"]


def test_timeout_applies_to_custom_runtimes(functions: Functions) -> None:
    settings: dict[str, Any] = {"Timeout": 1, "MemorySize": ONE_VCPU_MB}
    name = functions.create(
        "provided.al2023",
        "function.sleepy",
        {"bootstrap": SHELL_BOOTSTRAP, "function.sh": FUNCTION_SH},
        executable=("bootstrap",),
        **settings,
    )
    call = functions.invoke(name)
    err = call.failed()
    assert err["errorType"] == "Sandbox.Timedout"
    assert "Status: timeout" in call.report()


# -- awslambdaric, unmodified -------------------------------------------------------------

RIC_BOOTSTRAP = """#!/bin/sh
exec /usr/bin/python3.11 -m awslambdaric "$_HANDLER"
"""

RIC_APP = """
import os
calls = 0
if os.environ.get("FAIL_INIT"):
    raise RuntimeError("init failed on purpose")

def handler(event, context):
    global calls
    calls += 1
    if event.get("fail"):
        raise ValueError("handler failed on purpose")
    print("ric says hello")
    return {
        "event": event,
        "calls": calls,
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "memory": context.memory_limit_in_mb,
        "remaining": context.get_remaining_time_in_millis(),
        "arn": context.invoked_function_arn,
    }
"""


@pytest.fixture(scope="module")
def ric_tree(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """awslambdaric and its dependencies exactly as pip installed them for the tests."""
    tree = tmp_path_factory.mktemp("ric")
    for rel, data in ric_files().items():
        (tree / rel).parent.mkdir(parents=True, exist_ok=True)
        (tree / rel).write_bytes(data)
    return tree


def ric_function(functions: Functions, tree: Path, **settings: Any) -> str:
    return functions.create(
        "provided.al2023",
        "app.handler",
        {"bootstrap": RIC_BOOTSTRAP, "app.py": RIC_APP},
        executable=("bootstrap",),
        tree=tree,
        MemorySize=ONE_VCPU_MB,
        **settings,
    )


def test_awslambdaric_success_and_reuse(functions: Functions, ric_tree: Path) -> None:
    name = ric_function(functions, ric_tree, Timeout=30)
    first = functions.invoke(name, {"a": 1})
    out = first.ok()
    assert out["event"] == {"a": 1}
    assert out["request_id"] == first.request_id
    assert out["function_name"] == name
    assert out["memory"] == str(ONE_VCPU_MB)
    assert 0 < out["remaining"] <= 30000
    assert out["arn"].endswith(f":function:{name}")
    assert "ric says hello" in first.log
    first.assert_framed(cold=True)
    second = functions.invoke(name, {"a": 2})
    assert second.ok()["calls"] == 2


def test_awslambdaric_handler_error(functions: Functions, ric_tree: Path) -> None:
    name = ric_function(functions, ric_tree)
    err = functions.invoke(name, {"fail": True}).failed()
    assert err["errorType"] == "ValueError"
    assert err["errorMessage"] == "handler failed on purpose"
    assert re.fullmatch(UUID, err["requestId"])
    assert any("app.py" in line for line in err["stackTrace"])
    assert functions.invoke(name, {}).ok()["calls"] == 2  # an error keeps the environment


def test_awslambdaric_init_error(functions: Functions, ric_tree: Path) -> None:
    name = ric_function(functions, ric_tree, Environment={"Variables": {"FAIL_INIT": "1"}})
    err = functions.invoke(name).failed()
    assert "init failed on purpose" in json.dumps(err)
    assert err["errorType"] in ("Runtime.ImportModuleError", "RuntimeError"), err
