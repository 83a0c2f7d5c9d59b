"""Layers: publish, read, list and delete, their errors, and layers on functions, as AWS
answers them.

Not replayed: the layer-policy scenarios (AddLayerVersionPermission and its kin, which
lambdalet does not have), `test_layer_s3_content` (S3 code) and
`test_layer_deterministic_version` (LocalStack-only: its custom-id manager; no AWS answer).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import botocore.exceptions
import pytest

from tests.integration.parity.conftest import RUNTIME, Maker, Scenario
from tests.integration.parity.findings import Findings

pytestmark = pytest.mark.privileged

Parity = Callable[[str], Scenario]
REGION = "us-east-1"
OTHER_REGION = "eu-west-1"
ACCOUNT = "000000000000"
LAYER_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:"
# The recordings name python3.12 in lists AWS itself wrote (enum value sets) or that the test
# sent verbatim; there `python3.12` must stay `python3.12`.
RECORDED_RUNTIME = "python3.12"
# LocalStack's ALL_RUNTIMES when the recordings were made, in its order; the test published
# one layer per 15 of them ("runtimes0", "runtimes1", "runtimes2").
ALL_RUNTIMES = [
    "nodejs24.x", "nodejs22.x", "nodejs20.x", "nodejs18.x", "nodejs16.x", "nodejs14.x",
    "nodejs12.x", "python3.14", "python3.13", "python3.12", "python3.11", "python3.10",
    "python3.9", "python3.8", "python3.7", "java25", "java21", "java17", "java11", "java8.al2",
    "java8", "dotnet10", "dotnet8", "dotnet6", "dotnetcore3.1", "go1.x", "ruby3.4", "ruby3.3",
    "ruby3.2", "ruby2.7", "provided.al2023", "provided.al2", "provided",
]  # fmt: skip
ARCHITECTURES = ["arm64", "x86_64"]
RUNTIME_BATCHES = {f"runtimes{i}": ALL_RUNTIMES[i * 15 : i * 15 + 15] for i in range(3)}


RECORDED_LAYER_ARN_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:(eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:\d{12}:"
    r"layer:[a-zA-Z0-9-_]+:[0-9]+)|(arn:[a-zA-Z0-9-]+:lambda:::awslayer:[a-zA-Z0-9-_]+)"
)


def _layer_zip(maker: Maker) -> bytes:
    """The recordings' `dummylayer`: a zip holding one small text file."""
    return maker.zip("hello", filename="msg.txt")


def _publish(lam: Any, maker: Maker, name: str, **settings: Any) -> dict[str, Any]:
    """Publish a layer version (deleted afterwards); the raw answer, or its error."""
    args: dict[str, Any] = {"LayerName": name, "Content": {"ZipFile": _layer_zip(maker)}}
    args.update(settings)
    try:
        response: dict[str, Any] = lam.publish_layer_version(**args)
    except botocore.exceptions.ClientError as exc:
        return dict(exc.response)
    maker.track_layer(name, response["Version"])
    return response


@pytest.mark.parametrize("runtimes", list(RUNTIME_BATCHES))
def test_layer_compatibilities(parity: Parity, lam: Any, maker: Maker, runtimes: str) -> None:
    p = parity(f"test_lambda_api::TestLambdaLayer::test_layer_compatibilities[{runtimes}]")
    found = Findings()
    p.verbatim_runtime()  # sent and echoed verbatim
    published = _publish(
        lam,
        maker,
        maker.name("testlayer"),
        CompatibleRuntimes=RUNTIME_BATCHES[runtimes],
        CompatibleArchitectures=ARCHITECTURES,
    )
    p.expect("publish_result", published)
    found.done(p)


