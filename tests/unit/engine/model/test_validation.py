"""CreateFunction / UpdateFunction* bodies: what is accepted, and the exact error AWS would give.

Each body goes through what the API does with it: the service model's constraints
(`engine.api.validation`, derived from botocore's model), then the parser's own rules.
"""

from __future__ import annotations

import base64
import io
import zipfile
from typing import Any

import pytest

from engine.api.validation import RULES, lambda_model
from engine.errors import (
    AccessDeniedException,
    ApiError,
    InvalidParameterValueException,
    InvalidRequestContentException,
    NotImplementedApiError,
    RequestEntityTooLargeException,
    ResourceNotFoundException,
    ValidationException,
)
from engine.model.code import decode_zip_file
from engine.model.function import FunctionConfig
from engine.model.function_requests import (
    CodeUpdate,
    ConfigurationChanges,
    CreateFunctionRequest,
    parse_create_function,
    parse_update_function_code,
    parse_update_function_configuration,
)
from engine.model.limits import MAX_ZIP_BYTES
from engine.model.names import parse_function_name, validate_max_items
from engine.shapes.validate import Rules, check

RUNTIMES = ("python3.11",)
ROLE = "arn:aws:iam::000000000000:role/lambda-role"
DROP = object()  # marks a key to remove from the base body
NAMESPACED_FN_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_\.]+)(:(\$LATEST(\.PUBLISHED)?|[a-zA-Z0-9-_]+))?"
)
FN_PATTERN = (
    r"(arn:(aws[a-zA-Z-]*)?:lambda:)?((eusc-)?[a-z]{2}((-gov)|(-iso([a-z]?)))?-[a-z]+-\d{1}:)?"
    r"(\d{12}:)?(function:)?([a-zA-Z0-9-_]+)(:(\$LATEST|[a-zA-Z0-9-_]+))?"
)


def make_zip() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr("app.py", "def handler(event, context):\n    return event\n")
    return buf.getvalue()


ZIP = make_zip()
ZIP_B64 = base64.b64encode(ZIP).decode()


def create_body(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "FunctionName": "my-fn",
        "Runtime": "python3.11",
        "Handler": "app.handler",
        "Role": ROLE,
        "Code": {"ZipFile": ZIP_B64},
    }
    for key, value in changes.items():
        if value is DROP:
            body.pop(key, None)
        else:
            body[key] = value
    return body


def validated(operation: str, body: dict[str, Any]) -> dict[str, Any]:
    """`body` past the API boundary's model check for `operation`."""
    model = lambda_model()
    shape = model.operations[operation].input
    assert shape is not None
    check(model, shape, body, RULES.get(operation, RULES_NONE))
    return body


RULES_NONE = Rules()


def create(**changes: Any) -> CreateFunctionRequest:
    body = validated("CreateFunction", create_body(**changes))
    return parse_create_function(body, supported_runtimes=RUNTIMES)


def one(violation: str) -> str:
    return f"1 validation error detected: {violation}"


def expect(error: type[ApiError], message: str, **changes: Any) -> None:
    with pytest.raises(ApiError) as caught:
        create(**changes)
    assert type(caught.value) is error
    assert caught.value.message == message


# --- CreateFunction: accepted --------------------------------------------------------------


def test_minimal_request_gets_aws_defaults() -> None:
    req = create()
    assert req == CreateFunctionRequest(
        name="my-fn",
        runtime="python3.11",
        handler="app.handler",
        role=ROLE,
        description="",
        memory_mb=128,
        timeout_s=3,
        ephemeral_storage_mb=512,
        environment={},
        architectures=("x86_64",),
        zip_bytes=ZIP,
        publish=False,
    )


