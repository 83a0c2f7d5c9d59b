"""``GET /metrics`` as an ASGI app: the text (or OpenMetrics, or gzip) a scraper asks for, 404
and 405 for anything else; which requests count as a scrape (what the TCP listener lets through
unsigned); the router in front of the API."""

from __future__ import annotations

import gzip
from typing import Any

import pytest
from prometheus_client import CollectorRegistry, Counter
from starlette.types import Message, Scope

from engine.metrics.exposition import MetricsApp, MetricsRouter, is_scrape


def scope(
    path: str = "/metrics",
    method: str = "GET",
    headers: list[tuple[bytes, bytes]] | None = None,
    raw_path: bytes | None = None,
) -> Scope:
    return {
        "type": "http",
        "method": method,
        "path": path,
        "raw_path": raw_path if raw_path is not None else path.encode(),
        "query_string": b"",
        "headers": headers or [],
    }


async def call(app: Any, s: Scope) -> tuple[int, dict[bytes, bytes], bytes]:
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(s, receive, send)
    start, body = sent
    return start["status"], dict(start["headers"]), body["body"]


@pytest.fixture
def app() -> MetricsApp:
    registry = CollectorRegistry()
    Counter("lambdalet_things", "Things", registry=registry).inc(3)
    return MetricsApp(registry)


async def test_a_scrape_gets_the_text_format(app: MetricsApp) -> None:
    status, headers, body = await call(app, scope())
    assert status == 200
    assert headers[b"content-type"] == b"text/plain; version=0.0.4; charset=utf-8"
    assert b"lambdalet_things_total 3.0\n" in body
    assert int(headers[b"content-length"]) == len(body)


async def test_openmetrics_and_gzip_when_asked(app: MetricsApp) -> None:
    accept = [
        (b"accept", b"application/openmetrics-text; version=1.0.0"),
        (b"accept-encoding", b"gzip"),
    ]
    status, headers, body = await call(app, scope(headers=accept))
    assert status == 200 and headers[b"content-encoding"] == b"gzip"
    assert headers[b"content-type"].startswith(b"application/openmetrics-text")
    text = gzip.decompress(body)
    assert b"lambdalet_things_total 3.0\n" in text and text.endswith(b"# EOF\n")


async def test_head_declares_the_length_without_a_body(app: MetricsApp) -> None:
    status, headers, body = await call(app, scope(method="HEAD"))
    assert status == 200 and body == b"" and int(headers[b"content-length"]) > 0


async def test_other_paths_and_methods(app: MetricsApp) -> None:
    assert (await call(app, scope(path="/")))[0] == 404
    status, headers, _ = await call(app, scope(method="POST"))
    assert status == 405 and headers[b"allow"] == b"GET, HEAD"


@pytest.mark.parametrize(
    ("s", "scrape"),
    [
        (scope(), True),
        (scope(method="HEAD"), True),
        (scope(method="POST"), False),
        (scope(method="DELETE"), False),
        (scope(path="/metrics/"), False),
        (scope(path="/Metrics"), False),
        (scope(path="/metrics", raw_path=b"/%6detrics"), False),  # the path unquoted
        (scope(path="/2015-03-31/functions/"), False),
        ({**scope(), "type": "websocket"}, False),
    ],
)
def test_what_counts_as_a_scrape(s: Scope, scrape: bool) -> None:
    assert is_scrape(s) is scrape


async def test_the_router_sends_only_metrics_to_the_metrics_app(app: MetricsApp) -> None:
    async def api(s: Scope, receive: Any, send: Any) -> None:
        await send({"type": "http.response.start", "status": 418, "headers": []})
        await send({"type": "http.response.body", "body": b"api"})

    router = MetricsRouter(app, api)
    assert (await call(router, scope()))[0] == 200
    assert (await call(router, scope(path="/2015-03-31/functions/")))[2] == b"api"
