"""Event source mappings: the Lambda API's side (create, get, update, delete, list) and the
interface the pollers drive them through.

States. A create answers `Creating` (`Disabled` if created disabled, as AWS answers), an update
`Updating` (`Enabling`/`Disabling` when it turns the mapping on or off), a delete `Deleting`.
The runtime that polls the sources (`engine.sources`) then settles each mapping: it calls
`set_state(uuid, "Enabled" | "Disabled")` once its poller runs or has stopped, and
`finish_delete(uuid)` once a deleted mapping's poller has stopped (the mapping is then gone).
It learns of changes through `on_change`, called with the UUID after every create, update and
delete. Until it has settled a mapping, AWS refuses to update it (ResourceInUseException), and
to delete one being created or updated; so does this service. With no hook registered (no
runtime wired in), the service settles each change itself, at once.

A mapping outlives its function, as on AWS: deleting a function leaves its mappings (they fail
to invoke until a function of that name exists again); only DeleteEventSourceMapping removes
one. Mappings are registry documents (kind "event-source-mapping", id the UUID), kept in
memory and written through: what a client was answered survives a restart, states included;
the runtime reads them all with `mappings()` when it starts.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
import time
import uuid as uuids
from collections.abc import Callable
from typing import Any, Final

import trio

from engine.control.functions import FunctionService
from engine.errors import (
    EngineError,
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from engine.model.event_source_mapping import (
    DELETING,
    DISABLED,
    ENABLED,
    SETTLED,
    SQS,
    STATES,
    EventSourceMapping,
)
from engine.model.event_source_requests import (
    CreateMappingRequest,
    MappingChanges,
    check_create,
    check_update,
    new_mapping,
    updated_mapping,
)
from engine.model.names import parse_function_name
from engine.registry.store import EVENT_SOURCE_MAPPING_KIND as KIND
from engine.registry.store import EVENT_SOURCE_MAPPING_TAGS_KIND as TAGS_KIND

logger = logging.getLogger(__name__)

MSG_NOT_FOUND: Final = "The resource you requested does not exist."
MSG_NO_FUNCTION: Final = "Function does not exist"
MSG_NO_QUEUE: Final = (
    "Error occurred while ReceiveMessage. SQS Error Code: "
    "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does "
    "not exist."
)

SourceCheck = Callable[[str], bool]  # given a source's ARN
ChangeHook = Callable[[str], None]  # given a mapping's UUID


class EventSourceMappingService:
    """`source_exists(arn)`: whether the queue or stream exists; `fifo(arn)`: whether an SQS
    ARN is a FIFO queue's (both given by the daemon, from the queue and stream services)."""

    def __init__(
        self,
        functions: FunctionService,
        *,
        region: str,
        source_exists: SourceCheck,
        fifo: SourceCheck,
    ) -> None:
        self.functions = functions
        self.registry = functions.registry
        self.region = region
        self._source_exists = source_exists
        self._fifo = fifo
        self.on_change: list[ChangeHook] = []
        self._lock = trio.Lock()  # the API's read-check-write
        self._write_lock = threading.Lock()  # a write stores the mapping as it is then
        self._mappings = {
            m.uuid: m for m in map(EventSourceMapping.from_doc, self.registry.documents(KIND))
        }

    # -- what the pollers use --------------------------------------------------------------

    def mappings(self) -> list[EventSourceMapping]:
        return sorted(self._mappings.values(), key=lambda m: m.uuid)

    def find(self, uuid: str) -> EventSourceMapping | None:
        return self._mappings.get(uuid)

    def set_state(self, uuid: str, state: str, reason: str | None = None) -> None:
        """The runtime's view: `state` (one of AWS's seven) and, if given, why."""
        if state not in STATES:
            raise ValueError(f"{state!r} is not an event source mapping state")
        current = self._mappings.get(uuid)
        if current is None:
            return
        changed = current.replace(state=state, state_reason=reason or current.state_reason)
        if changed != current:
            self._mappings[uuid] = changed
            self._write_now(uuid)

    def set_last_processing_result(self, uuid: str, text: str) -> None:
        """A stream's LastProcessingResult ("OK", "PROBLEM: …"); written only when it
        changes, so a poller may call it after every batch."""
        current = self._mappings.get(uuid)
        if current is not None and current.last_processing_result != text:
            self._mappings[uuid] = current.replace(last_processing_result=text)
            self._write_now(uuid)

    def finish_delete(self, uuid: str) -> None:
        """The mapping's poller has stopped: the mapping (and its tags) are gone."""
        if self._mappings.pop(uuid, None) is not None:
            self._write_now(uuid)

    # -- the API ---------------------------------------------------------------------------

    def to_aws(self, mapping: EventSourceMapping) -> dict[str, Any]:
        return mapping.to_aws(self.region)

    def get(self, uuid: str) -> EventSourceMapping:
        mapping = self._mappings.get(uuid)
        if mapping is None:
            raise ResourceNotFoundException(MSG_NOT_FOUND)
        return mapping

    def list(
        self, *, source_arn: str | None = None, function_name: str | None = None
    ) -> list[EventSourceMapping]:
        """In UUID order. A function's name matches its mappings whatever their qualifier;
        a qualified name, the mappings of exactly that version or alias. Filters naming
        nothing that exists give an empty list, as AWS's."""
        found = self.mappings()
        if source_arn is not None:
            found = [m for m in found if m.source_arn == source_arn]
        if function_name is not None:
            name, qualifier = parse_function_name(function_name, self.region)
            found = [
                m
                for m in found
                if m.function_name == name and (qualifier is None or m.qualifier == qualifier)
            ]
        return found

    async def create(self, req: CreateMappingRequest) -> EventSourceMapping:
        arn = req.source_arn or ""
        kind = check_create(req, fifo=bool(arn) and self._fifo(arn))
        name, qualifier = self._function(req.changes.function_name)
        self._check_source(kind, arn)
        async with self._lock:
            self._check_duplicate(kind, arn, name, qualifier, None)
            mapping = new_mapping(
                req,
                kind,
                uuid=str(uuids.uuid4()),
                function_name=name,
                qualifier=qualifier,
                now=time.time(),
            )
            await self._commit(mapping.uuid, mapping, tags=req.tags)
        self._changed(mapping.uuid)
        return mapping

    async def update(self, uuid: str, changes: MappingChanges) -> EventSourceMapping:
        async with self._lock:
            current = self.get(uuid)
            if current.state not in SETTLED:
                raise _in_use(current)
            fifo = current.source_kind == SQS and self._fifo(current.source_arn)
            check_update(current, changes, fifo=fifo)
            if changes.function_name is None:
                name, qualifier = current.function_name, current.qualifier
            else:
                name, qualifier = self._function(changes.function_name)
                self._check_duplicate(
                    current.source_kind, current.source_arn, name, qualifier, uuid
                )
            mapping = updated_mapping(
                current, changes, function_name=name, qualifier=qualifier, now=time.time()
            )
            await self._commit(uuid, mapping)
        self._changed(uuid)
        return mapping

    async def delete(self, uuid: str) -> EventSourceMapping:
        """The mapping, `Deleting`; it is gone once its poller has stopped. Deleting it again
        meanwhile answers the same."""
        async with self._lock:
            current = self.get(uuid)
            if current.state == DELETING:
                return current
            if current.state not in SETTLED:
                raise _in_use(current)
            mapping = current.replace(state=DELETING)
            await self._commit(uuid, mapping)
        self._changed(uuid)
        return mapping

    def tags(self, uuid: str) -> dict[str, str]:
        """The mapping's tags (it must exist)."""
        self.get(uuid)
        return dict(self.registry.get_document(TAGS_KIND, uuid) or {})

    # -- helpers ---------------------------------------------------------------------------

    def _function(self, raw: str | None) -> tuple[str, str | None]:
        """The function (and version or alias) a request names, which must exist."""
        if raw is None:  # required by the model; checked at the boundary
            raise InvalidParameterValueException(MSG_NO_FUNCTION)
        name, qualifier = parse_function_name(raw, self.region)
        try:
            self.functions.check_qualifier(name, qualifier)
        except ResourceNotFoundException:
            raise InvalidParameterValueException(MSG_NO_FUNCTION) from None
        return name, qualifier

    def _check_source(self, kind: str, arn: str) -> None:
        if not self._source_exists(arn):
            text = MSG_NO_QUEUE if kind == SQS else f"Stream not found: {arn}"
            raise InvalidParameterValueException(text)

    def _check_duplicate(
        self, kind: str, arn: str, name: str, qualifier: str | None, own: str | None
    ) -> None:
        """One mapping per source and function ARN (a name, `name:$LATEST`, a version and
        an alias are different ARNs), in AWS's words per source."""
        for m in self._mappings.values():
            if (
                m.uuid != own
                and m.source_arn == arn
                and (m.function_name, m.qualifier)
                == (
                    name,
                    qualifier,
                )
            ):
                if kind == SQS:
                    text = f'An event source mapping with SQS arn (" {arn} ") and function (" '
                    text += f'{name} ") already exists.'
                else:
                    text = f'The event source arn (" {arn} ") and function (" {name} ") '
                    text += "provided mapping already exists."
                raise ResourceConflictException(
                    f"{text} Please update or delete the existing mapping with UUID {m.uuid}"
                )

    async def _commit(
        self, uuid: str, mapping: EventSourceMapping, *, tags: dict[str, str] | None = None
    ) -> None:
        """Make `mapping` current and write it; undone if the write fails."""
        before = self._mappings.get(uuid)
        self._mappings[uuid] = mapping
        try:
            await trio.to_thread.run_sync(functools.partial(self._write, uuid, tags))
        except BaseException:
            if before is None:
                self._mappings.pop(uuid, None)
            else:
                self._mappings[uuid] = before
            raise

    def _write(self, uuid: str, tags: dict[str, str] | None = None) -> None:
        """Store the mapping as it is now, or its absence (a worker thread's or the Trio
        thread's call: the lock keeps a slower write from storing an older version)."""
        with self._write_lock:
            mapping = self._mappings.get(uuid)
            if mapping is None:
                self.registry.delete_document(KIND, uuid)
                self.registry.delete_document(TAGS_KIND, uuid)
                return
            self.registry.put_document(KIND, uuid, mapping.to_doc())
            if tags:
                self.registry.put_document(TAGS_KIND, uuid, tags)

    def _write_now(self, uuid: str) -> None:
        """The runtime's writes: in its thread, rare (state changes); a failure is logged,
        the state kept in memory."""
        try:
            self._write(uuid)
        except (OSError, sqlite3.Error, EngineError):
            logger.exception("event source mapping %s: could not store its state", uuid)

    def _changed(self, uuid: str) -> None:
        if not self.on_change:
            self._settle(uuid)
            return
        for hook in list(self.on_change):
            hook(uuid)

    def _settle(self, uuid: str) -> None:
        """No runtime is wired in: take the state the runtime would give at once."""
        mapping = self._mappings.get(uuid)
        if mapping is None:
            return
        if mapping.state == DELETING:
            self.finish_delete(uuid)
        elif mapping.state not in SETTLED:
            self.set_state(uuid, ENABLED if mapping.enabled else DISABLED)


def _in_use(mapping: EventSourceMapping) -> ResourceInUseException:
    return ResourceInUseException(
        f"Cannot change the event source mapping {mapping.uuid} while it is {mapping.state}: "
        "try again once it is Enabled or Disabled."
    )
