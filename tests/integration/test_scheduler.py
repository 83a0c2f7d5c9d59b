"""EventBridge Scheduler against a real daemon, with the real boto3 scheduler client.

Schedules fire through the daemon's asynchronous invoke; the function prints its event and
the test reads the function's log (``<state_dir>/logs/<function>/*.log``). No test waits for
a minute boundary: one-time ``at()`` schedules a few seconds ahead, and ``rate()`` schedules,
whose first tick is their creation ("starts invoking the target immediately").
"""

from __future__ import annotations

import datetime as dt
import json
import time
import uuid
import zoneinfo
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.conftest import ROLE, Daemon, wait_until

ACCOUNT = "000000000000"
PRINTS_EVENT = """
import json
def handler(event, context):
    print("EVENT", json.dumps(event, sort_keys=True))
    return {}
"""


@pytest.fixture(scope="module")
def sched_daemon(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    d = daemon_factory()
    d.start()
    yield d
    d.stop()


def deploy(daemon: Daemon) -> str:
    name = f"sched-{uuid.uuid4().hex[:8]}"
    resp = daemon.create(name, PRINTS_EVENT)
    assert resp.status == 201, resp.body
    return name


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:us-east-1:{ACCOUNT}:function:{name}"


def events(daemon: Daemon, name: str) -> list[Any]:
    found: list[Any] = []
    for path in sorted((daemon.state_dir / "logs" / name).glob("*.log")):
        for line in path.read_text(errors="replace").splitlines():
            _, marker, text = line.partition("EVENT ")
            if marker:
                found.append(json.loads(text))
    return found


def at(seconds_ahead: float, zone: str = "UTC") -> str:
    """An at() expression `seconds_ahead` from now, in `zone`'s wall-clock time."""
    moment = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=seconds_ahead)
    return f"at({moment.astimezone(zoneinfo.ZoneInfo(zone)).strftime('%Y-%m-%dT%H:%M:%S')})"


def test_at_invokes_the_function_with_its_input_then_deletes_itself(sched_daemon: Daemon) -> None:
    name = deploy(sched_daemon)
    client = sched_daemon.scheduler_client()
    started = time.time()
    arn = client.create_schedule(
        Name=f"once-{name}",
        ScheduleExpression=at(3, "Asia/Tokyo"),
        ScheduleExpressionTimezone="Asia/Tokyo",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": function_arn(name), "RoleArn": ROLE, "Input": '{"hello": "world"}'},
        ActionAfterCompletion="DELETE",
    )["ScheduleArn"]
    assert arn == f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/default/once-{name}"
    assert client.get_schedule(Name=f"once-{name}")["State"] == "ENABLED"
    assert wait_until(lambda: events(sched_daemon, name) != [], 30)
    assert time.time() - started >= 2  # not before its second
    assert events(sched_daemon, name) == [{"hello": "world"}]
    assert wait_until(lambda: not client.list_schedules(NamePrefix=f"once-{name}")["Schedules"], 10)
    with pytest.raises(client.exceptions.ResourceNotFoundException) as gone:
        client.get_schedule(Name=f"once-{name}")
    assert gone.value.response["Error"]["Message"] == f"Schedule once-{name} does not exist."
    time.sleep(2)
    assert len(events(sched_daemon, name)) == 1


def test_rate_fires_at_once_with_schedulers_default_event(sched_daemon: Daemon) -> None:
    name = deploy(sched_daemon)
    client = sched_daemon.scheduler_client()
    client.create_schedule_group(Name=f"g-{name}", Tags=[{"Key": "team", "Value": "a"}])
    client.create_schedule(
        Name="every-hour",
        GroupName=f"g-{name}",
        ScheduleExpression="rate(1 hour)",
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={"Arn": function_arn(name), "RoleArn": ROLE},
    )
    assert wait_until(lambda: events(sched_daemon, name) != [], 30)
    (event,) = events(sched_daemon, name)
    assert event["source"] == "aws.scheduler" and event["detail-type"] == "Scheduled Event"
    assert event["detail"] == "{}"
    assert event["resources"] == [
        f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule/g-{name}/every-hour"
    ]
    group_arn = f"arn:aws:scheduler:us-east-1:{ACCOUNT}:schedule-group/g-{name}"
    assert client.list_tags_for_resource(ResourceArn=group_arn)["Tags"] == [
        {"Key": "team", "Value": "a"}
    ]
    client.delete_schedule_group(Name=f"g-{name}")
    assert client.list_schedules(GroupName="default", NamePrefix="every-hour")["Schedules"] == []


