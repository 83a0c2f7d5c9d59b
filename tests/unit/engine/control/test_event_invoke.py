"""The EventInvokeConfig service over a registry in a temporary directory: what it stores, what
an asynchronous invoke gets, and what goes with a function, version or alias."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from engine.control.event_invoke import EventInvokeConfigService, paging_key
from engine.control.functions import FunctionService
from engine.errors import InvalidParameterValueException, ResourceNotFoundException
from engine.model.aliases import AliasRequest
from engine.model.event_invoke import (
    AsyncSettings,
    EventInvokeConfigRequest,
    parse_event_invoke_config,
)
from engine.model.function_requests import CreateFunctionRequest
from engine.registry.registry import Registry

REGION = "us-east-1"
ARN = f"arn:aws:lambda:{REGION}:000000000000:function"
QUEUE = f"arn:aws:sqs:{REGION}:000000000000:q"


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


@pytest.fixture
def service(functions: FunctionService) -> EventInvokeConfigService:
    return EventInvokeConfigService(functions, region=REGION)


async def create(functions: FunctionService, name: str = "fn") -> None:
    await functions.create(
        CreateFunctionRequest(
            name=name, runtime="python3.11", handler="app.handler",
            role="arn:aws:iam::000000000000:role/r", zip_bytes=make_zip(),
        )
    )  # fmt: skip


def body(**settings: object) -> EventInvokeConfigRequest:
    return parse_event_invoke_config(settings)


async def test_settings_are_the_invoked_qualifiers_own_or_defaults(
    functions: FunctionService, service: EventInvokeConfigService
) -> None:
    await create(functions)
    await functions.publish_version("fn")
    await functions.create_alias("fn", AliasRequest(name="live", function_version="1"))
    assert service.settings("fn", None) == AsyncSettings()
    await service.put("fn", None, body(MaximumRetryAttempts=0))
    await service.put("fn", "live", body(DestinationConfig={"OnFailure": {"Destination": QUEUE}}))
    assert service.settings("fn", None) == AsyncSettings(max_retry_attempts=0)
    assert service.settings("fn", "$LATEST") == AsyncSettings(max_retry_attempts=0)
    # Exactly the qualifier invoked: version 1 has none of its own, the alias has its own.
    assert service.settings("fn", "1") == AsyncSettings()
    assert service.settings("fn", "live") == AsyncSettings(on_failure=QUEUE)
    assert service.settings("nosuch", None) == AsyncSettings()


async def test_put_update_get_delete_list(
    functions: FunctionService, service: EventInvokeConfigService
) -> None:
    await create(functions)
    await create(functions, "other")
    await service.put("fn", None, body(MaximumRetryAttempts=1))
    merged = await service.update(
        "fn", None,
        body(DestinationConfig={"OnSuccess": {"Destination": f"{ARN}:other"}}),
    )  # fmt: skip
    assert merged.max_retry_attempts == 1 and merged.on_success == f"{ARN}:other"
    assert service.get("fn", "$LATEST") == merged
    assert service.to_aws("fn", None, merged)["FunctionArn"] == f"{ARN}:fn:$LATEST"
    assert [q for q, _ in service.list("fn")] == ["$LATEST"]
    await service.delete("fn", None)
    with pytest.raises(ResourceNotFoundException, match=r"fn:\$LATEST doesn't have an Event"):
        service.get("fn", None)
    with pytest.raises(ResourceNotFoundException, match=r"The function doesn't exist\."):
        service.list("nosuch")


async def test_targets_and_destinations_are_checked(
    functions: FunctionService, service: EventInvokeConfigService
) -> None:
    await create(functions)
    with pytest.raises(ResourceNotFoundException, match=r"The function doesn't exist\."):
        await service.put("fn", "7", body(MaximumRetryAttempts=1))
    with pytest.raises(ResourceNotFoundException, match=r"The function doesn't exist\."):
        await service.put("nosuch", None, body(MaximumRetryAttempts=1))
    missing = f"{ARN}:other:live"
    with pytest.raises(InvalidParameterValueException, match=f"The destination ARN {missing}"):
        await service.put(
            "fn", None, body(DestinationConfig={"OnSuccess": {"Destination": missing}})
        )
    with pytest.raises(ResourceNotFoundException, match="doesn't have an EventInvokeConfig"):
        await service.update("fn", None, body(MaximumRetryAttempts=1))


async def test_configs_go_with_their_version_alias_and_function(
    functions: FunctionService, service: EventInvokeConfigService
) -> None:
    await create(functions)
    await functions.publish_version("fn")
    await functions.create_alias("fn", AliasRequest(name="live", function_version="1"))
    for qualifier in (None, "1", "live"):
        await service.put("fn", qualifier, body(MaximumRetryAttempts=0))
    assert [q for q, _ in service.list("fn")] == ["$LATEST", "1", "live"]
    await functions.delete_alias("fn", "live")
    assert [q for q, _ in service.list("fn")] == ["$LATEST", "1"]
    await functions.delete_version("fn", "1")
    assert [q for q, _ in service.list("fn")] == ["$LATEST"]
    await functions.delete("fn")
    await create(functions)
    assert service.list("fn") == []


def test_paging_keys_order_latest_versions_then_aliases() -> None:
    qualifiers = ["live", "10", "$LATEST", "2", "beta"]
    assert sorted(qualifiers, key=paging_key) == ["$LATEST", "2", "10", "beta", "live"]
