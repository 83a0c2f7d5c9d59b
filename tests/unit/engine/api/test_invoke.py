"""Invoke's raw ASGI path (`FastRoute` → `InvokeEndpoint`), against a fake invoker: the answer
Starlette and `guard` gave before, byte for byte, without them."""

from __future__ import annotations

import base64
import json
from dataclasses import dataclass, field
from typing import Any, cast

import pytest
from starlette.types import Message

from engine.api.app import FastRoute, build_app
from engine.api.common import guard
from engine.api.invoke import InvokeApi, invoke_routes
from engine.errors import ResourceNotFoundException
from engine.events.queue import EventQueue
from engine.invoke.invoker import Invoker, InvokeResult
from engine.runtime.environment import InvokeOutcome

PATH = "/2015-03-31/functions/{}/invocations"


@dataclass
class FakeInvoker:
    region: str = "us-east-1"
    payload: bytes = b'{"ok": true}'
    function_error: str | None = None
    calls: list[tuple[str, str | None, bytes, str | None]] = field(default_factory=list)

    def check(self, name: str, qualifier: str | None) -> None:
        if name == "missing":
            raise ResourceNotFoundException(f"Function not found: {name}")

    async def invoke(
        self, name: str, qualifier: str | None, payload: bytes, *, client_context: str | None
    ) -> InvokeResult:
        self.check(name, qualifier)
        self.calls.append((name, qualifier, payload, client_context))
        outcome = InvokeOutcome(
            payload=self.payload,
            function_error=self.function_error,
            log_tail=b"START\nREPORT\n",
            reusable=True,
        )
        return InvokeResult(outcome=outcome, executed_version="7", request_id="rid-1", cold=False)


@dataclass
class FakeEvents:
    accepted: list[bytes] = field(default_factory=list)

    async def accept(self, name: str, qualifier: str | None, payload: bytes) -> str:
        self.accepted.append(payload)
        return "event-rid"


def _app(invoker: FakeInvoker, events: FakeEvents | None = None) -> Any:
    api = InvokeApi(cast(Invoker, invoker), cast(EventQueue, events or FakeEvents()))
    return build_app(invoke_routes(api, guard))


