"""Keeps the kernel's nftables table equal to the network's state (`netns.firewall`), through
an injectable nft runner (`NftRunner`; the real one runs `nft -j -f -`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from ipaddress import IPv4Network
from typing import Any, Protocol

import trio

from netns import firewall
from netns.errors import NetnsError
from netns.model import Vpc


class NftRunner(Protocol):
    """Loads one nft JSON document in one transaction; raises `NetnsError` if nft refuses it."""

    async def __call__(self, doc: dict[str, Any], /) -> None: ...


async def run_nft_cli(doc: dict[str, Any]) -> None:
    """The real runner: `nft -j -f -` with the document on stdin."""
    result = await trio.run_process(
        ["nft", "-j", "-f", "-"],
        stdin=json.dumps(doc).encode(),
        capture_stdout=True,
        capture_stderr=True,
        check=False,
    )
    if result.returncode != 0:
        raise NetnsError(f"nft refused the lambdalet table: {result.stderr.decode().strip()}")


class FirewallSync:
    """The firewall is data: a change of VPCs renders the whole table again and replaces it
    in one nft transaction; an ENI or host coming or going changes only the elements that
    differ from the last table loaded (`firewall.render_delta`, also one transaction; the whole
    table again when profile chains would change or a load failed). Applies coalesce: a caller
    waits for the first apply that includes its change.

    The attachments (ENIs and attached hosts, by host ifname) are kept here; the VPCs are
    read from `vpcs` at each render.
    """

    def __init__(
        self,
        *,
        table: str,
        if_prefix: str,
        default_cidr: IPv4Network,
        vpcs: Callable[[], Mapping[str, Vpc]],
        run_nft: NftRunner = run_nft_cli,
    ) -> None:
        self.table = table
        self.if_prefix = if_prefix
        self.default_cidr = default_cidr
        self.vpcs = vpcs
        self.run_nft = run_nft
        self.attachments: dict[str, firewall.Attachment] = {}
        self._generation = 0
        self._applied = -1
        self._lock = trio.Lock()
        self._closed = False
        self._loaded: firewall.FirewallState | None = None  # what the kernel has, if known

    def attach(self, attachment: firewall.Attachment) -> None:
        """Add or replace an attachment (applied by the next `apply`)."""
        self.attachments[attachment.ifname] = attachment

    def detach(self, ifname: str) -> None:
        self.attachments.pop(ifname, None)

    def state(self) -> firewall.FirewallState:
        vpcs = self.vpcs()
        return firewall.FirewallState(
            table=self.table,
            if_prefix=self.if_prefix,
            default_cidr=self.default_cidr,
            vpcs=tuple(vpcs[k] for k in sorted(vpcs)),
            attachments=tuple(self.attachments[k] for k in sorted(self.attachments)),
        )

    async def apply(self) -> None:
        """Make the kernel's table match the current state (at least as new as this call)."""
        self._generation += 1
        wanted = self._generation
        async with self._lock:
            if self._closed:
                return  # the table is gone for good: a late apply must not bring it back
            if self._applied >= wanted:
                return  # another caller's apply already included our change
            generation = self._generation
            state = self.state()
            loaded, self._loaded = self._loaded, None  # unknown until this load succeeds
            doc = None if loaded is None else firewall.render_delta(loaded, state)
            if doc is None:
                doc = firewall.render(state)
            if doc["nftables"]:
                await self.run_nft(doc)
            self._loaded = state
            self._applied = generation

    async def delete_table(self, *, final: bool = False) -> None:
        """Delete the table; `final`: for good (the daemon is closing), so that an apply still
        under way or started later (a pool task not yet cancelled) cannot recreate it."""
        async with self._lock:
            self._closed = self._closed or final
            self._loaded = None
            await self.run_nft(firewall.render_delete(self.table))
