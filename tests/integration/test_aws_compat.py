"""The real boto3 client, over TCP with SigV4, against a running daemon: authentication,
versions, aliases, layers, concurrency (reserved and provisioned), tags and policies, and
operations lambdalet does not implement."""

from __future__ import annotations

import base64
import json
import threading
import time
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import botocore.exceptions
import pytest

from tests.integration.conftest import (
    ACCESS_KEY_ID,
    ROLE,
    SECRET_ACCESS_KEY,
    Daemon,
    make_zip,
    wait_until,
)

pytestmark = pytest.mark.privileged

REGION = "us-east-1"
ACCOUNT = "000000000000"

COUNTER = """
import os, time
INIT_AT = time.time()
CALLS = 0
VERSION_MARK = {mark!r}
def handler(event, context):
    global CALLS
    CALLS += 1
    if event.get("sleep"):
        time.sleep(event["sleep"])
    return {{"mark": VERSION_MARK, "calls": CALLS, "init_at": INIT_AT, "now": time.time(),
            "version": context.function_version, "arn": context.invoked_function_arn,
            "init_type": os.environ["AWS_LAMBDA_INITIALIZATION_TYPE"]}}
"""


def client(daemon: Daemon, *, secret: str = SECRET_ACCESS_KEY, key: str = ACCESS_KEY_ID) -> Any:
    return daemon.lambda_client(key=key, secret=secret)


@pytest.fixture(scope="module")
def lam(daemon: Daemon) -> Any:
    return client(daemon)


@pytest.fixture
def fn(lam: Any) -> Iterator[Any]:
    """Makes functions (and layers) for one test; deletes them afterwards."""
    made: list[str] = []
    layers: list[tuple[str, int]] = []

    class Maker:
        def create(self, code: str = COUNTER.format(mark="v0"), **settings: Any) -> str:
            name = f"aws-{uuid.uuid4().hex[:10]}"
            lam.create_function(
                FunctionName=name,
                Runtime=settings.pop("Runtime", "python3.11"),
                Role=ROLE,
                Handler=settings.pop("Handler", "lambda_function.handler"),
                Code={"ZipFile": zip_of({"lambda_function.py": code})},
                **settings,
            )
            made.append(name)
            return name

        def layer(self, files: dict[str, str], **settings: Any) -> str:
            name = f"layer-{uuid.uuid4().hex[:8]}"
            out = lam.publish_layer_version(
                LayerName=name, Content={"ZipFile": zip_of(files)}, **settings
            )
            layers.append((name, out["Version"]))
            return str(out["LayerVersionArn"])

    yield Maker()
    for name in made:
        try:
            lam.delete_function(FunctionName=name)
        except botocore.exceptions.ClientError:
            pass
    for layer, version in layers:
        lam.delete_layer_version(LayerName=layer, VersionNumber=version)


def zip_of(files: dict[str, str]) -> bytes:
    return base64.b64decode(make_zip(files))


def call(lam: Any, name: str, payload: Any = None, **kwargs: Any) -> tuple[dict[str, Any], Any]:
    out = lam.invoke(FunctionName=name, Payload=json.dumps(payload or {}), **kwargs)
    return out, json.loads(out["Payload"].read())


def error_of(exc: pytest.ExceptionInfo[botocore.exceptions.ClientError]) -> tuple[str, int]:
    err = exc.value.response
    return err["Error"]["Code"], err["ResponseMetadata"]["HTTPStatusCode"]


# -- authentication ---------------------------------------------------------------------------


def test_a_wrong_secret_or_an_unknown_key_is_refused_and_the_right_one_passes(
    daemon: Daemon, lam: Any
) -> None:
    assert "Functions" in lam.list_functions()
    with pytest.raises(botocore.exceptions.ClientError) as bad:
        client(daemon, secret="not-the-secret").list_functions()
    assert error_of(bad) == ("InvalidSignatureException", 403)
    with pytest.raises(botocore.exceptions.ClientError) as unknown:
        client(daemon, key="LKIAUNKNOWNUNKNOWN22").list_functions()
    assert error_of(unknown) == ("UnrecognizedClientException", 403)


def test_an_unsigned_request_gets_aws_missing_token_error(daemon: Daemon) -> None:
    req = urllib.request.Request(f"{daemon.endpoint}/2015-03-31/functions/", method="GET")
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(req, timeout=10)
    caught.value.close()
    assert caught.value.code == 403
    assert caught.value.headers["x-amzn-ErrorType"] == "MissingAuthenticationTokenException"


# -- versions -------------------------------------------------------------------------------


