"""Rest-json requests read from the model: routing by raw path, members from their places."""

from __future__ import annotations

from engine.shapes.model import load_service
from engine.shapes.rest_input import RestRoutes, input_layout, read_input

SCHEDULER = load_service("scheduler")
LAMBDA = load_service("lambda")


def test_routes_match_the_raw_path_and_decode_labels() -> None:
    routes = RestRoutes(SCHEDULER)
    arn = "arn%3Aaws%3Ascheduler%3Aus-east-1%3A000000000000%3Aschedule-group%2Fg"
    found = routes.match("DELETE", f"/tags/{arn}", {"TagKeys": ["a"]})
    assert found is not None
    operation, labels = found
    assert operation.name == "UntagResource"
    assert labels == {"ResourceArn": "arn:aws:scheduler:us-east-1:000000000000:schedule-group/g"}
    assert routes.match("GET", "/schedules", {})[0].name == "ListSchedules"  # type: ignore[index]
    assert routes.match("PUT", "/schedules/a/b", {}) is None
    assert routes.match("PATCH", "/schedules/a", {}) is None


def test_a_literal_query_part_is_the_most_specific() -> None:
    routes = RestRoutes(LAMBDA)
    found = routes.match("GET", "/2018-10-31/layers/l/versions/1", {"find": ["LayerVersion"]})
    assert found is not None and found[0].name == "GetLayerVersion"
    by_arn = routes.match("GET", "/2018-10-31/layers", {"find": ["LayerVersion"], "Arn": ["x"]})
    assert by_arn is not None and by_arn[0].name == "GetLayerVersionByArn"


def test_members_read_from_uri_query_header_and_body() -> None:
    routes = RestRoutes(LAMBDA)
    found = routes.match("POST", "/2015-03-31/functions/f/invocations", {"Qualifier": ["3"]})
    assert found is not None
    operation, labels = found
    layout = input_layout(LAMBDA, operation)
    assert layout is not None and layout.payload == "Payload"
    params = read_input(
        layout,
        labels=labels,
        query={"Qualifier": ["3"]},
        headers={"x-amz-invocation-type": "Event"},
        body={},
    )
    assert params == {"FunctionName": "f", "Qualifier": "3", "InvocationType": "Event"}
    listing = RestRoutes(SCHEDULER).match("GET", "/schedules", {})
    assert listing is not None
    layout = input_layout(SCHEDULER, listing[0])
    assert layout is not None
    params = read_input(
        layout,
        labels={},
        query={"MaxResults": ["5"], "ScheduleGroup": ["g"], "Other": ["x"]},
        headers={},
        body={"ignored": 1},
    )
    assert params == {"MaxResults": 5, "GroupName": "g"}