async def _call(
    app: Any,
    path: str,
    *,
    body: list[bytes] | None = None,
    headers: dict[str, str] | None = None,
    method: str = "POST",
    query: bytes = b"",
    chunked: bool = False,
) -> tuple[int, list[tuple[bytes, bytes]], bytes]:
    chunks = list(body if body is not None else [b'{"a": 1}'])
    raw_headers = [(k.lower().encode(), v.encode()) for k, v in (headers or {}).items()]
    if not chunked:
        raw_headers.append((b"content-length", str(sum(map(len, chunks))).encode()))
    scope = {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": path.encode(),
        "query_string": query,
        "headers": raw_headers,
        "root_path": "",
    }
    messages = [
        {"type": "http.request", "body": c, "more_body": i < len(chunks) - 1}
        for i, c in enumerate(chunks)
    ]
    sent: list[Message] = []

    async def receive() -> Message:
        return messages.pop(0) if messages else {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start, body_message = sent
    return start["status"], start["headers"], body_message["body"]


async def test_a_sync_invoke_answers_as_starlette_did() -> None:
    invoker = FakeInvoker()
    status, headers, body = await _call(_app(invoker), PATH.format("fn"))
    assert status == 200
    assert headers == [
        (b"x-amz-executed-version", b"7"),
        (b"x-amzn-requestid", b"rid-1"),
        (b"content-length", b"12"),
        (b"content-type", b"application/json"),
    ]
    assert body == b'{"ok": true}'
    assert invoker.calls == [("fn", None, b'{"a": 1}', None)]


async def test_tail_and_function_error_headers() -> None:
    invoker = FakeInvoker(function_error="Unhandled")
    context = base64.b64encode(b'{"custom": {"k": "v"}}').decode()
    headers = {"X-Amz-Log-Type": "Tail", "X-Amz-Client-Context": context}
    status, out, _ = await _call(_app(invoker), PATH.format("fn"), headers=headers)
    assert status == 200
    assert out[2:4] == [
        (b"x-amz-function-error", b"Unhandled"),
        (b"x-amz-log-result", base64.b64encode(b"START\nREPORT\n")),
    ]
    assert invoker.calls[0][3] == '{"custom": {"k": "v"}}'


async def test_name_arn_and_qualifier_in_the_query() -> None:
    invoker = FakeInvoker()
    arn = "arn:aws:lambda:us-east-1:000000000000:function:fn"
    await _call(_app(invoker), PATH.format(arn), query=b"Qualifier=prod")
    await _call(_app(invoker), PATH.format("fn:3"), query=b"Qualifier=3")
    assert [c[:2] for c in invoker.calls] == [("fn", "prod"), ("fn", "3")]


async def test_qualifiers_that_disagree_are_refused() -> None:
    status, headers, _ = await _call(_app(FakeInvoker()), PATH.format("fn:3"), query=b"Qualifier=4")
    assert status == 400
    assert (b"x-amzn-errortype", b"InvalidParameterValueException") in headers
    assert any(name == b"x-amzn-requestid" for name, _ in headers)


async def test_the_model_checks_the_request_every_time() -> None:
    app = _app(FakeInvoker())
    for _ in range(2):  # the second answer is not a remembered success
        status, headers, body = await _call(
            app, PATH.format("fn"), headers={"X-Amz-Log-Type": "Bogus"}
        )
        assert status == 400
        assert (b"x-amzn-errortype", b"ValidationException") in headers
        assert b"logType" in body


async def test_dry_run_event_and_missing_function() -> None:
    events = FakeEvents()
    app = _app(FakeInvoker(), events)
    status, headers, _ = await _call(
        app, PATH.format("fn"), headers={"X-Amz-Invocation-Type": "DryRun"}
    )
    assert status == 204
    assert [name for name, _ in headers] == [b"x-amzn-requestid"]
    status, headers, _ = await _call(
        app, PATH.format("fn"), headers={"X-Amz-Invocation-Type": "Event"}
    )
    assert (status, headers[0]) == (202, (b"x-amzn-requestid", b"event-rid"))
    assert events.accepted == [b'{"a": 1}']
    status, headers, body = await _call(app, PATH.format("missing"))
    assert status == 404
    assert json.loads(body)["Message"] == "Function not found: missing"


async def test_a_payload_that_is_not_json_is_refused() -> None:
    status, headers, _ = await _call(_app(FakeInvoker()), PATH.format("fn"), body=[b"{nope"])
    assert status == 400
    assert (b"x-amzn-errortype", b"InvalidRequestContentException") in headers


@pytest.mark.parametrize("payload", [b"", b" \t\r\n\x0b\x0c", b' {"a": 1} '])
async def test_an_empty_or_blank_payload_is_passed_on(payload: bytes) -> None:
    invoker = FakeInvoker()
    status, _, _ = await _call(_app(invoker), PATH.format("fn"), body=[payload])
    assert status == 200
    assert invoker.calls[0][2] == payload


async def test_a_body_in_pieces_and_a_chunked_body_over_the_limit() -> None:
    invoker = FakeInvoker()
    app = _app(invoker)
    status, _, _ = await _call(app, PATH.format("fn"), body=[b'{"a":', b" 1}"], chunked=True)
    assert status == 200
    assert invoker.calls[-1][2] == b'{"a": 1}'
    big = [b" " * (3 * 1024 * 1024)] * 3
    status, headers, _ = await _call(app, PATH.format("fn"), body=big, chunked=True)
    assert status == 413
    assert (b"x-amzn-errortype", b"RequestTooLargeException") in headers


async def test_other_methods_and_paths_go_through_starlette() -> None:
    app = _app(FakeInvoker())
    status, headers, _ = await _call(app, PATH.format("fn"), method="GET")
    assert status == 404
    assert (b"x-amzn-errortype", b"UnknownOperationException") in headers
    status, _, _ = await _call(app, "/2015-03-31/functions//invocations")
    assert status == 404


@pytest.mark.parametrize(
    ("path", "method", "params"),
    [
        ("/a/x/b", "POST", {"id": "x"}),
        ("/a/x%2Fy/b", "POST", {"id": "x%2Fy"}),
        ("/a/x/y/b", "POST", None),
        ("/a//b", "POST", None),
        ("/a/b", "POST", None),
        ("/a/x/b", "GET", None),
        ("/a/x/bc", "POST", None),
    ],
)
def test_fast_route_matches_one_segment(
    path: str, method: str, params: dict[str, str] | None
) -> None:
    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not called")

    route = FastRoute("/a/{id}/b", endpoint, methods=["POST"])
    assert route.fast_match({"path": path, "method": method}) == params


def test_fast_route_takes_one_whole_segment() -> None:
    async def endpoint(scope: Any, receive: Any, send: Any) -> None:
        raise AssertionError("not called")

    for template in ("/a/x{id}/b", "/a/{id}", "/a/{id}/{other}"):
        with pytest.raises(ValueError, match="one whole segment"):
            FastRoute(template, endpoint, methods=["POST"])
