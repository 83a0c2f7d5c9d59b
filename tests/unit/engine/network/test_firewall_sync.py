"""`FirewallSync`: once the table is deleted for good, no apply brings it back."""

from __future__ import annotations

import functools
from ipaddress import IPv4Network
from typing import Any

import trio
import trio.testing

from engine.network.firewall_sync import FirewallSync


def _sync(log: list[str], gate: trio.Event | None = None) -> FirewallSync:
    async def run_nft(doc: dict[str, Any]) -> None:
        deletes = len(doc["nftables"]) <= 2  # add + delete of the table, and nothing else
        log.append("delete" if deletes else "apply")
        if gate is not None and not deletes:
            await gate.wait()

    return FirewallSync(
        table="lambdalet_unit",
        if_prefix="lbu-",
        default_cidr=IPv4Network("10.254.0.0/24"),
        vpcs=dict,
        run_nft=run_nft,
    )


async def test_an_apply_after_the_final_delete_does_nothing() -> None:
    log: list[str] = []
    sync = _sync(log)
    await sync.apply()
    await sync.delete_table(final=True)
    await sync.apply()  # a pool task not yet cancelled
    assert log == ["apply", "delete"]


async def test_the_final_delete_waits_for_an_apply_under_way() -> None:
    log: list[str] = []
    gate = trio.Event()
    sync = _sync(log, gate)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(sync.apply)
        await trio.testing.wait_all_tasks_blocked()
        nursery.start_soon(functools.partial(sync.delete_table, final=True))
        await trio.testing.wait_all_tasks_blocked()
        assert log == ["apply"]  # the delete waits: it must come after, not before
        gate.set()
    assert log == ["apply", "delete"]


async def test_a_sweep_delete_does_not_stop_later_applies() -> None:
    log: list[str] = []
    sync = _sync(log)
    await sync.delete_table()
    await sync.apply()
    assert log == ["delete", "apply"]
