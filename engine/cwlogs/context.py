"""What a CloudWatch Logs operation's handler gets besides its body: the store, the region,
and the limiter of the worker threads that read log files."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import trio

from engine.cwlogs.errors import group_not_found, stream_not_found
from engine.cwlogs.requests import group_name
from engine.model.arns import ACCOUNT_ID
from engine.runtime.log_file import StreamFile
from engine.runtime.log_store import GroupNotFound, LogGroup, LogStore, StreamNotFound

Body = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Context:
    store: LogStore
    region: str
    readers: trio.CapacityLimiter

    def group(self, body: Body) -> LogGroup:
        """The group the request's logGroupName or logGroupIdentifier names."""
        try:
            return self.store.group(group_name(body))
        except GroupNotFound:
            raise group_not_found() from None

    def stream(self, group: LogGroup, name: str) -> StreamFile:
        try:
            return self.store.stream(group, name)
        except StreamNotFound:
            raise stream_not_found() from None

    def group_arn(self, name: str) -> str:
        return f"arn:aws:logs:{self.region}:{ACCOUNT_ID}:log-group:{name}"


Handler = Callable[[Context, Body], Awaitable[Body]]
