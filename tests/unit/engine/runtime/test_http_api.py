"""The HTTP Runtime API's rules, without I/O."""

from __future__ import annotations

import json
import re

import pytest

from engine.runtime.http_api import (
    MAX_PAYLOAD_BYTES,
    WAIT,
    Delivery,
    Phase,
    Reply,
    Request,
    Route,
    RuntimeApi,
    error_document,
    new_trace_id,
    route,
)
from sandbox.protocol import FunctionError, InitError, Invoke, Ready, Response

TRACE = "Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0"


def invoke(rid: str = "r-1", **changes: object) -> Invoke:
    fields: dict[str, object] = dict(
        request_id=rid,
        deadline_ms=1_700_000_000_000,
        invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
        payload=b'{"a": 1}',
    )
    fields.update(changes)
    return Invoke(**fields)  # type: ignore[arg-type]


def body_of(reply: Reply) -> dict[str, object]:
    doc: dict[str, object] = json.loads(reply.body)
    return doc


def running(rid: str = "r-1") -> RuntimeApi:
    api = RuntimeApi()
    api.offer(invoke(rid))
    delivered = api.next(trace_id=TRACE)
    assert isinstance(delivered, Delivery)
    api.events.clear()
    return api


@pytest.mark.parametrize(
    ("method", "target", "expected"),
    [
        ("GET", "/2018-06-01/runtime/invocation/next", Request(Route.NEXT)),
        ("POST", "/2018-06-01/runtime/invocation/abc/response", Request(Route.RESPONSE, "abc")),
        ("POST", "/2018-06-01/runtime/invocation/abc/error?x=1", Request(Route.ERROR, "abc")),
        ("POST", "/2018-06-01/runtime/init/error", Request(Route.INIT_ERROR)),
    ],
)
def test_routes(method: str, target: str, expected: Request) -> None:
    assert route(method, target) == expected


@pytest.mark.parametrize(
    ("method", "target", "status"),
    [
        ("GET", "/2018-06-01/runtime/invocation/a/b/response", 404),
        ("GET", "/2020-01-01/extension/register", 404),
        ("POST", "/2018-06-01/runtime/invocation/next", 405),
        ("GET", "/2018-06-01/runtime/init/error", 405),
    ],
)
def test_unknown_routes_and_methods(method: str, target: str, status: int) -> None:
    reply = route(method, target)
    assert isinstance(reply, Reply)
    assert reply.status == status


def test_first_next_ends_init_then_waits_for_an_invocation() -> None:
    api = RuntimeApi()
    assert api.next(trace_id=TRACE) is WAIT
    assert list(api.events) == [Ready()]
    assert api.next(trace_id=TRACE) is WAIT  # Ready is reported once
    assert list(api.events) == [Ready()]
    api.offer(invoke(client_context='{"custom":\n {"k": 1}}', identity='{"cognitoIdentityId":"i"}'))
    delivered = api.next(trace_id=TRACE)
    assert isinstance(delivered, Delivery)
    headers = dict(delivered.reply.headers)
    assert headers[b"lambda-runtime-aws-request-id"] == b"r-1"
    assert headers[b"lambda-runtime-deadline-ms"] == b"1700000000000"
    assert headers[b"lambda-runtime-invoked-function-arn"].endswith(b":function:f")
    assert headers[b"lambda-runtime-trace-id"] == TRACE.encode()
    assert headers[b"lambda-runtime-client-context"] == b'{"custom":{"k":1}}'  # one line
    assert headers[b"lambda-runtime-cognito-identity"] == b'{"cognitoIdentityId":"i"}'
    assert delivered.reply.body == b'{"a": 1}'
    assert api.phase is Phase.RUNNING


def test_response_then_next_serves_the_following_invocation() -> None:
    api = running()
    assert api.respond("r-1", b'"ok"', too_large=False).status == 202
    assert list(api.events) == [Response(request_id="r-1", payload=b'"ok"')]
    assert api.next(trace_id=TRACE) is WAIT
    api.offer(invoke("r-2"))
    delivered = api.next(trace_id=TRACE)
    assert isinstance(delivered, Delivery)
    assert delivered.invoke.request_id == "r-2"


