"""Driving `SchedulerApp` as boto3 does: requests built by botocore's rest-json serializer,
answers read by its parser (so the unit tests check the wire, not just the handlers)."""

from __future__ import annotations

import json
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlencode, urlsplit

import botocore.parsers
import botocore.serialize
import botocore.session

from engine.scheduler.api import SchedulerApp

_MODEL = botocore.session.get_session().get_service_model("scheduler")


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    raw: dict[str, Any]
    parsed: dict[str, Any]

    @property
    def code(self) -> str:
        return str(self.parsed.get("Error", {}).get("Code", ""))

    @property
    def message(self) -> str:
        return str(self.parsed.get("Error", {}).get("Message", ""))


async def call(app: SchedulerApp, operation: str, **params: Any) -> Answer:
    model = _MODEL.operation_model(operation)
    request = botocore.serialize.create_serializer("rest-json").serialize_to_request(params, model)
    return await send_raw(
        app,
        request["method"],
        request["url_path"],
        request["query_string"],
        request["body"] if isinstance(request["body"], bytes) else request["body"].encode(),
        operation=operation,
    )


async def send_raw(
    app: SchedulerApp,
    method: str,
    url_path: str,
    query: Any,
    body: bytes,
    *,
    operation: str | None = None,
) -> Answer:
    path = urlsplit(url_path)
    query_string = path.query
    if isinstance(query, dict) and query:
        query_string = urlencode(query, doseq=True)
    scope = {
        "type": "http",
        "method": method,
        "path": unquote(path.path),
        "raw_path": path.path.encode(),
        "query_string": query_string.encode(),
        "headers": [(b"content-type", b"application/json"), (b"host", b"scheduler.test")],
    }
    sent: list[MutableMapping[str, Any]] = []
    done = False

    async def receive() -> dict[str, Any]:
        nonlocal done
        if done:
            return {"type": "http.disconnect"}
        done = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send_message(message: MutableMapping[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send_message)
    start, body_message = sent
    headers = {k.decode(): v.decode() for k, v in start["headers"]}
    raw = json.loads(body_message["body"])
    parsed: dict[str, Any] = {}
    if operation is not None:
        op_model = _MODEL.operation_model(operation)
        parser = botocore.parsers.create_parser("rest-json")
        parsed = parser.parse(
            {"status_code": start["status"], "headers": headers, "body": body_message["body"]},
            op_model.output_shape,
        )
    return Answer(start["status"], headers, raw, parsed)
