"""Tags on functions (TagResource, UntagResource, ListTags; CreateFunction's `Tags`), stored in the
registry as one document per function (kind "tags") and deleted with it."""

from __future__ import annotations

import functools

import trio

from engine.control.functions import FunctionService
from engine.model.tags import parse_tags

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
