"""Function URL configurations: stored in the registry (kind "url", id "<function>" or
"<function>/<alias>"), indexed in memory by URL id for the URL listener's every request."""

from __future__ import annotations

import dataclasses
import functools
from datetime import UTC, datetime
from typing import Any, Final

import trio

from engine.control.functions import FunctionService
from engine.errors import ResourceConflictException, ResourceNotFoundException
from engine.model.arns import function_arn
from engine.model.timestamps import format_last_modified
from engine.urls.config import (
    Cors,
    UrlConfig,
    UrlConfigRequest,
    function_url,
    new_url_config,
    new_url_id,
)

KIND: Final = "url"


MSG_NOT_FOUND = "The resource you requested does not exist."
MSG_NO_FUNCTION = "Function does not exist"


class UrlService:
    def __init__(self, functions: FunctionService, *, region: str, port: int | None) -> None:
        self.functions = functions
        self.registry = functions.registry
        self.region = region
        self.port = port  # the function URL listener's; None when it is off
        self.by_id: dict[str, UrlConfig] = {}
        # URL ids whose alias was deleted: AWS still knows them, and forbids them.
        self.orphans: set[str] = set()
        for doc in self.registry.documents(KIND):
            config = _from_doc(doc)
            self.by_id[config.url_id] = config

    def url(self, config: UrlConfig) -> str:
        return function_url(config.url_id, region=self.region, port=self.port or 0)

    def to_aws(
        self, config: UrlConfig, *, for_create: bool = False, for_write: bool = False
    ) -> dict[str, Any]:
        arn = function_arn(self.region, config.function_name, config.qualifier)
        return config.to_aws(
            function_arn=arn, url=self.url(config), for_create=for_create, for_write=for_write
        )

    def allows_public_invoke(self, config: UrlConfig) -> bool:
        """An AuthType NONE URL answers only if the resource policy of its function (or alias)
        lets everyone call lambda:InvokeFunctionUrl with FunctionUrlAuthType NONE, as on AWS
        (AddPermission with Principal "*" and FunctionUrlAuthType NONE)."""
        key = config.function_name
        if config.qualifier is not None:
            key = f"{key}/{config.qualifier}"
        doc = self.registry.get_document("policy", key) or {}
        return any(_opens_url(statement) for statement in doc.get("statements", ()))

    def find(self, name: str, qualifier: str | None) -> UrlConfig | None:
        for config in self.by_id.values():
            if config.function_name == name and config.qualifier == qualifier:
                return config
        return None

    def _check_target(self, name: str, qualifier: str | None, missing: str) -> None:
        """The function (and alias) exist; else AWS's `missing` text for this operation."""
        try:
            self.functions.check_qualifier(name, qualifier)
        except ResourceNotFoundException:
            raise ResourceNotFoundException(missing) from None

    def get(self, name: str, qualifier: str | None, *, missing: str = MSG_NOT_FOUND) -> UrlConfig:
        """Get/Delete say "The resource you requested does not exist." of a missing function
        and of a missing URL alike; Update says "Function does not exist" of the former."""
        self._check_target(name, qualifier, missing)
        config = self.find(name, qualifier)
        if config is None:
            raise ResourceNotFoundException(MSG_NOT_FOUND)
        return config

    def list(self, name: str) -> list[UrlConfig]:
        self._check_target(name, None, MSG_NO_FUNCTION)
        return sorted(
            (c for c in self.by_id.values() if c.function_name == name),
            key=lambda c: c.qualifier or "",
        )

    async def create(self, name: str, qualifier: str | None, req: UrlConfigRequest) -> UrlConfig:
        self._check_target(name, qualifier, MSG_NO_FUNCTION)
        if self.find(name, qualifier) is not None:
            raise ResourceConflictException(
                f"Failed to create function url config for [functionArn = "
                f"{function_arn(self.region, name, qualifier)}]. Error message:  FunctionUrlConfig "
                "exists for this Lambda function"
            )
        config = new_url_config(
            req, function_name=name, qualifier=qualifier, url_id=new_url_id(), now_text=_now()
        )
        await self._save(config)
        return config

    async def update(self, name: str, qualifier: str | None, req: UrlConfigRequest) -> UrlConfig:
        config = self.get(name, qualifier, missing=MSG_NO_FUNCTION).apply(req, _now())
        await self._save(config)
        return config

    async def delete(self, name: str, qualifier: str | None) -> None:
        config = self.get(name, qualifier)
        key = name if qualifier is None else f"{name}/{qualifier}"
        await trio.to_thread.run_sync(functools.partial(self.registry.delete_document, KIND, key))
        self.by_id.pop(config.url_id, None)

    def forget_function(self, name: str, qualifier: str | None = None) -> None:
        """The function (or an alias of it) was deleted; the registry dropped the records."""
        for url_id, config in list(self.by_id.items()):
            if config.function_name == name and qualifier in (None, config.qualifier):
                del self.by_id[url_id]
                if qualifier is not None:
                    self.orphans.add(url_id)

    async def _save(self, config: UrlConfig) -> None:
        await trio.to_thread.run_sync(
            functools.partial(
                self.registry.put_function_document,
                KIND,
                config.function_name,
                config.qualifier,
                _to_doc(config),
            )
        )
        self.by_id[config.url_id] = config


def _opens_url(statement: dict[str, Any]) -> bool:
    if statement.get("Effect") != "Allow" or statement.get("Principal") not in ("*", {"AWS": "*"}):
        return False
    if statement.get("Action") not in ("lambda:InvokeFunctionUrl", "lambda:*", "*"):
        return False
    condition = statement.get("Condition", {}).get("StringEquals", {})
    return bool(condition.get("lambda:FunctionUrlAuthType") == "NONE")


def _now() -> str:
    return format_last_modified(datetime.now(UTC))


def _to_doc(config: UrlConfig) -> dict[str, Any]:
    return dataclasses.asdict(config)


def _from_doc(doc: dict[str, Any]) -> UrlConfig:
    cors = doc.get("cors")
    fields = {**doc, "cors": None}
    fields.setdefault("invoke_mode_set", False)  # written before lambdalet kept it
    if cors is not None:
        values: dict[str, Any] = {
            k: tuple(v) if isinstance(v, list) else v for k, v in cors.items()
        }
        fields["cors"] = Cors(**values)
    return UrlConfig(**fields)