def test_full_request_is_carried_over() -> None:
    req = create(
        Description="d" * 256,
        MemorySize=10240,
        Timeout=900,
        EphemeralStorage={"Size": 10240},
        Environment={"Variables": {"STAGE": "prod", "DB_HOST": "db"}},
        Architectures=["x86_64"],
        Publish=True,
        Tags={"team": "a"},
        TracingConfig={"Mode": "Active"},
    )
    assert (req.memory_mb, req.timeout_s, req.ephemeral_storage_mb) == (10240, 900, 10240)
    assert req.environment == {"STAGE": "prod", "DB_HOST": "db"}
    assert req.description == "d" * 256
    assert req.publish is True


@pytest.mark.parametrize(
    ("raw", "name"),
    [
        ("arn:aws:lambda:us-east-1:000000000000:function:my-fn", "my-fn"),
        ("000000000000:function:my-fn", "my-fn"),
        ("A_b-9", "A_b-9"),
        ("x" * 64, "x" * 64),
    ],
)
def test_create_accepts_arn_forms_and_returns_the_bare_name(raw: str, name: str) -> None:
    assert create(FunctionName=raw).name == name


@pytest.mark.parametrize(
    "field_value",
    [
        {"VpcConfig": {}},
        {"VpcConfig": {"SubnetIds": [], "SecurityGroupIds": [], "Ipv6AllowedForDualStack": False}},
        {"Layers": []},
        {"DeadLetterConfig": {}},
        {"KMSKeyArn": ""},
        {"FileSystemConfigs": []},
        {"ImageConfig": {}},
        {"SnapStart": {"ApplyOn": "None"}},
        {"LoggingConfig": {"LogFormat": "Text", "LogGroup": "/aws/lambda/my-fn"}},
        {"UnknownFutureField": {"anything": 1}},
    ],
)
def test_default_valued_unsupported_fields_are_accepted(field_value: dict[str, Any]) -> None:
    assert create(**field_value).name == "my-fn"


def test_integral_float_is_an_integer() -> None:
    assert create(MemorySize=256.0).memory_mb == 256


def test_environment_exactly_4kb_is_accepted() -> None:
    # {"AB":"..."} is 9 bytes of JSON around the value.
    req = create(Environment={"Variables": {"AB": "v" * (4096 - 9)}})
    assert len(req.environment["AB"]) == 4087


def test_repr_hides_secrets_and_code() -> None:
    req = create(Environment={"Variables": {"PASSWORD": "hunter2"}})
    assert "hunter2" not in repr(req)
    assert "zip_bytes" not in repr(req)


