"""EventInvokeConfig and DeadLetterConfig through the real boto3 client against a real daemon:
every operation, Put's overwrite against Update's merge, AWS's errors, versions and aliases,
deletion with the function, a dead-letter queue pinned in a published version."""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from tests.integration.conftest import Daemon

pytestmark = pytest.mark.privileged

REGION = "us-east-1"
ACCOUNT = "000000000000"
CODE = "def handler(event, context):\n    return event\n"
QUEUE = f"arn:aws:sqs:{REGION}:{ACCOUNT}:failures"
EMPTY: dict[str, Any] = {"OnSuccess": {}, "OnFailure": {}}


@pytest.fixture(scope="module")
def lam(daemon: Daemon) -> Any:
    return daemon.lambda_client()


def arn(name: str, qualifier: str | None = None) -> str:
    base = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    return f"{base}:{qualifier}" if qualifier else base


def error(call: Callable[..., Any], **kwargs: Any) -> tuple[str, int, str]:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**kwargs)
    err = caught.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"], err["Error"]["Message"]


def shown(answer: dict[str, Any]) -> dict[str, Any]:
    """The answer without its metadata and LastModified (checked apart)."""
    return {k: v for k, v in answer.items() if k not in ("ResponseMetadata", "LastModified")}


def test_put_get_update_delete_list(lam: Any, deploy: Callable[..., str]) -> None:
    name = deploy(CODE)
    put = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=1)
    assert put["ResponseMetadata"]["HTTPStatusCode"] == 200
    assert isinstance(put["LastModified"], datetime.datetime)
    assert shown(put) == {
        "FunctionArn": arn(name, "$LATEST"),
        "MaximumRetryAttempts": 1,
        "DestinationConfig": EMPTY,
    }
    got = lam.get_function_event_invoke_config(FunctionName=name)
    assert shown(got) == shown(put)
    assert shown(lam.get_function_event_invoke_config(FunctionName=name, Qualifier="$LATEST")) == (
        shown(put)
    )

    # Update merges: the retries stay, the age is added.
    updated = lam.update_function_event_invoke_config(
        FunctionName=name, MaximumEventAgeInSeconds=60
    )
    assert updated["MaximumRetryAttempts"] == 1
    assert updated["MaximumEventAgeInSeconds"] == 60
    # Put overwrites: what it leaves out is gone.
    again = lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    assert "MaximumEventAgeInSeconds" not in again
    assert again["MaximumRetryAttempts"] == 0

    listed = lam.list_function_event_invoke_configs(FunctionName=name)
    assert [shown(c) for c in listed["FunctionEventInvokeConfigs"]] == [shown(again)]
    assert "NextMarker" not in listed

    deleted = lam.delete_function_event_invoke_config(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] == 204
    missing = f"The function {arn(name, '$LATEST')} doesn't have an EventInvokeConfig"
    assert error(lam.get_function_event_invoke_config, FunctionName=name) == (
        "ResourceNotFoundException",
        404,
        missing,
    )
    assert error(lam.delete_function_event_invoke_config, FunctionName=name)[2] == missing
    assert error(
        lam.update_function_event_invoke_config, FunctionName=name, MaximumRetryAttempts=1
    ) == ("ResourceNotFoundException", 404, missing)
    assert (
        lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
        == []
    )


def test_destinations(lam: Any, deploy: Callable[..., str]) -> None:
    name = deploy(CODE)
    other = deploy(CODE)
    config = {"OnSuccess": {"Destination": arn(other)}, "OnFailure": {"Destination": QUEUE}}
    put = lam.put_function_event_invoke_config(FunctionName=name, DestinationConfig=config)
    assert put["DestinationConfig"] == config
    assert "MaximumRetryAttempts" not in put

    # Update replaces the destination it names and keeps the other.
    updated = lam.update_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnFailure": {"Destination": arn(other)}}
    )
    assert updated["DestinationConfig"] == {
        "OnSuccess": {"Destination": arn(other)},
        "OnFailure": {"Destination": arn(other)},
    }
    cleared = lam.update_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {}}
    )
    assert cleared["DestinationConfig"] == {
        "OnSuccess": {},
        "OnFailure": {"Destination": arn(other)},
    }
    # A Put with an empty destination sets nothing, but is accepted.
    empty = lam.put_function_event_invoke_config(
        FunctionName=name, DestinationConfig={"OnSuccess": {}}
    )
    assert empty["DestinationConfig"] == EMPTY


