"""Lambda's metrics per function and qualifier: invocations, errors, throttles, durations, and
the asynchronous events' fate.

`FunctionMetrics` is the invoker's `InvokeObserver` and the event queue's `AsyncObserver`
(daemon-wired). Each (function, qualifier) has one `FunctionSeries` of plain counters, looked
up when an invoke reserves its unit; counting an invoke is then a handful of additions and one
histogram bisection, with no labels to resolve. The series are turned into Prometheus families
only when scraped (`collect`). Cardinality: series exist for functions (and versions, aliases)
that exist: one is made only after a check that its function is there, and a delete drops them
(`forget`); a late count into a dropped series goes nowhere.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)

from engine.events.counters import DEAD_LETTER
from engine.events.policy import SUCCESS
from engine.invoke.invoker import Reservation
from engine.metrics import names as n
from engine.metrics.histogram import Histogram
from engine.model.function import LATEST
from engine.runtime.environment import InvokeOutcome

MIB = 1024 * 1024


class FunctionSeries:
    """One (function, qualifier)'s counters. `qualifier` is the one invoked ($LATEST for
    none), as CloudWatch's Resource dimension."""

    __slots__ = (
        "async_age",
        "async_dropped",
        "async_received",
        "dead_letter_errors",
        "destination_failures",
        "duration",
        "errors",
        "function",
        "init_duration",
        "invocations",
        "max_memory_used_bytes",
        "memory_size_bytes",
        "provisioned_invocations",
        "qualifier",
        "throttles",
    )

    def __init__(self, function: str, qualifier: str) -> None:
        self.function = function
        self.qualifier = qualifier
        self.invocations: dict[str, int] = {}  # by invocation type
        self.errors: dict[str, int] = {}  # by error type
        self.throttles = 0
        self.provisioned_invocations = 0
        self.duration = Histogram(n.DURATION_BUCKETS)
        self.init_duration = Histogram(n.DURATION_BUCKETS)
        self.max_memory_used_bytes = 0
        self.memory_size_bytes = 0
        self.async_received = 0
        self.async_age = Histogram(n.AGE_BUCKETS)
        self.async_dropped: dict[str, int] = {}  # by reason
        self.dead_letter_errors = 0
        self.destination_failures = 0

    # -- the invoker's `InvokeSeries` ----------------------------------------------------

    def invoked(
        self, outcome: InvokeOutcome, reservation: Reservation, *, provisioned: bool
    ) -> None:
        kind = reservation.invocation_type
        self.invocations[kind] = self.invocations.get(kind, 0) + 1
        self.duration.observe(outcome.duration_ms / 1000)
        if outcome.init_duration_ms is not None:
            self.init_duration.observe(outcome.init_duration_ms / 1000)
        if outcome.function_error is not None:
            error = outcome.error_type
            label = error if error in n.KNOWN_ERROR_TYPES else n.UNHANDLED
            self.errors[label] = self.errors.get(label, 0) + 1
        if provisioned:
            self.provisioned_invocations += 1
        self.max_memory_used_bytes = outcome.max_memory_used_bytes
        self.memory_size_bytes = reservation.config.memory_mb * MIB

    def throttled(self) -> None:
        self.throttles += 1


