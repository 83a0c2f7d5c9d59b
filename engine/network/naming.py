"""Names shared by ENIs and attached hosts: host-side interface names `<if_prefix><base36 n>`
from one counter, and the path of an attached host's named network namespace.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

from netns import links
from netns.addressing import host_ifname


class IfnameCounter:
    """Hands out host interface names; `n` also derives the pair's MAC addresses."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.n = 0

    def take(self) -> tuple[int, str]:
        """The next number and its interface name."""
        n = self.n
        self.n += 1
        return n, host_ifname(self.prefix, n)

    def number_of(self, ifname: str) -> int:
        return counter_of(ifname, self.prefix)

    def continue_after(self, ifnames: Iterable[str]) -> None:
        """Start-up: number new interfaces after those that survived the last daemon."""
        self.n = 1 + max((self.number_of(i) for i in ifnames), default=0)


def counter_of(ifname: str, prefix: str) -> int:
    try:
        return int(ifname[len(prefix) :], 36)
    except ValueError:
        return 0


def netns_path(netns_prefix: str, name: str) -> str:
    """The bind mount of the named namespace of attached host `name`."""
    return os.path.join(links.NETNS_RUN_DIR, netns_prefix + name)