# --- CreateFunction: the model's constraints (ValidationException) --------------------------


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        (
            {"MemorySize": 20000},
            "Value '20000' at 'memorySize' failed to satisfy constraint: "
            "Member must have value less than or equal to 10240",
        ),
        (
            {"MemorySize": 127},
            "Value '127' at 'memorySize' failed to satisfy constraint: "
            "Member must have value greater than or equal to 128",
        ),
        (
            {"Timeout": 0},
            "Value '0' at 'timeout' failed to satisfy constraint: "
            "Member must have value greater than or equal to 1",
        ),
        (
            {"Timeout": 901},
            "Value '901' at 'timeout' failed to satisfy constraint: "
            "Member must have value less than or equal to 900",
        ),
        (
            {"EphemeralStorage": {"Size": 511}},
            "Value '511' at 'ephemeralStorage.size' failed to satisfy constraint: "
            "Member must have value greater than or equal to 512",
        ),
        (
            {"EphemeralStorage": {"Size": 10241}},
            "Value '10241' at 'ephemeralStorage.size' failed to satisfy constraint: "
            "Member must have value less than or equal to 10240",
        ),
        (
            {"EphemeralStorage": {}},
            "Value null at 'ephemeralStorage.size' failed to satisfy constraint: "
            "Member must not be null",
        ),
        (
            {"Role": "not-a-role"},
            "Value 'not-a-role' at 'role' failed to satisfy constraint: Member must satisfy "
            r"regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:role/?"
            r"[a-zA-Z_0-9+=,.@\-_/]+",
        ),
        (
            {"Role": DROP},
            "Value null at 'role' failed to satisfy constraint: Member must not be null",
        ),
        (
            {"FunctionName": DROP},
            "Value null at 'functionName' failed to satisfy constraint: Member must not be null",
        ),
        (
            {"Code": DROP},
            "Value null at 'code' failed to satisfy constraint: Member must not be null",
        ),
        (
            {"FunctionName": "my fn"},
            "Value 'my fn' at 'functionName' failed to satisfy constraint: "
            f"Member must satisfy regular expression pattern: {FN_PATTERN}",
        ),
        (
            {"Handler": "app handler"},
            "Value 'app handler' at 'handler' failed to satisfy constraint: "
            r"Member must satisfy regular expression pattern: [^\s]+",
        ),
        (
            {"Handler": "h" * 129},
            f"Value '{'h' * 129}' at 'handler' failed to satisfy constraint: "
            "Member must have length less than or equal to 128",
        ),
        (
            {"Description": "d" * 257},
            f"Value '{'d' * 257}' at 'description' failed to satisfy constraint: "
            "Member must have length less than or equal to 256",
        ),
        (
            {"Architectures": ["x86_64", "arm64"]},
            "Value '[x86_64, arm64]' at 'architectures' failed to satisfy constraint: "
            "Member must have length less than or equal to 1",
        ),
        (
            {"Architectures": ["sparc"]},
            "Value '[sparc]' at 'architectures' failed to satisfy constraint: Member must "
            "satisfy constraint: [Member must satisfy enum value set: [x86_64, arm64], "
            "Member must not be null]",
        ),
        (
            {"Environment": {"Variables": {"1BAD": "x"}}},
            "Value at 'environment.variables' failed to satisfy constraint: Map keys must "
            "satisfy constraint: [Member must satisfy regular expression pattern: "
            "[a-zA-Z]([a-zA-Z0-9_])+]",
        ),
        (
            {"PackageType": "Tarball"},
            "Value 'Tarball' at 'packageType' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Zip, Image]",
        ),
        (
            {"TracingConfig": {"Mode": "Loud"}},
            "Value 'Loud' at 'tracingConfig.mode' failed to satisfy constraint: "
            "Member must satisfy enum value set: [Active, PassThrough]",
        ),
    ],
)
def test_model_constraints(changes: dict[str, Any], message: str) -> None:
    expect(ValidationException, one(message), **changes)


def test_a_bare_name_over_64_characters_is_an_invalid_value_worded_as_validation() -> None:
    expect(
        InvalidParameterValueException,
        one(
            f"Value '{'x' * 65}' at 'functionName' failed to satisfy constraint: "
            "Member must have length less than or equal to 64"
        ),
        FunctionName="x" * 65,
    )


def test_unknown_runtime_names_the_runtimes_aws_supports() -> None:
    expect(
        InvalidParameterValueException,
        "Value python9 at 'runtime' failed to satisfy constraint: Member must satisfy enum "
        "value set: [nodejs20.x, python3.14, provided.al2023, python3.12, python3.13, "
        "nodejs24.x, nodejs22.x, java25, python3.10, python3.11, java21, ruby3.3, ruby3.4, "
        "ruby3.2, python3.8, python3.9, java17, nodejs16.x, dotnet10, dotnet8, java11, dotnet6,"
        " nodejs18.x, provided.al2, java8.al2] or be a valid ARN",
        Runtime="python9",
    )


def test_a_deprecated_runtime_is_no_longer_supported() -> None:
    expect(
        InvalidParameterValueException,
        "The runtime parameter of go1.x is no longer supported for creating or updating AWS "
        "Lambda functions. We recommend you use a supported runtime while creating or updating "
        "functions.",
        Runtime="go1.x",
    )


def test_several_violations_are_reported_together() -> None:
    expect(
        ValidationException,
        "2 validation errors detected: "
        "Value '0' at 'timeout' failed to satisfy constraint: "
        "Member must have value greater than or equal to 1; "
        "Value '127' at 'memorySize' failed to satisfy constraint: "
        "Member must have value greater than or equal to 128",
        MemorySize=127,
        Timeout=0,
    )


