"""`Invoker.release` calls its `on_release` hooks only when a reservation was refused for lack
of room since they last ran (a busy function must not wake the async queue every time); what
`reserve` tells the metrics' observer."""

from __future__ import annotations

import pytest

from engine.errors import ResourceNotFoundException, TooManyRequestsException
from engine.invoke.invoker import EVENT
from tests.unit.engine.events.helpers import FakeFunctions, FakeInvoker


def _invoker(limit: int) -> tuple[FakeInvoker, list[int]]:
    functions = FakeFunctions()
    functions.add("fn")
    invoker = FakeInvoker(functions, account_limit=limit)
    woken: list[int] = []
    invoker.on_release.append(lambda: woken.append(1))
    return invoker, woken


def test_releases_wake_nobody_while_nothing_was_refused() -> None:
    invoker, woken = _invoker(2)
    for _ in range(3):
        invoker.release(invoker.reserve("fn", None))
    assert woken == []


def test_the_release_after_a_refusal_wakes_the_hooks_once() -> None:
    invoker, woken = _invoker(1)
    held = invoker.reserve("fn", None)
    with pytest.raises(TooManyRequestsException):
        invoker.reserve("fn", None)
    invoker.release(held)
    assert woken == [1]
    invoker.release(invoker.reserve("fn", None))  # nothing refused since
    assert woken == [1]
    held = invoker.reserve("fn", None)
    for _ in range(2):  # two refusals, one release: one wake (the waiter retries them all)
        with pytest.raises(TooManyRequestsException):
            invoker.reserve("fn", None)
    invoker.release(held)
    assert woken == [1, 1]


class Series:
    def __init__(self) -> None:
        self.throttles = 0

    def invoked(self, outcome: object, reservation: object, *, provisioned: bool) -> None:
        raise AssertionError("not run here")

    def throttled(self) -> None:
        self.throttles += 1


class Observer:
    def __init__(self) -> None:
        self.made: dict[tuple[str, str], Series] = {}

    def series(self, name: str, qualifier: str) -> Series:
        return self.made.setdefault((name, qualifier), Series())


def test_a_refused_synchronous_invoke_counts_as_a_throttle_an_async_wait_does_not() -> None:
    invoker, _ = _invoker(1)
    observer = Observer()
    invoker.observer = observer
    held = invoker.reserve("fn", None)
    assert held.series is observer.made[("fn", "$LATEST")]  # looked up once, carried along
    with pytest.raises(TooManyRequestsException):
        invoker.reserve("fn", None)
    with pytest.raises(TooManyRequestsException):
        invoker.reserve("fn", None, invocation_type=EVENT)  # the event waits in its queue
    assert observer.made[("fn", "$LATEST")].throttles == 1
    with pytest.raises(ResourceNotFoundException):
        invoker.reserve("missing", None)
    assert set(observer.made) == {("fn", "$LATEST")}  # nothing for a function that is not
