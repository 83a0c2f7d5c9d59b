"""`SchedulerApp` on the wire: requests serialized and answers parsed by botocore's own
rest-json code, as boto3's scheduler client sends and reads them."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from typing import Any

import pytest

from engine.scheduler.api import SchedulerApp
from tests.unit.engine.scheduler.conftest import FUNCTION_ARN, QUEUE_ARN, REGION, ROLE, Harness
from tests.unit.engine.scheduler.helpers import Answer, call, send_raw

GROUP_ARN = "arn:aws:scheduler:us-east-1:000000000000:schedule-group/"


@pytest.fixture
async def app(harness: Harness) -> AsyncIterator[SchedulerApp]:
    async with harness.open() as service:
        yield SchedulerApp(service, region=REGION)


def target(**extra: Any) -> dict[str, Any]:
    return {"Arn": FUNCTION_ARN, "RoleArn": ROLE, **extra}


async def create(
    app: SchedulerApp, name: str, expression: str = "rate(1 hour)", **extra: Any
) -> Answer:
    return await call(
        app,
        "CreateSchedule",
        Name=name,
        ScheduleExpression=expression,
        FlexibleTimeWindow=extra.pop("FlexibleTimeWindow", {"Mode": "OFF"}),
        Target=extra.pop("Target", target()),
        **extra,
    )


async def ok(app: SchedulerApp, operation: str, **params: Any) -> dict[str, Any]:
    answer = await call(app, operation, **params)
    assert answer.status == 200, answer.raw
    assert answer.headers["x-amzn-requestid"]
    return answer.parsed


async def test_create_and_get_with_aws_defaults(app: SchedulerApp) -> None:
    answer = await create(app, "nightly", "cron(0 2 * * ? *)", Description="backup")
    assert answer.status == 200
    arn = "arn:aws:scheduler:us-east-1:000000000000:schedule/default/nightly"
    assert answer.parsed["ScheduleArn"] == arn
    got = await ok(app, "GetSchedule", Name="nightly")
    got.pop("ResponseMetadata")
    created, modified = got.pop("CreationDate"), got.pop("LastModificationDate")
    assert isinstance(created, dt.datetime) and created == modified
    assert got == {
        "ActionAfterCompletion": "NONE",
        "Arn": arn,
        "Description": "backup",
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "GroupName": "default",
        "Name": "nightly",
        "ScheduleExpression": "cron(0 2 * * ? *)",
        "ScheduleExpressionTimezone": "UTC",
        "State": "ENABLED",
        "Target": {
            "Arn": FUNCTION_ARN,
            "RetryPolicy": {"MaximumEventAgeInSeconds": 86400, "MaximumRetryAttempts": 185},
            "RoleArn": ROLE,
        },
    }


async def test_every_member_round_trips(app: SchedulerApp) -> None:
    start = dt.datetime(2030, 1, 1, tzinfo=dt.UTC)
    end = dt.datetime(2030, 6, 1, tzinfo=dt.UTC)
    full_target = target(
        Input='{"a": 1}',
        RetryPolicy={"MaximumEventAgeInSeconds": 60, "MaximumRetryAttempts": 0},
        DeadLetterConfig={"Arn": QUEUE_ARN},
    )
    kms = "arn:aws:kms:us-east-1:000000000000:key/abc"
    await create(
        app,
        "full",
        "rate(5 minutes)",
        StartDate=start,
        EndDate=end,
        ScheduleExpressionTimezone="Europe/Paris",
        State="DISABLED",
        KmsKeyArn=kms,
        FlexibleTimeWindow={"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15},
        ActionAfterCompletion="DELETE",
        Target=full_target,
    )
    got = await ok(app, "GetSchedule", Name="full")
    assert (got["StartDate"], got["EndDate"]) == (start, end)
    assert got["Target"] == full_target
    assert got["FlexibleTimeWindow"] == {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 15}
    assert (got["State"], got["KmsKeyArn"], got["ActionAfterCompletion"]) == (
        "DISABLED",
        kms,
        "DELETE",
    )
    assert got["ScheduleExpressionTimezone"] == "Europe/Paris"


async def test_errors_in_schedulers_shapes(app: SchedulerApp) -> None:
    await create(app, "taken")
    conflict = await create(app, "taken")
    assert (conflict.status, conflict.code) == (409, "ConflictException")
    assert conflict.message == "Schedule taken already exists."
    assert conflict.headers["x-amzn-errortype"] == "ConflictException"
    assert conflict.raw == {"Message": "Schedule taken already exists."}

    missing = await call(app, "GetSchedule", Name="nope")
    assert (missing.status, missing.code) == (404, "ResourceNotFoundException")
    assert missing.message == "Schedule nope does not exist."
    for operation in ("DeleteSchedule",):
        assert (await call(app, operation, Name="nope")).message == "Schedule nope does not exist."
    update = await call(
        app,
        "UpdateSchedule",
        Name="nope",
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=target(),
    )
    assert (update.status, update.message) == (404, "Schedule nope does not exist.")

    bad = await create(app, "bad", "cron(0 1 * * * *)")
    assert (bad.status, bad.code, bad.message) == (
        400,
        "ValidationException",
        "Invalid Schedule Expression cron(0 1 * * * *).",
    )


async def test_the_models_constraints_in_aws_words(app: SchedulerApp) -> None:
    answer = await create(app, "x" * 65, Target=target(RetryPolicy={"MaximumRetryAttempts": 186}))
    assert answer.status == 400 and answer.code == "ValidationException"
    assert answer.message == (
        "2 validation errors detected: Value '" + "x" * 65 + "' at 'name' failed to satisfy "
        "constraint: Member must have length less than or equal to 64; Value '186' at "
        "'target.retryPolicy.maximumRetryAttempts' failed to satisfy constraint: Member must "
        "have value less than or equal to 185"
    )
    state = await create(app, "s", State="PAUSED")
    assert "Member must satisfy enum value set: [ENABLED, DISABLED]" in state.message


async def test_only_this_hosts_functions_are_targets(app: SchedulerApp) -> None:
    for arn in (
        "arn:aws:sqs:us-east-1:000000000000:q",
        "arn:aws:lambda:eu-west-1:000000000000:function:fn",
        "arn:aws:lambda:us-east-1:123456789012:function:fn",
    ):
        answer = await create(app, "t", Target={"Arn": arn, "RoleArn": ROLE})
        assert (answer.status, answer.code) == (400, "ValidationException"), arn
        assert "is not a Lambda function of this host" in answer.message
    qualified = await create(app, "q", Target=target(Arn=FUNCTION_ARN + ":$LATEST"))
    assert qualified.status == 200


async def test_update_replaces_the_whole_schedule(app: SchedulerApp) -> None:
    await create(app, "u", Description="old", Target=target(Input="{}"))
    before = await ok(app, "GetSchedule", Name="u")
    await ok(
        app,
        "UpdateSchedule",
        Name="u",
        ScheduleExpression="rate(2 hours)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target=target(),
    )
    after = await ok(app, "GetSchedule", Name="u")
    assert "Description" not in after and "Input" not in after["Target"]
    assert after["ScheduleExpression"] == "rate(2 hours)"
    assert after["CreationDate"] == before["CreationDate"]
    assert after["LastModificationDate"] >= before["LastModificationDate"]


async def test_list_filters_and_pages(app: SchedulerApp) -> None:
    await ok(app, "CreateScheduleGroup", Name="team")
    for name in ("a1", "a2", "a3", "b1"):
        await create(app, name)
    await create(app, "a4", State="DISABLED")
    await create(app, "a5", GroupName="team")
    names: list[str] = []
    token: dict[str, str] = {}
    for _ in range(10):
        page = await ok(app, "ListSchedules", MaxResults=2, **token)
        names += [s["Name"] for s in page["Schedules"]]
        if "NextToken" not in page:
            break
        token = {"NextToken": page["NextToken"]}
    assert names == ["a1", "a2", "a3", "a4", "b1", "a5"]
    prefixed = await ok(app, "ListSchedules", NamePrefix="a", State="ENABLED", GroupName="default")
    assert [s["Name"] for s in prefixed["Schedules"]] == ["a1", "a2", "a3"]
    summary = prefixed["Schedules"][0]
    assert set(summary) == {
        "Arn",
        "Name",
        "GroupName",
        "State",
        "CreationDate",
        "LastModificationDate",
        "Target",
    }
    assert summary["Target"] == {"Arn": FUNCTION_ARN}
    missing = await call(app, "ListSchedules", GroupName="nope")
    assert (missing.status, missing.code) == (404, "ResourceNotFoundException")


async def test_groups(app: SchedulerApp) -> None:
    default = await ok(app, "GetScheduleGroup", Name="default")
    assert (default["Arn"], default["State"]) == (GROUP_ARN + "default", "ACTIVE")
    created = await ok(app, "CreateScheduleGroup", Name="team")
    assert created["ScheduleGroupArn"] == GROUP_ARN + "team"
    again = await call(app, "CreateScheduleGroup", Name="team")
    assert (again.status, again.code) == (409, "ConflictException")
    await create(app, "in-team", GroupName="team")
    assert (await call(app, "GetSchedule", Name="in-team")).status == 404
    assert (await ok(app, "GetSchedule", Name="in-team", GroupName="team"))["GroupName"] == "team"
    groups = await ok(app, "ListScheduleGroups")
    assert [g["Name"] for g in groups["ScheduleGroups"]] == ["default", "team"]
    assert [
        g["Name"] for g in (await ok(app, "ListScheduleGroups", NamePrefix="te"))["ScheduleGroups"]
    ] == ["team"]
    await ok(app, "DeleteScheduleGroup", Name="team")
    gone = await call(app, "GetScheduleGroup", Name="team")
    assert (gone.status, gone.code) == (404, "ResourceNotFoundException")
    assert (await call(app, "GetSchedule", Name="in-team", GroupName="team")).status == 404
    into_missing = await create(app, "x", GroupName="team")
    assert (into_missing.status, into_missing.code) == (404, "ResourceNotFoundException")
    for operation in ("CreateScheduleGroup", "DeleteScheduleGroup"):
        refused = await call(app, operation, Name="default")
        assert (refused.status, refused.code) == (400, "ValidationException")


async def test_tags_on_groups(app: SchedulerApp) -> None:
    await ok(app, "CreateScheduleGroup", Name="g", Tags=[{"Key": "a", "Value": "1"}])
    arn = GROUP_ARN + "g"
    await ok(
        app,
        "TagResource",
        ResourceArn=arn,
        Tags=[{"Key": "b", "Value": "2"}, {"Key": "c", "Value": "3"}],
    )
    await ok(app, "UntagResource", ResourceArn=arn, TagKeys=["a", "c"])
    assert (await ok(app, "ListTagsForResource", ResourceArn=arn))["Tags"] == [
        {"Key": "b", "Value": "2"}
    ]
    missing = await call(app, "ListTagsForResource", ResourceArn=GROUP_ARN + "nope")
    assert (missing.status, missing.code) == (404, "ResourceNotFoundException")


async def test_protocol_errors(app: SchedulerApp) -> None:
    unknown = await send_raw(app, "PATCH", "/schedules/x", {}, b"")
    assert (unknown.status, unknown.headers["x-amzn-errortype"]) == (
        404,
        "UnknownOperationException",
    )
    not_json = await send_raw(app, "POST", "/schedules/x", {}, b"{nope")
    assert (not_json.status, not_json.headers["x-amzn-errortype"]) == (
        400,
        "SerializationException",
    )
    mistyped = await send_raw(
        app,
        "POST",
        "/schedules/x",
        {},
        b'{"ScheduleExpression": 5, "FlexibleTimeWindow": {"Mode": "OFF"}, "Target": {}}',
    )
    assert mistyped.headers["x-amzn-errortype"] == "SerializationException"
    assert mistyped.raw == {
        "Message": "Value of ScheduleExpression cannot be read as a JSON string."
    }