def test_quotas_past_the_model_answer_as_the_model_would() -> None:
    # The model allows 32 GB for managed instances; a zip function has 10240 MB at most.
    expect(
        ValidationException,
        one(
            "Value '20000' at 'memorySize' failed to satisfy constraint: "
            "Member must have value less than or equal to 10240"
        ),
        MemorySize=20000,
    )


# --- CreateFunction: semantic rules --------------------------------------------------------


RESERVED_PREFIX = (
    "Lambda was unable to configure your environment variables because the environment "
    "variables you have provided contains reserved keys that are currently not supported for "
    "modification. Reserved keys used in this request: "
)


@pytest.mark.parametrize(
    ("error", "changes", "message"),
    [
        (
            InvalidParameterValueException,
            {"Runtime": "nodejs20.x"},
            "The runtime parameter of nodejs20.x is not supported by this lambdalet host; "
            "supported runtimes: python3.11",
        ),
        (
            InvalidParameterValueException,
            {"Runtime": "java21"},
            "The runtime parameter of java21 is not supported by this lambdalet host; "
            "supported runtimes: python3.11",
        ),
        (
            InvalidParameterValueException,
            {"Runtime": DROP},
            "Runtime and Handler are mandatory parameters for functions created with "
            "deployment packages.",
        ),
        (
            InvalidParameterValueException,
            {"Handler": DROP},
            "Runtime and Handler are mandatory parameters for functions created with "
            "deployment packages.",
        ),
        (
            InvalidParameterValueException,
            {"Code": {}},
            "Please provide a source for function code.",
        ),
        (
            InvalidParameterValueException,
            {"Code": {"ZipFile": "!!not base64!!"}},
            "Could not unzip uploaded file. Please check your file, then try to upload again.",
        ),
        (
            InvalidParameterValueException,
            {"Architectures": ["arm64"]},
            "The architecture arm64 is not supported by this lambdalet host; "
            "supported architectures: x86_64",
        ),
        (
            InvalidParameterValueException,
            {"FunctionName": "my-fn:prod"},
            "Function name my-fn:prod must not include a qualifier when creating a function",
        ),
        (
            InvalidParameterValueException,
            {"Environment": {"Variables": {"AWS_REGION": "eu-west-1"}}},
            RESERVED_PREFIX + "AWS_REGION",
        ),
        (
            InvalidParameterValueException,
            {
                "Environment": {
                    "Variables": {"OK": "1", "AWS_SECRET_ACCESS_KEY": "s", "AWS_ACCESS_KEY_ID": "a"}
                }
            },
            RESERVED_PREFIX + "AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY",
        ),
        (
            NotImplementedApiError,
            {"Code": {"S3Bucket": "bucket", "S3Key": "k"}},
            "Code.S3Bucket is not supported by this lambdalet host; only Code.ZipFile is supported",
        ),
        (
            NotImplementedApiError,
            {"Code": {"ImageUri": "123456789012.dkr.ecr.us-east-1.amazonaws.com/f:1"}},
            "Code.ImageUri is not supported by this lambdalet host; only Code.ZipFile is supported",
        ),
        (
            NotImplementedApiError,
            {"PackageType": "Image"},
            "PackageType Image is not supported by this lambdalet host; only Zip is supported",
        ),
        (
            InvalidParameterValueException,
            {"VpcConfig": {"SubnetIds": ["subnet-1"], "SecurityGroupIds": []}},
            "VpcConfig needs both SubnetIds and SecurityGroupIds, or neither (to leave the VPC)",
        ),
        (
            ValidationException,
            {"VpcConfig": {"SubnetIds": ["subnet_1"], "SecurityGroupIds": ["sg-1"]}},
            one(
                "Value '[subnet_1]' at 'vpcConfig.subnetIds' failed to satisfy constraint: "
                "Member must satisfy constraint: [Member must have length less than or equal "
                "to 1024, Member must have length greater than or equal to 0, Member must "
                "satisfy regular expression pattern: subnet-[0-9a-z]*]"
            ),
        ),
        (
            ValidationException,
            {
                "VpcConfig": {
                    "SubnetIds": [f"subnet-{i}" for i in range(17)],
                    "SecurityGroupIds": ["sg-1"],
                }
            },
            one(
                f"Value '[{', '.join(f'subnet-{i}' for i in range(17))}]' at "
                "'vpcConfig.subnetIds' failed to satisfy constraint: Member must have length "
                "less than or equal to 16"
            ),
        ),
        (
            NotImplementedApiError,
            {
                "VpcConfig": {
                    "SubnetIds": ["subnet-1"],
                    "SecurityGroupIds": ["sg-1"],
                    "Ipv6AllowedForDualStack": True,
                }
            },
            "VpcConfig.Ipv6AllowedForDualStack is not supported by this lambdalet host: "
            "ENIs are IPv4 only",
        ),
        (
            InvalidParameterValueException,
            {"DeadLetterConfig": {"TargetArn": "arn:aws:sns:us-east-1:123456789012:t"}},
            "Invalid dead letter queue ARN: arn:aws:sns:us-east-1:123456789012:t is an SNS "
            "topic; lambdalet has no SNS service and delivers dead letters to SQS queues only",
        ),
        (
            InvalidParameterValueException,
            {"DeadLetterConfig": {"TargetArn": "arn:aws:lambda:us-east-1:123456789012:function:f"}},
            "Invalid dead letter queue ARN: The service specified by the TargetArn is not "
            "supported for dead letter configuration.",
        ),
        (
            NotImplementedApiError,
            {"KMSKeyArn": "arn:aws:kms:us-east-1:123456789012:key/k"},
            "KMSKeyArn is not supported by this lambdalet host yet",
        ),
        (
            NotImplementedApiError,
            {"FileSystemConfigs": [{"Arn": "arn:efs", "LocalMountPath": "/mnt/x"}]},
            "FileSystemConfigs is not supported by this lambdalet host yet",
        ),
        (
            NotImplementedApiError,
            {"ImageConfig": {"Command": ["x"]}},
            "ImageConfig is not supported by this lambdalet host yet",
        ),
    ],
)
def test_semantic_rules(error: type[ApiError], changes: dict[str, Any], message: str) -> None:
    expect(error, message, **changes)


