"""What usage would cost on Lambda, from the price table (`[cost]`): pure functions.

As Lambda bills: requests at a price per million; duration in GB-seconds, each invoke's billed
duration (rounded up to 1 ms; a cold start's init included) x its memory in GB (MB / 1024),
at the architecture's rate; provisioned concurrency in GB-seconds of configured environments x
memory x time configured, plus the invokes those environments serve at the provisioned
duration rate; SnapStart in GB-seconds of each version's cached snapshot (its memory x the time
it existed, 3 hours at least) and per GB restored (each restored environment's memory). The
free tier (optional) is Lambda's monthly allowance of requests and
on-demand GB-seconds, applied per calendar month (UTC) to the whole account: only what the
month used before the window is taken off the allowance first, and it is deducted from x86_64
duration before arm64 (the dearer first). It appears as one credit on the total.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from engine.config import CostConfig
from engine.usage.ledger import Key
from engine.usage.store import Usage
from engine.usage.window import Window

ARM64 = "arm64"


def gb_seconds(ms: int, memory_mb: int) -> float:
    return ms * memory_mb / 1024 / 1000


@dataclass(frozen=True, slots=True, kw_only=True)
class Priced:
    """One key's usage over the window and its price."""

    key: Key
    requests: int
    billed_ms: int
    init_billed_ms: int
    provisioned_billed_ms: int
    provisioned_env_ms: int
    request_cost: float
    duration_cost: float
    provisioned_cost: float
    provisioned_duration_cost: float
    restores: int = 0
    snapshot_ms: int = 0
    snapstart_cache_cost: float = 0.0
    snapstart_restore_cost: float = 0.0

    @property
    def memory_mb(self) -> int:
        return self.key[3]

    @property
    def gb_seconds(self) -> float:
        return gb_seconds(self.billed_ms, self.memory_mb)

    @property
    def provisioned_gb_seconds(self) -> float:
        return gb_seconds(self.provisioned_env_ms, self.memory_mb)

    @property
    def provisioned_duration_gb_seconds(self) -> float:
        return gb_seconds(self.provisioned_billed_ms, self.memory_mb)

    @property
    def snapshot_gb_seconds(self) -> float:
        return gb_seconds(self.snapshot_ms, self.memory_mb)

    @property
    def restored_gb(self) -> float:
        return self.restores * self.memory_mb / 1024

    @property
    def cost(self) -> float:
        return (
            self.request_cost
            + self.duration_cost
            + self.provisioned_cost
            + self.provisioned_duration_cost
            + self.snapstart_cache_cost
            + self.snapstart_restore_cost
        )


@dataclass(frozen=True, slots=True, kw_only=True)
class FreeTier:
    requests: int = 0  # requests the allowance covered
    gb_seconds: float = 0.0  # on-demand GB-seconds it covered
    credit: float = 0.0  # their price


def price(usages: Iterable[Usage], prices: CostConfig) -> list[Priced]:
    """Each key's usage summed over the months given, priced; in key order."""
    sums: dict[Key, list[int]] = {}
    for u in usages:
        s = sums.setdefault(u.key, [0] * 7)
        s[0] += u.requests
        s[1] += u.billed_ms
        s[2] += u.init_billed_ms
        s[3] += u.provisioned_billed_ms
        s[4] += u.provisioned_env_ms
        s[5] += u.restores
        s[6] += u.snapshot_ms
    out = []
    for key, (requests, billed, init, prov_billed, prov_env, restores, cached) in sorted(
        sums.items()
    ):
        arch, memory = key[2], key[3]
        out.append(
            Priced(
                key=key,
                requests=requests,
                billed_ms=billed,
                init_billed_ms=init,
                provisioned_billed_ms=prov_billed,
                provisioned_env_ms=prov_env,
                request_cost=requests * prices.request_per_million / 1_000_000,
                duration_cost=gb_seconds(billed, memory) * prices.duration_rate(arch),
                provisioned_cost=gb_seconds(prov_env, memory) * prices.provisioned_rate(arch),
                provisioned_duration_cost=gb_seconds(prov_billed, memory)
                * prices.duration_rate(arch, provisioned=True),
                restores=restores,
                snapshot_ms=cached,
                snapstart_cache_cost=gb_seconds(cached, memory) * prices.snapstart_cache_gb_second,
                snapstart_restore_cost=restores * memory / 1024 * prices.snapstart_restore_gb,
            )
        )
    return out