def test_versions_are_immutable_snapshots_reached_by_every_qualifier_form(
    lam: Any, fn: Any
) -> None:
    name = fn.create(COUNTER.format(mark="one"))
    v1 = lam.publish_version(FunctionName=name, Description="first")
    assert (v1["Version"], v1["Description"]) == ("1", "first")
    assert v1["FunctionArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:1"
    # Unchanged $LATEST publishes nothing new.
    assert lam.publish_version(FunctionName=name)["Version"] == "1"
    lam.update_function_code(
        FunctionName=name, ZipFile=zip_of({"lambda_function.py": COUNTER.format(mark="two")})
    )
    v2 = lam.publish_version(FunctionName=name)
    assert v2["Version"] == "2" and v2["CodeSha256"] != v1["CodeSha256"]

    listed = lam.list_versions_by_function(FunctionName=name)["Versions"]
    assert [v["Version"] for v in listed] == ["$LATEST", "1", "2"]
    pages = [lam.list_versions_by_function(FunctionName=name, MaxItems=1)]
    while "NextMarker" in pages[-1] and len(pages) < 5:
        marker = pages[-1]["NextMarker"]
        pages.append(lam.list_versions_by_function(FunctionName=name, MaxItems=1, Marker=marker))
    assert [[v["Version"] for v in p["Versions"]] for p in pages] == [["$LATEST"], ["1"], ["2"]]
    every = lam.list_functions(FunctionVersion="ALL", MaxItems=1000)["Functions"]
    assert [f["Version"] for f in every if f["FunctionName"] == name] == ["$LATEST", "1", "2"]

    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    for kwargs, mark, version in [
        ({"FunctionName": name, "Qualifier": "1"}, "one", "1"),
        ({"FunctionName": f"{name}:1"}, "one", "1"),
        ({"FunctionName": f"{arn}:1"}, "one", "1"),
        ({"FunctionName": f"{ACCOUNT}:function:{name}:2"}, "two", "2"),
        ({"FunctionName": name}, "two", "$LATEST"),
    ]:
        fn_name = kwargs.pop("FunctionName")
        out, body = call(lam, fn_name, **kwargs)
        assert (body["mark"], body["version"], out["ExecutedVersion"]) == (mark, version, version)

    # Environments are never shared across versions: each has its own module state.
    _, first = call(lam, name, Qualifier="1")
    _, latest = call(lam, name)
    assert first["calls"] >= 2 and latest["calls"] == 2
    assert lam.get_function_configuration(FunctionName=name, Qualifier="1")["Version"] == "1"
    assert lam.get_function(FunctionName=f"{name}:2")["Configuration"]["Version"] == "2"

    lam.delete_function(FunctionName=name, Qualifier="1")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        call(lam, name, Qualifier="1")
    assert lam.publish_version(FunctionName=name, Description="again")["Version"] == "2"


def test_revision_ids_and_code_sha256_guard_updates_and_publishes(lam: Any, fn: Any) -> None:
    name = fn.create()
    config = lam.get_function_configuration(FunctionName=name)
    assert (config["State"], config["LastUpdateStatus"]) == ("Active", "Successful")
    updated = lam.update_function_configuration(
        FunctionName=name, MemorySize=256, RevisionId=config["RevisionId"]
    )
    with pytest.raises(botocore.exceptions.ClientError) as stale:
        lam.update_function_configuration(
            FunctionName=name, MemorySize=512, RevisionId=config["RevisionId"]
        )
    assert error_of(stale) == ("PreconditionFailedException", 412)
    with pytest.raises(botocore.exceptions.ClientError) as stale_publish:
        lam.publish_version(FunctionName=name, RevisionId=config["RevisionId"])
    assert error_of(stale_publish) == ("PreconditionFailedException", 412)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.publish_version(FunctionName=name, CodeSha256="bm90IHRoZSBoYXNo")
    version = lam.publish_version(
        FunctionName=name, RevisionId=updated["RevisionId"], CodeSha256=updated["CodeSha256"]
    )
    assert version["MemorySize"] == 256


def test_unknown_function_and_bad_qualifiers_are_aws_errors(lam: Any, fn: Any) -> None:
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName="no-such-function")
    name = fn.create()
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        call(lam, name, Qualifier="7")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        call(lam, name, Qualifier="no-such-alias")
    with pytest.raises(botocore.exceptions.ClientError) as mismatch:
        lam.get_function(FunctionName=f"{name}:1", Qualifier="2")
    assert error_of(mismatch)[0] == "InvalidParameterValueException"
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.delete_function(FunctionName=name, Qualifier="$LATEST")
    with pytest.raises(botocore.exceptions.ClientError) as big:
        lam.invoke(FunctionName=name, Payload=b'"' + b"x" * (6 * 1024 * 1024) + b'"')
    assert error_of(big) == ("RequestTooLargeException", 413)