@pytest.mark.parametrize(
    ("destination", "message"),
    [
        (arn("doesnotexist"), f"The destination ARN {arn('doesnotexist')} is invalid."),
        (
            f"arn:aws:iam::{ACCOUNT}:role/r",
            "The provided destination config DestinationConfig(onSuccess=OnSuccess("
            f"destination=arn:aws:iam::{ACCOUNT}:role/r), onFailure=null) is invalid.",
        ),
        (
            f"arn:aws:sns:{REGION}:{ACCOUNT}:topic",
            f"The destination ARN arn:aws:sns:{REGION}:{ACCOUNT}:topic is an SNS topic: "
            "lambdalet delivers destinations to Lambda functions and SQS queues only",
        ),
        (
            f"arn:aws:sqs:{REGION}:{ACCOUNT}:bad/name",
            f"The destination ARN arn:aws:sqs:{REGION}:{ACCOUNT}:bad/name is invalid.",
        ),
    ],
)
def test_refused_destinations(
    lam: Any, deploy: Callable[..., str], destination: str, message: str
) -> None:
    name = deploy(CODE)
    assert error(
        lam.put_function_event_invoke_config,
        FunctionName=name,
        DestinationConfig={"OnSuccess": {"Destination": destination}},
    ) == ("InvalidParameterValueException", 400, message)


def test_errors(lam: Any, deploy: Callable[..., str]) -> None:
    name = deploy(CODE)
    assert error(lam.put_function_event_invoke_config, FunctionName="doesnotexist") == (
        "InvalidParameterValueException",
        400,
        "You must specify at least one of error handling or destination setting.",
    )
    no_function = ("ResourceNotFoundException", 404, "The function doesn't exist.")
    for call in (lam.put_function_event_invoke_config, lam.update_function_event_invoke_config):
        assert error(call, FunctionName="doesnotexist", MaximumRetryAttempts=1) == no_function
    assert (
        error(
            lam.put_function_event_invoke_config,
            FunctionName=name,
            Qualifier="nosuchalias",
            MaximumRetryAttempts=1,
        )
        == no_function
    )
    assert error(lam.list_function_event_invoke_configs, FunctionName="doesnotexist") == (
        no_function
    )
    assert error(lam.get_function_event_invoke_config, FunctionName="doesnotexist") == (
        "ResourceNotFoundException",
        404,
        f"The function {arn('doesnotexist', '$LATEST')} doesn't have an EventInvokeConfig",
    )
    assert error(
        lam.put_function_event_invoke_config,
        FunctionName=name,
        DestinationConfig={"OnFailure": {"Destination": arn(name)}},
    ) == (
        "InvalidParameterValueException",
        400,
        "You can't specify the function as a destination for itself.",
    )
    assert error(
        lam.put_function_event_invoke_config,
        FunctionName=f"{name}:$LATEST",
        Qualifier="1",
        MaximumRetryAttempts=1,
    ) == (
        "InvalidParameterValueException",
        400,
        "The derived qualifier from the function name does not match the specified qualifier.",
    )
    code, status, message = error(
        lam.put_function_event_invoke_config, FunctionName=name, MaximumRetryAttempts=3
    )
    assert (code, status) == ("ValidationException", 400)
    assert "maximumRetryAttempts" in message
    code, status, _ = error(
        lam.put_function_event_invoke_config, FunctionName=name, MaximumEventAgeInSeconds=21601
    )
    assert (code, status) == ("ValidationException", 400)
    code, _, _ = error(lam.list_function_event_invoke_configs, FunctionName=name, MaxItems=51)
    assert code == "ValidationException"