def free_tier(window: Iterable[Usage], before: Iterable[Usage], prices: CostConfig) -> FreeTier:
    """The allowance's share of `window`, per month, after what `before` (the same months'
    usage before the window) used of it."""
    used: dict[str, list[float]] = {}  # month -> [requests, on-demand GB-s]
    for u in before:
        m = used.setdefault(u.month, [0, 0.0])
        m[0] += u.requests
        m[1] += gb_seconds(u.billed_ms, u.key[3])
    months: dict[str, list[float]] = {}  # month -> [requests, x86 GB-s, arm64 GB-s]
    for u in window:
        m = months.setdefault(u.month, [0, 0.0, 0.0])
        m[0] += u.requests
        m[2 if u.key[2] == ARM64 else 1] += gb_seconds(u.billed_ms, u.key[3])
    requests, gbs, credit = 0, 0.0, 0.0
    for month, (month_requests, x86, arm) in sorted(months.items()):
        prior_requests, prior_gbs = used.get(month, [0, 0.0])
        free_requests = int(min(month_requests, max(0, prices.free_tier_requests - prior_requests)))
        allowance = max(0.0, prices.free_tier_gb_seconds - prior_gbs)
        free_x86 = min(x86, allowance)
        free_arm = min(arm, allowance - free_x86)
        requests += free_requests
        gbs += free_x86 + free_arm
        credit += (
            free_requests * prices.request_per_million / 1_000_000
            + free_x86 * prices.duration_rate("x86_64")
            + free_arm * prices.duration_rate(ARM64)
        )
    return FreeTier(requests=requests, gb_seconds=gbs, credit=credit)


def _money(value: float) -> float:
    """Without float noise (0.30000000000000004): 15 significant digits."""
    return float(f"{value:.15g}")


def row_document(p: Priced) -> dict[str, Any]:
    name, qualifier, arch, memory = p.key
    return {
        "FunctionName": name,
        "Qualifier": qualifier,
        "Architecture": arch,
        "MemorySize": memory,
        "Requests": p.requests,
        "BilledDurationMs": p.billed_ms,
        "InitBilledDurationMs": p.init_billed_ms,
        "GBSeconds": p.gb_seconds,
        "ProvisionedConcurrencyGBSeconds": p.provisioned_gb_seconds,
        "ProvisionedEnvironmentMs": p.provisioned_env_ms,
        "ProvisionedBilledDurationMs": p.provisioned_billed_ms,
        "ProvisionedDurationGBSeconds": p.provisioned_duration_gb_seconds,
        "SnapStartCacheGBSeconds": p.snapshot_gb_seconds,
        "SnapStartRestores": p.restores,
        "SnapStartRestoredGB": p.restored_gb,
        "Cost": {
            "Requests": _money(p.request_cost),
            "Duration": _money(p.duration_cost),
            "ProvisionedConcurrency": _money(p.provisioned_cost),
            "ProvisionedDuration": _money(p.provisioned_duration_cost),
            "SnapStartCache": _money(p.snapstart_cache_cost),
            "SnapStartRestore": _money(p.snapstart_restore_cost),
            "Total": _money(p.cost),
        },
    }


def report(
    rows: list[Priced],
    *,
    window: Window,
    prices: CostConfig,
    free: FreeTier | None,
    function: str | None = None,
) -> dict[str, Any]:
    """The cost report's document (the API's answer, `lambdalet cost --json`). `free` is
    None when the free tier is off, or does not apply (a report of one function)."""
    gross = sum(p.cost for p in rows)
    credit = free.credit if free is not None else 0.0
    doc: dict[str, Any] = {
        "Since": window.since.isoformat().replace("+00:00", "Z"),
        "Until": window.until.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        "Functions": [row_document(p) for p in rows],
        "Total": {
            "Requests": sum(p.requests for p in rows),
            "GBSeconds": sum(p.gb_seconds for p in rows),
            "ProvisionedConcurrencyGBSeconds": sum(p.provisioned_gb_seconds for p in rows),
            "ProvisionedDurationGBSeconds": sum(p.provisioned_duration_gb_seconds for p in rows),
            "SnapStartCacheGBSeconds": sum(p.snapshot_gb_seconds for p in rows),
            "SnapStartRestoredGB": sum(p.restored_gb for p in rows),
            "CostBeforeFreeTier": _money(gross),
            "Cost": _money(gross - credit),
        },
        "FreeTier": {
            "Enabled": prices.free_tier,
            "Applied": free is not None,
            "Requests": free.requests if free is not None else 0,
            "GBSeconds": free.gb_seconds if free is not None else 0.0,
            "Credit": _money(credit),
        },
        "Prices": {
            "RequestPerMillion": prices.request_per_million,
            "GBSecond": {"x86_64": prices.gb_second_x86_64, "arm64": prices.gb_second_arm64},
            "ProvisionedGBSecond": {
                "x86_64": prices.provisioned_gb_second_x86_64,
                "arm64": prices.provisioned_gb_second_arm64,
            },
            "ProvisionedDurationGBSecond": {
                "x86_64": prices.provisioned_duration_gb_second_x86_64,
                "arm64": prices.provisioned_duration_gb_second_arm64,
            },
            "SnapStartCacheGBSecond": prices.snapstart_cache_gb_second,
            "SnapStartRestoreGB": prices.snapstart_restore_gb,
        },
    }
    if function is not None:
        doc["Function"] = function
    if prices.free_tier and free is None:
        doc["FreeTier"]["Reason"] = "the free tier is the account's: not applied to one function"
    return doc
