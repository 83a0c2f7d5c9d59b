"""Interface names, MACs and the address allocator."""

from __future__ import annotations

from ipaddress import IPv4Address, IPv4Network

import pytest

from netns.addressing import IFNAME_MAX, AddressPool, base36, check_prefix, host_ifname, macs


def test_names_fit_the_kernel_limit_and_never_repeat() -> None:
    names = {host_ifname("lbt1z-", n) for n in range(5000)}
    assert len(names) == 5000
    assert max(map(len, names)) <= IFNAME_MAX
    assert host_ifname("lb-", 0) == "lb-0"
    assert host_ifname("lb-", 36) == "lb-10"
    assert base36(36**3 - 1) == "zzz"
    with pytest.raises(ValueError, match="longer than 15"):
        host_ifname("lbxyz-", 36**10)


@pytest.mark.parametrize("prefix", ["lb", "eth-", "lb_x-", "lbabcd-", "LB-"])
def test_bad_prefixes_are_refused(prefix: str) -> None:
    with pytest.raises(ValueError, match="interface prefix"):
        check_prefix(prefix)


def test_macs_are_local_unicast_and_distinct() -> None:
    host, sandbox = macs(7)
    assert host != sandbox
    for mac in (host, sandbox):
        first = int(mac.split(":")[0], 16)
        assert first & 0b10  # locally administered
        assert not first & 0b1  # unicast
    assert macs(7) != macs(8)


def test_pool_hands_out_fresh_addresses_before_released_ones() -> None:
    pool = AddressPool.for_network(IPv4Network("10.0.0.0/29"), reserved_low=2, reserved_high=1)
    assert pool.size == 5  # .2 .. .6
    first = pool.allocate()
    second = pool.allocate()
    assert (first, second) == (IPv4Address("10.0.0.2"), IPv4Address("10.0.0.3"))
    assert first is not None
    pool.release(first)
    assert [pool.allocate() for _ in range(3)] == [
        IPv4Address("10.0.0.4"), IPv4Address("10.0.0.5"), IPv4Address("10.0.0.6")
    ]  # fmt: skip
    assert pool.allocate() == first  # only now does the released one come back
    assert pool.allocate() is None  # exhausted
    assert pool.in_use == 5


def test_claim_reserves_a_specific_address_and_keeps_the_rest_usable() -> None:
    pool = AddressPool(IPv4Address("10.0.1.4"), IPv4Address("10.0.1.8"))
    pool.claim(IPv4Address("10.0.1.6"))
    got = {pool.allocate() for _ in range(4)}
    assert got == {IPv4Address(f"10.0.1.{i}") for i in (4, 5, 7, 8)}
    assert pool.allocate() is None
    with pytest.raises(ValueError, match="already in use"):
        pool.claim(IPv4Address("10.0.1.6"))
    with pytest.raises(ValueError, match="outside"):
        pool.claim(IPv4Address("10.0.2.1"))
