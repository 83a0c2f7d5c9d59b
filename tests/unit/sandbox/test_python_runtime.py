"""The python3.11 runtime's handler loading and invoke results, in-process."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest

from sandbox.protocol import FunctionError, Invoke, Response
from sandbox.runtimes.python import bootstrap
from sandbox.runtimes.python.bootstrap import LambdaContext, load_handler


@pytest.fixture
def module(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):  # type: ignore[no-untyped-def]
    """Write a uniquely named module into a directory on sys.path; returns its name."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(source: str) -> str:
        name = f"fn_{uuid.uuid4().hex[:8]}"
        (tmp_path / f"{name}.py").write_text(source)
        return name

    return write


def invoke_msg(payload: bytes = b"{}", **kw: object) -> Invoke:
    args: dict[str, object] = dict(
        request_id="rid-1",
        deadline_ms=int(time.time() * 1000) + 3000,
        invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        payload=payload,
    )
    args.update(kw)
    return Invoke(**args)  # type: ignore[arg-type]


def init_error(handler: str) -> tuple[str, str]:
    with pytest.raises(bootstrap._InitFailure) as info:
        load_handler(handler)
    return info.value.info.error_type, info.value.info.error_message


def test_loads_module_function(module) -> None:  # type: ignore[no-untyped-def]
    name = module("def handler(event, context):\n    return event['x'] * 2\n")
    fn = load_handler(f"{name}.handler")
    assert fn({"x": 21}, None) == 42  # type: ignore[arg-type]


def test_missing_module(module) -> None:  # type: ignore[no-untyped-def]
    assert init_error("nope_missing.handler") == (
        "Runtime.ImportModuleError",
        "Unable to import module 'nope_missing': No module named 'nope_missing'",
    )


def test_missing_handler(module) -> None:  # type: ignore[no-untyped-def]
    name = module("x = 1\n")
    assert init_error(f"{name}.handler") == (
        "Runtime.HandlerNotFound",
        f"Handler 'handler' missing on module '{name}'",
    )


def test_malformed_handler_name() -> None:
    kind, message = init_error("nodot")
    assert kind == "Runtime.MalformedHandlerName"
    assert message.startswith("Bad handler 'nodot'")


def test_syntax_error(module) -> None:  # type: ignore[no-untyped-def]
    name = module("def handler(:\n")
    kind, message = init_error(f"{name}.handler")
    assert kind == "Runtime.UserCodeSyntaxError"
    assert f"Syntax error in module '{name}'" in message


def test_exception_at_import_keeps_its_type(module) -> None:  # type: ignore[no-untyped-def]
    name = module("raise KeyError('cfg')\n")
    assert init_error(f"{name}.handler")[0] == "KeyError"


def test_invoke_returns_json_result(module) -> None:  # type: ignore[no-untyped-def]
    name = module("def handler(e, c):\n    return {'got': e, 'id': c.aws_request_id}\n")
    out = bootstrap._invoke(load_handler(f"{name}.handler"), invoke_msg(b'{"a": [1]}'))
    assert isinstance(out, Response)
    assert json.loads(out.payload) == {"got": {"a": [1]}, "id": "rid-1"}


def test_empty_payload_is_an_empty_event(module) -> None:  # type: ignore[no-untyped-def]
    name = module("def handler(e, c):\n    return e\n")
    out = bootstrap._invoke(load_handler(f"{name}.handler"), invoke_msg(b""))
    assert isinstance(out, Response) and json.loads(out.payload) == {}


def test_handler_exception_becomes_function_error_with_user_frames(module) -> None:  # type: ignore[no-untyped-def]
    name = module("def handler(e, c):\n    raise ValueError('boom')\n")
    out = bootstrap._invoke(load_handler(f"{name}.handler"), invoke_msg())
    assert isinstance(out, FunctionError)
    assert out.error.error_type == "ValueError"
    assert out.error.error_message == "boom"
    assert len(out.error.stack_trace) == 1
    assert (
        f"{name}.py" in out.error.stack_trace[0] and "raise ValueError" in out.error.stack_trace[0]
    )


def test_unserialisable_result_is_a_marshal_error(module) -> None:  # type: ignore[no-untyped-def]
    name = module("def handler(e, c):\n    return {1, 2}\n")
    out = bootstrap._invoke(load_handler(f"{name}.handler"), invoke_msg())
    assert isinstance(out, FunctionError)
    assert out.error.error_type == "Runtime.MarshalError"
    assert out.error.error_message.startswith("Unable to marshal response:")


def test_oversize_result_is_rejected_by_the_runtime(module) -> None:  # type: ignore[no-untyped-def]
    name = module("def handler(e, c):\n    return 'x' * (6 * 1024 * 1024 + 100)\n")
    out = bootstrap._invoke(load_handler(f"{name}.handler"), invoke_msg())
    assert isinstance(out, FunctionError)
    assert out.error.error_type == "Function.ResponseSizeTooLarge"


def test_context_attributes(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_NAME", "fn")
    monkeypatch.setenv("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
    monkeypatch.setenv("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/fn")
    msg = invoke_msg(
        client_context='{"custom": {"k": "v"}, "env": {"e": 1}}',
        identity='{"cognitoIdentityId": "id-1", "cognitoIdentityPoolId": "pool"}',
    )
    ctx = LambdaContext(msg)
    assert ctx.function_name == "fn"
    assert ctx.memory_limit_in_mb == "256"
    assert ctx.function_version == "$LATEST"
    assert ctx.log_group_name == "/aws/lambda/fn"
    assert ctx.aws_request_id == "rid-1"
    assert ctx.invoked_function_arn.endswith(":function:f")
    assert 2000 < ctx.get_remaining_time_in_millis() <= 3000
    assert ctx.client_context is not None and ctx.client_context.custom == {"k": "v"}
    assert ctx.identity is not None and ctx.identity.cognito_identity_id == "id-1"


def test_remaining_time_never_goes_negative() -> None:
    ctx = LambdaContext(invoke_msg(deadline_ms=1))
    assert ctx.get_remaining_time_in_millis() == 0