def test_layer_exceptions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaLayer::test_layer_exceptions")
    p.newer_model_pattern(RECORDED_LAYER_ARN_PATTERN, "LayerVersionArn")
    found = Findings()
    # The enum value sets in AWS's messages list python3.11 and python3.12 both.
    p.verbatim_runtime()
    name = maker.name("testlayer")
    published = _publish(
        lam,
        maker,
        name,
        CompatibleRuntimes=[RECORDED_RUNTIME],
        CompatibleArchitectures=["x86_64"],
    )
    p.expect("publish_result", published)
    layer_arn = published.get("LayerArn", LAYER_PREFIX + name)
    p.call(
        "list_layers_exc_compatibleruntime_invalid",
        lam.list_layers,
        CompatibleRuntime="runtimedoesnotexist",
    )
    p.call(
        "list_layers_exc_compatiblearchitecture_invalid",
        lam.list_layers,
        CompatibleArchitecture="archdoesnotexist",
    )
    p.call("list_nonexistent_layer", lam.list_layer_versions, LayerName="layerdoesnotexist")
    p.call(
        "get_layer_version_exc_layer_doesnotexist",
        lam.get_layer_version,
        LayerName="layerdoesnotexist",
        VersionNumber=1,
    )
    p.call(
        "get_layer_version_exc_layer_version_doesnotexist_negative",
        lam.get_layer_version,
        LayerName=name,
        VersionNumber=-1,
    )
    p.call(
        "get_layer_version_exc_layer_version_doesnotexist_zero",
        lam.get_layer_version,
        LayerName=name,
        VersionNumber=0,
    )
    p.call(
        "get_layer_version_exc_layer_version_doesnotexist_2",
        lam.get_layer_version,
        LayerName=name,
        VersionNumber=2,
    )
    p.call(
        "get_layer_version_by_arn_exc_invalidarn",
        lam.get_layer_version_by_arn,
        Arn=layer_arn,  # no version in it
    )
    p.call(
        "get_layer_version_by_arn_exc_nonexistentversion",
        lam.get_layer_version_by_arn,
        Arn=f"{layer_arn}:2",
    )
    p.call(
        "delete_nonexistent_response",
        lam.delete_layer_version,
        LayerName="layerdoesnotexist",
        VersionNumber=1,
    )
    p.call(
        "delete_nonexistent_version_response",
        lam.delete_layer_version,
        LayerName=name,
        VersionNumber=2,
    )
    p.call("delete_layer_response", lam.delete_layer_version, LayerName=name, VersionNumber=1)
    p.call("delete_layer_again_response", lam.delete_layer_version, LayerName=name, VersionNumber=1)
    p.call(
        "delete_layer_version_exc_layerversion_invalid_version",
        lam.delete_layer_version,
        LayerName=name,
        VersionNumber=-1,
    )
    empty = _publish(
        lam,
        maker,
        maker.name("testlayer-empty"),
        CompatibleRuntimes=[],
        CompatibleArchitectures=[],
    )
    p.expect("publish_empty_result", empty)
    p.expect(
        "publish_layer_version_exc_invalid_runtime_arch",
        _publish(
            lam,
            maker,
            maker.name("testlayer-2"),
            CompatibleRuntimes=["invalidruntime"],
            CompatibleArchitectures=["invalidarch"],
        ),
    )
    p.expect(
        "publish_layer_version_exc_partially_invalid_values",
        _publish(
            lam,
            maker,
            maker.name("testlayer-2"),
            CompatibleRuntimes=["invalidruntime", "invalidruntime2", "nodejs20.x"],
            CompatibleArchitectures=["invalidarch", "x86_64"],
        ),
    )
    found.done(p)


