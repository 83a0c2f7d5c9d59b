"""The schedule service over time, under trio's autojump clock: fires on time, never twice,
no burst after a restart, retries and dead letters, DISABLED, at() and DELETE."""

from __future__ import annotations

import json
import random

import pytest
import trio
import trio.testing

from engine.errors import ResourceNotFoundException, TooManyRequestsException
from tests.unit.engine.scheduler.conftest import (
    EPOCH_S,
    QUEUE_ARN,
    Harness,
    schedule_params,
)

THROTTLED = TooManyRequestsException("Rate Exceeded.", reason="ConcurrentInvocationLimitExceeded")


def at_in(seconds: float) -> str:
    """An at() expression `seconds` after the epoch of the tests (UTC)."""
    import datetime as dt

    moment = dt.datetime.fromtimestamp(EPOCH_S + seconds, dt.UTC)
    return f"at({moment.strftime('%Y-%m-%dT%H:%M:%S')})"


async def test_rate_fires_at_creation_then_on_every_tick_once(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        await service.catalog.create(schedule_params("every-minute", "rate(1 minute)"))
        await trio.sleep(180.5)
        assert harness.fire.times() == pytest.approx([0, 60, 120, 180], abs=0.01)
        assert service.stats.fired == service.stats.delivered == 4
    assert [call[1:3] for call in harness.fire.calls] == [("fn", None)] * 4


async def test_cron_fires_on_its_minutes_in_its_zone(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        await service.catalog.create(schedule_params("five", "cron(0/5 * * * ? *)"))
        # 10:00 in Tokyo (UTC+9) is 01:00Z
        await service.catalog.create(
            schedule_params("tokyo", "cron(0 10 * * ? *)", ScheduleExpressionTimezone="Asia/Tokyo")
        )
        await trio.sleep(3_600.5)
    fired: dict[str, list[float]] = {}
    for when, _, _, payload in harness.fire.calls:
        name = json.loads(payload)["resources"][0].rpartition("/")[2]
        fired.setdefault(name, []).append(when - EPOCH_S)
    assert fired["five"] == pytest.approx([300.0 * i for i in range(13)], abs=0.01)
    assert fired["tokyo"] == pytest.approx([3_600], abs=0.01)


async def test_qualified_function_and_input_sent_verbatim(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    body = '{"greeting": "hé", "when": "<aws.scheduler.scheduled-time>", "n": 1.50}'
    async with harness.open() as service:
        await service.catalog.create(
            schedule_params(
                "q",
                at_in(30),
                Target={
                    "Arn": "arn:aws:lambda:us-east-1:000000000000:function:fn:live",
                    "Input": body,
                },
            )
        )
        await trio.sleep(31)
    ((when, name, qualifier, payload),) = harness.fire.calls
    assert (when - EPOCH_S, name, qualifier) == (30, "fn", "live")
    assert (
        payload == body.replace("<aws.scheduler.scheduled-time>", "2024-01-01T00:00:30Z").encode()
    )


async def test_default_payload_without_input(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        await service.catalog.create(schedule_params("plain", at_in(60)))
        await trio.sleep(61)
    event = json.loads(harness.fire.calls[0][3])
    assert event["detail-type"] == "Scheduled Event"
    assert event["source"] == "aws.scheduler"
    assert event["detail"] == "{}"
    assert event["time"] == "2024-01-01T00:01:00Z"
    assert event["resources"] == ["arn:aws:scheduler:us-east-1:000000000000:schedule/default/plain"]
    assert event["account"] == "000000000000" and event["region"] == "us-east-1"


async def test_restart_never_fires_a_tick_twice(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        await service.catalog.create(schedule_params("r", "rate(1 minute)"))
        await trio.sleep(0.5)
    assert harness.fire.times() == pytest.approx([0], abs=0.01)
    async with harness.open():  # the same second: tick 0 is marked fired on disk
        await trio.sleep(59)
        assert len(harness.fire.calls) == 1
        await trio.sleep(1)
    assert harness.fire.times() == pytest.approx([0, 60], abs=0.01)


async def test_missed_ticks_are_not_replayed_after_a_long_stop(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        await service.catalog.create(schedule_params("r", "rate(1 minute)"))
        await trio.sleep(61)
    assert len(harness.fire.calls) == 2
    harness.clock.offset_s = 3_600 - 61 + 30  # down for an hour: back at 01:00:30
    async with harness.open() as service:
        await trio.sleep(1)
        # the tick of 01:00:00 is within the 60 s AWS allows itself: it fires, alone
        assert harness.fire.times()[2:] == pytest.approx([3_600 + 30], abs=0.01)
        await trio.sleep(59.5)
        assert harness.fire.times()[2:] == pytest.approx([3_630, 3_660], abs=0.01)
        assert service.stats.missed == 0


async def test_a_late_timer_skips_to_the_next_tick(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        await service.catalog.create(schedule_params("r", "rate(10 minutes)"))
        await trio.sleep(1)
        harness.clock.offset_s = 1_000  # the wall clock jumps (a suspended host)
        await trio.sleep(900)  # the timer wakes at 1,600 for the tick of 600: too late
        assert service.stats.missed == 1
    assert harness.fire.times() == pytest.approx([0, 1_800], abs=0.01)


async def test_one_time_missed_while_down_fires_once_at_start(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        await service.catalog.create(schedule_params("once", at_in(100)))
        await trio.sleep(10)
    harness.clock.offset_s = 5_000
    async with harness.open():
        await trio.sleep(1)
    assert harness.fire.times() == pytest.approx([5_010], abs=0.01)
    async with harness.open() as service:
        await trio.sleep(600)
        assert service.catalog.get(None, "once").last_fired == EPOCH_S + 100
    assert len(harness.fire.calls) == 1


async def test_at_with_delete_fires_then_is_deleted(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        await service.catalog.create(
            schedule_params("gone", at_in(90), ActionAfterCompletion="DELETE")
        )
        await service.catalog.create(schedule_params("kept", at_in(90)))
        await trio.sleep(89)
        assert set(service.catalog.schedules) == {("default", "gone"), ("default", "kept")}
        await trio.sleep(2)
        assert set(service.catalog.schedules) == {("default", "kept")}
        await trio.sleep(3_600)
    assert harness.fire.times() == pytest.approx([90, 90], abs=0.01)
    async with harness.open() as service:
        assert set(service.catalog.schedules) == {("default", "kept")}
        await trio.sleep(60)
    assert len(harness.fire.calls) == 2


async def test_recurring_with_end_date_and_delete(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        await service.catalog.create(
            schedule_params(
                "ends",
                "rate(1 minute)",
                StartDate=EPOCH_S + 120,
                EndDate=EPOCH_S + 300,
                ActionAfterCompletion="DELETE",
            )
        )
        await trio.sleep(1_000)
        assert service.catalog.schedules == {}
    assert harness.fire.times() == pytest.approx([120, 180, 240, 300], abs=0.01)


async def test_disabled_does_not_fire_until_enabled(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        params = schedule_params("d", "rate(1 minute)", State="DISABLED")
        await service.catalog.create(params)
        await trio.sleep(600.5)
        assert harness.fire.calls == []
        await service.catalog.update({**params, "State": "ENABLED"})
        await trio.sleep(60)
        await service.catalog.update({**params, "State": "DISABLED"})
        await trio.sleep(600)
    # enabled at 600.5: its tick of 600 is within this second's grace, then 660
    assert harness.fire.times() == pytest.approx([600.5, 660], abs=0.01)


async def test_deleted_schedule_stops(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        await service.catalog.create(schedule_params("x", "rate(1 minute)"))
        await trio.sleep(30)
        await service.catalog.delete(None, "x")
        await trio.sleep(600)
    assert len(harness.fire.calls) == 1


async def test_flexible_window_fires_at_a_random_moment_within_it(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    window = {"Mode": "FLEXIBLE", "MaximumWindowInMinutes": 10}
    async with harness.open() as service:
        await service.catalog.create(schedule_params("f", at_in(60), FlexibleTimeWindow=window))
        await trio.sleep(700)
    expected = 60 + random.Random(harness.seed).uniform(0, 600)
    assert harness.fire.times() == pytest.approx([expected], abs=0.01)
    assert json.loads(harness.fire.calls[0][3])["time"] == "2024-01-01T00:01:00Z"


async def test_refusals_are_retried_with_backoff_then_dead_lettered(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    harness.fire.always = THROTTLED
    retry = {"MaximumRetryAttempts": 3, "MaximumEventAgeInSeconds": 3_600}
    target = {"RetryPolicy": retry, "DeadLetterConfig": {"Arn": QUEUE_ARN}, "Input": '{"k": 1}'}
    async with harness.open() as service:
        await service.catalog.create(schedule_params("r", at_in(10), Target=target))
        await trio.sleep(100)
        assert (service.stats.retried, service.stats.dead_lettered) == (3, 1)
    assert harness.fire.times() == pytest.approx([10, 11, 13, 17], abs=0.01)
    ((queue, body, attributes),) = harness.queues.sent
    assert (queue, body) == (QUEUE_ARN, '{"k": 1}')
    values = {k: v["StringValue"] for k, v in attributes.items()}
    assert {v["DataType"] for v in attributes.values()} == {"String"}
    assert values == {
        "ERROR_CODE": "TooManyRequestsException",
        "ERROR_MESSAGE": "Rate Exceeded.",
        "EXECUTION_ID": values["EXECUTION_ID"],
        "EXHAUSTED_RETRY_CONDITION": "MaximumRetryAttempts",
        "IS_PAYLOAD_TRUNCATED": "false",
        "RETRY_ATTEMPTS": "3",
        "SCHEDULED_TIME": "2024-01-01T00:00:10Z",
        "SCHEDULE_ARN": "arn:aws:scheduler:us-east-1:000000000000:schedule/default/r",
        "TARGET_ARN": "arn:aws:lambda:us-east-1:000000000000:function:fn",
    }


async def test_retries_end_at_the_event_age(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    harness.fire.always = THROTTLED
    target = {
        "RetryPolicy": {"MaximumEventAgeInSeconds": 60},
        "DeadLetterConfig": {"Arn": QUEUE_ARN},
    }
    await harness_create(harness, target)
    # 0, +1, +2, +4, +8, +16 (31 s); the next at +32 would be 63 s after the tick
    assert harness.fire.times() == pytest.approx([0, 1, 3, 7, 15, 31], abs=0.01)
    ((_, _, attributes),) = harness.queues.sent
    assert attributes["EXHAUSTED_RETRY_CONDITION"]["StringValue"] == "MaximumEventAgeInSeconds"
    assert attributes["RETRY_ATTEMPTS"]["StringValue"] == "5"


async def harness_create(harness: Harness, target: dict[str, object]) -> None:
    """Create an at() schedule due now through a service opened by the caller, and let it run."""
    async with harness.open() as service:
        await service.catalog.create(schedule_params("r", at_in(0), Target=target))
        await trio.sleep(200)


async def test_a_missing_function_is_not_retried(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    harness.fire.always = ResourceNotFoundException("Function not found: fn")
    await harness_create(harness, {"DeadLetterConfig": {"Arn": QUEUE_ARN}})
    assert len(harness.fire.calls) == 1
    ((_, _, attributes),) = harness.queues.sent
    assert "EXHAUSTED_RETRY_CONDITION" not in attributes
    assert attributes["ERROR_CODE"]["StringValue"] == "ResourceNotFoundException"
    assert attributes["RETRY_ATTEMPTS"]["StringValue"] == "0"


async def test_without_a_queue_or_with_a_missing_one_the_tick_is_dropped(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    harness.fire.always = ResourceNotFoundException("Function not found: fn")
    missing = "arn:aws:sqs:us-east-1:000000000000:nowhere"
    async with harness.open() as service:
        await service.catalog.create(schedule_params("a", at_in(0)))
        await service.catalog.create(
            schedule_params("b", at_in(0), Target={"DeadLetterConfig": {"Arn": missing}})
        )
        await trio.sleep(5)
        assert (service.stats.dropped, service.stats.dead_lettered) == (2, 0)
    assert harness.queues.sent == []


async def test_a_waiting_retry_survives_a_restart(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    harness.fire.errors = [THROTTLED, THROTTLED, THROTTLED]
    async with harness.open() as service:
        await service.catalog.create(schedule_params("r", at_in(0)))
        await trio.sleep(2)  # attempts at 0 and 1; the next is due at 3
    assert harness.fire.times() == pytest.approx([0, 1], abs=0.01)
    async with harness.open() as service:
        await trio.sleep(10)
        assert service.stats.delivered == 1
    assert harness.fire.times() == pytest.approx([0, 1, 3, 7], abs=0.01)
    # the same execution on every attempt
    ids = {json.loads(call[3])["id"] for call in harness.fire.calls}
    assert len(ids) == 1
    async with harness.open():
        await trio.sleep(100)
    assert len(harness.fire.calls) == 4


async def test_update_keeps_what_fired(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        params = schedule_params("u", "rate(1 minute)")
        await service.catalog.create(params)
        await trio.sleep(0.5)
        await service.catalog.update({**params, "Description": "changed"})
        await trio.sleep(60)
    assert harness.fire.times() == pytest.approx([0, 60], abs=0.01)


async def test_groups_survive_a_restart_and_take_their_schedules_with_them(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        await service.catalog.create_group("team", {"owner": "me"})
        await service.catalog.create(schedule_params("s", "rate(1 hour)", GroupName="team"))
    async with harness.open() as service:
        assert service.catalog.group("team").tags == {"owner": "me"}
        assert ("team", "s") in service.catalog.schedules
        await service.catalog.delete_group("team")
        await trio.sleep(7_200)
    async with harness.open() as service:
        assert set(service.catalog.groups) == {"default"}
        assert service.catalog.schedules == {}
    assert len(harness.fire.calls) == 1  # its tick at creation only


async def test_the_timer_sleeps_between_ticks(
    harness: Harness, autojump_clock: trio.testing.MockClock
) -> None:
    async with harness.open() as service:
        await service.catalog.create(schedule_params("hourly", "rate(1 hour)"))
        await service.catalog.create(schedule_params("off", "rate(1 minute)", State="DISABLED"))
        start = service.stats.wakeups
        await trio.sleep(86_400 - 1)
        assert service.stats.fired == 24
        # one turn per tick: no polling, and the disabled schedule costs nothing
        assert service.stats.wakeups - start <= 24 + 1
