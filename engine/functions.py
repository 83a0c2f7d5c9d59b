"""Function management: the registry behind a cache, with environments retired on change.

Registry writes (zip extraction, SQLite commits) run in a worker thread; reads on the invoke
path come from an in-memory cache that every write through this service keeps current.
"""

from __future__ import annotations

import dataclasses
import functools
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import trio

from engine.errors import InvalidParameterValueException
from engine.models import FunctionConfig
from engine.network import NetworkService
from engine.pool import Pool
from engine.registry import Registry
from engine.validation import (
    CodeUpdate,
    ConfigurationChanges,
    CreateFunctionRequest,
    VpcSelection,
)

T = TypeVar("T")


class FunctionService:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self.pool: Pool | None = None  # set once the pool exists; retires stale environments
        self.network: NetworkService | None = None  # None when networking is disabled
        self._cache: dict[str, FunctionConfig] = {}
        self._limiter = trio.CapacityLimiter(2)
        self._write_lock = trio.Lock()

    async def _run(self, fn: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(fn, limiter=self._limiter)

    def _changed(self, name: str, config: FunctionConfig | None) -> None:
        if config is None:
            self._cache.pop(name, None)
        else:
            self._cache[name] = config
        if self.pool is not None:
            self.pool.retire_function(name)
        if self.network is not None:
            self.network.wake()  # the ENI pools to keep may have changed

    def _resolve_vpc(self, selection: VpcSelection | None) -> VpcSelection | None:
        if selection is None:
            return None
        if self.network is None:
            if selection.subnet_ids:
                raise InvalidParameterValueException(
                    "VpcConfig needs networking, which is disabled on this lambdalet host "
                    "(network.enabled = false)"
                )
            return selection
        return self.network.resolve(selection)

    async def create(self, req: CreateFunctionRequest) -> FunctionConfig:
        now = datetime.now(UTC)
        req = dataclasses.replace(req, vpc=self._resolve_vpc(req.vpc))
        async with self._write_lock:
            config = await self._run(functools.partial(self.registry.create, req, now=now))
            self._changed(config.name, config)
        return config

    def get(self, name: str) -> FunctionConfig:
        """Cached; raises ResourceNotFoundException for unknown names."""
        config = self._cache.get(name)
        if config is None:
            config = self.registry.get(name)
            self._cache[name] = config
        return config

    def list(
        self, *, marker: str | None, max_items: int
    ) -> tuple[list[FunctionConfig], str | None]:
        return self.registry.list(marker=marker, max_items=max_items)

    async def delete(self, name: str) -> FunctionConfig:
        async with self._write_lock:
            config = await self._run(functools.partial(self.registry.delete, name))
            self._changed(name, None)
        return config

    async def update_code(self, name: str, update: CodeUpdate) -> FunctionConfig:
        now = datetime.now(UTC)
        async with self._write_lock:
            config = await self._run(
                functools.partial(self.registry.update_code, name, update, now=now)
            )
            self._changed(name, config)
        return config

    async def update_configuration(
        self, name: str, changes: ConfigurationChanges
    ) -> FunctionConfig:
        now = datetime.now(UTC)
        changes = dataclasses.replace(changes, vpc=self._resolve_vpc(changes.vpc))
        async with self._write_lock:
            config = await self._run(
                functools.partial(self.registry.update_configuration, name, changes, now=now)
            )
            self._changed(name, config)
        return config

    def code_dir(self, config: FunctionConfig) -> Path:
        return self.registry.code_dir(config)

    def code_zip(self, config: FunctionConfig) -> Path:
        return self.registry.code_zip(config)
