"""Concurrency accounting: reservations, the unreserved pool, the 429 reasons."""

from __future__ import annotations

import pytest

from engine.errors import InvalidParameterValueException, TooManyRequestsException
from engine.invoke.concurrency import REASON_ACCOUNT, REASON_RESERVED, Concurrency


def test_a_reservation_of_zero_throttles_every_invoke() -> None:
    c = Concurrency(account_limit=10, unreserved_minimum=2)
    c.set_reserved("f", 0)
    with pytest.raises(TooManyRequestsException) as caught:
        c.acquire("f")
    assert caught.value.reason == REASON_RESERVED
    assert caught.value.body()["Reason"] == REASON_RESERVED


def test_reserved_functions_are_capped_and_unreserved_ones_share_the_rest() -> None:
    c = Concurrency(account_limit=5, unreserved_minimum=1)
    c.set_reserved("r", 3)
    assert c.unreserved == 2
    for _ in range(3):
        c.acquire("r")
    with pytest.raises(TooManyRequestsException):
        c.acquire("r")
    c.acquire("a")
    c.acquire("b")
    with pytest.raises(TooManyRequestsException) as caught:
        c.acquire("a")
    assert caught.value.reason == REASON_ACCOUNT
    c.release("b")
    c.acquire("a")
    c.release("r")
    c.acquire("r")


def test_reservations_keep_the_unreserved_minimum() -> None:
    c = Concurrency(account_limit=10, unreserved_minimum=4)
    c.check_reservation("f", 6)
    with pytest.raises(InvalidParameterValueException, match=r"minimum value of \[4\]"):
        c.check_reservation("f", 7)
    c.set_reserved("g", 3)
    with pytest.raises(InvalidParameterValueException):
        c.check_reservation("f", 4)
    c.check_reservation("g", 6)  # replacing its own reservation does not count it twice


def test_changing_a_reservation_mid_flight_moves_the_slots_between_pools() -> None:
    c = Concurrency(account_limit=4, unreserved_minimum=0)
    c.acquire("f")
    c.acquire("f")
    c.set_reserved("f", 2)  # f's two in-flight invokes leave the shared pool
    c.acquire("g")
    c.acquire("g")
    c.set_reserved("f", None)  # and come back
    with pytest.raises(TooManyRequestsException):
        c.acquire("g")
    c.release("f")
    c.acquire("g")
    c.forget("f", "an-alias")  # deleting an alias changes nothing
    c.forget("f")
    assert "f" not in c.reserved


def test_on_demand_invokes_get_what_provisioned_concurrency_leaves_of_the_reservation() -> None:
    c = Concurrency(account_limit=1000, unreserved_minimum=100)
    c.set_reserved("f", 2)
    c.set_provisioned({("f", "1")}, {"f": 1})
    c.acquire("f", "$LATEST", "$LATEST")  # 2 reserved - 1 provisioned: one on-demand unit
    with pytest.raises(TooManyRequestsException) as caught:
        c.acquire("f", "$LATEST", "$LATEST")
    assert caught.value.reason == "ReservedFunctionConcurrentInvocationLimitExceeded"
    c.acquire("f", "1", "1")  # the provisioned version may use the whole reservation
    c.release("f")
    c.release("f")
    c.set_provisioned({("f", "1")}, {"f": 2})  # reserved = provisioned: nothing on demand
    with pytest.raises(TooManyRequestsException):
        c.acquire("f", "$LATEST", "$LATEST")
    c.acquire("f", "live", "1")  # through an alias, to the provisioned version
