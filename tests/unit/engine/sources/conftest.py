from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest
import trio
import trio.testing

from engine.journal.journal import Journal
from engine.kinesis.service import StreamService, open_streams
from engine.sources import checkpoints as checkpoint_store
from engine.sources.checkpoints import Checkpoints
from engine.sqs.service import QueueService, open_queues
from tests.unit.engine.sources.helpers import REGION, FakeInvoker, trio_clock


@asynccontextmanager
async def open_checkpoints(state_dir: Path) -> AsyncIterator[Checkpoints]:
    """Checkpoints on their journal in `state_dir`, as `open_sources` keeps them; leaving
    commits what is queued and closes the file."""
    journal = Journal(state_dir / checkpoint_store.DB_NAME, checkpoint_store.SCHEMA)
    try:
        checkpoints = Checkpoints(journal)
    except BaseException:
        journal.close()
        raise
    async with trio.open_nursery() as nursery:
        nursery.start_soon(journal.run)
        try:
            yield checkpoints
        finally:
            nursery.cancel_scope.cancel()


@pytest.fixture
async def queues(tmp_path: Path) -> AsyncIterator[QueueService]:
    async with open_queues(tmp_path, region=REGION, clock=trio_clock) as opened:
        yield opened


@pytest.fixture
async def streams(tmp_path: Path) -> AsyncIterator[StreamService]:
    async with open_streams(tmp_path, region=REGION, clock=trio_clock) as opened:
        yield opened


@pytest.fixture
async def checkpoints(tmp_path: Path) -> AsyncIterator[Checkpoints]:
    async with open_checkpoints(tmp_path) as opened:
        yield opened


@pytest.fixture
def invoker() -> FakeInvoker:
    return FakeInvoker()


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Autojump only after real idleness: journal commits run in a thread, and a zero
    threshold would jump the clock to the next deadline (a batching window, a backoff, a
    visibility timeout) during each of them."""
    return trio.testing.MockClock(autojump_threshold=0.25)