def test_unsupported_features_answer_as_invalid_parameter_on_the_wire() -> None:
    with pytest.raises(NotImplementedApiError) as caught:
        create(KMSKeyArn="arn:aws:kms:us-east-1:123456789012:key/k")
    assert (caught.value.error_type, caught.value.status) == ("InvalidParameterValueException", 400)


def test_environment_over_4kb_prints_the_measured_json() -> None:
    # AWS measures the compact JSON, so 4096 bytes of key plus value is already too much.
    value = "v" * (4096 - 9 + 1)
    expect(
        InvalidParameterValueException,
        "Lambda was unable to configure your environment variables because the environment "
        "variables you have provided exceeded the 4KB limit. "
        f'String measured: {{"AB":"{value}"}}',
        Environment={"Variables": {"AB": value}},
    )


def test_environment_size_counts_utf8_bytes() -> None:
    value = "é" * ((4096 - 9) // 2 + 1)  # under 4096 characters, over 4096 bytes
    with pytest.raises(InvalidParameterValueException, match="exceeded the 4KB limit"):
        create(Environment={"Variables": {"AB": value}})


def test_other_host_architecture_is_configurable() -> None:
    body = create_body(Architectures=["arm64"])
    req = parse_create_function(body, supported_runtimes=RUNTIMES, host_architecture="arm64")
    assert req.architectures == ("arm64",)


# --- JSON types ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "path", "expected", "got"),
    [
        ({"MemorySize": "abc"}, "MemorySize", "an integer", "a string"),
        ({"MemorySize": True}, "MemorySize", "an integer", "a boolean"),
        ({"Timeout": 1.5}, "Timeout", "an integer", "a number"),
        ({"FunctionName": 7}, "FunctionName", "a string", "a number"),
        ({"Publish": "yes"}, "Publish", "a boolean", "a string"),
        ({"Code": "zip"}, "Code", "an object", "a string"),
        ({"Code": {"ZipFile": 1}}, "Code.ZipFile", "a string", "a number"),
        ({"Architectures": "x86_64"}, "Architectures", "an array of strings", "a string"),
        ({"EphemeralStorage": {"Size": "1"}}, "EphemeralStorage.Size", "an integer", "a string"),
        ({"Environment": {"Variables": {"PORT": 80}}},
         "Environment.Variables.PORT", "a string", "a number"),
        ({"Environment": []}, "Environment", "an object", "an array"),
    ],
)  # fmt: skip
def test_wrong_json_types_name_the_field(
    changes: dict[str, Any], path: str, expected: str, got: str
) -> None:
    message = f"Invalid type for parameter {path}: expected {expected}, got {got}"
    expect(InvalidParameterValueException, message, **changes)


