"""What an SQS operation's handler gets besides its body: the service and the request's Host."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from engine.sqs.queue import Queue
from engine.sqs.service import QueueService
from engine.sqs.urls import name_from_url, queue_url

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Context:
    service: QueueService
    host: str

    def queue(self, body: Body) -> Queue:
        """The queue the request's QueueUrl names (QueueDoesNotExist if none)."""
        return self.service.catalog.get(name_from_url(body["QueueUrl"]))

    def url(self, name: str) -> str:
        return queue_url(self.host, name)


Handler = Callable[[Context, Body], Awaitable[Body]]