# -- aliases --------------------------------------------------------------------------------


def test_aliases_route_and_report_the_executed_version(lam: Any, fn: Any) -> None:
    name = fn.create(COUNTER.format(mark="one"))
    lam.publish_version(FunctionName=name)
    lam.update_function_code(
        FunctionName=name, ZipFile=zip_of({"lambda_function.py": COUNTER.format(mark="two")})
    )
    lam.publish_version(FunctionName=name)

    alias = lam.create_alias(FunctionName=name, Name="live", FunctionVersion="1")
    assert alias["AliasArn"] == f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:live"
    out, body = call(lam, name, Qualifier="live")
    assert (out["ExecutedVersion"], body["mark"]) == ("1", "one")
    assert body["arn"].endswith(f":{name}:live")
    assert lam.get_function_configuration(FunctionName=name, Qualifier="live")["Version"] == "1"

    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_alias(FunctionName=name, Name="live", FunctionVersion="2")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.create_alias(FunctionName=name, Name="later", FunctionVersion="9")
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.delete_function(FunctionName=name, Qualifier="1")  # the alias uses it

    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.update_alias(FunctionName=name, Name="live", FunctionVersion="2", RevisionId="stale")
    moved = lam.update_alias(
        FunctionName=name, Name="live", FunctionVersion="2", RevisionId=alias["RevisionId"]
    )
    assert call(lam, f"{name}:live")[0]["ExecutedVersion"] == "2"
    assert [a["Name"] for a in lam.list_aliases(FunctionName=name)["Aliases"]] == ["live"]
    assert lam.get_alias(FunctionName=name, Name="live")["RevisionId"] == moved["RevisionId"]
    lam.delete_alias(FunctionName=name, Name="live")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_alias(FunctionName=name, Name="live")


def test_a_weighted_alias_splits_traffic_by_its_weight(lam: Any, fn: Any) -> None:
    name = fn.create(COUNTER.format(mark="one"))
    lam.publish_version(FunctionName=name)
    lam.update_function_code(
        FunctionName=name, ZipFile=zip_of({"lambda_function.py": COUNTER.format(mark="two")})
    )
    lam.publish_version(FunctionName=name)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.create_alias(
            FunctionName=name, Name="bad", FunctionVersion="$LATEST",
            RoutingConfig={"AdditionalVersionWeights": {"2": 0.5}},
        )  # fmt: skip
    alias = lam.create_alias(
        FunctionName=name, Name="canary", FunctionVersion="1",
        RoutingConfig={"AdditionalVersionWeights": {"2": 0.3}},
    )  # fmt: skip
    assert alias["RoutingConfig"] == {"AdditionalVersionWeights": {"2": 0.3}}
    invokes = 300
    executed = [call(lam, name, Qualifier="canary")[0]["ExecutedVersion"] for _ in range(invokes)]
    share = executed.count("2") / invokes
    # Binomial(300, 0.3): standard deviation 0.026; five of them either side.
    assert 0.3 - 0.13 < share < 0.3 + 0.13, share
    assert set(executed) == {"1", "2"}


# -- layers ---------------------------------------------------------------------------------


def test_layers_are_laid_out_under_opt_in_order_later_ones_winning(lam: Any, fn: Any) -> None:
    base = fn.layer(
        {"python/shared.py": "WHO = 'base'\n", "python/only_base.py": "X = 1\n",
         "data/config.txt": "base\n"},
        CompatibleRuntimes=["python3.11"], Description="base layer",
    )  # fmt: skip
    top = fn.layer({"python/shared.py": "WHO = 'top'\n", "data/config.txt": "top\n"})
    code = """
import os, shared, only_base
def handler(event, context):
    try:
        open("/opt/new", "w")
        writable = True
    except OSError:
        writable = False
    return {"who": shared.WHO, "base": only_base.X, "config": open("/opt/data/config.txt").read(),
            "opt_writable": writable}
"""
    name = fn.create(code, Layers=[base, top])
    config = lam.get_function_configuration(FunctionName=name)
    assert [layer["Arn"] for layer in config["Layers"]] == [base, top]
    _, body = call(lam, name)
    assert body == {"who": "top", "base": 1, "config": "top\n", "opt_writable": False}

    lam.update_function_configuration(FunctionName=name, Layers=[top, base])
    assert call(lam, name)[1]["who"] == "base"

    # A deleted layer version keeps working for the functions that use it...
    layer_name, number = base.rsplit(":", 2)[1], int(base.rsplit(":", 1)[1])
    lam.delete_layer_version(LayerName=layer_name, VersionNumber=number)
    lam.update_function_configuration(FunctionName=name, MemorySize=256)
    assert call(lam, name)[1]["who"] == "base"
    # ... but cannot be added to another one.
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        fn.create(code, Layers=[base])
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_layer_version_by_arn(Arn=base)


