"""Pure addressing for ENIs: interface names, MAC addresses and an address allocator.

Every ENI is a routed point-to-point veth. The sandbox end is `eth0` inside the ENI's own
network namespace, holding one /32 address; the host end is named `<prefix><n>` (base 36,
at most 15 characters, the kernel's limit) and has no address at all. Both ends get fixed
MAC addresses, and each side has a permanent neighbour entry for the other, so nothing on the
link ever needs ARP (and a sandbox has nothing to poison). The sandbox's default route points
at `GATEWAY`, a link-local address that exists only as that neighbour entry.
"""

from __future__ import annotations

import collections
import re
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv4Network
from typing import Final

GATEWAY: Final = IPv4Address("169.254.1.1")
IFNAME_MAX: Final = 15  # IFNAMSIZ - 1
_PREFIX_RE: Final = re.compile(r"^lb[a-z0-9]{0,3}-$")
_DIGITS: Final = "0123456789abcdefghijklmnopqrstuvwxyz"


def check_prefix(prefix: str) -> str:
    """A host interface prefix: `lb`, up to three more characters, and a dash (`lb-`, `lbt3-`)."""
    if not _PREFIX_RE.match(prefix):
        raise ValueError(
            f"interface prefix {prefix!r} must be 'lb', up to 3 lowercase letters or digits, "
            "then '-' (for example 'lb-')"
        )
    return prefix


def base36(n: int) -> str:
    if n < 0:
        raise ValueError("negative")
    out = ""
    while True:
        n, d = divmod(n, 36)
        out = _DIGITS[d] + out
        if n == 0:
            return out


def host_ifname(prefix: str, n: int) -> str:
    """The host end of ENI number `n`: never reused while the daemon runs."""
    name = prefix + base36(n)
    if len(name) > IFNAME_MAX:
        raise ValueError(f"interface name {name!r} is longer than {IFNAME_MAX} characters")
    return name


def macs(n: int) -> tuple[str, str]:
    """(host end, sandbox end) MACs for ENI `n`: locally administered, unicast, distinct."""
    tail = (n & 0xFFFFFFFF).to_bytes(4, "big")
    host = bytes((0x02, 0x6C)) + tail
    sandbox = bytes((0x06, 0x6C)) + tail
    return host.hex(":"), sandbox.hex(":")


@dataclass(frozen=True, slots=True, kw_only=True)
class EniPlan:
    """Everything needed to build one ENI; `bind_path` names its namespace (attached hosts)."""

    host_ifname: str
    address: IPv4Address
    host_mac: str
    sandbox_mac: str
    bind_path: str | None = None


class AddressPool:
    """Hands out the addresses of a range, oldest-released first.

    Fresh addresses go before released ones, and released ones queue in order, so an address
    comes back into use as late as possible: the kernel tears a released ENI down in the
    background, and its host route must be gone before the address reappears.
    """

    def __init__(self, first: IPv4Address, last: IPv4Address) -> None:
        if last < first:
            raise ValueError(f"empty address range {first}..{last}")
        self.first = first
        self.last = last
        self._next = int(first)
        self._released: collections.deque[IPv4Address] = collections.deque()
        self._in_use: set[IPv4Address] = set()

    @classmethod
    def for_network(cls, net: IPv4Network, *, reserved_low: int, reserved_high: int) -> AddressPool:
        first = net.network_address + reserved_low
        last = net.broadcast_address - reserved_high
        return cls(IPv4Address(first), IPv4Address(last))

    @property
    def size(self) -> int:
        return int(self.last) - int(self.first) + 1

    @property
    def in_use(self) -> int:
        return len(self._in_use)

    def allocate(self) -> IPv4Address | None:
        """An unused address, or None when the range is exhausted."""
        if self._next <= int(self.last):
            addr = IPv4Address(self._next)
            self._next += 1
        elif self._released:
            addr = self._released.popleft()
        else:
            return None
        self._in_use.add(addr)
        return addr

    def claim(self, addr: IPv4Address) -> None:
        """Mark a specific address used (an attached host keeps its address across restarts)."""
        if not int(self.first) <= int(addr) <= int(self.last):
            raise ValueError(f"{addr} is outside {self.first}..{self.last}")
        if addr in self._in_use:
            raise ValueError(f"{addr} is already in use")
        try:
            self._released.remove(addr)
        except ValueError:
            pass
        while self._next <= int(addr):  # skip past it, queueing what we skipped as free
            if self._next != int(addr):
                self._released.append(IPv4Address(self._next))
            self._next += 1
        self._in_use.add(addr)

    def release(self, addr: IPv4Address) -> None:
        if addr in self._in_use:
            self._in_use.discard(addr)
            self._released.append(addr)
