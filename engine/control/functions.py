"""Function management: the registry behind a cache, telling the rest of the engine what changed.

Covers $LATEST, published versions and aliases, and `resolve()`: what a qualifier means
(the configuration to run, after an alias's weighted choice). Registry writes (zip
extraction, SQLite commits) run in a worker thread; reads on the invoke path come from
in-memory caches that every write through this service keeps current. What depends on a
function (its environments, ENI pools, URLs, reservations) subscribes to `on_change` and
`on_delete`; the daemon wires them, so this module imports none of it.
"""

from __future__ import annotations

import dataclasses
import functools
import random
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import TypeVar

import trio

from engine.errors import (
    InvalidParameterValueException,
    PreconditionFailedException,
    ResourceConflictException,
    ResourceNotFoundException,
)
from engine.model.aliases import Alias, AliasRequest, check_routing
from engine.model.arns import function_arn
from engine.model.function import LATEST, FunctionConfig, snap_start_applies
from engine.model.function_requests import CodeUpdate, ConfigurationChanges, CreateFunctionRequest
from engine.model.snap_start import MSG_PROVISIONED_CONCURRENCY
from engine.model.vpc_config import VpcSelection
from engine.registry.registry import Registry
from engine.registry.store import QUALIFIER_DOCUMENT_KINDS

T = TypeVar("T")
# (function name, version or None): see FunctionService.on_change.
ChangeHook = Callable[[str, str | None], None]
# Checks a requested VpcConfig against the VPCs and fills in its VpcId (the network service's).
VpcResolver = Callable[[VpcSelection], VpcSelection]

MSG_ALIAS_REVISION_MISMATCH = (
    "The Revision Id provided does not match the latest Revision Id. "
    "Call the GetFunction/GetAlias API to retrieve the latest Revision Id"
)


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Target:
    """What one invocation runs: a version's configuration, reached through `qualifier`."""

    config: FunctionConfig
    qualifier: str | None  # as the caller named it: None, "$LATEST", "3" or an alias