def test_layer_api_shapes_and_limits(lam: Any, fn: Any) -> None:
    arn = fn.layer({"python/a.py": "A = 1\n"}, CompatibleRuntimes=["python3.11", "nodejs20.x"],
                   LicenseInfo="MIT", Description="d")  # fmt: skip
    layer_name = arn.rsplit(":", 2)[1]
    got = lam.get_layer_version(LayerName=layer_name, VersionNumber=1)
    assert (got["LayerVersionArn"], got["Version"], got["LicenseInfo"]) == (arn, 1, "MIT")
    assert got["Content"]["CodeSize"] > 0 and got["Content"]["CodeSha256"]
    assert lam.get_layer_version_by_arn(Arn=arn)["Description"] == "d"
    listed = lam.list_layers(CompatibleRuntime="python3.11")["Layers"]
    assert layer_name in [layer["LayerName"] for layer in listed]
    assert layer_name not in [
        layer["LayerName"] for layer in lam.list_layers(CompatibleRuntime="java21")["Layers"]
    ]
    versions = lam.list_layer_versions(LayerName=layer_name)["LayerVersions"]
    assert [v["Version"] for v in versions] == [1]
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        fn.create(Layers=[arn] * 6)
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        fn.create(Layers=[f"arn:aws:lambda:{REGION}:{ACCOUNT}:layer:{layer_name}:99"])


def test_node_finds_layer_modules_in_opt_nodejs_node_modules(lam: Any, fn: Any) -> None:
    from tests.integration.fnhelpers import host_node_runtime

    runtime = host_node_runtime()
    if runtime is None:
        pytest.skip("no node on this host")
    layer = fn.layer(
        {"nodejs/node_modules/greet/index.js": "exports.hi = () => 'hi from layer';\n"}
    )
    code = "exports.handler = async () => require('greet').hi();\n"
    name = f"aws-{uuid.uuid4().hex[:10]}"
    lam.create_function(
        FunctionName=name, Runtime=runtime, Role=ROLE, Handler="index.handler",
        Code={"ZipFile": zip_of({"index.js": code})}, Layers=[layer],
    )  # fmt: skip
    try:
        assert call(lam, name)[1] == "hi from layer"
    finally:
        lam.delete_function(FunctionName=name)


# -- concurrency ----------------------------------------------------------------------------


def test_reserved_concurrency_zero_throttles_and_settings_account_for_it(
    daemon: Daemon, lam: Any, fn: Any
) -> None:
    before = lam.get_account_settings()["AccountLimit"]
    assert before["ConcurrentExecutions"] == 1000
    name = fn.create()
    out = lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=0)
    assert out["ReservedConcurrentExecutions"] == 0
    with pytest.raises(botocore.exceptions.ClientError) as throttled:
        call(lam, name)
    err = throttled.value.response
    assert error_of(throttled) == ("TooManyRequestsException", 429)
    assert err["Reason"] == "ReservedFunctionConcurrentInvocationLimitExceeded"
    # AWS sends no Retry-After when a function's own reservation throttles.
    assert "retry-after" not in err["ResponseMetadata"]["HTTPHeaders"]
    assert lam.get_function_concurrency(FunctionName=name)["ReservedConcurrentExecutions"] == 0
    assert lam.get_function(FunctionName=name)["Concurrency"] == {"ReservedConcurrentExecutions": 0}

    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=50)
    after = lam.get_account_settings()["AccountLimit"]
    assert after["UnreservedConcurrentExecutions"] == before["UnreservedConcurrentExecutions"] - 50
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=950)
    lam.delete_function_concurrency(FunctionName=name)
    assert "ReservedConcurrentExecutions" not in lam.get_function_concurrency(FunctionName=name)
    assert call(lam, name)[1]["calls"] == 1