def test_layer_function_exceptions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaLayer::test_layer_function_exceptions")
    p.newer_model_pattern(RECORDED_LAYER_ARN_PATTERN, "LayerVersionArn")
    found = Findings()
    layer = maker.name("testlayer")
    settings: dict[str, Any] = dict(CompatibleRuntimes=[], CompatibleArchitectures=["x86_64"])
    first = _publish(lam, maker, layer, **settings)
    p.expect("publish_result", first)
    second = _publish(lam, maker, layer, **settings)
    p.expect("publish_result_2", second)
    third = _publish(lam, maker, layer, **settings)
    p.expect("publish_result_3", third)
    v1, v2, v3 = (f"{LAYER_PREFIX}{layer}:{n}" for n in (1, 2, 3))
    name = maker.name("fn-layer")
    maker.function(name)
    p.call("get_fn_result", lam.get_function, FunctionName=name)
    p.call(
        "two_layer_versions_single_function_exc",
        lam.update_function_configuration,
        FunctionName=name,
        Layers=[v1, v2],
    )
    p.call(
        "three_layer_versions_single_function_exc",
        lam.update_function_configuration,
        FunctionName=name,
        Layers=[v1, v2, v3],
    )
    p.call(
        "two_identical_layer_versions_single_function_exc",
        lam.update_function_configuration,
        FunctionName=name,
        Layers=[v1, v1],
    )
    p.call(
        "add_nonexistent_layer_exc",
        lam.update_function_configuration,
        FunctionName=name,
        Layers=[f"{LAYER_PREFIX}doesnotexist:1"],
    )
    p.call(
        "add_nonexistent_layer_version_exc",
        lam.update_function_configuration,
        FunctionName=name,
        Layers=[f"{LAYER_PREFIX}{layer}:9"],
    )
    p.call(
        "add_layer_arn_without_version_exc",
        lam.update_function_configuration,
        FunctionName=name,
        Layers=[LAYER_PREFIX + layer],
    )
    # The recording published a layer of the same name in a second region first; lambdalet
    # serves one region, so the ARN names a version there that this host cannot hold. The
    # function name is the existing function's, as in the recording.
    other_region = f"arn:aws:lambda:{OTHER_REGION}:{ACCOUNT}:layer:{layer}:1"
    p.call(
        "create_function_with_layer_in_different_region",
        lam.create_function,
        **maker.function_args(name, Layers=[other_region]),
    )
    found.done(p)


def test_layer_function_quota_exception(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaLayer::test_layer_function_quota_exception")
    found = Findings()
    arns = []
    for n in range(6):
        published = _publish(
            lam,
            maker,
            maker.name(f"testlayer-{n + 1}"),
            CompatibleRuntimes=[],
            CompatibleArchitectures=["x86_64"],
        )
        arns.append(published.get("LayerVersionArn", ""))
    name = maker.name("fn-layer")
    maker.track(name)
    p.call(
        "create_function_with_six_layers",
        lam.create_function,
        **maker.function_args(name, Layers=arns),
    )
    found.done(p)


def test_layer_lifecycle(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaLayer::test_layer_lifecycle")
    found = Findings()
    name = maker.name("fn-layer")
    layer = maker.name("testlayer")
    suffix = uuid.uuid4().hex[:8]
    layer_settings: dict[str, Any] = dict(
        CompatibleRuntimes=[RUNTIME],  # the recording's python3.12, read as this host's
        LicenseInfo=f"licenseinfo-{suffix}",
        Description=f"description-{suffix}",
        CompatibleArchitectures=["x86_64"],
    )
    maker.function(name)
    p.call("get_fn_result", lam.get_function, FunctionName=name)
    p.call("get_fn_config_result", lam.get_function_configuration, FunctionName=name)
    first = _publish(lam, maker, layer, **layer_settings)
    p.expect("publish_result", first)
    p.expect("publish_result_2", _publish(lam, maker, layer, **layer_settings))
    v1 = first.get("LayerVersionArn", f"{LAYER_PREFIX}{layer}:1")
    p.call("update_fn_config", lam.update_function_configuration, FunctionName=name, Layers=[v1])
    p.call("get_fn_config", lam.get_function_configuration, FunctionName=name)
    p.call("get_layer_ver_result", lam.get_layer_version, LayerName=layer, VersionNumber=1)
    p.call("get_layer_by_arn_version", lam.get_layer_version_by_arn, Arn=v1)
    p.call("list_layer_versions_predelete", lam.list_layer_versions, LayerName=layer)
    p.call("delete_layer_1", lam.delete_layer_version, LayerName=layer, VersionNumber=1)
    p.call("get_fn_config_postdelete", lam.get_function_configuration, FunctionName=name)
    p.call("delete_layer_2", lam.delete_layer_version, LayerName=layer, VersionNumber=2)
    p.call("list_layer_versions_postdelete", lam.list_layer_versions, LayerName=layer)
    p.expect("publish_result_3", _publish(lam, maker, layer, **layer_settings))
    # AWS answers the update while it is in progress (<uuid:2>) and settles it under a new
    # revision (<uuid:3>); lambdalet answers the settled update (see kept.py), so one revision.
    found.done(p, alike=[("<uuid:2>", "<uuid:3>")])