class FunctionService:
    def __init__(self, registry: Registry, *, resolve_vpc: VpcResolver | None = None) -> None:
        """`resolve_vpc`: None when networking is disabled (a VpcConfig is then refused)."""
        self.registry = registry
        self._resolve_vpc_selection = resolve_vpc
        self._cache: dict[str, FunctionConfig] = {}
        self._versions: dict[tuple[str, str], FunctionConfig] = {}  # immutable: never stale
        self._aliases: dict[tuple[str, str], Alias | None] = {}
        self.region = registry.region
        # Called with (name, version) when that version's configuration changed ($LATEST: its
        # code or settings; a published version: deleted) or (name, None) when the function
        # is gone, before the write lock is released: environments of it go stale.
        self.on_change: list[ChangeHook] = []
        # Called with (name, None) after a function is deleted, (name, qualifier) after one
        # of its versions or aliases is: in-memory state elsewhere (URLs, provisioned
        # concurrency, reservations) forgets it.
        self.on_delete: list[ChangeHook] = []
        # Called with (name, alias) after an alias was created or moved: what follows an
        # alias (its provisioned concurrency) follows it to its new version.
        self.on_alias_change: list[ChangeHook] = []
        # Called with a version's configuration once it is published (SnapStart's template).
        self.on_publish: list[Callable[[FunctionConfig], None]] = []
        self._limiter = trio.CapacityLimiter(2)
        self._write_lock = trio.Lock()

    async def _run(self, fn: Callable[[], T]) -> T:
        return await trio.to_thread.run_sync(fn, limiter=self._limiter)

    def _changed(self, name: str, config: FunctionConfig | None) -> None:
        if config is None:
            self._cache.pop(name, None)
            for cache in (self._versions, self._aliases):
                for key in [k for k in cache if k[0] == name]:
                    del cache[key]
        else:
            self._cache[name] = config
        # Published versions are immutable: a write changes only $LATEST.
        self._notify(self.on_change, name, None if config is None else LATEST)

    @staticmethod
    def _notify(hooks: list[ChangeHook], name: str, version: str | None) -> None:
        for hook in hooks:
            hook(name, version)

    def _resolve_vpc(self, selection: VpcSelection | None) -> VpcSelection | None:
        if selection is None:
            return None
        if self._resolve_vpc_selection is None:
            if selection.subnet_ids:
                raise InvalidParameterValueException(
                    "VpcConfig needs networking, which is disabled on this lambdalet host "
                    "(network.enabled = false)"
                )
            return selection
        return self._resolve_vpc_selection(selection)

    async def create(
        self, req: CreateFunctionRequest
    ) -> tuple[FunctionConfig, FunctionConfig | None]:
        """The new function's $LATEST, and its version 1 when the request publishes."""
        now = datetime.now(UTC)
        req = dataclasses.replace(req, vpc=self._resolve_vpc(req.vpc))
        async with self._write_lock:
            config = await self._run(functools.partial(self.registry.create, req, now=now))
            self._changed(config.name, config)
        if req.publish:
            return config, await self.publish_version(config.name)
        return config, None

    def latest(self, name: str) -> FunctionConfig:
        """`get`, for operations that act on $LATEST: a miss is named with ``:$LATEST``."""
        try:
            return self.get(name)
        except ResourceNotFoundException:
            arn = function_arn(self.region, name, LATEST)
            raise ResourceNotFoundException(f"Function not found: {arn}") from None

    def get(self, name: str) -> FunctionConfig:
        """Cached; raises ResourceNotFoundException for unknown names."""
        config = self._cache.get(name)
        if config is None:
            config = self.registry.get(name)
            self._cache[name] = config
        return config

    def page_functions(
        self, *, marker: str | None, max_items: int
    ) -> tuple[list[FunctionConfig], str | None]:
        """ListFunctions: one page of $LATEST configurations, and the NextMarker."""
        return self.registry.page_functions(marker=marker, max_items=max_items)

    def every_version(self) -> list[FunctionConfig]:
        """ListFunctions(FunctionVersion=ALL): each function's $LATEST then its versions."""
        return [v for c in self.registry.all_functions() for v in self.versions(c.name)]

    def snap_start_versions(self) -> list[FunctionConfig]:
        """Every published version SnapStart applies to (each has a snapshot: a template)."""
        return [v for v in self.every_version() if snap_start_applies(v)]

    def account_usage(self) -> tuple[int, int]:
        """GetAccountSettings' AccountUsage: (total zipped code bytes, function count). As on
        AWS, every published version and every layer version counts its own code, even where
        lambdalet stores one copy of identical bytes."""
        configs = self.registry.all_functions()
        code = sum(v.code_size for c in configs for v in self.versions(c.name))
        code += sum(layer.code_size for layer in self.registry.layer_versions())
        return code, len(configs)

    async def delete(self, name: str) -> FunctionConfig:
        async with self._write_lock:
            config = await self._run(functools.partial(self.registry.delete, name))
            self._changed(name, None)
        self._deleted(name, None)
        return config

    def _deleted(self, name: str, qualifier: str | None) -> None:
        self._notify(self.on_delete, name, qualifier)

    async def update_code(self, name: str, update: CodeUpdate) -> FunctionConfig:
        now = datetime.now(UTC)
        async with self._write_lock:
            config = await self._run(
                functools.partial(self.registry.update_code, name, update, now=now)
            )
            self._changed(name, config)
        if update.publish:
            return await self.publish_version(name)
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

    # -- versions -------------------------------------------------------------------------

    async def publish_version(
        self,
        name: str,
        *,
        code_sha256: str | None = None,
        revision_id: str | None = None,
        description: str | None = None,
    ) -> FunctionConfig:
        now = datetime.now(UTC)
        async with self._write_lock:
            version = await self._run(
                functools.partial(
                    self.registry.publish_version,
                    name,
                    code_sha256=code_sha256,
                    revision_id=revision_id,
                    description=description,
                    now=now,
                )
            )
            self._versions[(name, version.version)] = version
        for hook in self.on_publish:
            hook(version)
        return version

    def get_version(self, name: str, version: str) -> FunctionConfig:
        """$LATEST or a published version (cached: versions never change)."""
        if version == LATEST:
            return self.get(name)
        config = self._versions.get((name, version))
        if config is None:
            config = self.registry.get_version(name, version)
            self._versions[(name, version)] = config
        return config

    def versions(self, name: str) -> list[FunctionConfig]:
        return self.registry.versions(name)

    async def delete_version(self, name: str, version: str) -> FunctionConfig:
        if version == LATEST:
            raise InvalidParameterValueException(
                "$LATEST version cannot be deleted without deleting the function."
            )
        async with self._write_lock:
            self.get_version(name, version)
            using = [a.name for a in self.aliases(name) if version in a.versions()]
            if using:
                raise ResourceConflictException(
                    "Unable to delete version because the following aliases reference it: "
                    f"[{', '.join(using)}]"
                )
            config = await self._run(functools.partial(self.registry.delete_version, name, version))
            self._versions.pop((name, version), None)
            self._notify(self.on_change, name, version)
        self._deleted(name, version)
        return config

    # -- aliases --------------------------------------------------------------------------

    def read_alias(self, name: str, alias: str) -> Alias:
        """GetAlias: `get_alias`, a miss worded as GetAlias words it."""
        try:
            return self.get_alias(name, alias)
        except ResourceNotFoundException as exc:
            if exc.message.startswith("Alias not found"):
                arn = function_arn(self.region, name, alias)
                raise ResourceNotFoundException(f"Cannot find alias arn: {arn}") from None
            raise

    def get_alias(self, name: str, alias: str) -> Alias:
        key = (name, alias)
        if key not in self._aliases:
            doc = self.registry.get_document("alias", f"{name}/{alias}")
            self._aliases[key] = None if doc is None else Alias.from_doc(doc)
        found = self._aliases[key]
        if found is None:
            self.get(name)  # an unknown function is reported as such
            raise ResourceNotFoundException(
                f"Alias not found: {function_arn(self.region, name, alias)}"
            )
        return found

    def aliases(self, name: str) -> list[Alias]:
        self.get(name)
        return [Alias.from_doc(d) for d in self.registry.documents("alias", prefix=name)]

    async def create_alias(self, name: str, req: AliasRequest) -> Alias:
        assert req.name is not None and req.function_version is not None
        async with self._write_lock:
            try:
                self.get(name)
            except ResourceNotFoundException:  # named with the version asked for, as AWS
                arn = function_arn(self.region, name, req.function_version)
                raise ResourceNotFoundException(f"Function not found: {arn}") from None
            if self.registry.get_document("alias", f"{name}/{req.name}") is not None:
                raise ResourceConflictException(
                    f"Alias already exists: {function_arn(self.region, name, req.name)}"
                )
            alias = Alias(
                name=req.name,
                function_version=req.function_version,
                description=req.description or "",
                weights=dict(req.weights or {}),
                revision_id=str(uuid.uuid4()),
            )
            await self._save_alias(name, alias)
        return alias

    async def update_alias(self, name: str, alias_name: str, req: AliasRequest) -> Alias:
        async with self._write_lock:
            current = self.get_alias(name, alias_name)
            if req.revision_id is not None and req.revision_id != current.revision_id:
                raise PreconditionFailedException(MSG_ALIAS_REVISION_MISMATCH)
            alias = dataclasses.replace(
                current,
                function_version=req.function_version or current.function_version,
                description=current.description if req.description is None else req.description,
                weights=current.weights if req.weights is None else dict(req.weights),
                revision_id=str(uuid.uuid4()),
            )
            await self._save_alias(name, alias)
        return alias

    async def delete_alias(self, name: str, alias_name: str) -> None:
        async with self._write_lock:
            self.get(name)
            key = f"{name}/{alias_name}"
            await self._run(functools.partial(self.registry.delete_document, "alias", key))
            for kind in QUALIFIER_DOCUMENT_KINDS:
                await self._run(functools.partial(self.registry.delete_document, kind, key))
            self._aliases.pop((name, alias_name), None)
        self._deleted(name, alias_name)

    async def _save_alias(self, name: str, alias: Alias) -> None:
        check_routing(alias.function_version, alias.weights)
        for version in alias.versions():
            self.get_version(name, version)  # each must exist
        await self._run(
            functools.partial(
                self.registry.put_function_document, "alias", name, alias.name, alias.to_doc()
            )
        )
        self._aliases[(name, alias.name)] = alias
        self._notify(self.on_alias_change, name, alias.name)

    # -- what a qualifier means -----------------------------------------------------------

    def resolve(self, name: str, qualifier: str | None, *, draw: float | None = None) -> Target:
        """The configuration an invocation of `name:qualifier` runs (an alias picks one of
        its versions by weight); ResourceNotFoundException when there is none."""
        if qualifier is None:
            return Target(config=self.get(name), qualifier=qualifier)
        if qualifier == LATEST:  # named: a miss names it too
            try:
                return Target(config=self.get(name), qualifier=qualifier)
            except ResourceNotFoundException:
                raise ResourceNotFoundException(
                    f"Function not found: {function_arn(self.region, name, LATEST)}"
                ) from None
        if qualifier.isdigit():
            return Target(config=self.get_version(name, qualifier), qualifier=qualifier)
        try:
            alias = self.get_alias(name, qualifier)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(
                f"Function not found: {function_arn(self.region, name, qualifier)}"
            ) from None
        version = alias.pick(random.random() if draw is None else draw)
        return Target(config=self.get_version(name, version), qualifier=qualifier)

    def configuration(self, name: str, qualifier: str | None) -> FunctionConfig:
        """The configuration a qualifier names, for reading rather than running: an alias
        means the version it points at (its primary one, whatever the weights)."""
        return self.resolve(name, qualifier, draw=1.0).config  # no weight exceeds 1.0

    def configurations(self, name: str, qualifier: str | None) -> list[FunctionConfig]:
        """Every configuration a qualifier can run: an alias's version and the one it routes
        a weight to; otherwise the one `configuration` reads."""
        if qualifier is None or qualifier == LATEST or qualifier.isdigit():
            return [self.configuration(name, qualifier)]
        alias = self.get_alias(name, qualifier)
        return [self.get_version(name, version) for version in alias.versions()]

    def check_provisioned_concurrency(self, name: str, qualifier: str) -> None:
        """SnapStart does not support provisioned concurrency: refuse it on a version SnapStart
        applies to, and on an alias that routes to one."""
        if any(map(snap_start_applies, self.configurations(name, qualifier))):
            raise InvalidParameterValueException(MSG_PROVISIONED_CONCURRENCY)

    def check_qualifier(self, name: str, qualifier: str | None) -> None:
        """The function exists and, if given, so does the version or alias."""
        self.configuration(name, qualifier)

    def code_zip(self, config: FunctionConfig) -> Path:
        return self.registry.code_zip(config)