def test_wrong_request_id_is_400_and_changes_nothing() -> None:
    api = running()
    reply = api.respond("someone-else", b"1", too_large=False)
    assert reply.status == 400
    assert body_of(reply) == {"errorMessage": "Invalid request ID", "errorType": "InvalidRequestID"}
    assert not api.events
    assert api.respond("r-1", b"1", too_large=False).status == 202


def test_answering_twice_is_an_invalid_state_transition() -> None:
    api = running()
    api.respond("r-1", b"1", too_large=False)
    for reply in (
        api.respond("r-1", b"2", too_large=False),
        api.fail("r-1", b"{}", error_type=None, too_large=False),
    ):
        assert reply.status == 403
        doc = body_of(reply)
        assert doc["errorType"] == "InvalidStateTransition"
        assert str(doc["errorMessage"]).startswith("State transition from RuntimeResponseSentState")
    assert len(api.events) == 1


def test_no_answer_before_any_invocation() -> None:
    api = RuntimeApi()
    assert api.respond("r-1", b"1", too_large=False).status == 400


def test_too_large_response_is_413_and_fails_the_invocation() -> None:
    api = running()
    reply = api.respond("r-1", b"", too_large=True)
    assert reply.status == 413
    assert body_of(reply)["errorType"] == "RequestEntityTooLarge"
    assert str(MAX_PAYLOAD_BYTES) in str(body_of(reply)["errorMessage"])
    (event,) = api.events
    assert isinstance(event, FunctionError)
    assert event.error.error_type == "Function.ResponseSizeTooLarge"


def test_init_error_only_before_the_first_next() -> None:
    api = RuntimeApi()
    body = b'{"errorMessage": "bad", "errorType": "Runtime.X"}'
    assert api.init_failed(body, error_type=None, too_large=False).status == 202
    (event,) = api.events
    assert isinstance(event, InitError)
    assert event.error.error_type == "Runtime.X"
    assert event.body == body
    assert api.next(trace_id=TRACE).status == 403  # type: ignore[union-attr]
    late = running()
    reply = late.init_failed(b"{}", error_type=None, too_large=False)
    assert reply.status == 403
    assert "from Running to InitError" in str(body_of(reply)["errorMessage"])


def test_hung_up_delivery_is_offered_again() -> None:
    api = RuntimeApi()
    api.next(trace_id=TRACE)
    inv = invoke()
    api.offer(inv)
    delivered = api.next(trace_id=TRACE)
    assert isinstance(delivered, Delivery)
    api.undeliver(inv)
    again = api.next(trace_id=TRACE)
    assert isinstance(again, Delivery)
    assert again.invoke is inv


def test_one_invocation_at_a_time() -> None:
    api = running()
    with pytest.raises(RuntimeError):
        api.offer(invoke("r-2"))


@pytest.mark.parametrize(
    ("body", "header", "error_type", "passed_on"),
    [
        (b'{"errorMessage": "m", "errorType": "Body.T", "stackTrace": []}', None, "Body.T", True),
        (b'{"errorMessage": "m", "errorType": "Body.T"}', "Header.T", "Header.T", True),
        (b'{"errorMessage": "m", "trace": ["a", "b"]}', None, "Unhandled", True),
        (b"not json", "Header.T", "Header.T", False),
        (b"", None, "Unhandled", False),
    ],
)  # fmt: skip
def test_error_documents(body: bytes, header: str | None, error_type: str, passed_on: bool) -> None:
    info, doc = error_document(body, header)
    assert info.error_type == error_type
    if passed_on:
        assert doc == body
    else:
        parsed = json.loads(doc)
        assert parsed["errorType"] == error_type
        assert parsed["errorMessage"] == body.decode()


def test_trace_ids_look_like_xray() -> None:
    trace = new_trace_id(now=0x5F5E1000)
    assert re.fullmatch(r"Root=1-5f5e1000-[0-9a-f]{24};Parent=[0-9a-f]{16};Sampled=0", trace)
    assert new_trace_id() != new_trace_id()
