"""`Invoker.release` calls its `on_release` hooks only when a reservation was refused for lack
of room since they last ran (a busy function must not wake the async queue every time); its
`on_invoked` hooks hear of every invoke that ran; what `reserve` tells the metrics' observer."""

from __future__ import annotations

import pytest

from engine.errors import ResourceNotFoundException, TooManyRequestsException
from engine.invoke.concurrency import Concurrency
from engine.invoke.invoker import EVENT, Invoker
from engine.model.function import FunctionConfig
from engine.runtime.environment import InvokeOutcome
from sandbox.protocol import Invoke
from tests.unit.engine.events.helpers import REGION, FakeFunctions, FakeInvoker


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


# -- on_invoked: what the usage ledger is told ------------------------------------------------


class _Env:
    def __init__(self, billed_ms: int, provisioned_for: tuple[str, str] | None) -> None:
        self.billed_ms = billed_ms
        self.provisioned_for = provisioned_for

    async def invoke(self, inv: Invoke, *, timeout_s: float) -> InvokeOutcome:
        return InvokeOutcome(
            payload=b"{}",
            function_error=None,
            log_tail=b"",
            reusable=True,
            billed_ms=self.billed_ms,
        )


class _Pool:
    def __init__(self, envs: list[_Env]) -> None:
        self.envs = envs
        self.released: list[_Env] = []

    async def acquire(self, function: FunctionConfig) -> tuple[_Env, bool]:
        return self.envs.pop(0), False

    def release(self, env: _Env, *, reusable: bool) -> None:
        self.released.append(env)


async def test_every_invoke_that_ran_is_told_with_its_qualifier_and_environment_kind() -> None:
    functions = FakeFunctions()
    functions.add("fn")
    functions.add("fn", version="1")
    pool = _Pool([_Env(7, None), _Env(3, ("fn", "1"))])
    invoker = Invoker(
        functions=functions,
        pool=pool,  # type: ignore[arg-type]
        region=REGION,
        concurrency=Concurrency(account_limit=10, unreserved_minimum=0),
    )
    told: list[tuple[str, str | None, int, bool]] = []
    invoker.on_invoked.append(
        lambda config, qualifier, outcome, provisioned: told.append(
            (config.version, qualifier, outcome.billed_ms, provisioned)
        )
    )
    await invoker.invoke("fn", None, b"{}")
    await invoker.invoke("fn", "1", b"{}")
    assert told == [("$LATEST", None, 7, False), ("1", "1", 3, True)]
    assert len(pool.released) == 2
    with pytest.raises(ResourceNotFoundException):  # nothing ran: nothing told
        await invoker.invoke("fn", "2", b"{}")
    assert len(told) == 2


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
