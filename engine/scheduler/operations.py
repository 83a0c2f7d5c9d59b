"""One handler per Scheduler operation: the members (by model name, already checked against
the model) in, the answer's members out. The work is the catalog's."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Final

from engine.scheduler.catalog import Catalog, tag_list, tag_map
from engine.scheduler.service import ScheduleService

Params = dict[str, Any]
Handler = Callable[[ScheduleService, Params], Awaitable[Params]]


def _paged(key: str, items: list[Params], token: str | None) -> Params:
    return {key: items, **({"NextToken": token} if token is not None else {})}


async def create_schedule(service: ScheduleService, params: Params) -> Params:
    schedule = await service.catalog.create(params)
    return {"ScheduleArn": schedule.arn(service.region)}


async def get_schedule(service: ScheduleService, params: Params) -> Params:
    return service.catalog.get(params.get("GroupName"), params["Name"]).describe(service.region)


async def update_schedule(service: ScheduleService, params: Params) -> Params:
    schedule = await service.catalog.update(params)
    return {"ScheduleArn": schedule.arn(service.region)}


async def delete_schedule(service: ScheduleService, params: Params) -> Params:
    await service.catalog.delete(params.get("GroupName"), params["Name"])
    return {}


async def list_schedules(service: ScheduleService, params: Params) -> Params:
    found, token = service.catalog.list(
        group=params.get("GroupName"),
        prefix=params.get("NamePrefix"),
        state=params.get("State"),
        token=params.get("NextToken"),
        limit=params.get("MaxResults"),
    )
    return _paged("Schedules", [s.summary(service.region) for s in found], token)


async def create_schedule_group(service: ScheduleService, params: Params) -> Params:
    group = await service.catalog.create_group(params["Name"], tag_map(params.get("Tags") or []))
    return {"ScheduleGroupArn": group.summary(service.region)["Arn"]}


async def get_schedule_group(service: ScheduleService, params: Params) -> Params:
    return service.catalog.group(params["Name"]).summary(service.region)


async def delete_schedule_group(service: ScheduleService, params: Params) -> Params:
    await service.catalog.delete_group(params["Name"])
    return {}


async def list_schedule_groups(service: ScheduleService, params: Params) -> Params:
    catalog: Catalog = service.catalog
    found, token = catalog.list_groups(
        params.get("NamePrefix"), params.get("NextToken"), params.get("MaxResults")
    )
    return _paged("ScheduleGroups", [g.summary(service.region) for g in found], token)


async def tag_resource(service: ScheduleService, params: Params) -> Params:
    new = tag_map(params["Tags"])
    await service.catalog.change_tags(params["ResourceArn"], lambda tags: tags.update(new))
    return {}


async def untag_resource(service: ScheduleService, params: Params) -> Params:
    keys = params["TagKeys"]

    def drop(tags: dict[str, str]) -> None:
        for key in keys:
            tags.pop(key, None)

    await service.catalog.change_tags(params["ResourceArn"], drop)
    return {}


async def list_tags_for_resource(service: ScheduleService, params: Params) -> Params:
    return {"Tags": tag_list(service.catalog.group_of_arn(params["ResourceArn"]).tags)}


HANDLERS: Final[dict[str, Handler]] = {
    "CreateSchedule": create_schedule,
    "GetSchedule": get_schedule,
    "UpdateSchedule": update_schedule,
    "DeleteSchedule": delete_schedule,
    "ListSchedules": list_schedules,
    "CreateScheduleGroup": create_schedule_group,
    "GetScheduleGroup": get_schedule_group,
    "DeleteScheduleGroup": delete_schedule_group,
    "ListScheduleGroups": list_schedule_groups,
    "TagResource": tag_resource,
    "UntagResource": untag_resource,
    "ListTagsForResource": list_tags_for_resource,
}