def test_reserved_concurrency_caps_simultaneous_invokes(daemon: Daemon, lam: Any, fn: Any) -> None:
    name = fn.create(Timeout=10)
    lam.put_function_concurrency(FunctionName=name, ReservedConcurrentExecutions=1)
    call(lam, name)  # warm: the slow invoke below starts at once
    results: list[Any] = []

    def slow() -> None:
        results.append(call(client(daemon), name, {"sleep": 3})[1])

    worker = threading.Thread(target=slow)
    worker.start()
    try:
        time.sleep(1.0)  # the slow invoke (3 s) now holds the only slot
        with pytest.raises(botocore.exceptions.ClientError) as throttled:
            call(lam, name)
        assert throttled.value.response["Reason"] == (
            "ReservedFunctionConcurrentInvocationLimitExceeded"
        )
    finally:
        worker.join(timeout=30)
    assert results and results[0]["calls"] == 2


def test_provisioned_environments_are_initialised_before_the_first_invoke(
    lam: Any, fn: Any
) -> None:
    name = fn.create()
    lam.publish_version(FunctionName=name)
    lam.create_alias(FunctionName=name, Name="prod", FunctionVersion="1")
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.put_provisioned_concurrency_config(
            FunctionName=name, Qualifier="$LATEST", ProvisionedConcurrentExecutions=1
        )
    put = lam.put_provisioned_concurrency_config(
        FunctionName=name, Qualifier="prod", ProvisionedConcurrentExecutions=2
    )
    assert put["RequestedProvisionedConcurrentExecutions"] == 2
    assert put["Status"] in ("IN_PROGRESS", "READY")
    assert wait_until(
        lambda: (
            lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="prod")["Status"]
            == "READY"
        ),
        timeout_s=30,
    )
    ready_at = time.time()
    got = lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="prod")
    assert got["AllocatedProvisionedConcurrentExecutions"] == 2
    out, body = call(lam, name, Qualifier="prod", LogType="Tail")
    assert body["init_type"] == "provisioned-concurrency"
    assert body["init_at"] < ready_at and body["calls"] == 1
    log = base64.b64decode(out["LogResult"]).decode()
    assert "REPORT RequestId" in log and "Init Duration" not in log
    listed = lam.list_provisioned_concurrency_configs(FunctionName=name)
    assert [c["FunctionArn"] for c in listed["ProvisionedConcurrencyConfigs"]] == [
        f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}:prod"
    ]
    lam.delete_provisioned_concurrency_config(FunctionName=name, Qualifier="prod")
    with pytest.raises(lam.exceptions.ProvisionedConcurrencyConfigNotFoundException):
        lam.get_provisioned_concurrency_config(FunctionName=name, Qualifier="prod")


# -- tags, policies, what is not implemented ------------------------------------------------


def test_tags_are_stored_per_function(lam: Any, fn: Any) -> None:
    name = fn.create(Tags={"team": "a"})
    arn = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "a"}
    lam.tag_resource(Resource=arn, Tags={"env": "dev", "team": "b"})
    assert lam.list_tags(Resource=arn)["Tags"] == {"team": "b", "env": "dev"}
    lam.untag_resource(Resource=arn, TagKeys=["team"])
    assert lam.get_function(FunctionName=name)["Tags"] == {"env": "dev"}
    with pytest.raises(lam.exceptions.InvalidParameterValueException):
        lam.tag_resource(Resource=f"{arn}:1", Tags={"x": "y"})
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.list_tags(Resource=f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:nope")


def test_resource_policies_are_stored_and_returned_in_aws_shape(lam: Any, fn: Any) -> None:
    name = fn.create()
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_policy(FunctionName=name)
    added = lam.add_permission(
        FunctionName=name, StatementId="s3-invoke", Action="lambda:InvokeFunction",
        Principal="s3.amazonaws.com", SourceArn="arn:aws:s3:::bucket",
    )  # fmt: skip
    statement = json.loads(added["Statement"])
    assert statement["Principal"] == {"Service": "s3.amazonaws.com"}
    assert statement["Condition"] == {"ArnLike": {"AWS:SourceArn": "arn:aws:s3:::bucket"}}
    policy = lam.get_policy(FunctionName=name)
    assert json.loads(policy["Policy"])["Statement"] == [statement]
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.add_permission(FunctionName=name, StatementId="s3-invoke",
                           Action="lambda:InvokeFunction", Principal="*")  # fmt: skip
    lam.remove_permission(FunctionName=name, StatementId="s3-invoke")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.remove_permission(FunctionName=name, StatementId="s3-invoke")


def test_an_operation_lambdalet_lacks_answers_an_aws_error_naming_it(lam: Any) -> None:
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        lam.get_function_code_signing_config(FunctionName="anything")
    assert error_of(caught) == ("NotImplementedException", 501)
    assert "GetFunctionCodeSigningConfig" in caught.value.response["Error"]["Message"]
