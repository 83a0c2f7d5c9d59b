"""What a reload changes in the invoke room, and the stop's refusal of new invokes."""

from __future__ import annotations

import pytest

from engine.errors import ConfigError, ServiceException, TooManyRequestsException
from engine.invoke.concurrency import Concurrency
from tests.unit.engine.events.helpers import FakeFunctions, FakeInvoker


def test_a_lower_account_limit_throttles_the_next_invokes_not_those_in_flight() -> None:
    c = Concurrency(account_limit=3, unreserved_minimum=0)
    for _ in range(3):
        c.acquire("fn", "$LATEST")
    c.set_limits(account_limit=2, unreserved_minimum=0)
    assert c.account_limit == 2 and c.unreserved == 2
    c.release("fn")
    with pytest.raises(TooManyRequestsException):
        c.acquire("fn", "$LATEST")  # 2 in flight, limit 2
    c.release("fn")
    c.acquire("fn", "$LATEST")


def test_limits_the_reservations_do_not_fit_are_refused_and_nothing_changes() -> None:
    c = Concurrency(account_limit=1000, unreserved_minimum=100)
    c.set_reserved("big", 800)
    with pytest.raises(ConfigError, match=r"reserved concurrency \(800\) would be below"):
        c.set_limits(account_limit=850, unreserved_minimum=100)
    assert (c.account_limit, c.unreserved_minimum) == (1000, 100)
    c.set_limits(account_limit=900, unreserved_minimum=100)
    assert c.unreserved == 100


def test_a_stopping_invoker_refuses_new_invokes_with_a_503_service_exception() -> None:
    functions = FakeFunctions()
    functions.add("fn")
    invoker = FakeInvoker(functions)
    held = invoker.reserve("fn", None)
    invoker.stop_admitting()
    with pytest.raises(ServiceException) as info:
        invoker.reserve("fn", None)
    assert info.value.status == 503
    assert info.value.error_type == "ServiceException"
    assert "stopping" in info.value.message
    assert invoker.in_flight == 1  # the one reserved before still runs
    invoker.release(held)
    assert invoker.in_flight == 0
