"""What a Kinesis operation's handler gets besides its body: the service."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from engine.kinesis.requests import stream_of
from engine.kinesis.service import StreamService
from engine.kinesis.stream import Stream

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Context:
    service: StreamService

    def stream(self, body: Body) -> Stream:
        """The stream the request's StreamARN or StreamName names."""
        return stream_of(self.service.catalog, body)


Handler = Callable[[Context, Body], Awaitable[Body]]
