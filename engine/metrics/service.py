"""The metrics the daemon opens: one registry with lambdalet's collectors and the process's own
(CPU, memory, descriptors, GC), the ASGI app that serves it, and the loop-lag task.

    metrics = Metrics(pool=pool, concurrency=concurrency, check=functions.check_qualifier)
    invoker.observer = metrics.functions          # daemon.py connects the hooks
    async with trio.open_nursery() as nursery:
        nursery.start_soon(metrics.run)            # the loop-lag task, until cancelled

Nothing to clean up: the metrics hold no descriptors, and `run` only sleeps.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, GCCollector, PlatformCollector, ProcessCollector

from engine.errors import ApiError
from engine.invoke.concurrency import Concurrency
from engine.invoke.pool import Pool
from engine.metrics.exposition import MetricsApp
from engine.metrics.functions import FunctionMetrics
from engine.metrics.host import HostMetrics, watch_loop_lag
from engine.metrics.mappings import MappingMetrics


class Metrics:
    """`check(function, qualifier)` raises an `ApiError` (404) unless both exist now."""

    def __init__(
        self, *, pool: Pool, concurrency: Concurrency, check: Callable[[str, str], None]
    ) -> None:
        def exists(function: str, qualifier: str) -> bool:
            try:
                check(function, qualifier)
            except ApiError:
                return False
            return True

        self.registry = CollectorRegistry(auto_describe=False)
        self.functions = FunctionMetrics(exists=exists)
        self.mappings = MappingMetrics()
        self.host = HostMetrics(pool=pool, concurrency=concurrency)
        for collector in (self.functions, self.mappings, self.host):
            self.registry.register(collector)
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.app = MetricsApp(self.registry)

    async def run(self) -> None:
        await watch_loop_lag(self.host.loop_lag.observe)
