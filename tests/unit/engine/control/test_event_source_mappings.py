"""The event source mapping service over a registry in a temporary directory: what create,
update, delete and list answer, the states the runtime moves mappings through, duplicates,
paging order, and what survives a restart."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from engine.control.event_source_mappings import EventSourceMappingService
from engine.control.functions import FunctionService
from engine.control.tags import TagService
from engine.errors import (
    InvalidParameterValueException,
    ResourceConflictException,
    ResourceInUseException,
    ResourceNotFoundException,
)
from engine.model.aliases import AliasRequest
from engine.model.event_source_mapping import (
    CREATING,
    DELETING,
    DISABLED,
    DISABLING,
    ENABLED,
    UPDATING,
    EventSourceMapping,
)
from engine.model.event_source_requests import parse_create, parse_update
from engine.model.function_requests import CreateFunctionRequest
from engine.registry.registry import Registry
from engine.registry.store import EVENT_SOURCE_MAPPING_KIND, EVENT_SOURCE_MAPPING_TAGS_KIND

REGION = "us-east-1"
ACCOUNT = "000000000000"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q"
OTHER_QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:other"
FIFO = f"arn:aws:sqs:{REGION}:{ACCOUNT}:q.fifo"
STREAM = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/s"
SOURCES = {QUEUE, OTHER_QUEUE, FIFO, STREAM}


def make_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("app.py", date_time=(2024, 1, 1, 0, 0, 0)), "A = 1\n")
    return buf.getvalue()


@pytest.fixture
def registry(tmp_path: Path) -> Iterator[Registry]:
    with Registry(tmp_path / "state", region=REGION) as reg:
        yield reg


@pytest.fixture
def functions(registry: Registry) -> FunctionService:
    return FunctionService(registry)


def new_service(functions: FunctionService) -> EventSourceMappingService:
    return EventSourceMappingService(
        functions,
        region=REGION,
        source_exists=SOURCES.__contains__,
        fifo=lambda arn: arn.endswith(".fifo"),
    )


class Runtime:
    """Stands in for the pollers: hears every change, settles when told to."""

    def __init__(self, service: EventSourceMappingService) -> None:
        self.service = service
        self.heard: list[str] = []
        service.on_change.append(self.heard.append)

    def settle(self) -> None:
        for uuid in self.heard:
            mapping = self.service.find(uuid)
            if mapping is None:
                continue
            if mapping.state == DELETING:
                self.service.finish_delete(uuid)
            else:
                self.service.set_state(uuid, ENABLED if mapping.enabled else DISABLED)
        self.heard.clear()


@pytest.fixture
def service(functions: FunctionService) -> EventSourceMappingService:
    return new_service(functions)


@pytest.fixture
def runtime(service: EventSourceMappingService) -> Runtime:
    return Runtime(service)


async def create_function(functions: FunctionService, name: str = "fn") -> None:
    await functions.create(
        CreateFunctionRequest(
            name=name, runtime="python3.11", handler="app.handler",
            role="arn:aws:iam::000000000000:role/r", zip_bytes=make_zip(),
        )
    )  # fmt: skip


async def create(service: EventSourceMappingService, **body: Any) -> EventSourceMapping:
    return await service.create(parse_create({"FunctionName": "fn", **body}))


async def refused(service: EventSourceMappingService, **body: Any) -> str:
    with pytest.raises(InvalidParameterValueException) as caught:
        await create(service, **body)
    return caught.value.message


async def test_create_answers_creating_until_the_runtime_settles_it(
    functions: FunctionService, service: EventSourceMappingService, runtime: Runtime
) -> None:
    await create_function(functions)
    mapping = await create(service, EventSourceArn=QUEUE)
    assert mapping.state == CREATING and runtime.heard == [mapping.uuid]
    assert service.get(mapping.uuid).state == CREATING
    runtime.settle()
    assert service.get(mapping.uuid).state == ENABLED
    assert service.get(mapping.uuid).state_reason == "USER_INITIATED"  # kept by set_state


async def test_a_change_in_flight_is_in_use(
    functions: FunctionService, service: EventSourceMappingService, runtime: Runtime
) -> None:
    await create_function(functions)
    uuid = (await create(service, EventSourceArn=QUEUE)).uuid
    with pytest.raises(ResourceInUseException):
        await service.update(uuid, parse_update({"BatchSize": 5}))
    with pytest.raises(ResourceInUseException):
        await service.delete(uuid)
    runtime.settle()
    assert (await service.update(uuid, parse_update({"BatchSize": 5}))).state == UPDATING
    with pytest.raises(ResourceInUseException):
        await service.update(uuid, parse_update({"BatchSize": 6}))
    runtime.settle()
    assert (await service.update(uuid, parse_update({"Enabled": False}))).state == DISABLING
    runtime.settle()
    assert service.get(uuid).state == DISABLED and service.get(uuid).batch_size == 5


async def test_delete_answers_deleting_and_the_runtime_finishes_it(
    functions: FunctionService, service: EventSourceMappingService, runtime: Runtime
) -> None:
    await create_function(functions)
    uuid = (await create(service, EventSourceArn=QUEUE)).uuid
    runtime.settle()
    deleted = await service.delete(uuid)
    assert deleted.state == DELETING and runtime.heard == [uuid]
    assert (await service.delete(uuid)).state == DELETING  # again meanwhile: the same
    with pytest.raises(ResourceInUseException):
        await service.update(uuid, parse_update({"Enabled": False}))
    runtime.settle()
    with pytest.raises(ResourceNotFoundException, match="The resource you requested"):
        service.get(uuid)
    with pytest.raises(ResourceNotFoundException):
        await service.delete(uuid)
    assert service.mappings() == []


async def test_without_a_runtime_the_service_settles_changes_itself(
    functions: FunctionService, service: EventSourceMappingService
) -> None:
    await create_function(functions)
    mapping = await create(service, EventSourceArn=QUEUE)
    assert mapping.state == CREATING  # what AWS answers
    assert service.get(mapping.uuid).state == ENABLED
    assert (await service.delete(mapping.uuid)).state == DELETING
    assert service.find(mapping.uuid) is None


async def test_create_checks_function_then_source_then_duplicates(
    functions: FunctionService, service: EventSourceMappingService
) -> None:
    assert await refused(service, EventSourceArn=QUEUE) == "Function does not exist"
    # AWS checks the request's own rules before the function.
    assert (await refused(service, EventSourceArn=STREAM)).startswith("1 validation error")
    await create_function(functions)
    missing = f"arn:aws:sqs:{REGION}:{ACCOUNT}:nosuch"
    assert await refused(service, EventSourceArn=missing) == (
        "Error occurred while ReceiveMessage. SQS Error Code: "
        "AWS.SimpleQueueService.NonExistentQueue. SQS Error Message: The specified queue does "
        "not exist."
    )
    gone = f"arn:aws:kinesis:{REGION}:{ACCOUNT}:stream/nosuch"
    assert await refused(service, EventSourceArn=gone, StartingPosition="LATEST") == (
        f"Stream not found: {gone}"
    )
    assert await refused(service, FunctionName="fn:9", EventSourceArn=QUEUE) == (
        "Function does not exist"
    )
    first = await create(service, EventSourceArn=QUEUE)
    with pytest.raises(ResourceConflictException) as caught:
        await create(service, EventSourceArn=QUEUE)
    assert caught.value.message == (
        f'An event source mapping with SQS arn (" {QUEUE} ") and function (" fn ") already '
        f"exists. Please update or delete the existing mapping with UUID {first.uuid}"
    )
    stream = await create(service, EventSourceArn=STREAM, StartingPosition="LATEST")
    with pytest.raises(ResourceConflictException) as caught:
        await create(service, EventSourceArn=STREAM, StartingPosition="TRIM_HORIZON")
    assert caught.value.message == (
        f'The event source arn (" {STREAM} ") and function (" fn ") provided mapping already '
        f"exists. Please update or delete the existing mapping with UUID {stream.uuid}"
    )


async def test_each_qualifier_is_its_own_function_arn(
    functions: FunctionService, service: EventSourceMappingService
) -> None:
    await create_function(functions)
    await functions.publish_version("fn")
    await functions.create_alias("fn", AliasRequest(name="live", function_version="1"))
    arns = set()
    for name in ("fn", "fn:$LATEST", "fn:1", "fn:live"):
        mapping = await create(service, FunctionName=name, EventSourceArn=QUEUE)
        arns.add(service.to_aws(mapping)["FunctionArn"])
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"
    assert arns == {base, f"{base}:$LATEST", f"{base}:1", f"{base}:live"}
    with pytest.raises(ResourceConflictException):  # the alias again, by its full ARN
        await create(service, FunctionName=f"{base}:live", EventSourceArn=QUEUE)


async def test_fifo_queues_take_no_batching_window(
    functions: FunctionService, service: EventSourceMappingService
) -> None:
    await create_function(functions)
    assert await refused(service, EventSourceArn=FIFO, MaximumBatchingWindowInSeconds=1) == (
        "Batching window is not supported for FIFO queues"
    )
    uuid = (await create(service, EventSourceArn=FIFO, BatchSize=10)).uuid
    with pytest.raises(InvalidParameterValueException, match="FIFO"):
        await service.update(uuid, parse_update({"MaximumBatchingWindowInSeconds": 2}))


async def test_update_can_move_the_mapping_to_another_function(
    functions: FunctionService, service: EventSourceMappingService
) -> None:
    await create_function(functions)
    await create_function(functions, "other")
    uuid = (await create(service, EventSourceArn=QUEUE)).uuid
    await create(service, FunctionName="other", EventSourceArn=QUEUE)
    with pytest.raises(ResourceConflictException):
        await service.update(uuid, parse_update({"FunctionName": "other"}))
    with pytest.raises(InvalidParameterValueException, match="Function does not exist"):
        await service.update(uuid, parse_update({"FunctionName": "nosuch"}))
    moved = await service.update(uuid, parse_update({"FunctionName": "other:$LATEST"}))
    assert (moved.function_name, moved.qualifier) == ("other", "$LATEST")


async def test_list_filters_and_orders_by_uuid(
    functions: FunctionService, service: EventSourceMappingService
) -> None:
    await create_function(functions)
    await create_function(functions, "other")
    await functions.publish_version("fn")
    a = await create(service, EventSourceArn=QUEUE)
    b = await create(service, FunctionName="fn:1", EventSourceArn=OTHER_QUEUE)
    c = await create(service, FunctionName="other", EventSourceArn=QUEUE)
    assert [m.uuid for m in service.list()] == sorted([a.uuid, b.uuid, c.uuid])
    assert {m.uuid for m in service.list(source_arn=QUEUE)} == {a.uuid, c.uuid}
    assert {m.uuid for m in service.list(function_name="fn")} == {a.uuid, b.uuid}
    assert [m.uuid for m in service.list(function_name="fn:1")] == [b.uuid]
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:other"
    assert [m.uuid for m in service.list(function_name=arn)] == [c.uuid]
    assert service.list(function_name="nosuch") == []
    assert service.list(source_arn=f"arn:aws:sqs:{REGION}:111111111111:x") == []


async def test_mappings_outlive_their_function(
    functions: FunctionService, service: EventSourceMappingService
) -> None:
    await create_function(functions)
    uuid = (await create(service, EventSourceArn=QUEUE)).uuid
    await functions.delete("fn")
    assert service.get(uuid).state == ENABLED  # as AWS shows it after the function is gone
    assert (await service.delete(uuid)).state == DELETING


async def test_mappings_and_their_states_survive_a_restart(
    functions: FunctionService, service: EventSourceMappingService, runtime: Runtime
) -> None:
    await create_function(functions)
    settled = await create(service, EventSourceArn=QUEUE, Tags={"team": "a"})
    runtime.settle()
    service.set_last_processing_result(settled.uuid, "OK")  # a queue's is not shown, but kept
    creating = await create(service, EventSourceArn=STREAM, StartingPosition="LATEST")
    again = new_service(functions)
    assert again.find(creating.uuid) == service.find(creating.uuid)
    assert again.get(creating.uuid).state == CREATING  # the runtime takes it up at start
    assert again.get(settled.uuid) == service.get(settled.uuid)
    assert again.tags(settled.uuid) == {"team": "a"}
    assert again.mappings() == service.mappings()
    service.finish_delete(settled.uuid)
    assert functions.registry.get_document(EVENT_SOURCE_MAPPING_KIND, settled.uuid) is None
    assert new_service(functions).find(settled.uuid) is None


async def test_runtime_writes_only_what_changed(
    functions: FunctionService, service: EventSourceMappingService, runtime: Runtime
) -> None:
    await create_function(functions)
    uuid = (await create(service, EventSourceArn=STREAM, StartingPosition="LATEST")).uuid
    runtime.settle()
    service.set_state(uuid, ENABLED, "PROBLEM: Function not found")
    assert service.get(uuid).state_reason == "PROBLEM: Function not found"
    service.set_last_processing_result(uuid, "OK")
    assert service.to_aws(service.get(uuid))["LastProcessingResult"] == "OK"
    with pytest.raises(ValueError, match="Running"):
        service.set_state(uuid, "Running")
    service.set_state("00000000-0000-0000-0000-000000000000", ENABLED)  # gone: nothing to do


async def test_tags_live_beside_the_mapping_and_go_with_it(
    functions: FunctionService, service: EventSourceMappingService, runtime: Runtime
) -> None:
    tags = TagService(functions)
    await create_function(functions)
    uuid = (await create(service, EventSourceArn=QUEUE, Tags={"a": "1"})).uuid
    assert tags.mapping_tags(uuid) == {"a": "1"} == service.tags(uuid)
    await tags.tag_mapping(uuid, {"a": "1"}, {"b": "2"})
    await tags.untag_mapping(uuid, {"a": "1", "b": "2"}, ["a", "c"])
    assert tags.mapping_tags(uuid) == {"b": "2"}
    assert tags.mapping_tags("00000000-0000-0000-0000-000000000000") is None
    runtime.settle()
    await service.delete(uuid)
    runtime.settle()
    assert tags.mapping_tags(uuid) is None
    assert functions.registry.get_document(EVENT_SOURCE_MAPPING_TAGS_KIND, uuid) is None
