"""Tags on functions: tag, untag and list, their limits and errors, as AWS answers them.

Tags on event source mappings (`TestLambdaTag::test_create_tag_on_esm_create` and the
event-source-mapping variant of `TestLambdaTag::test_tag_lifecycle`) need an SQS queue the
mapping service knows of: they are skipped until the daemon wires the queue service into
`Services.wire`. The event-source-mapping and capacity-provider variants of
`TestLambdaTag::test_tag_exceptions` name resources that do not exist, so only the tag API's
validation and not-found answers are asked for.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.integration.conftest import ROLE, Daemon
from tests.integration.parity.conftest import RUNTIME, Maker, Scenario
from tests.integration.parity.findings import Findings

pytestmark = pytest.mark.privileged

Parity = Callable[[str], Scenario]
REGION = "us-east-1"
ACCOUNT = "000000000000"
ARN_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:"
# `TestLambdaTag::test_tag_exceptions`: how the recording built each kind of resource ARN.
RESOURCE_KINDS = {
    "lambda_function": "function",
    "event_source_mapping": "event-source-mapping",
    "capacity_provider": "capacity-provider",
}
# Revision ids may coincide where AWS changed them: SAME_REVISION_ON_TAGS_AND_POLICY.
REVISIONS = ("uuid",)


RECORDED_TAGGABLE_PATTERN = (
    r"arn:(aws[a-zA-Z-]*):lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
    r"(function:[a-zA-Z0-9-_]+(:(\$LATEST|[a-zA-Z0-9-_]+))?|layer:([a-zA-Z0-9-_]+)|"
    r"code-signing-config:csc-[a-z0-9]{17}|event-source-mapping:[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-"
    r"[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|capacity-provider:[a-zA-Z0-9-_]+)"
)


def _function_arn(name: str) -> str:
    return f"{ARN_PREFIX}function:{name}"


class MappingMaker:
    """Event source mappings on new SQS queues, as the recordings' `esm_arn` made them."""

    def __init__(self, lam: Any, sqs: Any) -> None:
        self.lam = lam
        self.sqs = sqs
        self.urls: list[str] = []
        self.uuids: list[str] = []

    def create(self, function: str, **settings: Any) -> dict[str, Any]:
        url = self.sqs.create_queue(QueueName=f"queue-{uuid.uuid4().hex[:8]}")["QueueUrl"]
        self.urls.append(url)
        queue = self.sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])
        try:
            made: dict[str, Any] = self.lam.create_event_source_mapping(
                EventSourceArn=queue["Attributes"]["QueueArn"], FunctionName=function, **settings
            )
        except self.lam.exceptions.InvalidParameterValueException as exc:
            if "ReceiveMessage" in str(exc):
                pytest.skip("the daemon does not wire the queue service into Services.wire yet")
            raise
        self.uuids.append(made["UUID"])
        return made

    def settled(self, mapping_uuid: str) -> bool:
        """`wait_until(State != "Creating")`, as the recording waited."""
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self.lam.get_event_source_mapping(UUID=mapping_uuid)["State"] != "Creating":
                return True
            time.sleep(0.05)
        return False

    def cleanup(self) -> None:
        for mapping_uuid in self.uuids:
            self.settled(mapping_uuid)
            self.lam.delete_event_source_mapping(UUID=mapping_uuid)
        for url in self.urls:
            self.sqs.delete_queue(QueueUrl=url)


@pytest.fixture
def esm(lam: Any, daemon: Daemon) -> Iterator[MappingMaker]:
    made = MappingMaker(lam, daemon.sqs_client())
    yield made
    made.cleanup()


# TestLambdaTag


