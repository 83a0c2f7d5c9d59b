"""The Node.js runtime on the host's node: handlers, context, errors, logs, limits."""

from __future__ import annotations

import re
import time
from typing import Any

import pytest

from tests.integration.fnhelpers import ONE_VCPU_MB, TS, Functions, host_node_runtime

NODE = host_node_runtime()
pytestmark = pytest.mark.skipif(NODE is None, reason="the host has no node")

ASYNC_HANDLER = """
let calls = 0;
exports.handler = async (event, context) => {
  calls += 1;
  console.log("event", JSON.stringify(event));
  console.error("to stderr too");
  return {
    calls,
    event,
    env: process.env.GREETING,
    runtimeApi: process.env.AWS_LAMBDA_RUNTIME_API ?? null,
    executionEnv: process.env.AWS_EXECUTION_ENV,
    uid: process.getuid(),
    context: {
      functionName: context.functionName,
      functionVersion: context.functionVersion,
      invokedFunctionArn: context.invokedFunctionArn,
      memoryLimitInMB: context.memoryLimitInMB,
      awsRequestId: context.awsRequestId,
      logGroupName: context.logGroupName,
      logStreamName: context.logStreamName,
      remaining: context.getRemainingTimeInMillis(),
      waits: context.callbackWaitsForEmptyEventLoop,
      clientContext: context.clientContext ?? null,
    },
  };
};
"""


def create(
    functions: Functions, files: dict[str, str], handler: str = "index.handler", **kw: Any
) -> str:
    assert NODE is not None
    return functions.create(NODE, handler, files, MemorySize=ONE_VCPU_MB, **kw)


def test_async_handler_sees_event_context_and_environment(functions: Functions) -> None:
    name = create(
        functions,
        {"index.js": ASYNC_HANDLER},
        Timeout=7,
        Environment={"Variables": {"GREETING": "hi"}},
    )
    first = functions.invoke(name, {"n": 1})
    out = first.ok()
    assert out["event"] == {"n": 1}
    assert out["env"] == "hi"
    assert out["runtimeApi"] is None  # the Node runtime speaks msgpack, not HTTP
    assert out["executionEnv"] == f"AWS_Lambda_{NODE}"
    assert out["uid"] != 0
    ctx = out["context"]
    assert ctx["functionName"] == name
    assert ctx["functionVersion"] == "$LATEST"
    assert ctx["invokedFunctionArn"].endswith(f":function:{name}")
    assert ctx["memoryLimitInMB"] == str(ONE_VCPU_MB)
    assert ctx["awsRequestId"] == first.request_id
    assert ctx["logGroupName"] == f"/aws/lambda/{name}"
    assert "[$LATEST]" in ctx["logStreamName"]
    assert 0 < ctx["remaining"] <= 7000
    assert ctx["waits"] is True
    first.assert_framed(cold=True)
    assert re.search(
        rf"^{TS}\t{first.request_id}\tINFO\tevent {{\"n\":1}}$", first.log, re.MULTILINE
    ), first.log
    assert re.search(rf"\t{first.request_id}\tERROR\tto stderr too$", first.log, re.MULTILINE)

    second = functions.invoke(name, {"n": 2})
    assert second.ok()["calls"] == 2  # module state survives: the environment was reused
    second.assert_framed(cold=False)


def test_callback_handler_waits_for_the_event_loop_unless_told_not_to(
    functions: Functions,
) -> None:
    code = """
    let timerFired = false;
    exports.handler = (event, context, callback) => {
      timerFired = false;
      context.callbackWaitsForEmptyEventLoop = event.wait;
      setTimeout(() => { timerFired = true; }, 300);
      callback(null, { firedBeforeAnswer: timerFired, wait: event.wait });
    };
    exports.peek = async () => timerFired;
    """
    name = create(functions, {"index.js": code})
    started = time.monotonic()
    assert functions.invoke(name, {"wait": True}).ok() == {"firedBeforeAnswer": False, "wait": True}
    waited = time.monotonic() - started
    assert waited >= 0.3  # the answer left once the timer had run
    started = time.monotonic()
    out = functions.invoke(name, {"wait": False}).ok()
    assert out == {"firedBeforeAnswer": False, "wait": False}
    assert time.monotonic() - started < waited + 0.3


def test_callback_error_and_sync_return(functions: Functions) -> None:
    code = """
    exports.fails = (event, context, callback) => callback(new RangeError("out of range"));
    exports.plain = (event) => 42;
    """
    fails = create(functions, {"index.js": code}, handler="index.fails")
    err = functions.invoke(fails).failed()
    assert err["errorType"] == "RangeError"
    assert err["errorMessage"] == "out of range"
    plain = create(functions, {"index.js": code}, handler="index.plain")
    assert functions.invoke(plain).ok() is None  # as on Lambda: a plain return is not the answer