def test_errors_as_aws_answers_them(sched_daemon: Daemon) -> None:
    client = sched_daemon.scheduler_client()
    common: dict[str, Any] = {
        "FlexibleTimeWindow": {"Mode": "OFF"},
        "Target": {"Arn": function_arn("whatever"), "RoleArn": ROLE},
    }
    with pytest.raises(client.exceptions.ValidationException) as bad:
        client.create_schedule(Name="bad", ScheduleExpression="rate(10 seconds)", **common)
    assert bad.value.response["Error"]["Message"] == "Invalid Schedule Expression rate(10 seconds)."
    name = f"dup-{uuid.uuid4().hex[:6]}"
    client.create_schedule(Name=name, ScheduleExpression="cron(0 3 ? * MON-FRI *)", **common)
    with pytest.raises(client.exceptions.ConflictException):
        client.create_schedule(Name=name, ScheduleExpression="rate(1 day)", **common)
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.update_schedule(Name=name + "x", ScheduleExpression="rate(1 day)", **common)
    client.update_schedule(Name=name, ScheduleExpression="rate(2 days)", State="DISABLED", **common)
    got = client.get_schedule(Name=name)
    assert (got["ScheduleExpression"], got["State"]) == ("rate(2 days)", "DISABLED")
    client.delete_schedule(Name=name)


def test_an_undeliverable_tick_goes_to_the_dead_letter_queue(sched_daemon: Daemon) -> None:
    sqs = sched_daemon.sqs_client()
    queue_url = sqs.create_queue(QueueName=f"sched-dlq-{uuid.uuid4().hex[:6]}")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])[
        "Attributes"
    ]["QueueArn"]
    client = sched_daemon.scheduler_client()
    missing = function_arn(f"missing-{uuid.uuid4().hex[:6]}")
    client.create_schedule(
        Name=f"dead-{uuid.uuid4().hex[:6]}",
        ScheduleExpression=at(1),
        FlexibleTimeWindow={"Mode": "OFF"},
        Target={
            "Arn": missing,
            "RoleArn": ROLE,
            "Input": '{"k": "v"}',
            "DeadLetterConfig": {"Arn": queue_arn},
        },
    )
    received: list[Any] = []
    deadline = time.monotonic() + 30
    while not received and time.monotonic() < deadline:
        received = sqs.receive_message(
            QueueUrl=queue_url, MessageAttributeNames=["All"], WaitTimeSeconds=5
        ).get("Messages", [])
    (message,) = received
    assert message["Body"] == '{"k": "v"}'
    attributes = {k: v["StringValue"] for k, v in message["MessageAttributes"].items()}
    assert attributes["ERROR_CODE"] == "ResourceNotFoundException"
    assert attributes["TARGET_ARN"] == missing
    assert attributes["RETRY_ATTEMPTS"] == "0"


def test_a_one_time_schedule_missed_while_stopped_fires_once_after(
    daemon_factory: Callable[[], Daemon],
) -> None:
    daemon = daemon_factory()
    daemon.start()
    try:
        name = deploy(daemon)
        daemon.scheduler_client().create_schedule(
            Name="later",
            ScheduleExpression=at(3),
            FlexibleTimeWindow={"Mode": "OFF"},
            Target={"Arn": function_arn(name), "RoleArn": ROLE, "Input": '{"n": 1}'},
        )
        daemon.stop()
        time.sleep(4)  # its moment passes while the daemon is down
        daemon.start()
        assert wait_until(lambda: events(daemon, name) != [], 30)
        daemon.stop()
        daemon.start()  # it fired: never again
        time.sleep(3)
        assert events(daemon, name) == [{"n": 1}]
        assert daemon.scheduler_client().get_schedule(Name="later")["State"] == "ENABLED"
    finally:
        daemon.stop()
