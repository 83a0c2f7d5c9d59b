"""The host's side, read when scraped: environments by function and state, provisioned
concurrency, concurrency in flight, stems, ENIs, uids; and the histograms of sandbox teardowns
(fed by `Teardowns.on_teardown`) and of the event loop's lag (`watch_loop_lag`, a task that
sleeps and measures how late it wakes: a loop blocked by a long step wakes it late).

Reading the pool walks its live environments once per scrape (thousands cost a millisecond or
two); nothing here runs per invoke.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator

import trio
from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from engine.invoke.concurrency import Concurrency
from engine.invoke.pool import Pool
from engine.metrics import names as n
from engine.metrics.histogram import Histogram
from engine.runtime.lifecycle import EnvState

LOOP_LAG_INTERVAL_S = 0.25  # how often the loop-lag task wakes

_STATES = {
    EnvState.CREATING: n.STATE_INITIALIZING,
    EnvState.INITIALIZING: n.STATE_INITIALIZING,
    EnvState.IDLE: n.STATE_IDLE,
    EnvState.BUSY: n.STATE_BUSY,
}


class HostMetrics:
    def __init__(self, *, pool: Pool, concurrency: Concurrency) -> None:
        self.pool = pool
        self.concurrency = concurrency
        self.teardowns = Histogram(n.TEARDOWN_BUCKETS)
        self.loop_lag = Histogram(n.LOOP_LAG_BUCKETS)

    def teardown_done(self, seconds: float) -> None:
        """A `Teardowns.on_teardown` hook."""
        self.teardowns.observe(seconds)

    def collect(self) -> Iterator[Metric]:
        yield from self._environments()
        yield from self._concurrency()
        yield from self._sandboxes()
        teardown = HistogramMetricFamily(
            n.TEARDOWN, "Time to tear a sandbox down (kill, empty, remove, free its uid)"
        )
        teardown.add_metric([], self.teardowns.buckets(), self.teardowns.sum)
        lag = HistogramMetricFamily(
            n.LOOP_LAG,
            f"How late the daemon's event loop woke a task sleeping {LOOP_LAG_INTERVAL_S} s",
        )
        lag.add_metric([], self.loop_lag.buckets(), self.loop_lag.sum)
        yield teardown
        yield lag

    def _environments(self) -> Iterator[Metric]:
        pool = self.pool
        states: Counter[tuple[str, str]] = Counter()
        for env in pool.live:
            state = _STATES.get(env.state)
            if state is None:
                continue  # destroyed: being torn down
            if state == n.STATE_IDLE and env in pool.frozen:
                state = n.STATE_FROZEN
            states[(env.function.name, state)] += 1
        environments = GaugeMetricFamily(
            n.ENVIRONMENTS,
            "Execution environments by function and state (idle: warm, not frozen)",
            labels=[n.FUNCTION, "state"],
        )
        for (function, state), count in sorted(states.items()):
            environments.add_metric([function, state], count)
        yield environments
        labels = [n.FUNCTION, n.QUALIFIER]
        allocated = GaugeMetricFamily(
            n.PROVISIONED_ENVIRONMENTS, "Initialised provisioned environments", labels=labels
        )
        busy = GaugeMetricFamily(
            n.PROVISIONED_CONCURRENT,
            "Provisioned environments running an invoke (ProvisionedConcurrentExecutions)",
            labels=labels,
        )
        utilization = GaugeMetricFamily(
            n.PROVISIONED_UTILIZATION,
            "Busy / allocated provisioned environments (ProvisionedConcurrencyUtilization)",
            labels=labels,
        )
        for (function, qualifier), envs in sorted(pool.provisioned.items()):
            running = sum(1 for env in envs if env.state is EnvState.BUSY)
            allocated.add_metric([function, qualifier], len(envs))
            busy.add_metric([function, qualifier], running)
            utilization.add_metric([function, qualifier], running / len(envs) if envs else 0.0)
        yield from (allocated, busy, utilization)

    def _concurrency(self) -> Iterator[Metric]:
        in_flight = GaugeMetricFamily(
            n.CONCURRENT,
            "Invocations in flight (Lambda: ConcurrentExecutions)",
            labels=[n.FUNCTION],
        )
        for function, count in sorted(self.concurrency.in_flight.items()):
            in_flight.add_metric([function], count)
        yield in_flight
        yield GaugeMetricFamily(
            n.UNRESERVED_CONCURRENT,
            "Invocations in flight of functions without reserved concurrency",
            value=self.concurrency.unreserved_in_flight,
        )

    def _sandboxes(self) -> Iterator[Metric]:
        pool = self.pool
        stems = pool.stems
        yield GaugeMetricFamily(n.STEMS_READY, "Stems ready for cold starts", len(stems.ready))
        yield GaugeMetricFamily(n.STEMS_PENDING, "Stems being made", stems.pending)
        yield GaugeMetricFamily(
            n.STEMS_TARGET,
            "Ready stems wanted at the recent cold-start rate",
            stems.demand.target(trio.current_time()),
        )
        cold = CounterMetricFamily(
            n.COLD_STARTS, "Cold starts by how they got their sandbox", labels=["kind"]
        )
        cold.add_metric([n.COLD_READY_STEM], stems.taken_ready)
        cold.add_metric([n.COLD_OWN_STEM], stems.made_on_demand)
        yield cold
        yield GaugeMetricFamily(
            n.UIDS_AVAILABLE, "Sandbox uids left (each live sandbox holds one)", pool.uids.available
        )
        if pool.network is not None:
            enis = pool.network.enis
            ready = GaugeMetricFamily(n.ENIS_READY, "Ready ENIs per network", labels=["network"])
            ready_total = 0
            for key, envs in sorted(enis.ready.items()):
                ready.add_metric(["/".join(key[0]) or "default"], len(envs))
                ready_total += len(envs)
            yield ready
            yield GaugeMetricFamily(
                n.ENIS_IN_USE, "ENIs held by sandboxes", len(enis.enis) - ready_total
            )


async def watch_loop_lag(
    observe: Callable[[float], None], *, interval_s: float = LOOP_LAG_INTERVAL_S
) -> None:
    """Sleep `interval_s` again and again (forever) and observe how late each wake-up came."""
    while True:
        asleep = trio.current_time()
        await trio.sleep(interval_s)
        observe(max(trio.current_time() - asleep - interval_s, 0.0))
