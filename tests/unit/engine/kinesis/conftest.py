from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import trio
import trio.testing

from engine.kinesis.api import KinesisApp
from engine.kinesis.service import StreamService, open_streams

EPOCH_S = 1_700_000_000.0


def trio_clock() -> float:
    """Wall time for the service, driven by trio's clock (so autojump_clock moves it)."""
    return EPOCH_S + trio.current_time()


@pytest.fixture
async def service(tmp_path: Path) -> AsyncIterator[StreamService]:
    async with open_streams(tmp_path, region="us-east-1", clock=trio_clock) as opened:
        yield opened


@pytest.fixture
def app(service: StreamService) -> KinesisApp:
    return KinesisApp(service, region="us-east-1")


@pytest.fixture
def autojump_clock() -> trio.testing.MockClock:
    """Autojump only after real idleness: journal commits run in a thread, and a zero
    threshold would jump the clock to the trimmer's next deadline during each of them."""
    return trio.testing.MockClock(autojump_threshold=0.25)
