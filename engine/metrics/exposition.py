"""``GET /metrics``: the registry in Prometheus' text format (OpenMetrics when the scraper asks
for it, gzip when it accepts it), as an ASGI app; and the one request the TCP listener's SigV4
gate lets through unsigned.

The families are collected on the event loop (reading the daemon's state is only safe there)
and encoded to text in a worker thread, so a scrape of many series does not hold the loop.
"""

from __future__ import annotations

import gzip
from collections.abc import Iterable
from typing import Final

import trio
from prometheus_client.exposition import choose_encoder, gzip_accepted
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Receive, Scope, Send

SCRAPE_PATH: Final = "/metrics"
_RAW_SCRAPE_PATH: Final = SCRAPE_PATH.encode()


def is_scrape(scope: Scope) -> bool:
    """Exactly ``GET /metrics`` (or HEAD), however the query reads: what a scraper sends, and
    what the TCP listener serves without a signature (the raw path is compared, so no
    spelling of another path with escapes gets through)."""
    return (
        scope["type"] == "http"
        and scope["method"] in ("GET", "HEAD")
        and scope.get("raw_path") == _RAW_SCRAPE_PATH
        and scope["path"] == SCRAPE_PATH
    )


class _Collected:
    """Families already collected, as the encoders want a registry."""

    def __init__(self, families: list[Metric]) -> None:
        self.families = families

    def collect(self) -> Iterable[Metric]:
        return self.families


class MetricsApp:
    """Serves `registry` at `SCRAPE_PATH`; any other path is a 404, any other method a 405."""

    def __init__(self, registry: Collector) -> None:
        self.registry = registry

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        if scope["path"] != SCRAPE_PATH:
            await _answer(send, 404, b"Not Found\n")
            return
        if scope["method"] not in ("GET", "HEAD"):
            await _answer(send, 405, b"Method Not Allowed\n", [(b"allow", b"GET, HEAD")])
            return
        accept, encoding = "", ""
        for name, value in scope["headers"]:
            if name == b"accept":
                accept = value.decode("latin-1")
            elif name == b"accept-encoding":
                encoding = value.decode("latin-1")
        encoder, content_type = choose_encoder(accept)
        snapshot = _Collected(list(self.registry.collect()))
        compress = gzip_accepted(encoding)

        def render() -> bytes:
            text = encoder(snapshot)
            return gzip.compress(text, compresslevel=1) if compress else text

        body = await trio.to_thread.run_sync(render)
        headers = [(b"content-type", content_type.encode("latin-1"))]
        if compress:
            headers.append((b"content-encoding", b"gzip"))
        await _answer(send, 200, body, headers, head=scope["method"] == "HEAD")


class MetricsRouter:
    """An ASGI app: `SCRAPE_PATH` to the metrics app, everything else to `inner` (one string
    comparison per request)."""

    def __init__(self, metrics: ASGIApp, inner: ASGIApp) -> None:
        self.metrics = metrics
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == SCRAPE_PATH:
            await self.metrics(scope, receive, send)
        else:
            await self.inner(scope, receive, send)


async def _answer(
    send: Send,
    status: int,
    body: bytes,
    headers: list[tuple[bytes, bytes]] | None = None,
    *,
    head: bool = False,
) -> None:
    headers = [*(headers or [(b"content-type", b"text/plain; charset=utf-8")])]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else body})
