"""Functions: create, read, update and delete, and the errors of each, as AWS answers them."""

from __future__ import annotations

import base64
import io
import re
import zipfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import botocore.exceptions
import pytest

from tests.integration.conftest import ROLE, Daemon
from tests.integration.parity.conftest import RUNTIME, Maker, Scenario, short_uid

pytestmark = pytest.mark.privileged

Parity = Callable[[str], Scenario]
REGION = "us-east-1"
ACCOUNT = "000000000000"
ARN_PREFIX = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:"


def test_function_lifecycle(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_function_lifecycle")
    name = maker.name()
    p.expect("create_response", maker.function(name, MemorySize=256, Timeout=5))
    p.call("get_function_response", lam.get_function, FunctionName=name)
    p.replace("python3.11", RUNTIME)  # the update names python3.11 itself
    p.call(
        "update_func_conf_response",
        lam.update_function_configuration,
        FunctionName=name,
        Runtime=RUNTIME,
        Description="Changed-Description",
        MemorySize=512,
        Timeout=10,
        Environment={"Variables": {"ENV_A": "a"}},
    )
    p.call("get_function_response_postupdate", lam.get_function, FunctionName=name)
    code = maker.zip("def handler(event, context):\n    return {'version': 2}\n")
    p.call("update_code_response", lam.update_function_code, FunctionName=name, ZipFile=code)
    p.call("get_function_response_postcodeupdate", lam.get_function, FunctionName=name)
    p.call("delete_response", lam.delete_function, FunctionName=name)
    p.call("delete_postdelete", lam.delete_function, FunctionName=name)


def test_create_lambda_exceptions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_create_lambda_exceptions")
    base: dict[str, Any] = dict(
        FunctionName=maker.name("invalid-function"),
        Handler="index.handler",
        Code={"ZipFile": maker.zip()},
        PackageType="Zip",
        Role=ROLE,
        Runtime=RUNTIME,
    )
    p.call("invalid_role_arn_exc", lam.create_function, **{**base, "Role": "r1"})
    p.call(
        "invalid_runtime_exc",
        lam.create_function,
        **{**base, "Runtime": "non-existent-runtime"},
    )
    p.call("uppercase_runtime_exc", lam.create_function, **{**base, "Runtime": "PYTHON3.9"})
    p.call(
        "multiple_architectures",
        lam.create_function,
        **{**base, "Architectures": ["x86_64", "arm64"]},
    )
    p.call("uppercase_architecture", lam.create_function, **{**base, "Architectures": ["X86_64"]})
    p.call(
        "invalid_zip_exc",
        lam.create_function,
        **{
            **base,
            "Code": {"ZipFile": b"this is not a zipfile, just a random string"},
            "Runtime": "python3.9",
        },
    )


def test_function_arns(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_function_arns")
    full = maker.name("test-function-arn")
    maker.track(full)
    p.expect(
        "create-function-arn-response",
        lam.create_function(**maker.function_args(ARN_PREFIX + full)),
    )
    partial = maker.name("test-partial-arn")
    maker.track(partial)
    p.expect(
        "create-function-partial-arn-response",
        lam.create_function(**maker.function_args(f"{ACCOUNT}:function:{partial}")),
    )
    base: dict[str, Any] = dict(
        Handler="index.handler",
        Code={"ZipFile": maker.zip()},
        PackageType="Zip",
        Role=ROLE,
        Runtime=RUNTIME,
    )
    p.call(
        "invalid_function_name_exc",
        lam.create_function,
        FunctionName="invalid:function:name",
        **base,
    )
    p.call("long_function_name_exc", lam.create_function, FunctionName="a" * 65, **base)
    long_arn = ARN_PREFIX + "a" * (140 - len(ARN_PREFIX) + 1)
    p.call("long_function_arn_exc", lam.create_function, FunctionName=long_arn, **base)
    stray = maker.name()
    maker.track(stray)  # (lambdalet creates it: see the report)
    other_region = f"arn:aws:lambda:ap-southeast-1:{ACCOUNT}:function:{stray}"
    p.call("function_arn_other_region_exc", lam.create_function, FunctionName=other_region, **base)
    stray = maker.name()
    maker.track(stray)
    other_account = f"arn:aws:lambda:{REGION}:123456789012:function:{stray}"
    p.call(
        "function_arn_other_account_exc",
        lam.create_function,
        FunctionName=other_account,
        **base,
    )


_NAME_CASES = {
    "invalid_characters_in_function_name": {"FunctionName": "my-function!"},
    "function_name_is_single_invalid": {"FunctionName": "*"},
    "invalid_characters_in_qualifier": {"FunctionName": "my-function", "Qualifier": "invalid!"},
    "qualifier_too_long": {"FunctionName": "my-function", "Qualifier": "a" * 129},
    "invalid_account_id_in_partial_arn": {"FunctionName": "invalid-account:function:my-function"},
    "invalid_region_in_arn": {
        "FunctionName": f"arn:aws:lambda:invalid-region:{ACCOUNT}:function:my-function"
    },
    "non_lambda_arn": {
        "FunctionName": f"arn:aws:ec2:{REGION}:{ACCOUNT}:instance:i-1234567890abcdef0"
    },
    "function_name_too_long": {"FunctionName": "a" * 65},
    "function_name_too_long_and_invalid_region": {
        "FunctionName": f"arn:aws:lambda:invalid-region:{ACCOUNT}:function:my-function{'a' * 170}"
    },
    "full_arn_and_qualifier_too_long_and_invalid_region": {
        "FunctionName": f"arn:aws:lambda:invalid-region:{ACCOUNT}:function:my-function-{'a' * 170}",
        "Qualifier": "a" * 129,
    },
    "full_arn_with_multiple_qualifiers": {"FunctionName": ARN_PREFIX + "my-function:1:2"},
    "incomplete_arn": {"FunctionName": f"arn:aws:lambda:{REGION}:{ACCOUNT}:function"},
    "partial_arn_with_extra_qualifier": {"FunctionName": "function:my-function:$LATEST:extra"},
    "latest_version_with_additional_qualifier": {
        "FunctionName": ARN_PREFIX + "my-function:$LATEST",
        "Qualifier": "1",
    },
    "lowercase_latest_qualifier": {
        "FunctionName": ARN_PREFIX + "my-function",
        "Qualifier": "$latest",
    },
    "missing_region_in_arn": {"FunctionName": f"arn:aws:lambda::{ACCOUNT}:function:my-function"},
    "missing_account_id_in_arn": {"FunctionName": f"arn:aws:lambda:{REGION}::function:my-function"},
    "misspelled_latest_in_arn": {"FunctionName": ARN_PREFIX + "my-function:$LATES"},
}
_ERROR_PART = re.compile(r"(Value '.*?' at '.*?' failed to satisfy constraint: .+?(?=;|$))")


def _summary(response: dict[str, Any]) -> dict[str, Any]:
    """The recording's digest of an error: the code, and its constraint failures sorted (the
    order of several is not part of what AWS promises) or else its message."""
    message = response["Error"]["Message"]
    code = response["Error"]["Code"]
    parts = _ERROR_PART.findall(message)
    if parts:
        return {"Code": code, "Errors": sorted(parts), "Count": len(parts)}
    return {"Code": code, "Message": message}


@pytest.mark.parametrize("op", ["get_function", "delete_function", "invoke", "create_function"])
@pytest.mark.parametrize("case", list(_NAME_CASES))
def test_function_name_and_qualifier_validation(
    parity: Parity, lam: Any, maker: Maker, op: str, case: str
) -> None:
    if case == "incomplete_arn" and op == "create_function":
        pytest.skip("valid on AWS (it creates a function named 'function'); not recorded")
    p = parity(
        f"test_lambda_api::TestLambdaFunction::test_function_name_and_qualifier_validation[{case}-{op}]"
    )
    p.replace("<a:len(65)>", "a" * 65)
    p.replace("<a:len(129)>", "a" * 129)
    p.replace("<a:len(140)>", "a" * 140)
    p.replace("<a:len(170)>", "a" * 170)
    args: dict[str, Any] = dict(_NAME_CASES[case])
    if op == "create_function":
        name = args.pop("FunctionName")
        qualifier = args.pop("Qualifier", "")
        call: Callable[..., Any] = lam.create_function
        args = {
            "FunctionName": f"{name}:{qualifier}" if qualifier else name,
            "Handler": "index.handler",
            "Code": {"ZipFile": maker.zip()},
            "PackageType": "Zip",
            "Role": ROLE,
            "Runtime": RUNTIME,
        }
    else:
        call = getattr(lam, op)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        call(**args)
    p.expect_raw(f"{op}_exception", _summary(dict(caught.value.response)))


# -- shared by the scenarios below ---------------------------------------------------------------

# The handlers the recordings deployed (LocalStack's tests/aws/services/lambda_/functions/).
ECHO_CODE = (
    "import json\n\n\ndef handler(event, context):\n"
    "    # Just print the event that was passed to the Lambda\n"
    "    print(json.dumps(event))\n    return event\n"
)
PYTHON_VERSION_CODE = (
    "import sys\n\n\ndef handler(event, context):\n    return {\n"
    '        "version": "python{major}.{minor}".format(\n'
    "            major=sys.version_info.major, minor=sys.version_info.minor\n        )\n    }\n"
)
VERSION_CODE = (
    "def handler(event, context):\n    result = {\n"
    '        "version_id": "%s",\n'
    '        "invoked_arn": context.invoked_function_arn,\n'
    '        "version_from_ctx": context.function_version,\n    }\n'
    "    print(result)\n    return result\n"
)
NODE_CODE = (
    "exports.handler = async (event) => {\n"
    "   console.log(JSON.stringify(event))\n   return {\n     statusCode: 200,\n"
    "     body: JSON.stringify(`response from localstack lambda: ${JSON.stringify(event)}`),\n"
    "     isBase64Encoded: false,\n     headers: {}\n   }\n}\n"
)
# LocalStack's functions/echo.zip (index.py) and layers/testlayer.zip, byte for byte: the
# recorded TotalCodeSize differences are their sizes (276 and 169 bytes).
ECHO_ZIP = base64.b64decode(
    "UEsDBBQAAAAIAJF2T1TRIHNTbgAAAJIAAAAIABwAaW5kZXgucHlVVAkAAyGwC2KfxCRidXgLAAEE6AMAAAToAwAAJY1R"
    "DsIwDEP/ewpL/KwS4gAcYeISgQZtaE2rJAWOz8j8Zcn281p7U8fLmqSUCj+xkJSNdeI3i5/xaOL89XxN2HXCPMzRdRWH"
    "L4xo7Y4cHzJ0MuMCbxHeqN4LxTAW0//mUkbtduBzjlDZh8rBSj9QSwECHgMUAAAACACRdk9U0SBzU24AAACSAAAACAAY"
    "AAAAAAABAAAAtIEAAAAAaW5kZXgucHlVVAUAAyGwC2J1eAsAAQToAwAABOgDAABQSwUGAAAAAAEAAQBOAAAAsAAAAAAA"
)
TEST_LAYER_ZIP = base64.b64decode(
    "UEsDBAoAAAAAAPtOcVWGphA2BQAAAAUAAAAHABwAbXNnLnR4dFVUCQADGfd1Yxf3dWN1eAsAAQToAwAABOgDAABoZWxs"
    "b1BLAQIeAwoAAAAAAPtOcVWGphA2BQAAAAUAAAAHABgAAAAAAAEAAACkgQAAAABtc2cudHh0VVQFAAMZ93VjdXgLAAEE"
    "6AMAAAToAwAAUEsFBgAAAAABAAEATQAAAEYAAAAAAA=="
)
# A runtime every lambdalet host has, standing in where a recording switched to one this host
# cannot run (python3.8, nodejs18.x): the answers only echo the name back.
OTHER_RUNTIME = "provided.al2023"
KB = 1024
# What the recordings assert without a label (LocalStack's plain `assert`s) and lambdalet does
# otherwise: printed at the end of the module (`pytest -s`), for the report.
NOTES: list[str] = []


@pytest.fixture(scope="module", autouse=True)
def _print_notes() -> Iterator[None]:
    yield
    for note in NOTES:
        print("NOTE:", note)


def create_args(name: str, code: bytes, **settings: Any) -> dict[str, Any]:
    """CreateFunction's arguments as LocalStack's `create_lambda_function_aws` sends them:
    only what the test names (no Timeout, Environment or Tags of the other fixture)."""
    args: dict[str, Any] = {
        "FunctionName": name,
        "Handler": "index.handler",
        "Code": {"ZipFile": code},
        "PackageType": "Zip",
        "Role": ROLE,
        "Runtime": RUNTIME,
    }
    args.update(settings)
    return args


def call_any(p: Scenario, label: str, method: Callable[..., Any], /, **kwargs: Any) -> None:
    """`p.call`, also when the request never got an HTTP answer (a dropped connection counts as
    a difference, not a crash)."""
    try:
        p.call(label, method, **kwargs)
    except botocore.exceptions.BotoCoreError as exc:
        p.expect(
            label,
            {
                "Error": {"Code": type(exc).__name__, "Message": str(exc)},
                "ResponseMetadata": {"HTTPStatusCode": 0},
            },
        )


def stored_zip(text: str, filename: str = "handler.py") -> bytes:
    """One file, uncompressed (as the recordings' zips were: Python's zipfile default)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr(zipfile.ZipInfo(filename, date_time=(2020, 1, 1, 0, 0, 0)), text)
    return buf.getvalue()


# -- TestLambdaFunction ---------------------------------------------------------------------------


def test_redundant_updates(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_redundant_updates")
    name = maker.name()
    maker.track(name)
    p.call(
        "create_response",
        lam.create_function,
        **maker.function_args(name, Description="Initial description"),
    )
    p.call(
        "first_update_result",
        lam.update_function_configuration,
        FunctionName=name,
        Description="1st update description",
    )
    p.call("get_fn_config_result", lam.get_function_configuration, FunctionName=name)
    p.call("get_fn_result", lam.get_function, FunctionName=name)
    p.call(
        "redundant_update_result",
        lam.update_function_configuration,
        FunctionName=name,
        Description="1st update description",
    )
    p.call("get_fn_result_after_redundant_update", lam.get_function, FunctionName=name)


@pytest.mark.parametrize("op", ["delete_function", "get_function", "get_function_configuration"])
def test_ops_with_arn_qualifier_mismatch(parity: Parity, lam: Any, op: str) -> None:
    p = parity(f"test_lambda_api::TestLambdaFunction::test_ops_with_arn_qualifier_mismatch[{op}]")
    method = getattr(lam, op)
    p.call(
        "not_match_exception",
        method,
        FunctionName=ARN_PREFIX + "some-function:1",
        Qualifier="$LATEST",
    )
    p.call(
        "match_exception",
        method,
        FunctionName=ARN_PREFIX + "some-function:$LATEST",
        Qualifier="$LATEST",
    )


@pytest.mark.parametrize("op", ["get_function", "get_function_configuration"])
def test_ops_on_nonexisting_version(parity: Parity, lam: Any, maker: Maker, op: str) -> None:
    p = parity(f"test_lambda_api::TestLambdaFunction::test_ops_on_nonexisting_version[{op}]")
    name = f"i-exist-{short_uid()}"
    maker.track(name)
    lam.create_function(**maker.function_args(name, Description="Initial description"))
    p.call("version_not_found_exception", getattr(lam, op), FunctionName=name, Qualifier="1221")


def test_delete_on_nonexisting_version(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_delete_on_nonexisting_version")
    name = f"i-exist-{short_uid()}"
    maker.track(name)
    lam.create_function(**maker.function_args(name, Description="Initial description"))
    # AWS deletes a version that never existed without complaint (not recorded: asserted).
    for _ in range(2):
        response = lam.delete_function(FunctionName=name, Qualifier="1233")
        assert response["ResponseMetadata"]["HTTPStatusCode"] == 204
    lam.delete_function(FunctionName=name)
    p.call("delete_function_response_non_existent", lam.delete_function, FunctionName=name)
    p.call(
        "delete_function_response_non_existent_with_qualifier",
        lam.delete_function,
        FunctionName=name,
        Qualifier="1233",
    )


# get_function_code_signing_config and get_function_event_invoke_config are recorded too, but
# lambdalet has neither code signing nor event invoke configs.
@pytest.mark.parametrize(
    "op",
    [
        "delete_function",
        "get_function",
        "get_function_configuration",
        "get_function_url_config",
        "get_function_concurrency",
    ],
)
def test_ops_on_nonexisting_fn(parity: Parity, lam: Any, op: str) -> None:
    p = parity(f"test_lambda_api::TestLambdaFunction::test_ops_on_nonexisting_fn[{op}]")
    p.call("not_found_exception", getattr(lam, op), FunctionName=f"i-dont-exist-{short_uid()}")


@pytest.mark.parametrize(
    "op",
    [
        "get_function",
        "get_function_configuration",
        "get_function_url_config",
        "get_function_concurrency",
        "delete_function",
        "invoke",
    ],
)
def test_get_function_wrong_region(parity: Parity, lam: Any, maker: Maker, op: str) -> None:
    p = parity(f"test_lambda_api::TestLambdaFunction::test_get_function_wrong_region[{op}]")
    name = f"i-exist-{short_uid()}"
    maker.track(name)
    lam.create_function(**maker.function_args(name, Description="Initial description"))
    wrong_region_arn = f"arn:aws:lambda:eu-central-1:{ACCOUNT}:function:{name}"
    p.call("wrong_region_exception", getattr(lam, op), FunctionName=wrong_region_arn)


def _code_at(location: str) -> bytes | None:
    """The bytes behind GetFunction's Code.Location, when this host can read them."""
    parsed = urlparse(location)
    if parsed.scheme == "file":
        try:
            return Path(unquote(parsed.path)).read_bytes()
        except OSError:
            return None
    return None


def test_lambda_code_location_zipfile(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_lambda_code_location_zipfile")
    name = f"code-function-{short_uid()}"
    maker.track(name)
    code = maker.zip(ECHO_CODE)
    p.call("create-response-zip-file", lam.create_function, **create_args(name, code))
    got = p.call("get-function-response", lam.get_function, FunctionName=name)
    location = got.get("Code", {}).get("Location", "")
    if _code_at(location) != code:
        NOTES.append(f"Code.Location {location!r} does not serve the uploaded zip")
    updated = maker.zip(PYTHON_VERSION_CODE)
    p.call("update-function-response", lam.update_function_code, FunctionName=name, ZipFile=updated)
    got = p.call("get-function-response-updated", lam.get_function, FunctionName=name)
    location = got.get("Code", {}).get("Location", "")
    if _code_at(location) != updated:
        NOTES.append(f"Code.Location {location!r} does not serve the updated zip")


def test_update_lambda_exceptions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_update_lambda_exceptions")
    name = f"invalid-function-{short_uid()}"
    maker.track(name)
    lam.create_function(**create_args(name, maker.zip(ECHO_CODE)))
    update = lam.update_function_configuration
    p.call("invalid_role_arn_exc", update, FunctionName=name, Role="r1")
    p.call("invalid_runtime_exc", update, FunctionName=name, Runtime="non-existent-runtime")
    p.call("uppercase_runtime_exc", update, FunctionName=name, Runtime="PYTHON3.9")


def _list_every_page(lam: Any, **kwargs: Any) -> dict[str, Any]:
    """ListFunctions one item a page (the recording's PageSize 1), the pages joined."""
    functions: list[dict[str, Any]] = []
    marker: str | None = None
    while True:
        args = {"MaxItems": 1, **kwargs, **({"Marker": marker} if marker else {})}
        try:
            page: dict[str, Any] = lam.list_functions(**args)
        except botocore.exceptions.ClientError as exc:
            return dict(exc.response)
        functions += page["Functions"]
        marker = page.get("NextMarker")
        if not marker:
            return {"Functions": functions}


def test_list_functions(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_list_functions")
    first, second = f"list-fn-1-{short_uid()}", f"list-fn-2-{short_uid()}"
    maker.track(first)
    maker.track(second)
    p.call("create_response_1", lam.create_function, **maker.function_args(first, Publish=True))
    p.call("create_response_2", lam.create_function, **maker.function_args(second))
    p.call("list_functions_invalid_functionversion", lam.list_functions, FunctionVersion="invalid")
    for label, args in (("list_all", {"FunctionVersion": "ALL"}), ("list_default", {})):
        listed = _list_every_page(lam, **args)
        if "Functions" in listed:
            mine = [f for f in listed["Functions"] if f["FunctionName"] in (first, second)]
            # (the recording sorted by FunctionArn and kept no metadata: a paginator's result)
            p.expect_raw(label, {"Functions": sorted(mine, key=lambda f: str(f["FunctionArn"]))})
        else:
            p.expect_raw(label, listed)


VPC_ID = "vpc-parity-fn"
VPC_SUBNETS = ("subnet-parity1", "subnet-parity2")
VPC_GROUPS = ("sg-parity1", "sg-parity2")


@contextmanager
def a_vpc(daemon: Daemon) -> Iterator[None]:
    """A VPC on the daemon with two subnets and two security groups (what the recordings
    created in EC2, or found in the account's default VPC)."""
    a = 200 + daemon.n % 50
    doc = {
        "cidr": f"10.{a}.0.0/16",
        "subnets": [
            {"id": subnet, "cidr": f"10.{a}.{i}.0/24"} for i, subnet in enumerate(VPC_SUBNETS, 1)
        ],
        "security_groups": [{"id": group} for group in VPC_GROUPS],
    }
    path = f"/lambdalet/v1/vpcs/{VPC_ID}"
    resp = daemon.client.json_request("PUT", path, doc)
    assert resp.status == 200, resp.body
    try:
        yield
    finally:
        daemon.client.request("DELETE", path)


def test_vpc_config(parity: Parity, lam: Any, maker: Maker, daemon: Daemon) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_vpc_config")
    name = f"fn-{short_uid()}"
    maker.track(name)
    with a_vpc(daemon):
        try:
            vpc = {"SubnetIds": [VPC_SUBNETS[0]], "SecurityGroupIds": [VPC_GROUPS[0]]}
            args = maker.function_args(name, MemorySize=256, Timeout=5, VpcConfig=vpc)
            p.call("create_response", lam.create_function, **args)
            p.call("get_function_response", lam.get_function, FunctionName=name)
            p.call(
                "update_vpcconfig_update_response",
                lam.update_function_configuration,
                FunctionName=name,
                VpcConfig={"SubnetIds": [VPC_SUBNETS[1]], "SecurityGroupIds": [VPC_GROUPS[1]]},
            )
            p.call("update_vpcconfig_get_function_response", lam.get_function, FunctionName=name)
            p.call(
                "delete_vpcconfig_update_response",
                lam.update_function_configuration,
                FunctionName=name,
                VpcConfig={"SubnetIds": [], "SecurityGroupIds": []},
            )
            p.call("delete_vpcconfig_get_function_response", lam.get_function, FunctionName=name)
        finally:  # the VPC cannot go while a function uses it
            try:
                lam.delete_function(FunctionName=name)
            except botocore.exceptions.ClientError:
                pass


def test_invalid_vpc_config_subnet(parity: Parity, lam: Any, maker: Maker, daemon: Daemon) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_invalid_vpc_config_subnet")
    code = maker.zip(ECHO_CODE)
    with a_vpc(daemon):
        for label, subnet in (
            ("create-response-non-existent-subnet-id", f"subnet-{short_uid()}"),
            ("create-response-invalid-format-subnet-id", f"bad-format-{short_uid()}"),
        ):
            name = f"fn-{short_uid()}"
            maker.track(name)
            vpc = {"SubnetIds": [subnet], "SecurityGroupIds": [VPC_GROUPS[0]]}
            p.call(label, lam.create_function, **create_args(name, code, VpcConfig=vpc))


def test_invalid_vpc_config_security_group(
    parity: Parity, lam: Any, maker: Maker, daemon: Daemon
) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_invalid_vpc_config_security_group")
    code = maker.zip(ECHO_CODE)
    subnet = f"subnet-{short_uid()}"  # does not exist: the group is checked first
    with a_vpc(daemon):
        for label, group in (
            ("create-response-non-existent-security-group", f"sg-{short_uid()}"),
            ("create-response-invalid-format-security-group", f"bad-format-{short_uid()}"),
        ):
            name = f"fn-{short_uid()}"
            maker.track(name)
            vpc = {"SubnetIds": [subnet], "SecurityGroupIds": [group]}
            p.call(label, lam.create_function, **create_args(name, code, VpcConfig=vpc))


def test_invalid_invoke(parity: Parity, lam: Any) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_invalid_invoke")
    p.call(
        "invoke_function_name_pattern_exc",
        lam.invoke,
        FunctionName=f"arn:aws:lambda:{REGION}:123400000000@function:myfn",
        Payload=b"{}",
    )


# The second label of both (ResourceConflictException while an update is in progress) cannot
# happen here: lambdalet finishes an update before it answers, so there is never one in
# progress (the `State`/`LastUpdateStatus` entry of kept.py).
def test_lambda_concurrent_code_updates(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_lambda_concurrent_code_updates")
    name = f"test-lambda-{short_uid()}"
    maker.track(name)
    p.call(
        "create-function-response",
        lam.create_function,
        FunctionName=name,
        Runtime=RUNTIME,
        Role=ROLE,
        Handler="handler.handler",
        Code={"ZipFile": maker.zip(VERSION_CODE % "version0")},
    )


def test_lambda_concurrent_config_updates(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaFunction::test_lambda_concurrent_config_updates")
    name = f"test-lambda-{short_uid()}"
    maker.track(name)
    p.call("create-function-response", lam.create_function, **maker.function_args(name))


# -- TestPartialARNMatching (nothing recorded: each call must succeed) ----------------------------


def test_update_function_configuration_full_arn(lam: Any, maker: Maker) -> None:
    name = f"fn-{short_uid()}"
    arn = maker.function(name, MemorySize=256, Timeout=5)["FunctionArn"]
    partial = ":".join(arn.split(":")[-3:])
    for each in (arn, name, partial):
        lam.update_function_configuration(
            FunctionName=each,
            Description="Changed-Description",
            MemorySize=512,
            Timeout=10,
            Environment={"Variables": {"ENV_A": "a"}},
        )


# -- TestLambdaSizeLimits -----------------------------------------------------------------------


def _sized(size: int) -> str:
    """The echo handler padded with #s to `size` characters (the recordings' generator)."""
    return ECHO_CODE + "#" * (size - len(ECHO_CODE))


ZIPPED_LIMIT = 52_428_800  # AWS's limits, as LocalStack's config names them
REQUEST_LIMIT = 70_167_211


def test_oversized_request_create_lambda(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaSizeLimits::test_oversized_request_create_lambda")
    name = f"test_lambda_{short_uid()}"
    maker.track(name)
    code = stored_zip(_sized(ZIPPED_LIMIT - 1024))  # just under the zipped limit
    large_env = _sized(REQUEST_LIMIT - ZIPPED_LIMIT + 1024 * 1024)
    call_any(
        p,
        "invalid_param_exc",
        lam.create_function,
        FunctionName=name,
        Runtime=RUNTIME,
        Handler="handler.handler",
        Role=ROLE,
        Code={"ZipFile": code},
        Timeout=10,
        Environment={"Variables": {"largeKey": large_env}},
    )


def test_oversized_zipped_create_lambda(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaSizeLimits::test_oversized_zipped_create_lambda")
    name = f"test_lambda_{short_uid()}"
    maker.track(name)
    call_any(
        p,
        "invalid_param_exc",
        lam.create_function,
        FunctionName=name,
        Runtime=RUNTIME,
        Handler="handler.handler",
        Role=ROLE,
        Code={"ZipFile": stored_zip(_sized(ZIPPED_LIMIT))},
        Timeout=10,
    )


def test_large_environment_variables_fails(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaSizeLimits::test_large_environment_variables_fails")
    name = f"large-envvar-lambda-{short_uid()}"
    maker.track(name)
    # 7 bytes of JSON around one pair; reserving 6 makes the whole one byte too big
    value = "x" * (4 * KB - 6 - len("LARGE_VAR"))
    env = {"Variables": {"LARGE_VAR": value}}
    p.call(
        "failed_create_fn_result", lam.create_function, **maker.function_args(name, Environment=env)
    )
    try:
        lam.get_function(FunctionName=name)
        NOTES.append("a function refused for its environment was created anyway")
    except botocore.exceptions.ClientError:
        pass


def test_large_environment_fails_multiple_keys(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaSizeLimits::test_large_environment_fails_multiple_keys")
    name = f"large-envvar-lambda-{short_uid()}"
    maker.track(name)
    env = {"Variables": {"SMALL_VAR": "ok", "LARGE_VAR": "x" * 4064}}  # 4097 bytes as JSON
    p.call(
        "failured_create_fn_result_multi_key",
        lam.create_function,
        **maker.function_args(name, Environment=env),
    )


def test_lambda_envvars_near_limit_succeeds(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLambdaSizeLimits::test_lambda_envvars_near_limit_succeeds")
    name = f"large-envvar-lambda-{short_uid()}"
    maker.track(name)
    value = "x" * (4 * KB - 7 - len("LARGE_VAR"))  # exactly 4 KB as JSON
    env = {"Variables": {"LARGE_VAR": value}}
    p.call(
        "successful_create_fn_result",
        lam.create_function,
        **maker.function_args(name, Environment=env),
    )


# -- TestLambdaAccountSettings ----------------------------------------------------------------


def test_account_settings(parity: Parity, lam: Any) -> None:
    p = parity("test_lambda_api::TestLambdaAccountSettings::test_account_settings")
    settings = dict(lam.get_account_settings())
    # Limits and usage differ per account: the recording kept only their keys.
    settings["AccountLimit"] = sorted(settings.get("AccountLimit", {}))
    settings["AccountUsage"] = sorted(settings.get("AccountUsage", {}))
    p.expect("acc_settings_modded", settings)


def _total_code_size(lam: Any) -> int:
    size: int = lam.get_account_settings()["AccountUsage"]["TotalCodeSize"]
    return size


# TestLambdaAccountSettings' other two tests recorded only numbers the test computed (record.py
# keeps no bare values): AWS counted every version's and layer version's zip (276 and 169 bytes
# for its packages); here the same rule, for this module's packages.


def _note_unless(what: str, aws: object, lambdalet: object) -> None:
    assert aws == lambdalet, f"{what}: AWS's rule gives {aws!r}, lambdalet {lambdalet!r}"


def test_account_settings_total_code_size(lam: Any, maker: Maker) -> None:
    what = "TestLambdaAccountSettings::test_account_settings_total_code_size"
    size0 = _total_code_size(lam)
    name = f"lambda_func-{short_uid()}"
    maker.function(name, Handler="index.handler", Code={"ZipFile": ECHO_ZIP})
    size1 = _total_code_size(lam)
    _note_unless(f"{what} total_code_size_diff_create_function", len(ECHO_ZIP), size1 - size0)
    lam.update_function_code(FunctionName=name, ZipFile=ECHO_ZIP, Publish=True)
    size2 = _total_code_size(lam)
    _note_unless(f"{what} total_code_size_diff_update_function", len(ECHO_ZIP), size2 - size1)
    layer = f"testlayer-{short_uid()}"
    for label in ("publish_layer", "publish_layer_version"):
        before = _total_code_size(lam)
        version = lam.publish_layer_version(LayerName=layer, Content={"ZipFile": TEST_LAYER_ZIP})
        maker.track_layer(layer, version["Version"])
        grew = _total_code_size(lam) - before
        _note_unless(f"{what} total_code_size_diff_{label}", len(TEST_LAYER_ZIP), grew)


def test_account_settings_total_code_size_config_update(lam: Any, maker: Maker) -> None:
    what = "TestLambdaAccountSettings::test_account_settings_total_code_size_config_update"
    size0 = _total_code_size(lam)
    name = f"lambda_func-{short_uid()}"
    # The recording went nodejs18.x -> nodejs20.x; any two runtimes say the same.
    maker.function(name, Code={"ZipFile": maker.zip(NODE_CODE, "handler.js")})
    size1 = _total_code_size(lam)
    _note_unless(f"{what} create_function_more_than_200", True, size1 - size0 > 200)
    lam.update_function_configuration(FunctionName=name, Runtime=OTHER_RUNTIME)
    size2 = _total_code_size(lam)
    _note_unless(f"{what} update_function_configuration", 0, size2 - size1)
    lam.publish_version(FunctionName=name, Description="actually publish the config update")
    size3 = _total_code_size(lam)
    _note_unless(
        f"{what} publish_version_after_config_update_more_than_200", True, size3 - size2 > 200
    )


# -- TestLoggingConfig ----------------------------------------------------------------------


def _create_logging_fn(p: Scenario, lam: Any, maker: Maker, **settings: Any) -> str:
    name = f"fn-{short_uid()}"
    maker.track(name)
    p.call(
        "create_response",
        lam.create_function,
        **maker.function_args(name, MemorySize=256, Timeout=5, **settings),
    )
    p.call("get_function_response", lam.get_function, FunctionName=name)
    p.call("function_config", lam.get_function_configuration, FunctionName=name)
    return name


def test_function_advanced_logging_configuration(parity: Parity, lam: Any, maker: Maker) -> None:
    p = parity("test_lambda_api::TestLoggingConfig::test_function_advanced_logging_configuration")
    name = _create_logging_fn(p, lam, maker, LoggingConfig={"LogFormat": "JSON"})
    advanced = {
        "LogFormat": "JSON",
        "ApplicationLogLevel": "INFO",
        "SystemLogLevel": "INFO",
        "LogGroup": "cool_lambda",
    }
    p.call(
        "updated_config",
        lam.update_function_configuration,
        FunctionName=name,
        LoggingConfig=advanced,
    )
    p.call("received_config", lam.get_function_configuration, FunctionName=name)


def test_advanced_logging_configuration_format_switch(
    parity: Parity, lam: Any, maker: Maker
) -> None:
    p = parity(
        "test_lambda_api::TestLoggingConfig::test_advanced_logging_configuration_format_switch"
    )
    name = _create_logging_fn(p, lam, maker)
    for suffix, log_format in (("", "JSON"), ("_v2", "Text")):
        p.call(
            f"updated_config{suffix}",
            lam.update_function_configuration,
            FunctionName=name,
            LoggingConfig={"LogFormat": log_format},
        )
        p.call(f"received_config{suffix}", lam.get_function_configuration, FunctionName=name)


PARTIAL_LOGGING_CONFIGS = [
    {"LogFormat": "JSON"},
    {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG"},
    {"LogFormat": "JSON", "SystemLogLevel": "DEBUG"},
    {"LogGroup": "cool_lambda"},
]


@pytest.mark.parametrize("variant", [f"partial_config{i}" for i in range(4)])
def test_function_partial_advanced_logging_configuration_update(
    parity: Parity, lam: Any, maker: Maker, variant: str
) -> None:
    p = parity(
        f"test_lambda_api::TestLoggingConfig::test_function_partial_advanced_logging_configuration_update[{variant}]"
    )
    name = _create_logging_fn(p, lam, maker)
    p.call(
        "updated_config",
        lam.update_function_configuration,
        FunctionName=name,
        LoggingConfig=PARTIAL_LOGGING_CONFIGS[int(variant.removeprefix("partial_config"))],
    )
    p.call("received_config", lam.get_function_configuration, FunctionName=name)


# -- TestRuntimeValidation ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "runtime",
    [
        "java8",
        "go1.x",
        "provided",
        "ruby2.7",
        "nodejs14.x",
        "python3.7",
        "dotnetcore3.1",
        "nodejs12.x",
    ],
)
def test_create_deprecated_function_runtime_with_validation_enabled(
    parity: Parity, lam: Any, maker: Maker, runtime: str
) -> None:
    p = parity(
        f"test_lambda_api::TestRuntimeValidation::test_create_deprecated_function_runtime_with_validation_enabled[{runtime}]"
    )
    name = f"fn-{short_uid()}"
    maker.track(name)
    p.call(
        "deprecation_error",
        lam.create_function,
        FunctionName=name,
        Runtime=runtime,
        Handler="handler.handler",
        Role=ROLE,
        Code={"ZipFile": maker.zip(ECHO_CODE)},
    )