def test_create_tag_on_fn_create(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaTag::test_create_tag_on_fn_create")
    found = Findings(ignore=REVISIONS)
    name = maker.name()
    maker.function(name, Tags={"testtag": f"tag-{uuid.uuid4().hex[:8]}"})
    got = p.call("get_function_result", lam.get_function, FunctionName=name)
    arn = got.get("Configuration", {}).get("FunctionArn", _function_arn(name))
    p.call("list_tags_result", lam.list_tags, Resource=arn)
    found.done(p)


def test_create_tag_on_esm_create(
    parity: Parity, lam: Any, maker: Maker, esm: MappingMaker
) -> None:
    p = parity("test_lambda_api::TestLambdaTag::test_create_tag_on_esm_create")
    found = Findings(ignore=REVISIONS)
    name = maker.name()
    maker.function(name)
    tag = f"tag-{uuid.uuid4().hex[:8]}"
    p.replace("<custom-tag>", tag)
    made = esm.create(name, BatchSize=1, Tags={"testtag": tag})
    # "get_event_source_mapping_with_tag" (True: the mapping left Creating) is not a dict, so
    # not on record: checked here.
    found.check(esm.settled(made["UUID"]), "the mapping stayed Creating")
    p.call("list_tags_result", lam.list_tags, Resource=made["EventSourceMappingArn"])
    found.done(p)


@pytest.mark.parametrize("resource", ["lambda_function", "event_source_mapping"])
def test_tag_lifecycle_resource(
    parity: Parity, lam: Any, maker: Maker, esm: MappingMaker, resource: str
) -> None:
    p = parity(f"test_lambda_api::TestLambdaTag::test_tag_lifecycle[{resource}]")
    found = Findings(ignore=REVISIONS)
    name = maker.name()
    maker.function(name)
    arn = _function_arn(name)
    if resource == "event_source_mapping":
        arn = esm.create(arn, BatchSize=1)["EventSourceMappingArn"]
    steps: list[tuple[str, Callable[..., Any], dict[str, Any]]] = [
        ("tag_single", lam.tag_resource, {"Tags": {"A": "tag-a"}}),
        ("tag_multiple", lam.tag_resource, {"Tags": {"B": "tag-b", "C": "tag-c"}}),
        ("tag_overlap", lam.tag_resource, {"Tags": {"C": "tag-c-newsuffix", "D": "tag-d"}}),
        ("untag_single", lam.untag_resource, {"TagKeys": ["A"]}),
        ("untag_multiple", lam.untag_resource, {"TagKeys": ["B", "C"]}),
        ("untag_nonexisting", lam.untag_resource, {"TagKeys": ["F"]}),
        ("untag_existing_and_nonexisting", lam.untag_resource, {"TagKeys": ["D", "F"]}),
    ]
    for label, method, args in steps:
        p.call(f"{label}_response", method, Resource=arn, **args)
        p.call(f"{label}_response_listtags", lam.list_tags, Resource=arn)
    found.done(p)


@pytest.mark.parametrize("resource", list(RESOURCE_KINDS))
def test_tag_exceptions_resource(parity: Parity, lam: Any, resource: str) -> None:
    p = parity(f"test_lambda_api::TestLambdaTag::test_tag_exceptions[{resource}]")
    p.newer_model_pattern(RECORDED_TAGGABLE_PATTERN, "TaggableResource")
    found = Findings(ignore=REVISIONS)
    arn = f"{ARN_PREFIX}{RESOURCE_KINDS[resource]}:{uuid.uuid4()}"
    p.call("not_found_exception_tag", lam.tag_resource, Resource=arn, Tags={"A": "B"})
    p.call("not_found_exception_untag", lam.untag_resource, Resource=arn, TagKeys=["A"])
    p.call("not_found_exception_list", lam.list_tags, Resource=arn)
    p.call("aliased_arn_exception", lam.list_tags, Resource=f"{arn}:alias")
    parts = arn.rsplit(":", 2)
    parts[1] = "foobar"
    p.call("invalid_arn_exception", lam.list_tags, Resource=":".join(parts))
    found.done(p)


def test_tag_nonexisting_resource(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaTag::test_tag_nonexisting_resource")
    found = Findings(ignore=REVISIONS)
    name = maker.name()
    maker.function(name)
    arn = _function_arn(name)
    p.call("pre_delete_get_function", lam.get_function, FunctionName=arn)
    found.step("delete_function", lam.delete_function, FunctionName=arn)
    p.call("not_found_exception_tag", lam.tag_resource, Resource=arn, Tags={"A": "B"})
    p.call("not_found_exception_untag", lam.untag_resource, Resource=arn, TagKeys=["A"])
    p.call("not_found_exception_list", lam.list_tags, Resource=arn)

    # TestLambdaTags
    found.done(p)


def test_tag_exceptions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaTags::test_tag_exceptions")
    p.newer_model_pattern(RECORDED_TAGGABLE_PATTERN, "TaggableResource")
    found = Findings(ignore=REVISIONS)
    name = maker.name("fn-tag")
    maker.function(name)
    arn = _function_arn(name)
    p.call(
        "tag_lambda_invalidarn",
        lam.tag_resource,
        Resource="arn:aws:something",
        Tags={"key_a": "value_a"},
    )
    p.call(
        "tag_lambda_doesnotexist",
        lam.tag_resource,
        Resource=_function_arn("doesnotexist"),
        Tags={"key_a": "value_a"},
    )
    p.call(
        "tag_lambda_qualifier_doesnotexist",
        lam.tag_resource,
        Resource=f"{arn}:v1",
        Tags={"key_a": "value_a"},
    )
    p.call("list_tag_lambda_empty", lam.list_tags, Resource=arn)
    p.call("untag_nomatch", lam.untag_resource, Resource=arn, TagKeys=["somekey"])
    p.call("untag_empty_keys", lam.untag_resource, Resource=arn, TagKeys=[])
    p.call("tag_empty_tags", lam.tag_resource, Resource=arn, Tags={})
    # Unrecorded, but the recording asserts it: a partial untag removes what exists.
    found.step("tag_resource", lam.tag_resource, Resource=arn, Tags={"a_key": "a", "b_key": "b"})
    found.step("untag_resource", lam.untag_resource, Resource=arn, TagKeys=["a_key", "c_key"])
    tags = found.step("list_tags", lam.list_tags, Resource=arn).get("Tags", {})
    found.check(
        "a_key" not in tags and "b_key" in tags,
        f"partial untag: AWS removes a_key and keeps b_key, lambdalet leaves {tags}",
    )
    found.done(p)


def test_tag_limits(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaTags::test_tag_limits")
    found = Findings(ignore=REVISIONS)
    name = maker.name("fn-tag")
    maker.function(name)
    arn = _function_arn(name)
    p.call(
        "tag_lambda_too_many_tags",
        lam.tag_resource,
        Resource=arn,
        Tags={f"{k}_key": f"{k}_value" for k in range(51)},
    )
    p.call(
        "tag_response",
        lam.tag_resource,
        Resource=arn,
        Tags={f"{k}_key": f"{k}_value" for k in range(50)},
    )
    p.call("list_tags_response", lam.list_tags, Resource=arn)
    p.call("get_fn_response", lam.get_function, FunctionName=name)
    p.call(
        "tag_lambda_too_many_tags_additional",
        lam.tag_resource,
        Resource=arn,
        Tags={"a_key": "a_value"},
    )
    other = maker.name("fn-tag")
    maker.track(other)
    p.call(
        "create_function_invalid_tags",
        lam.create_function,
        FunctionName=other,
        Handler="index.handler",
        Code={"ZipFile": maker.zip()},
        PackageType="Zip",
        Role=ROLE,
        Runtime=RUNTIME,
        Tags={f"{k}_key": f"{k}_value" for k in range(51)},
    )
    found.done(p)


def test_tag_versions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaTags::test_tag_versions")
    found = Findings(ignore=REVISIONS)
    name = maker.name("fn-tag")
    created = maker.function(name, Tags={"key_a": "value_a"})
    arn = created["FunctionArn"]
    version = found.step("publish_version", lam.publish_version, FunctionName=name)
    tags = {"key_b": "value_b", "key_c": "value_c", "key_d": "value_d", "key_e": "value_e"}
    p.call(
        "tag_resource_exception",
        lam.tag_resource,
        Resource=version.get("FunctionArn", f"{arn}:1"),
        Tags=tags,
    )
    p.call("tag_resource_latest_exception", lam.tag_resource, Resource=f"{arn}:$LATEST", Tags=tags)
    found.done(p)


def test_tag_lifecycle(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaTags::test_tag_lifecycle")
    found = Findings(ignore=REVISIONS)
    name = maker.name("fn-tag")
    maker.function(name, Tags={"key_a": "value_a"})
    arn = _function_arn(name)

    def tags_now(suffix: str) -> None:
        p.call(f"list_tags_response_{suffix}", lam.list_tags, Resource=arn)
        p.call(f"get_fn_response_{suffix}", lam.get_function, FunctionName=arn)

    tags_now("postfncreate")
    p.call(
        "tag_resource_response",
        lam.tag_resource,
        Resource=arn,
        Tags={"key_b": "value_b", "key_c": "value_c", "key_d": "value_d", "key_e": "value_e"},
    )
    tags_now("postaddtags")
    p.call(
        "tag_resource_overwrite",
        lam.tag_resource,
        Resource=arn,
        Tags={"key_b": "value_b", "key_c": "value_x"},
    )
    tags_now("overwrite")
    found.step("untag_resource", lam.untag_resource, Resource=arn, TagKeys=["key_c", "key_d"])
    tags_now("postuntag")
    found.step(
        "untag_resource", lam.untag_resource, Resource=arn, TagKeys=["key_a", "key_b", "key_e"]
    )
    tags_now("postuntagall")
    found.step("delete_function", lam.delete_function, FunctionName=name)
    p.call("list_tags_postdelete", lam.list_tags, Resource=arn)
    found.done(p)