def test_body_must_be_an_object() -> None:
    with pytest.raises(InvalidRequestContentException) as caught:
        parse_create_function([], supported_runtimes=RUNTIMES)  # type: ignore[arg-type]
    message = "Could not parse request body: expected a JSON object, got an array"
    assert caught.value.message == message


# --- ZipFile size --------------------------------------------------------------------------


def test_zip_of_50_mib_is_too_large() -> None:
    with pytest.raises(RequestEntityTooLargeException) as caught:
        decode_zip_file(base64.b64encode(bytes(MAX_ZIP_BYTES)).decode())
    assert caught.value.message == "Zipped size must be smaller than 52428800 bytes"
    assert caught.value.status == 413


def _stored_zip(payload: int) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("blob", bytes(payload))
    return buf.getvalue()


def test_zip_just_under_50_mib_is_decoded() -> None:
    overhead = len(_stored_zip(0))
    package = _stored_zip(MAX_ZIP_BYTES - 1 - overhead)
    assert len(package) == MAX_ZIP_BYTES - 1
    assert decode_zip_file(base64.b64encode(package).decode()) == package


def test_base64_that_is_not_a_zip_cannot_be_unzipped() -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        decode_zip_file(base64.b64encode(b"this is not a zipfile").decode())
    assert caught.value.message == (
        "Could not unzip uploaded file. Please check your file, then try to upload again."
    )


