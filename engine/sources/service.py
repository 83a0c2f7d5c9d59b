"""The event-source runtime the daemon opens: a supervisor over the mappings, and a poller per
enabled mapping (SQS queues and Kinesis streams of this host).

    async with open_sources(state_dir, mappings=..., invoker=..., queues=..., streams=...):
        ...   # mappings poll until the block ends

Cleanup: leaving the block cancels every poller (a batch under way is cut short: its queue
messages come back after their visibility timeout, its stream records are read again from the
shard's checkpoint: at least once), then commits the checkpoints and closes their file.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Protocol

import trio

from engine.journal.journal import Journal
from engine.kinesis.service import StreamService
from engine.model.event_source_mapping import EventSourceMapping
from engine.sources import checkpoints as checkpoint_store
from engine.sources.checkpoints import Checkpoints
from engine.sources.invoking import FunctionInvoker
from engine.sources.kinesis_poller import KinesisPoller
from engine.sources.observer import NO_OBSERVER, SourceObserver
from engine.sources.sqs_poller import SqsPoller
from engine.sources.supervisor import Mappings, Poller, Supervisor
from engine.sqs.service import QueueService


class ReportingMappings(Mappings, Protocol):
    def set_last_processing_result(self, uuid: str, text: str) -> None: ...


@contextlib.asynccontextmanager
async def open_sources(
    state_dir: Path,
    *,
    mappings: ReportingMappings,
    invoker: FunctionInvoker,
    queues: QueueService,
    streams: StreamService,
    role_of: Callable[[str, str | None], str],
    region: str,
    time_scale: float = 1.0,
    observer: SourceObserver = NO_OBSERVER,
) -> AsyncIterator[Supervisor]:
    """`observer`: where the pollers count their records (the metrics)."""
    journal = Journal(state_dir / checkpoint_store.DB_NAME, checkpoint_store.SCHEMA)
    checkpoints = Checkpoints(journal)

    def make_poller(mapping: EventSourceMapping) -> Poller:
        if mapping.source_kind == "kinesis":
            uuid = mapping.uuid
            return KinesisPoller(
                mapping,
                streams=streams,
                invoker=invoker,
                queues=queues,
                checkpoints=checkpoints,
                region=region,
                identity_arn=functools.partial(role_of, mapping.function_name, mapping.qualifier),
                report=lambda text: mappings.set_last_processing_result(uuid, text),
                time_scale=time_scale,
                observer=observer,
            )
        return SqsPoller(mapping, queues=queues, invoker=invoker, region=region, observer=observer)

    def forget(uuid: str) -> None:
        checkpoints.forget(uuid)
        observer.forget(uuid)

    supervisor = Supervisor(mappings, make_poller, forget=forget)
    try:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(journal.run)
            nursery.start_soon(supervisor.run)
            yield supervisor
            nursery.cancel_scope.cancel()
    finally:
        journal.close()
