"""SnapStart's API end to end, with boto3 against the real daemon: the setting on create and
update, what $LATEST and published versions show, AWS's refusals, and a restart keeping it."""

from __future__ import annotations

import base64
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.integration.conftest import ROLE, Daemon, make_zip

pytestmark = pytest.mark.privileged

CODE = "def handler(event, context):\n    return {'ok': True}\n"
ON = {"ApplyOn": "PublishedVersions"}
OFF = {"ApplyOn": "None"}
SHOWN_NEVER_SET = {"ApplyOn": "None", "OptimizationStatus": "Off"}
SHOWN_ON_LATEST = {"ApplyOn": "PublishedVersions", "OptimizationStatus": "Off"}
SHOWN_ON_VERSION = {"ApplyOn": "PublishedVersions", "OptimizationStatus": "On"}
MSG_STORAGE = (
    "Ephemeral storage greater than 512 MB is not supported for SnapStart enabled functions."
)
MSG_PROVISIONED = "Provisioned Concurrency is not supported for SnapStart enabled functions."


@pytest.fixture
def lam(daemon: Daemon) -> Any:
    return daemon.lambda_client()


def create_with(lam: Any, name: str, **settings: Any) -> dict[str, Any]:
    settings.setdefault("Runtime", "python3.11")
    out: dict[str, Any] = lam.create_function(
        FunctionName=name,
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": base64.b64decode(make_zip({"lambda_function.py": CODE}))},
        **settings,
    )
    return out


@pytest.fixture
def make(lam: Any) -> Iterator[Callable[..., str]]:
    """Create a python3.11 function with boto3; deleted after the test."""
    names: list[str] = []

    def create(**settings: Any) -> str:
        name = f"ss-{uuid.uuid4().hex[:10]}"
        create_with(lam, name, **settings)
        names.append(name)
        return name

    yield create
    for name in names:
        try:
            lam.delete_function(FunctionName=name)
        except ClientError:
            pass


def refusal(call: Callable[..., Any], **kwargs: Any) -> tuple[str, str, int]:
    with pytest.raises(ClientError) as caught:
        call(**kwargs)
    error = caught.value.response
    return (
        error["Error"]["Code"],
        error["Error"]["Message"],
        error["ResponseMetadata"]["HTTPStatusCode"],
    )


def snap(config: dict[str, Any]) -> Any:
    return config["SnapStart"]


def test_a_function_that_never_set_snap_start_shows_none_and_off(
    lam: Any, make: Callable[..., str]
) -> None:
    name = make()
    assert snap(lam.get_function_configuration(FunctionName=name)) == SHOWN_NEVER_SET
    version = lam.publish_version(FunctionName=name)
    assert snap(version) == SHOWN_NEVER_SET
    qualified = lam.get_function(FunctionName=name, Qualifier=version["Version"])
    assert snap(qualified["Configuration"]) == SHOWN_NEVER_SET


def test_create_publish_and_list(lam: Any, make: Callable[..., str]) -> None:
    name = make(SnapStart=ON)
    assert snap(lam.get_function_configuration(FunctionName=name)) == SHOWN_ON_LATEST
    assert snap(lam.get_function(FunctionName=name)["Configuration"]) == SHOWN_ON_LATEST

    published = lam.publish_version(FunctionName=name, Description="with SnapStart")
    assert published["Version"] == "1"
    assert snap(published) == SHOWN_ON_VERSION
    one = lam.get_function_configuration(FunctionName=name, Qualifier="1")
    assert snap(one) == SHOWN_ON_VERSION
    assert snap(lam.get_function(FunctionName=f"{name}:1")["Configuration"]) == SHOWN_ON_VERSION
    latest = lam.get_function_configuration(FunctionName=name, Qualifier="$LATEST")
    assert snap(latest) == SHOWN_ON_LATEST

    versions = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [(v["Version"], snap(v)) for v in versions] == [
        ("$LATEST", SHOWN_ON_LATEST),
        ("1", SHOWN_ON_VERSION),
    ]
    listed = [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == name]
    assert [snap(f) for f in listed] == [SHOWN_ON_LATEST]
    every = lam.list_functions(FunctionVersion="ALL")["Functions"]
    assert [(f["Version"], snap(f)) for f in every if f["FunctionName"] == name] == [
        ("$LATEST", SHOWN_ON_LATEST),
        ("1", SHOWN_ON_VERSION),
    ]


def test_update_turns_it_on_and_off_and_versions_keep_theirs(
    lam: Any, make: Callable[..., str]
) -> None:
    name = make()
    updated = lam.update_function_configuration(FunctionName=name, SnapStart=ON)
    assert snap(updated) == SHOWN_ON_LATEST
    assert snap(lam.publish_version(FunctionName=name)) == SHOWN_ON_VERSION

    # Other settings leave it as it is; turning it off is a change a new version publishes.
    kept = lam.update_function_configuration(FunctionName=name, MemorySize=256)
    assert snap(kept) == SHOWN_ON_LATEST
    off = lam.update_function_configuration(FunctionName=name, SnapStart=OFF)
    assert snap(off) == SHOWN_NEVER_SET
    two = lam.publish_version(FunctionName=name)
    assert (two["Version"], snap(two)) == ("2", SHOWN_NEVER_SET)
    assert snap(lam.get_function_configuration(FunctionName=name, Qualifier="1")) == (
        SHOWN_ON_VERSION
    )