def test_es_modules_mjs_and_type_module(functions: Functions) -> None:
    mjs = create(
        functions,
        {"app.mjs": "export const handler = async (e) => ({ esm: import.meta.url });"},
        handler="app.handler",
    )
    assert functions.invoke(mjs).ok() == {"esm": "file:///var/task/app.mjs"}
    typed = create(
        functions,
        {
            "package.json": '{"type": "module"}',
            "src/lib.js": "export const twice = (n) => n * 2;",
            "src/main.js": (
                "import { twice } from './lib.js';\n"
                "export const nested = { run: async (e) => twice(e.n) };\n"
            ),
        },
        handler="src/main.nested.run",
    )
    assert functions.invoke(typed, {"n": 21}).ok() == 42


def test_thrown_error_has_lambdas_node_shape_and_is_logged(functions: Functions) -> None:
    code = """
    class ValidationError extends Error {
      constructor(m) { super(m); this.name = "ValidationError"; }
    }
    exports.handler = async () => { throw new ValidationError("bad input"); };
    """
    name = create(functions, {"index.js": code})
    call = functions.invoke(name)
    err = call.failed()
    assert err["errorType"] == "ValidationError"
    assert err["errorMessage"] == "bad input"
    assert err["trace"][0] == "ValidationError: bad input"
    assert any("/var/task/index.js" in line for line in err["trace"])
    assert "stackTrace" not in err
    assert f"\t{call.request_id}\tERROR\tInvoke Error \t" in call.log
    assert "Status: error" not in call.report()  # a handled error, not a crash
    assert functions.invoke(name).failed()["errorType"] == "ValidationError"  # reused


@pytest.mark.parametrize(
    ("files", "handler", "error_type", "message"),
    [
        ({"index.js": "exports.handler = async () => 1;"}, "missing.handler",
         "Runtime.ImportModuleError", "Cannot find module 'missing'"),
        ({"index.js": "exports.other = async () => 1;"}, "index.handler",
         "Runtime.HandlerNotFound", "index.handler is undefined or not exported"),
        ({"index.js": "exports.handler = async () => {"}, "index.handler",
         "Runtime.UserCodeSyntaxError", "SyntaxError"),
        ({"index.js": "throw new TypeError('no config');"}, "index.handler",
         "TypeError", "no config"),
        ({"index.js": "exports.handler = 1;"}, "nodot",
         "Runtime.MalformedHandlerName", "Bad handler nodot"),
    ],
    ids=["no-module", "no-export", "syntax", "init-throws", "malformed"],
)  # fmt: skip
def test_init_errors(
    functions: Functions, files: dict[str, str], handler: str, error_type: str, message: str
) -> None:
    name = create(functions, files, handler=handler)
    call = functions.invoke(name)
    err = call.failed()
    assert err["errorType"] == error_type, err
    assert message in err["errorMessage"], err
    call.assert_framed(cold=True)
    # Init output goes to the log stream before the first START, as on Lambda.
    assert "\tERROR\tUncaught Exception \t" in functions.stream_logs(name)


def test_timeout_kills_and_replaces_the_environment(functions: Functions) -> None:
    code = """
    let calls = 0;
    exports.handler = async (event) => {
      calls += 1;
      if (event.hang) await new Promise(() => setInterval(() => {}, 1000));
      return calls;
    };
    """
    name = create(functions, {"index.js": code}, Timeout=1)
    assert functions.invoke(name).ok() == 1
    hung = functions.invoke(name, {"hang": True})
    err = hung.failed()
    assert err["errorType"] == "Sandbox.Timedout"
    assert "Task timed out after 1.00 seconds" in err["errorMessage"]
    assert "Status: timeout" in hung.report()
    assert functions.invoke(name).ok() == 1  # a fresh environment


def test_uncaught_exception_ends_the_environment(functions: Functions) -> None:
    code = """
    let calls = 0;
    exports.handler = async (event) => {
      calls += 1;
      if (event.crash) {
        setTimeout(() => { throw new Error("async boom"); }, 0);
        await new Promise((r) => setTimeout(r, 200));
      }
      return calls;
    };
    """
    name = create(functions, {"index.js": code})
    assert functions.invoke(name).ok() == 1
    crashed = functions.invoke(name, {"crash": True})
    err = crashed.failed()
    assert err["errorType"] == "Runtime.ExitError"
    assert "exit status 1" in err["errorMessage"]
    assert "Uncaught Exception" in crashed.log and "async boom" in crashed.log
    assert functions.invoke(name).ok() == 1


def test_response_too_large(functions: Functions) -> None:
    name = create(
        functions, {"index.js": "exports.handler = async () => 'x'.repeat(7 * 1024 * 1024);"}
    )
    err = functions.invoke(name).failed()
    assert err["errorType"] == "Function.ResponseSizeTooLarge"


def test_memory_limit_applies_to_node(functions: Functions) -> None:
    code = """
    const keep = [];
    exports.handler = async () => {
      for (let i = 0; i < 192; i++) keep.push(Buffer.alloc(16 * 1024 * 1024, 1));
      return keep.length;
    };
    """
    # 3 GB into a 1,769 MB function (one vCPU: it fills memory fast, not page by page).
    name = create(functions, {"index.js": code}, Timeout=30)
    call = functions.invoke(name)
    err = call.failed()
    assert err["errorType"] in ("Runtime.OutOfMemory", "Runtime.ExitError"), err
    assert "Status: error" in call.report()
