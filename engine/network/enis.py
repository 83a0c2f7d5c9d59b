"""ENIs: network namespaces with a routed veth (`netns.links`), built ahead of demand and kept
ready per (subnets, security groups) in use, so that a cold start only hands one over.

How many are kept ready follows demand per network (`engine.model.demand`): ``eni_pool``, more
while cold starts come fast (enough for the next 100 ms at the last second's rate, at most
``eni_pool_max``). Ready ENIs
are made in batches that share one firewall update (an update costs more than making the
namespace and veth), and go again, oldest first, when demand falls.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from ipaddress import IPv4Address

import trio

from engine.errors import (
    InvalidSecurityGroupIDException,
    InvalidSubnetIDException,
    ServiceException,
    SubnetIPAddressLimitReachedException,
)
from engine.model.demand import Demand
from engine.model.function import FunctionConfig
from engine.network.firewall_sync import FirewallSync
from engine.network.naming import IfnameCounter
from engine.network.vpcs import Vpcs
from netns import firewall, links
from netns.addressing import EniPlan, macs
from netns.errors import NetnsError

logger = logging.getLogger(__name__)

PoolKey = tuple[tuple[str, ...], tuple[str, ...]]  # (subnet ids, security group ids)
DEFAULT_KEY: PoolKey = ((), ())
RETRY_S = 1.0
REFILL_DELAY_S = 0.005
ENI_BATCH = 8  # ready ENIs made per firewall update at most


@dataclass(eq=False, slots=True, kw_only=True)
class Eni:
    """One ready or in-use ENI. `fd` holds its network namespace."""

    fd: int
    ifname: str
    address: IPv4Address
    key: PoolKey
    subnet_id: str | None


class EniPool:
    """Keeps `eni_pool` ready ENIs for the default network and for each VpcConfig in use.
    Releasing an ENI closes its namespace descriptor; the kernel removes the veth in the
    background."""

    def __init__(
        self,
        *,
        eni_pool: int,
        eni_pool_max: int | None = None,
        vpcs: Vpcs,
        firewall: FirewallSync,
        ifnames: IfnameCounter,
        limiter: trio.CapacityLimiter,
        functions: Callable[[], Iterable[FunctionConfig]],
    ) -> None:
        self.eni_pool = eni_pool
        # eni_pool = 0 turns ready ENIs off: each is built on demand.
        self.eni_pool_max = 0 if not eni_pool else max(eni_pool, eni_pool_max or eni_pool)
        self.demand: dict[PoolKey, Demand] = {}
        self.vpcs = vpcs
        self.firewall = firewall
        self.ifnames = ifnames
        self.limiter = limiter
        self.functions = functions
        self.enis: dict[str, Eni] = {}  # by host ifname: ready and in use
        self.ready: dict[PoolKey, list[Eni]] = {}
        self._refill = trio.Event()
        self._short = False  # a ready ENI was handed out since the last refill
        self._wanted: set[PoolKey] | None = None  # see _wanted_keys
        self._stale = False  # released ENIs are still in the kernel's firewall
        self.closing = False

    def close(self) -> None:
        """Stop refilling and close every ENI, ready or in use."""
        self.closing = True
        self._refill.set()
        for eni in list(self.enis.values()):
            self._forget(eni)

    async def acquire(self, function: FunctionConfig) -> Eni:
        """An ENI for a new environment of `function`: a ready one, or one built now."""
        key: PoolKey = (function.subnet_ids, function.security_group_ids)
        self.vpcs.check_still_valid(*key)
        ready = self.ready.get(key)
        eni = ready.pop(0) if ready else None
        demand = self._demand(key)
        demand.took(trio.current_time())
        if demand.busy(trio.current_time()):
            self._refill.set()  # a burst: make more at once
        else:
            # A lone cold start: refill after its invoke (`invoke_done`), since building an
            # ENI now would compete with it for the CPU.
            self._short = True
        if eni is None:
            eni = await self._build(key)
        return eni

    def resize(self, *, eni_pool: int, eni_pool_max: int) -> None:
        """Reloaded `network.eni_pool` / `eni_pool_max`: the targets of every network."""
        self.eni_pool = eni_pool
        self.eni_pool_max = 0 if not eni_pool else max(eni_pool, eni_pool_max)
        self.demand.clear()  # rebuilt with the new sizes at the next take or refill
        self._refill.set()

    def _demand(self, key: PoolKey) -> Demand:
        demand = self.demand.get(key)
        if demand is None:
            demand = self.demand[key] = Demand(floor=self.eni_pool, ceiling=self.eni_pool_max)
        return demand

    def invoke_done(self) -> None:
        """An invoke finished: refill the ready ENIs if a cold start took one."""
        if self._short:
            self._short = False
            self._refill.set()

    async def release(self, eni: Eni) -> None:
        """The environment is gone: drop the ENI (the kernel finishes in the background).

        Its firewall elements go with the next update, which `keep_pools` makes at once: a
        teardown never waits for the firewall, nor does a cold start wait behind a teardown's
        update, and many teardowns share one. Until then the elements name an interface that
        no longer exists (and an ENI reusing its name or address comes with an update that
        replaces them before it is handed out)."""
        self._forget(eni)
        if not self.closing:
            self._stale = True
            self._refill.set()

    def _forget(self, eni: Eni) -> None:
        if self.enis.pop(eni.ifname, None) is None:
            return
        self.firewall.detach(eni.ifname)
        os.close(eni.fd)
        pool = self.vpcs.addresses.get(eni.subnet_id)
        if pool is not None:
            pool.release(eni.address)

    async def attach(self, function: FunctionConfig, netns_fd: int) -> Eni:
        """An ENI built now into the network namespace `netns_fd` (the caller keeps its fd)."""
        key: PoolKey = (function.subnet_ids, function.security_group_ids)
        return await self._build(key, netns_fd=netns_fd)

    async def _build(self, key: PoolKey, *, netns_fd: int | None = None) -> Eni:
        eni = await self._make(key, netns_fd=netns_fd)
        try:
            await self.firewall.apply()
        except BaseException:
            self._forget(eni)
            raise
        return eni

    async def _make(self, key: PoolKey, *, netns_fd: int | None = None) -> Eni:
        """A namespace with its veth (or a veth into `netns_fd`), attached in the firewall's
        state; the caller applies."""
        vpc_id = self.vpcs.check_still_valid(*key)
        subnet_id, address = self.vpcs.pick_subnet(key[0])
        n, ifname = self.ifnames.take()
        host_mac, sandbox_mac = macs(n)
        plan = EniPlan(
            host_ifname=ifname, address=address, host_mac=host_mac, sandbox_mac=sandbox_mac
        )
        try:
            fd = await trio.to_thread.run_sync(
                lambda: links.create_eni(plan, netns_fd=netns_fd), limiter=self.limiter
            )
        except BaseException:
            self.vpcs.addresses[subnet_id].release(address)
            raise
        eni = Eni(fd=fd, ifname=ifname, address=address, key=key, subnet_id=subnet_id)
        self.enis[ifname] = eni
        self.firewall.attach(
            firewall.Attachment(
                ifname=ifname,
                address=address,
                vpc_id=vpc_id,
                subnet_id=subnet_id,
                security_groups=key[1],
                kind="eni",
            )
        )
        return eni

    def _wanted_keys(self) -> set[PoolKey]:
        """The networks to keep ENIs ready for; read from the registry only after `wake()`."""
        if self._wanted is None:
            self._wanted = {DEFAULT_KEY}
            self._wanted.update((fn.subnet_ids, fn.security_group_ids) for fn in self.functions())
        return self._wanted

    def wake(self) -> None:
        """Functions changed: the pools to keep may have too."""
        self._wanted = None
        self._refill.set()

    async def keep_pools(self) -> None:
        """Keep the target number of ready ENIs per network in use, until the pool closes."""
        while not self.closing:
            wanted = self._wanted_keys() if self.eni_pool else set()
            for key in list(self.ready):
                if key not in wanted:
                    for eni in self.ready.pop(key):
                        await self.release(eni)
            if self._stale:
                self._stale = False
                try:
                    await self.firewall.apply()
                except (NetnsError, OSError) as exc:
                    logger.error("could not update the firewall: %s", exc)
                    self._stale = True
                    await trio.sleep(RETRY_S)
            settles: float | None = None
            for key in sorted(wanted):
                demand = self._demand(key)
                if not await self._fill(key, demand.target(trio.current_time())):
                    break
                at = demand.settles_at()
                if at is not None:
                    settles = at if settles is None else min(settles, at)
            with trio.move_on_at(settles if settles is not None else float("inf")):
                await self._refill.wait()
            self._refill = trio.Event()
            await trio.sleep(REFILL_DELAY_S)  # let the invoke that woke us answer first

    async def _fill(self, key: PoolKey, target: int) -> bool:
        """Bring `key`'s ready ENIs towards `target` (one batch); False after an error."""
        ready = self.ready.setdefault(key, [])
        if len(ready) > target:  # demand fell: the oldest go, in one firewall update
            extra, ready[:] = ready[: len(ready) - target], ready[len(ready) - target :]
            for eni in extra:
                self._forget(eni)
            await self.firewall.apply()
            return True
        made: list[Eni] = []
        ok = True
        # Shielded: a namespace made but not yet in `ready` or applied would leak.
        with trio.CancelScope(shield=True):
            try:
                while len(ready) + len(made) < target and len(made) < ENI_BATCH:
                    if self.closing:
                        break
                    made.append(await self._make(key))
            except (NetnsError, OSError) as exc:
                logger.error("could not prepare an ENI: %s", exc)
                ok = False
            except (InvalidSubnetIDException, InvalidSecurityGroupIDException):
                pass
            except (SubnetIPAddressLimitReachedException, ServiceException):
                pass  # a full subnet: invokes will say so
            if made:
                try:
                    await self.firewall.apply()
                except (NetnsError, OSError) as exc:
                    logger.error("could not prepare an ENI: %s", exc)
                    for eni in made:
                        self._forget(eni)
                    made, ok = [], False
        ready.extend(made)  # close() forgets every ENI, ready ones too
        if len(ready) < target and made and ok:
            self._refill.set()  # the batch was not all: another round
        if not ok:
            await trio.sleep(RETRY_S)
        return ok

    def discard_ready(self) -> None:
        """VPCs changed: ENIs built for the old shape are not handed out."""
        for key in list(self.ready):
            if key != DEFAULT_KEY:
                for eni in self.ready.pop(key):
                    self._forget(eni)
        self._refill.set()