def test_the_models_enum(lam: Any, make: Callable[..., str]) -> None:
    enum_error = (
        "ValidationException",
        "1 validation error detected: Value 'invalidOption' at 'snapStart.applyOn' failed to"
        " satisfy constraint: Member must satisfy enum value set: [PublishedVersions, None]",
        400,
    )
    bad = {"ApplyOn": "invalidOption"}
    assert refusal(create_with, lam=lam, name="ss-enum", SnapStart=bad) == enum_error
    name = make()
    assert (
        refusal(lam.update_function_configuration, FunctionName=name, SnapStart=bad) == enum_error
    )


@pytest.mark.parametrize("runtime", ["nodejs20.x", "provided.al2023", "python3.10"])
def test_runtimes_without_snap_start_are_refused_in_aws_words(lam: Any, runtime: str) -> None:
    name = f"ss-{uuid.uuid4().hex[:10]}"
    assert refusal(create_with, lam=lam, name=name, Runtime=runtime, SnapStart=ON) == (
        "InvalidParameterValueException",
        f"{runtime} is not supported for SnapStart enabled functions.",
        400,
    )
    with pytest.raises(ClientError):
        lam.get_function(FunctionName=name)  # nothing was created


def test_a_runtime_change_of_a_snap_start_function_is_checked(
    lam: Any, make: Callable[..., str]
) -> None:
    name = make(SnapStart=ON)
    assert refusal(
        lam.update_function_configuration, FunctionName=name, Runtime="provided.al2023"
    ) == (
        "InvalidParameterValueException",
        "provided.al2023 is not supported for SnapStart enabled functions.",
        400,
    )
    assert lam.get_function_configuration(FunctionName=name)["Runtime"] == "python3.11"


def test_ephemeral_storage_over_512_mb_conflicts(lam: Any, make: Callable[..., str]) -> None:
    big = {"Size": 1024}
    name = f"ss-{uuid.uuid4().hex[:10]}"
    assert refusal(create_with, lam=lam, name=name, SnapStart=ON, EphemeralStorage=big) == (
        "InvalidParameterValueException",
        MSG_STORAGE,
        400,
    )
    on = make(SnapStart=ON)
    assert refusal(lam.update_function_configuration, FunctionName=on, EphemeralStorage=big) == (
        "InvalidParameterValueException",
        MSG_STORAGE,
        400,
    )
    roomy = make(EphemeralStorage=big)
    assert refusal(lam.update_function_configuration, FunctionName=roomy, SnapStart=ON) == (
        "InvalidParameterValueException",
        MSG_STORAGE,
        400,
    )
    # Both at once, the other way round, is fine.
    done = lam.update_function_configuration(FunctionName=on, SnapStart=OFF, EphemeralStorage=big)
    assert (snap(done), done["EphemeralStorage"]) == (SHOWN_NEVER_SET, big)


def test_provisioned_concurrency_conflicts_with_a_snap_start_version(
    lam: Any, make: Callable[..., str]
) -> None:
    name = make(SnapStart=ON)
    lam.publish_version(FunctionName=name)  # 1: SnapStart
    lam.update_function_configuration(FunctionName=name, SnapStart=OFF)
    lam.publish_version(FunctionName=name)  # 2: without
    lam.create_alias(FunctionName=name, Name="snappy", FunctionVersion="1")
    lam.create_alias(
        FunctionName=name,
        Name="canary",
        FunctionVersion="2",
        RoutingConfig={"AdditionalVersionWeights": {"1": 0.1}},
    )
    put = lam.put_provisioned_concurrency_config
    for qualifier in ("1", "snappy", "canary"):
        assert refusal(
            put, FunctionName=name, Qualifier=qualifier, ProvisionedConcurrentExecutions=1
        ) == ("InvalidParameterValueException", MSG_PROVISIONED, 400)
    with pytest.raises(ClientError) as caught:
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="1")
    assert caught.value.response["Error"]["Code"] == "ProvisionedConcurrencyConfigNotFoundException"
    # A version without SnapStart still takes it.
    out = put(FunctionName=name, Qualifier="2", ProvisionedConcurrentExecutions=1)
    assert out["RequestedProvisionedConcurrentExecutions"] == 1
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="2")


def test_a_restart_keeps_the_setting(daemon_factory: Callable[[], Daemon]) -> None:
    d = daemon_factory()
    d.start()
    try:
        lam = d.lambda_client()
        create_with(lam, "kept", SnapStart=ON)
        lam.publish_version(FunctionName="kept")
        lam.update_function_configuration(FunctionName="kept", SnapStart=OFF)
        create_with(lam, "plain")
        assert d.stop() == 0, d.log()
        d.start()
        lam = d.lambda_client()
        assert snap(lam.get_function_configuration(FunctionName="kept")) == SHOWN_NEVER_SET
        one = lam.get_function_configuration(FunctionName="kept", Qualifier="1")
        assert snap(one) == SHOWN_ON_VERSION
        assert snap(lam.get_function_configuration(FunctionName="plain")) == SHOWN_NEVER_SET
        assert refusal(
            lam.put_provisioned_concurrency_config,
            FunctionName="kept",
            Qualifier="1",
            ProvisionedConcurrentExecutions=1,
        ) == ("InvalidParameterValueException", MSG_PROVISIONED, 400)
    finally:
        d.stop()
