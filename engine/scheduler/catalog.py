"""Schedule groups and schedules in memory, each change committed before it is answered.

The "default" group always exists (it is created on first start, and cannot be created or
deleted by a call). Deleting a group deletes its schedules, as AWS documents. Texts are AWS's
where on record (``Schedule <name> does not exist.``, ``Invalid Schedule Expression …``);
the others follow their wording and are marked in the code. `on_change` tells the timer which
schedule changed (its key, and the schedule or None when it is gone).
"""

from __future__ import annotations

import base64
import binascii
import logging
from collections.abc import Callable, Iterable, Mapping
from typing import Any, Final, TypeVar

import trio

from engine.errors import ResourceNotFoundException, ValidationException
from engine.journal.journal import Journal
from engine.scheduler import store
from engine.scheduler.errors import ConflictException
from engine.scheduler.schedule import DEFAULT_GROUP, Group, Schedule, build_schedule, group_arn

logger = logging.getLogger(__name__)

Key = tuple[str, str]  # (group, name)
DEFAULT_PAGE: Final = 100
T = TypeVar("T")


def no_such_schedule(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Schedule {name} does not exist.")


def no_such_group(name: str) -> ResourceNotFoundException:
    return ResourceNotFoundException(f"Schedule group {name} does not exist.")  # unverified


class Catalog:
    def __init__(self, journal: Journal, *, region: str, now_s: Callable[[], float]) -> None:
        self.journal = journal
        self.region = region
        self.now_s = now_s
        self.groups: dict[str, Group] = {}
        self.schedules: dict[Key, Schedule] = {}
        self.on_change: Callable[[Key, Schedule | None], None] = lambda key, schedule: None
        # Changes are made one at a time (each is a check, a commit, then the memory): two
        # calls on one name never interleave between their check and their commit.
        self._lock = trio.Lock()

    # --- loading ----------------------------------------------------------------------------

    def load(self, snapshot: store.Snapshot) -> None:
        for name, doc in snapshot.groups.items():
            self.groups[name] = Group.from_document(name, doc)
        for row in snapshot.schedules:
            doc = row.document
            try:
                schedule = build_schedule(
                    {"Name": row.name, **doc["request"]},
                    group=row.group,
                    region=self.region,
                    created_s=doc["created"],
                    modified_s=doc["modified"],
                    last_fired=row.last_fired,
                )
            except ValidationException as exc:  # e.g. the daemon's region changed since
                logger.warning("schedule %s/%s not loaded: %s", row.group, row.name, exc.message)
                continue
            self.schedules[(row.group, row.name)] = schedule

    def ensure_default_group(self) -> None:
        if DEFAULT_GROUP not in self.groups:
            now = self.now_s()
            group = Group(name=DEFAULT_GROUP, created_s=now, modified_s=now)
            self.groups[DEFAULT_GROUP] = group
            self.journal.defer(store.put_group(group.name, group.document()))

    # --- groups -----------------------------------------------------------------------------

    def group(self, name: str | None) -> Group:
        found = self.groups.get(name or DEFAULT_GROUP)
        if found is None:
            raise no_such_group(name or DEFAULT_GROUP)
        return found

    async def create_group(self, name: str, tags: dict[str, str]) -> Group:
        async with self._lock:
            return await self._create_group(name, tags)

    async def _create_group(self, name: str, tags: dict[str, str]) -> Group:
        if name == DEFAULT_GROUP:  # AWS's text, seen on record for CreateScheduleGroup
            raise ValidationException(
                "This operation cannot be performed on schedule group default."
            )
        if name in self.groups:
            raise ConflictException(f"Schedule group {name} already exists.")  # unverified
        now = self.now_s()
        group = Group(name=name, created_s=now, modified_s=now, tags=tags)
        await self.journal.commit(store.put_group(name, group.document()))
        self.groups[name] = group
        return group

    async def delete_group(self, name: str) -> None:
        if name == DEFAULT_GROUP:
            raise ValidationException(
                "This operation cannot be performed on schedule group default."
            )
        async with self._lock:
            self.group(name)
            await self.journal.commit(store.delete_group(name))
            self.groups.pop(name, None)
            for key in [k for k in self.schedules if k[0] == name]:
                del self.schedules[key]
                self.on_change(key, None)

    def list_groups(
        self, prefix: str | None, token: str | None, limit: int | None
    ) -> tuple[list[Group], str | None]:
        names = sorted(n for n in self.groups if prefix is None or n.startswith(prefix))
        page, after = _page(names, token, limit, key=lambda n: n)
        return [self.groups[n] for n in page], after

    def group_of_arn(self, arn: str) -> Group:
        """The group a TagResource ARN names (only groups carry tags in Scheduler)."""
        name = arn.rpartition("/")[2]
        group = self.groups.get(name)
        if group is None or group_arn(self.region, name) != arn:
            raise no_such_group(name)
        return group

    async def change_tags(self, arn: str, change: Callable[[dict[str, str]], None]) -> None:
        """Apply `change` to the tags of the group `arn` names, durably."""
        async with self._lock:
            group = self.group_of_arn(arn)
            tags = dict(group.tags)
            change(tags)
            document = {**group.document(), "tags": tags}
            await self.journal.commit(store.put_group(group.name, document))
            group.tags = tags

    # --- schedules --------------------------------------------------------------------------

    def get(self, group: str | None, name: str) -> Schedule:
        self.group(group)
        found = self.schedules.get((group or DEFAULT_GROUP, name))
        if found is None:
            raise no_such_schedule(name)
        return found

    async def create(self, params: Mapping[str, Any]) -> Schedule:
        async with self._lock:
            return await self._create(params)

    async def _create(self, params: Mapping[str, Any]) -> Schedule:
        group = self.group(params.get("GroupName")).name
        now = self.now_s()
        schedule = build_schedule(
            params, group=group, region=self.region, created_s=now, modified_s=now
        )
        key = (group, schedule.name)
        if key in self.schedules:
            raise ConflictException(f"Schedule {schedule.name} already exists.")  # unverified
        await self.journal.commit(
            store.put_schedule(group, schedule.name, schedule.document(), None)
        )
        self.schedules[key] = schedule
        self.on_change(key, schedule)
        return schedule

    async def update(self, params: Mapping[str, Any]) -> Schedule:
        """UpdateSchedule replaces every member, as AWS does; CreationDate and the last tick
        fired stay."""
        async with self._lock:
            return await self._update(params)

    async def _update(self, params: Mapping[str, Any]) -> Schedule:
        old = self.get(params.get("GroupName"), params["Name"])
        key = (old.group, old.name)
        schedule = build_schedule(
            params,
            group=old.group,
            region=self.region,
            created_s=old.created_s,
            modified_s=self.now_s(),
            last_fired=old.last_fired,
        )
        # The last tick fired is read as the change is queued: a tick marked fired later is
        # committed after it.
        await self.journal.commit(
            store.put_schedule(old.group, old.name, schedule.document(), old.last_fired)
        )
        schedule.last_fired = old.last_fired  # a tick may have fired meanwhile
        self.schedules[key] = schedule
        self.on_change(key, schedule)
        return schedule

    async def delete(self, group: str | None, name: str) -> None:
        async with self._lock:
            schedule = self.get(group, name)
            await self._remove(schedule)

    async def remove(self, schedule: Schedule) -> None:
        """Delete `schedule` if it is still the one under its name (ActionAfterCompletion)."""
        async with self._lock:
            if self.schedules.get((schedule.group, schedule.name)) is schedule:
                await self._remove(schedule)

    async def _remove(self, schedule: Schedule) -> None:
        key = (schedule.group, schedule.name)
        await self.journal.commit(store.delete_schedule(*key))
        del self.schedules[key]
        self.on_change(key, None)

    def list(
        self,
        *,
        group: str | None,
        prefix: str | None,
        state: str | None,
        token: str | None,
        limit: int | None,
    ) -> tuple[list[Schedule], str | None]:
        if group is not None:
            self.group(group)
        keys = sorted(
            key
            for key, s in self.schedules.items()
            if (group is None or key[0] == group)
            and (prefix is None or key[1].startswith(prefix))
            and (state is None or s.request["State"] == state)
        )
        page, after = _page(keys, token, limit, key=lambda k: f"{k[0]}/{k[1]}")
        return [self.schedules[k] for k in page], after


def _page(
    items: list[T], token: str | None, limit: int | None, *, key: Callable[[T], str]
) -> tuple[list[T], str | None]:
    """One page of sorted `items` after `token` (the last key of the page before, encoded)."""
    start = 0
    if token is not None:
        try:
            last = base64.urlsafe_b64decode(token.encode()).decode()
        except (binascii.Error, UnicodeDecodeError, ValueError):
            raise ValidationException("Invalid NextToken.") from None  # unverified
        start = next((i for i, item in enumerate(items) if key(item) > last), len(items))
    size = limit or DEFAULT_PAGE
    page = items[start : start + size]
    more = start + size < len(items)
    return page, base64.urlsafe_b64encode(key(page[-1]).encode()).decode() if more else None


def tag_list(tags: Mapping[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def tag_map(tags: Iterable[Mapping[str, str]]) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags}
