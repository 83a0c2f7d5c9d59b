"""Layer versions as a service: publish, find, list and delete them over the registry (which stores
their zips and trees); functions reference them by ARN (`engine.model.layers`)."""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

import trio

from engine.model.layers import LayerVersion, PublishLayerRequest
from engine.registry.registry import Registry

T = TypeVar("T")


class LayerService:
    def __init__(self, registry: Registry) -> None:
        self.registry = registry
        self._limiter = trio.CapacityLimiter(2)

    async def publish(self, req: PublishLayerRequest) -> LayerVersion:
        now = datetime.now(UTC)
        return await self._thread(
            functools.partial(self.registry.publish_layer_version, req, now=now)
        )

    def get(self, layer: str, version: int) -> LayerVersion:
        return self.registry.get_layer_version(layer, version)

    def versions(
        self, layer: str | None, *, runtime: str | None = None, architecture: str | None = None
    ) -> list[LayerVersion]:
        """Live versions (of `layer`, or of every layer), oldest first, compatible with
        `runtime` and `architecture` when given."""
        return [
            v
            for v in self.registry.layer_versions(layer)
            if (runtime is None or runtime in (v.compatible_runtimes or ()))
            and (architecture is None or architecture in (v.compatible_architectures or ()))
        ]

    def latest_per_layer(
        self, *, runtime: str | None = None, architecture: str | None = None
    ) -> list[LayerVersion]:
        """ListLayers: each layer's newest matching version, by layer name."""
        latest: dict[str, LayerVersion] = {}
        for version in self.versions(None, runtime=runtime, architecture=architecture):
            latest[version.layer] = version  # ordered by version: the last one wins
        return sorted(latest.values(), key=lambda v: v.layer)

    async def delete(self, layer: str, version: int) -> None:
        await self._thread(functools.partial(self.registry.delete_layer_version, layer, version))

    def location(self, layer: LayerVersion) -> str:
        """Content.Location: where the layer's zip can be read (a file: URI on this host)."""
        return self.registry.layer_zip(layer).as_uri()

    async def _thread(self, fn: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(fn, limiter=self._limiter)
