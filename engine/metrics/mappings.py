"""Event source mappings' metrics: records by outcome (Lambda's PolledEventCount,
FilteredOutEventCount, InvokedEventCount, FailedInvokeEventCount, DeletedEventCount,
DroppedEventCount) and a stream's iterator age. `MappingMetrics` is the pollers' observer
(`engine.sources.observer.SourceObserver`, daemon-wired); a deleted mapping's series go."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric

from engine.metrics import names as n


class MappingMetrics:
    def __init__(self) -> None:
        self._events: dict[tuple[str, str, str], int] = {}  # (uuid, function, outcome)
        self._age: dict[tuple[str, str], float] = {}  # (uuid, function) -> seconds

    def events(self, uuid: str, function: str, outcome: str, count: int) -> None:
        key = (uuid, function, outcome)
        self._events[key] = self._events.get(key, 0) + count

    def iterator_age(self, uuid: str, function: str, age_s: float) -> None:
        self._age[(uuid, function)] = age_s

    def forget(self, uuid: str) -> None:
        for key in [k for k in self._events if k[0] == uuid]:
            del self._events[key]
        for age_key in [k for k in self._age if k[0] == uuid]:
            del self._age[age_key]

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            n.ESM_EVENTS,
            "Records of an event source mapping, by outcome (Lambda's PolledEventCount, ...)",
            labels=["esm", n.FUNCTION, "outcome"],
        )
        for (uuid, function, outcome), count in self._events.items():
            events.add_metric([uuid, function, outcome], count)
        age = GaugeMetricFamily(
            n.ESM_ITERATOR_AGE,
            "Age of the last record of the last batch sent to the function (IteratorAge)",
            labels=["esm", n.FUNCTION],
        )
        for (uuid, function), seconds in self._age.items():
            age.add_metric([uuid, function], seconds)
        yield events
        yield age