def test_oversized_base64_is_refused_before_decoding() -> None:
    # Not even valid base64: the length alone decides.
    with pytest.raises(RequestEntityTooLargeException):
        create(Code={"ZipFile": "!" * (MAX_ZIP_BYTES * 4 // 3 + 8)})


# --- Function names and qualifiers ---------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("my-fn", ("my-fn", None)),
        ("my-fn:prod", ("my-fn", "prod")),
        ("my-fn:$LATEST", ("my-fn", "$LATEST")),
        ("my-fn:7", ("my-fn", "7")),
        ("000000000000:function:my-fn", ("my-fn", None)),
        ("000000000000:function:my-fn:7", ("my-fn", "7")),
        ("arn:aws:lambda:us-east-1:000000000000:function:my-fn", ("my-fn", None)),
        ("arn:aws:lambda:us-east-1:000000000000:function:my-fn:live", ("my-fn", "live")),
        ("function:my-fn", ("my-fn", None)),
        ("x" * 65, ("x" * 65, None)),  # no such function, but a well-formed name
        ("arn:aws:lambda:us-east-1:000000000000:function", ("function", None)),
    ],
)
def test_parse_function_name(raw: str, expected: tuple[str, str | None]) -> None:
    assert parse_function_name(raw, "us-east-1") == expected


@pytest.mark.parametrize("raw", ["my fn", "my-fn:bad.q", "arn:aws:lambda:my fn", "my-fn:", ""])
def test_parse_function_name_rejects(raw: str) -> None:
    with pytest.raises(ValidationException) as caught:
        parse_function_name(raw)
    assert caught.value.message == one(
        f"Value '{raw}' at 'functionName' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {NAMESPACED_FN_PATTERN}"
    )


def test_another_region_is_not_reachable_and_another_account_is_denied() -> None:
    with pytest.raises(ResourceNotFoundException) as caught:
        parse_function_name("arn:aws:lambda:eu-west-1:000000000000:function:f", "us-east-1")
    assert caught.value.message == (
        "Functions from 'eu-west-1' are not reachable in this region ('us-east-1')"
    )
    with pytest.raises(AccessDeniedException):
        parse_function_name("123456789012:function:f", "us-east-1")


@pytest.mark.parametrize(
    ("value", "constraint"),
    [(0, "greater than or equal to 1"), (10001, "less than or equal to 10000")],
)
def test_validate_max_items(value: int, constraint: str) -> None:
    assert validate_max_items(50) == 50
    with pytest.raises(ValidationException) as caught:
        validate_max_items(value)
    assert caught.value.message == one(
        f"Value '{value}' at 'maxItems' failed to satisfy constraint: Member must have value "
        + constraint
    )


# --- UpdateFunctionConfiguration -----------------------------------------------------------


CURRENT = FunctionConfig(
    name="my-fn",
    runtime="python3.11",
    handler="app.handler",
    role=ROLE,
    code_digest="d",
    code_sha256="s",
    code_size=1,
    last_modified="2024-01-01T00:00:00.000+0000",
    revision_id="r1",
)


def update_config(body: dict[str, Any]) -> ConfigurationChanges:
    validated("UpdateFunctionConfiguration", {"FunctionName": "my-fn", **body})
    return parse_update_function_configuration(body, supported_runtimes=RUNTIMES)


def test_update_configuration_sets_only_present_keys() -> None:
    changes = update_config({"MemorySize": 256, "RevisionId": "r1"})
    assert changes == ConfigurationChanges(memory_mb=256, revision_id="r1")
    assert changes.replacements(CURRENT) == {"memory_mb": 256}


def test_update_configuration_empty_body_changes_nothing() -> None:
    assert update_config({}).replacements(CURRENT) == {}


def test_update_configuration_all_fields() -> None:
    changes = update_config(
        {
            "Runtime": "python3.11",
            "Handler": "main.run",
            "Role": ROLE,
            "Description": "",
            "MemorySize": 512,
            "Timeout": 60,
            "EphemeralStorage": {"Size": 1024},
            "Environment": {"Variables": {"STAGE": "dev"}},
        }
    )
    assert changes.replacements(CURRENT) == {
        "runtime": "python3.11",
        "handler": "main.run",
        "role": ROLE,
        "description": "",
        "memory_mb": 512,
        "timeout_s": 60,
        "ephemeral_storage_mb": 1024,
        "environment": {"STAGE": "dev"},
        "environment_set": True,
    }


def test_update_configuration_empty_environment_clears_variables() -> None:
    assert update_config({"Environment": {}}).environment == {}
    assert update_config({"Environment": {"Variables": {}}}).environment == {}


def test_update_configuration_ignores_architectures() -> None:
    # Not a member of UpdateFunctionConfiguration; AWS ignores unknown members.
    assert update_config({"Architectures": ["arm64"]}).replacements(CURRENT) == {}


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        (
            {"MemorySize": 20000},
            ValidationException,
            one(
                "Value '20000' at 'memorySize' failed to satisfy constraint: "
                "Member must have value less than or equal to 10240"
            ),
        ),
        (
            {"Role": "arn:aws:iam::1:role/x"},
            ValidationException,
            one(
                "Value 'arn:aws:iam::1:role/x' at 'role' failed to satisfy constraint: Member "
                r"must satisfy regular expression pattern: arn:(aws[a-zA-Z-]*)?:iam::\d{12}:"
                r"role/?[a-zA-Z_0-9+=,.@\-_/]+"
            ),
        ),
        (
            {"Runtime": "nodejs20.x"},
            InvalidParameterValueException,
            "The runtime parameter of nodejs20.x is not supported by this lambdalet host; "
            "supported runtimes: python3.11",
        ),
        (
            {"Environment": {"Variables": {"AWS_LAMBDA_RUNTIME_API": "x"}}},
            InvalidParameterValueException,
            RESERVED_PREFIX + "AWS_LAMBDA_RUNTIME_API",
        ),
        (
            {"VpcConfig": {"SubnetIds": ["subnet-1"]}},
            InvalidParameterValueException,
            "VpcConfig needs both SubnetIds and SecurityGroupIds, or neither (to leave the VPC)",
        ),
        (
            {"Timeout": "30"},
            InvalidParameterValueException,
            "Invalid type for parameter Timeout: expected an integer, got a string",
        ),
    ],
)
def test_update_configuration_rejects(
    body: dict[str, Any], error: type[ApiError], message: str
) -> None:
    with pytest.raises(ApiError) as caught:
        update_config(body)
    assert type(caught.value) is error
    assert caught.value.message == message