def test_versions_aliases_paging_and_deletion(lam: Any, deploy: Callable[..., str]) -> None:
    name = deploy(CODE)
    version = lam.publish_version(FunctionName=name)["Version"]
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
    on_version = lam.put_function_event_invoke_config(
        FunctionName=f"{name}:{version}", MaximumEventAgeInSeconds=120
    )
    assert on_version["FunctionArn"] == arn(name, version)
    on_alias = lam.put_function_event_invoke_config(
        FunctionName=arn(name, "live"), MaximumRetryAttempts=1
    )
    assert on_alias["FunctionArn"] == arn(name, "live")
    assert (
        lam.get_function_event_invoke_config(FunctionName=name, Qualifier="live")[
            "MaximumRetryAttempts"
        ]
        == 1
    )

    every = lam.list_function_event_invoke_configs(FunctionName=name)["FunctionEventInvokeConfigs"]
    assert [c["FunctionArn"] for c in every] == [
        arn(name, "$LATEST"),
        arn(name, version),
        arn(name, "live"),
    ]
    seen: list[str] = []
    marker: str | None = None
    while True:
        page = lam.list_function_event_invoke_configs(
            FunctionName=name, MaxItems=1, **({"Marker": marker} if marker else {})
        )
        seen += [c["FunctionArn"] for c in page["FunctionEventInvokeConfigs"]]
        marker = page.get("NextMarker")
        if not marker:
            break
    assert seen == [c["FunctionArn"] for c in every]

    # Deleting an alias or a version deletes its config; a new alias of that name has none.
    lam.delete_alias(FunctionName=name, Name="live")
    lam.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    assert error(lam.get_function_event_invoke_config, FunctionName=name, Qualifier="live")[0] == (
        "ResourceNotFoundException"
    )
    lam.delete_alias(FunctionName=name, Name="live")
    lam.delete_function(FunctionName=name, Qualifier=version)
    remaining = lam.list_function_event_invoke_configs(FunctionName=name)
    assert [c["FunctionArn"] for c in remaining["FunctionEventInvokeConfigs"]] == [
        arn(name, "$LATEST")
    ]


def test_deleted_with_the_function(lam: Any, daemon: Daemon) -> None:
    name = f"eic-{uuid.uuid4().hex[:10]}"
    for _ in range(2):
        assert daemon.create(name, CODE).status == 201
        assert error(lam.get_function_event_invoke_config, FunctionName=name)[0] == (
            "ResourceNotFoundException"
        )
        lam.put_function_event_invoke_config(FunctionName=name, MaximumRetryAttempts=0)
        lam.delete_function(FunctionName=name)


def test_dead_letter_config(lam: Any, deploy: Callable[..., str]) -> None:
    name = deploy(CODE, DeadLetterConfig={"TargetArn": QUEUE})
    assert lam.get_function_configuration(FunctionName=name)["DeadLetterConfig"] == {
        "TargetArn": QUEUE
    }
    assert lam.get_function(FunctionName=name)["Configuration"]["DeadLetterConfig"] == {
        "TargetArn": QUEUE
    }
    listed = [f for f in lam.list_functions()["Functions"] if f["FunctionName"] == name]
    assert listed[0]["DeadLetterConfig"] == {"TargetArn": QUEUE}

    version = lam.publish_version(FunctionName=name)["Version"]
    other = f"arn:aws:sqs:{REGION}:{ACCOUNT}:other"
    # An empty DeadLetterConfig changes nothing (as on AWS); a new target replaces the old one.
    kept = lam.update_function_configuration(FunctionName=name, DeadLetterConfig={})
    assert kept["DeadLetterConfig"] == {"TargetArn": QUEUE}
    moved = lam.update_function_configuration(
        FunctionName=name, DeadLetterConfig={"TargetArn": other}
    )
    assert moved["DeadLetterConfig"] == {"TargetArn": other}
    # The published version keeps the DLQ it was published with.
    pinned = lam.get_function_configuration(FunctionName=name, Qualifier=version)
    assert pinned["DeadLetterConfig"] == {"TargetArn": QUEUE}
    # A DLQ change is a change: publishing makes a new version.
    assert lam.publish_version(FunctionName=name)["Version"] != version

    removed = lam.update_function_configuration(
        FunctionName=name, DeadLetterConfig={"TargetArn": ""}
    )
    assert "DeadLetterConfig" not in removed
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=name)

    assert error(
        lam.update_function_configuration,
        FunctionName=name,
        DeadLetterConfig={"TargetArn": f"arn:aws:sns:{REGION}:{ACCOUNT}:topic"},
    )[:2] == ("InvalidParameterValueException", 400)
    assert error(
        lam.update_function_configuration,
        FunctionName=name,
        DeadLetterConfig={"TargetArn": arn(name)},
    ) == (
        "InvalidParameterValueException",
        400,
        "Invalid dead letter queue ARN: The service specified by the TargetArn is not supported "
        "for dead letter configuration.",
    )


def test_no_dead_letter_config_is_shown_when_unset(lam: Any, deploy: Callable[..., str]) -> None:
    name = deploy(CODE)
    assert "DeadLetterConfig" not in lam.get_function_configuration(FunctionName=name)
