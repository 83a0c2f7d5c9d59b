from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from engine.sqs.api import SqsApp
from engine.sqs.service import QueueService, open_queues

EPOCH_S = 1_700_000_000.0


def trio_clock() -> float:
    """Wall time for the service, driven by trio's clock (so autojump_clock moves it)."""
    return EPOCH_S + trio.current_time()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[QueueService]:
    async with open_queues(tmp_path, region="us-east-1", clock=trio_clock) as opened:
        yield opened


@pytest.fixture
def app(service: QueueService) -> SqsApp:
    return SqsApp(service, region="us-east-1")


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Autojump only after real idleness: journal commits run in a thread, and a zero
    threshold would jump the clock to the timer's next deadline during each of them."""
    return trio.testing.MockClock(autojump_threshold=0.25)