# --- UpdateFunctionCode --------------------------------------------------------------------


def update_code(body: dict[str, Any]) -> CodeUpdate:
    validated("UpdateFunctionCode", {"FunctionName": "my-fn", **body})
    return parse_update_function_code(body)


def test_update_code() -> None:
    update = parse_update_function_code(
        {"ZipFile": ZIP_B64, "RevisionId": "r1", "Publish": True, "Architectures": ["x86_64"]}
    )
    assert update == CodeUpdate(
        zip_bytes=ZIP, revision_id="r1", publish=True, architectures=("x86_64",)
    )


def test_update_code_defaults() -> None:
    assert parse_update_function_code({"ZipFile": ZIP_B64}) == CodeUpdate(zip_bytes=ZIP)


@pytest.mark.parametrize(
    ("body", "error", "message"),
    [
        ({}, InvalidParameterValueException, "Please provide a source for function code."),
        (
            {"ZipFile": "%%%"},
            InvalidParameterValueException,
            "Could not unzip uploaded file. Please check your file, then try to upload again.",
        ),
        (
            {"S3Bucket": "bucket", "S3Key": "k"},
            NotImplementedApiError,
            "S3Bucket is not supported by this lambdalet host; only ZipFile is supported",
        ),
        (
            {"ImageUri": "repo/f:1"},
            NotImplementedApiError,
            "ImageUri is not supported by this lambdalet host; only ZipFile is supported",
        ),
        (
            {"ZipFile": ZIP_B64, "DryRun": True},
            NotImplementedApiError,
            "DryRun is not supported by this lambdalet host yet",
        ),
        (
            {"ZipFile": ZIP_B64, "Architectures": ["arm64"]},
            InvalidParameterValueException,
            "The architecture arm64 is not supported by this lambdalet host; "
            "supported architectures: x86_64",
        ),
        (
            {"ZipFile": ZIP_B64, "Architectures": []},
            ValidationException,
            one(
                "Value '[]' at 'architectures' failed to satisfy constraint: "
                "Member must have length greater than or equal to 1"
            ),
        ),
    ],
)
def test_update_code_rejects(body: dict[str, Any], error: type[ApiError], message: str) -> None:
    with pytest.raises(ApiError) as caught:
        update_code(body)
    assert type(caught.value) is error
    assert caught.value.message == message


def test_vpc_config_is_parsed_deduplicated_and_empty_lists_mean_leave_the_vpc() -> None:
    from engine.model.vpc_config import VpcSelection, parse_vpc_config

    assert parse_vpc_config({}) is None
    assert parse_vpc_config({"VpcConfig": {}}) == VpcSelection()
    got = parse_vpc_config(
        {
            "VpcConfig": {
                "SubnetIds": ["subnet-a", "subnet-b", "subnet-a"],
                "SecurityGroupIds": ["sg-1"],
            }
        }
    )
    assert got == VpcSelection(subnet_ids=("subnet-a", "subnet-b"), security_group_ids=("sg-1",))
