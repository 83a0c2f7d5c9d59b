"""Tags on functions (TagResource, UntagResource, ListTags; CreateFunction's `Tags`), stored in the
registry as one document per function (kind "tags") and deleted with it; and on event source
mappings (CreateEventSourceMapping's `Tags`), one document per mapping (kind
"event-source-mapping-tags", deleted with the mapping by its service)."""

from __future__ import annotations

import functools

import trio

from engine.control.functions import FunctionService
from engine.model.tags import parse_tags
from engine.registry.store import EVENT_SOURCE_MAPPING_KIND, EVENT_SOURCE_MAPPING_TAGS_KIND

KIND = "tags"


class TagService:
    def __init__(self, functions: FunctionService) -> None:
        self.functions = functions
        self.registry = functions.registry
        self._limiter = trio.CapacityLimiter(2)

    def get(self, name: str) -> dict[str, str]:
        """The function's tags ({} when it has none); the function must exist."""
        self.functions.get(name)
        return self.stored(name)

    def stored(self, name: str) -> dict[str, str]:
        """The tags as stored, without checking the function (GetFunction has just read it)."""
        return dict(self.registry.get_document(KIND, name) or {})

    async def tag(self, name: str, tags: dict[str, str]) -> None:
        """Add or overwrite `tags` (already parsed); the total stays within AWS's limit."""
        self.functions.get(name)
        merged = {**self.stored(name), **tags}
        parse_tags(merged)  # the total stays within AWS's limit of 50
        await self._save(name, merged)

    async def untag(self, name: str, keys: list[str]) -> None:
        self.functions.get(name)
        kept = {k: v for k, v in self.stored(name).items() if k not in keys}
        await self._save(name, kept)

    async def _save(self, name: str, tags: dict[str, str]) -> None:
        await trio.to_thread.run_sync(
            functools.partial(self.registry.put_function_document, KIND, name, None, tags),
            limiter=self._limiter,
        )

    # -- event source mappings -------------------------------------------------------------

    def mapping_tags(self, uuid: str) -> dict[str, str] | None:
        """The mapping's tags; None when there is no such mapping (its service writes the
        mapping's document before it answers, so the registry knows every mapping)."""
        if self.registry.get_document(EVENT_SOURCE_MAPPING_KIND, uuid) is None:
            return None
        return dict(self.registry.get_document(EVENT_SOURCE_MAPPING_TAGS_KIND, uuid) or {})

    async def tag_mapping(self, uuid: str, current: dict[str, str], tags: dict[str, str]) -> None:
        merged = {**current, **tags}
        parse_tags(merged)
        await self._save_mapping(uuid, merged)

    async def untag_mapping(self, uuid: str, current: dict[str, str], keys: list[str]) -> None:
        await self._save_mapping(uuid, {k: v for k, v in current.items() if k not in keys})

    async def _save_mapping(self, uuid: str, tags: dict[str, str]) -> None:
        def save() -> None:
            self.registry.put_document(EVENT_SOURCE_MAPPING_TAGS_KIND, uuid, tags)
            if self.registry.get_document(EVENT_SOURCE_MAPPING_KIND, uuid) is None:
                # deleted meanwhile: leave nothing behind
                self.registry.delete_document(EVENT_SOURCE_MAPPING_TAGS_KIND, uuid)

        await trio.to_thread.run_sync(save, limiter=self._limiter)