class FunctionMetrics:
    """`exists(function, qualifier)`: whether it is there now (a series is made only then)."""

    def __init__(self, *, exists: Callable[[str, str], bool]) -> None:
        self._exists = exists
        self._series: dict[tuple[str, str], FunctionSeries] = {}

    def series(self, name: str, qualifier: str) -> FunctionSeries:
        found = self._series.get((name, qualifier))
        if found is None:
            found = FunctionSeries(name, qualifier)
            if self._exists(name, qualifier):
                self._series[(name, qualifier)] = found
        return found

    def forget(self, name: str, qualifier: str | None) -> None:
        """A `FunctionService.on_delete` hook: the function (None) or one of its versions or
        aliases is gone, and so are its series."""
        for key in [k for k in self._series if k[0] == name and qualifier in (None, k[1])]:
            del self._series[key]

    # -- the event queue's `AsyncObserver` -------------------------------------------------

    def received(self, function: str, qualifier: str | None) -> None:
        self.series(function, qualifier or LATEST).async_received += 1

    def attempted(self, function: str, qualifier: str | None, age_s: float) -> None:
        self.series(function, qualifier or LATEST).async_age.observe(age_s)

    def ended(self, function: str, qualifier: str | None, condition: str) -> None:
        if condition == SUCCESS:
            return
        dropped = self.series(function, qualifier or LATEST).async_dropped
        dropped[condition] = dropped.get(condition, 0) + 1

    def delivery_failed(self, function: str, qualifier: str | None, target: str) -> None:
        series = self.series(function, qualifier or LATEST)
        if target == DEAD_LETTER:
            series.dead_letter_errors += 1
        else:
            series.destination_failures += 1

    # -- scraping ------------------------------------------------------------------------------

    def collect(self) -> Iterator[Metric]:
        fq = [n.FUNCTION, n.QUALIFIER]
        invocations = CounterMetricFamily(
            n.INVOCATIONS, "Invocations that ran the function (Lambda: Invocations)",
            labels=[*fq, "invocation_type"],
        )  # fmt: skip
        errors = CounterMetricFamily(
            n.ERRORS, "Invocations that ended in an error (Lambda: Errors), by error type",
            labels=[*fq, "error_type"],
        )  # fmt: skip
        throttles = CounterMetricFamily(
            n.THROTTLES, "Synchronous invokes refused with 429 (Lambda: Throttles)", labels=fq
        )
        provisioned = CounterMetricFamily(
            n.PROVISIONED_INVOCATIONS,
            "Invocations run by a provisioned environment (ProvisionedConcurrencyInvocations)",
            labels=fq,
        )
        duration = HistogramMetricFamily(
            n.DURATION, "Time the function ran per invoke (Lambda: Duration)", labels=fq
        )
        init = HistogramMetricFamily(
            n.INIT_DURATION, "Init Duration of on-demand cold starts (REPORT)", labels=fq
        )
        max_memory = GaugeMetricFamily(
            n.MAX_MEMORY_USED, "Max Memory Used of the last invoke (REPORT)", labels=fq
        )
        memory_size = GaugeMetricFamily(
            n.MEMORY_SIZE, "MemorySize of the last invoke's version", labels=fq
        )
        received = CounterMetricFamily(
            n.ASYNC_RECEIVED, "Async events accepted (AsyncEventsReceived)", labels=fq
        )
        age = HistogramMetricFamily(
            n.ASYNC_AGE, "Age of an async event at each attempt (AsyncEventAge)", labels=fq
        )
        dropped = CounterMetricFamily(
            n.ASYNC_DROPPED, "Async events ended without success (AsyncEventsDropped)",
            labels=[*fq, "reason"],
        )  # fmt: skip
        dead_letter = CounterMetricFamily(
            n.DEAD_LETTER_ERRORS, "Failed sends to a dead-letter queue (DeadLetterErrors)",
            labels=fq,
        )  # fmt: skip
        destination = CounterMetricFamily(
            n.DESTINATION_FAILURES,
            "Failed sends to a destination (DestinationDeliveryFailures)",
            labels=fq,
        )
        for s in self._series.values():
            labels = [s.function, s.qualifier]
            for kind, count in s.invocations.items():
                invocations.add_metric([*labels, kind], count)
            for error, count in s.errors.items():
                errors.add_metric([*labels, error], count)
            throttles.add_metric(labels, s.throttles)
            provisioned.add_metric(labels, s.provisioned_invocations)
            duration.add_metric(labels, s.duration.buckets(), s.duration.sum)
            if s.init_duration.count:
                init.add_metric(labels, s.init_duration.buckets(), s.init_duration.sum)
            if s.memory_size_bytes:
                max_memory.add_metric(labels, s.max_memory_used_bytes)
                memory_size.add_metric(labels, s.memory_size_bytes)
            if s.async_received or s.async_dropped or s.async_age.count:
                received.add_metric(labels, s.async_received)
                age.add_metric(labels, s.async_age.buckets(), s.async_age.sum)
                for reason, count in s.async_dropped.items():
                    dropped.add_metric([*labels, reason], count)
                dead_letter.add_metric(labels, s.dead_letter_errors)
                destination.add_metric(labels, s.destination_failures)
        yield from (invocations, errors, throttles, provisioned, duration, init, max_memory)
        yield from (memory_size, received, age, dropped, dead_letter, destination)
