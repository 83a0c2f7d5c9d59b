"""Function URL configurations: parsing and AWS's errors, the stored config, qualifiers, url ids
and hosts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import pytest

from engine.api.validation import RULES, lambda_model
from engine.errors import (
    ApiError,
    InvalidParameterValueException,
    InvalidRequestContentException,
    NotImplementedApiError,
    ValidationException,
)
from engine.shapes.validate import NO_RULES, check
from engine.urls.config import (
    Cors,
    UrlConfig,
    UrlConfigRequest,
    function_url,
    new_url_config,
    new_url_id,
    parse_url_config,
    url_id_from_host,
)

URL_ID = "abcdefghijklmnopqrstuvwxyz012345"
REGION = "us-east-1"
ACCOUNT = "123456789012"
DOMAIN = f"{URL_ID}.lambda-url.{REGION}.localhost"
NOW = datetime(2024, 3, 5, 7, 8, 9, 123456, tzinfo=UTC)
T0 = "2024-03-05T07:08:09.123+0000"
T1 = "2024-03-06T10:00:00.000+0000"
# Cors is a structure: its lists' plain-string members read as vpcConfig.subnetIds' do in
# AWS's recorded answers (no "Member must not be null"; see engine/shapes/validate.py).
CONSTRAINTS_253 = (
    "Member must satisfy constraint: [Member must have length less than or equal to 253, "
    "Member must have length greater than or equal to 1, Member must satisfy regular expression "
    "pattern: .*]"
)
CONSTRAINTS_1024 = (
    "Member must satisfy constraint: [Member must have length less than or equal to 1024, "
    "Member must have length greater than or equal to 0, Member must satisfy regular expression "
    "pattern: .*]"
)


def checked(body: Any, *, create: bool = True) -> UrlConfigRequest:
    """What the API does with a body: the model's constraints at the boundary, then the
    parser's own rules."""
    operation = "CreateFunctionUrlConfig" if create else "UpdateFunctionUrlConfig"
    if isinstance(body, dict):
        validate(operation, {"FunctionName": "f", **body})
    return parse_url_config(body, create=create)


def validate(operation: str, params: dict[str, Any]) -> None:
    model = lambda_model()
    shape = model.operations[operation].input
    assert shape is not None
    check(model, shape, params, RULES.get(operation, NO_RULES))


def cors_of(value: Any) -> Cors:
    cors = checked({"AuthType": "NONE", "Cors": value}).cors
    assert cors is not None
    return cors


def raises(kind: type[ApiError], message: str, body: Any, *, create: bool = True) -> None:
    with pytest.raises(kind) as caught:
        checked(body, create=create)
    assert type(caught.value) is kind
    assert caught.value.message == message


def one_error(value: str, path: str, constraint: str) -> str:
    return (
        f"1 validation error detected: Value {value} at '{path}' failed to satisfy constraint: "
        f"{constraint}"
    )


# --- parse_url_config ----------------------------------------------------------------------


def test_create_needs_only_auth_type() -> None:
    assert parse_url_config({"AuthType": "NONE"}, create=True) == UrlConfigRequest(auth_type="NONE")


def test_create_without_auth_type_is_a_null_violation() -> None:
    raises(ValidationException, one_error("null", "authType", "Member must not be null"), {})


def test_update_may_leave_everything_out() -> None:
    assert parse_url_config({}, create=False) == UrlConfigRequest()
    assert parse_url_config({"Cors": None}, create=False) == UrlConfigRequest()


def test_full_body_is_parsed() -> None:
    body = {
        "AuthType": "AWS_IAM",
        "InvokeMode": "BUFFERED",
        "Cors": {
            "AllowCredentials": True,
            "AllowHeaders": ["X-Custom"],
            "AllowMethods": ["GET", "POST"],
            "AllowOrigins": ["https://example.com"],
            "ExposeHeaders": ["X-Out"],
            "MaxAge": 600,
        },
    }
    assert parse_url_config(body, create=True) == UrlConfigRequest(
        auth_type="AWS_IAM",
        invoke_mode="BUFFERED",
        cors=Cors(
            allow_credentials=True,
            allow_headers=("X-Custom",),
            allow_methods=("GET", "POST"),
            allow_origins=("https://example.com",),
            expose_headers=("X-Out",),
            max_age=600,
        ),
    )


def test_auth_type_outside_the_enum() -> None:
    message = one_error("'OPEN'", "authType", "Member must satisfy enum value set: [NONE, AWS_IAM]")
    raises(ValidationException, message, {"AuthType": "OPEN"})
    raises(ValidationException, message, {"AuthType": "OPEN"}, create=False)


def test_invoke_mode_outside_the_enum() -> None:
    # AWS prints this enum in its own order (a recorded answer), not the model's.
    message = one_error(
        "'STREAM'", "invokeMode", "Member must satisfy enum value set: [RESPONSE_STREAM, BUFFERED]"
    )
    raises(ValidationException, message, {"AuthType": "NONE", "InvokeMode": "STREAM"})


def test_response_stream_is_refused_as_not_supported() -> None:
    with pytest.raises(NotImplementedApiError) as caught:
        parse_url_config({"AuthType": "NONE", "InvokeMode": "RESPONSE_STREAM"}, create=True)
    assert caught.value.error_type == "InvalidParameterValueException"
    assert caught.value.status == 400
    assert "RESPONSE_STREAM" in caught.value.message
    assert "does not stream responses" in caught.value.message


def test_violations_are_reported_together() -> None:
    body = {"AuthType": "X", "InvokeMode": "Y", "Cors": {"MaxAge": -1}}
    with pytest.raises(ValidationException) as caught:
        checked(body, create=True)
    message = caught.value.message
    assert message.startswith("3 validation errors detected: ")
    assert "at 'authType'" in message
    assert "at 'cors.maxAge'" in message
    assert "at 'invokeMode'" in message


def test_unknown_top_level_member_is_refused() -> None:
    message = 'Unknown parameter in input: "Qualifier", must be one of: AuthType, Cors, InvokeMode'
    raises(InvalidParameterValueException, message, {"AuthType": "NONE", "Qualifier": "live"})


def test_unknown_cors_member_is_refused() -> None:
    message = (
        'Unknown parameter in Cors: "AllowOrigin", "maxAge", must be one of: AllowCredentials, '
        "AllowHeaders, AllowMethods, AllowOrigins, ExposeHeaders, MaxAge"
    )
    body = {"AuthType": "NONE", "Cors": {"AllowOrigin": ["*"], "maxAge": 1}}
    raises(InvalidParameterValueException, message, body)


def test_body_must_be_an_object() -> None:
    with pytest.raises(InvalidRequestContentException) as caught:
        parse_url_config([], create=True)  # type: ignore[arg-type]
    message = "Could not parse request body: expected a JSON object, got an array"
    assert caught.value.message == message


@pytest.mark.parametrize(
    ("body", "path", "expected", "got"),
    [
        ({"AuthType": 1}, "AuthType", "a string", "a number"),
        ({"AuthType": "NONE", "InvokeMode": True}, "InvokeMode", "a string", "a boolean"),
        ({"AuthType": "NONE", "Cors": "*"}, "Cors", "an object", "a string"),
        ({"AuthType": "NONE", "Cors": {"AllowOrigins": "*"}},
         "Cors.AllowOrigins", "an array of strings", "a string"),
        ({"AuthType": "NONE", "Cors": {"AllowMethods": ["GET", 1]}},
         "Cors.AllowMethods", "an array of strings", "an array"),
        ({"AuthType": "NONE", "Cors": {"AllowHeaders": {}}},
         "Cors.AllowHeaders", "an array of strings", "an object"),
        ({"AuthType": "NONE", "Cors": {"ExposeHeaders": [None]}},
         "Cors.ExposeHeaders", "an array of strings", "an array"),
        ({"AuthType": "NONE", "Cors": {"AllowCredentials": "true"}},
         "Cors.AllowCredentials", "a boolean", "a string"),
        ({"AuthType": "NONE", "Cors": {"MaxAge": "60"}}, "Cors.MaxAge", "an integer", "a string"),
        ({"AuthType": "NONE", "Cors": {"MaxAge": 1.5}}, "Cors.MaxAge", "an integer", "a number"),
    ],
)  # fmt: skip
def test_wrong_json_types_name_the_field(
    body: dict[str, Any], path: str, expected: str, got: str
) -> None:
    message = f"Invalid type for parameter {path}: expected {expected}, got {got}"
    raises(InvalidParameterValueException, message, body)


# --- Cors ------------------------------------------------------------------------------------


def test_cors_to_aws_omits_what_was_not_given() -> None:
    assert Cors().to_aws() == {}
    cors = cors_of({"AllowOrigins": ["*"], "MaxAge": 0, "AllowCredentials": False})
    assert cors.to_aws() == {"AllowCredentials": False, "AllowOrigins": ["*"], "MaxAge": 0}


def test_cors_round_trips_through_to_aws() -> None:
    aws = {
        "AllowCredentials": True,
        "AllowHeaders": ["a"],
        "AllowMethods": ["*"],
        "AllowOrigins": ["https://a.example"],
        "ExposeHeaders": ["b"],
        "MaxAge": 86400,
    }
    assert cors_of(aws).to_aws() == aws
    assert list(cors_of(aws).to_aws()) == list(aws)  # the model's order


def test_cors_limits_at_their_edges_pass() -> None:
    cors = cors_of(
        {
            "AllowOrigins": ["o" * 253] * 100,
            "AllowMethods": ["GET", "PUT", "HEAD", "POST", "PATCH", "DELETE"],
            "AllowHeaders": ["h" * 1024] * 100,
            "ExposeHeaders": [""] * 100,
            "MaxAge": 86400,
        }
    )
    assert cors.allow_origins is not None
    assert len(cors.allow_origins) == 100


@pytest.mark.parametrize(
    ("cors", "message"),
    [
        ({"AllowOrigins": ["x"] * 101},
         one_error("'[" + ", ".join(["x"] * 101) + "]'", "cors.allowOrigins",
                   "Member must have length less than or equal to 100")),
        ({"AllowOrigins": ["https://ok", "o" * 254]},
         one_error(f"'[https://ok, {'o' * 254}]'", "cors.allowOrigins", CONSTRAINTS_253)),
        ({"AllowOrigins": [""]}, one_error("'[]'", "cors.allowOrigins", CONSTRAINTS_253)),
        ({"AllowMethods": ["GET"] * 7},
         one_error("'[" + ", ".join(["GET"] * 7) + "]'", "cors.allowMethods",
                   "Member must have length less than or equal to 6")),
        ({"AllowMethods": ["OPTIONS"]},
         one_error("'[OPTIONS]'", "cors.allowMethods",
                   CONSTRAINTS_1024.replace("1024", "6"))),
        ({"AllowHeaders": ["h" * 1025]},
         one_error(f"'[{'h' * 1025}]'", "cors.allowHeaders", CONSTRAINTS_1024)),
        ({"ExposeHeaders": ["h"] * 101},
         one_error("'[" + ", ".join(["h"] * 101) + "]'", "cors.exposeHeaders",
                   "Member must have length less than or equal to 100")),
        ({"MaxAge": -1},
         one_error("'-1'", "cors.maxAge", "Member must have value greater than or equal to 0")),
        ({"MaxAge": 86401},
         one_error("'86401'", "cors.maxAge", "Member must have value less than or equal to 86400")),
    ],
)  # fmt: skip
def test_cors_constraints_name_the_member(cors: dict[str, Any], message: str) -> None:
    raises(ValidationException, message, {"AuthType": "NONE", "Cors": cors})


@pytest.mark.parametrize("method", ["get", "TRACE", "FOO", ""])
def test_cors_methods_outside_the_http_list_are_refused(method: str) -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        cors_of({"AllowMethods": ["GET", method]})
    assert caught.value.message == (
        f"Cors.AllowMethods contains '{method}': each method must be one of"
        " GET, PUT, HEAD, POST, PATCH, DELETE, * (upper case)"
    )


def test_cors_must_be_an_object() -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        parse_url_config({"AuthType": "NONE", "Cors": []}, create=True)
    assert (
        caught.value.message == "Invalid type for parameter Cors: expected an object, got an array"
    )


# --- UrlConfig -------------------------------------------------------------------------------

ARN = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:fn"
URL = f"http://{DOMAIN}:9000/"


def make_config(**request: Any) -> UrlConfig:
    return new_url_config(
        UrlConfigRequest(**{"auth_type": "NONE", **request}),
        function_name="fn",
        qualifier=None,
        url_id=URL_ID,
        now_text=T0,
    )


def test_new_config_defaults_to_buffered() -> None:
    assert make_config() == UrlConfig(
        function_name="fn",
        qualifier=None,
        url_id=URL_ID,
        auth_type="NONE",
        cors=None,
        invoke_mode="BUFFERED",
        creation_time=T0,
        last_modified_time=T0,
    )


def test_new_config_drops_an_empty_cors() -> None:
    assert make_config(cors=Cors()).cors is None


def test_new_config_needs_an_auth_type() -> None:
    with pytest.raises(ValueError, match="AuthType"):
        new_url_config(
            UrlConfigRequest(), function_name="fn", qualifier=None, url_id=URL_ID, now_text=T0
        )


def test_to_aws_without_cors() -> None:
    aws = make_config().to_aws(function_arn=ARN, url=URL)
    assert aws == {
        "FunctionUrl": URL,
        "FunctionArn": ARN,
        "AuthType": "NONE",
        "CreationTime": T0,
        "LastModifiedTime": T0,
        "InvokeMode": "BUFFERED",
    }


def test_to_aws_with_cors_and_for_create() -> None:
    config = make_config(cors=Cors(allow_origins=("*",)))
    aws = config.to_aws(function_arn=ARN, url=URL, for_create=True)
    assert aws["Cors"] == {"AllowOrigins": ["*"]}
    assert "LastModifiedTime" not in aws
    assert json.loads(json.dumps(aws)) == aws


def test_apply_replaces_given_members_and_keeps_the_rest() -> None:
    config = make_config(cors=Cors(allow_origins=("*",), max_age=10))
    changed = config.apply(UrlConfigRequest(auth_type="AWS_IAM"), T1)
    assert changed.auth_type == "AWS_IAM"
    assert changed.cors == config.cors
    assert changed.invoke_mode == "BUFFERED"
    assert (changed.creation_time, changed.last_modified_time) == (T0, T1)
    assert (changed.function_name, changed.url_id) == ("fn", URL_ID)


def test_apply_replaces_cors_as_a_whole() -> None:
    config = make_config(cors=Cors(allow_origins=("*",), max_age=10))
    changed = config.apply(UrlConfigRequest(cors=Cors(allow_methods=("GET",))), T1)
    assert changed.cors == Cors(allow_methods=("GET",))


def test_apply_with_empty_cors_removes_it() -> None:
    config = make_config(cors=Cors(allow_origins=("*",)))
    assert config.apply(UrlConfigRequest(cors=Cors()), T1).cors is None


def test_parsed_update_applies() -> None:
    config = make_config(cors=Cors(allow_origins=("*",)))
    changes = parse_url_config({"Cors": {}}, create=False)
    assert config.apply(changes, T1).cors is None


# --- Qualifier and MaxItems ------------------------------------------------------------------


def qualifier_problem(qualifier: str) -> str | None:
    try:
        validate("GetFunctionUrlConfig", {"FunctionName": "f", "Qualifier": qualifier})
    except ValidationException as exc:
        return exc.message
    return None


def test_alias_qualifier_passes() -> None:
    assert qualifier_problem("live-1_a") is None
    assert qualifier_problem("1a") is None


@pytest.mark.parametrize("qualifier", ["1", "42", "$LATEST", "a.b"])
def test_version_or_odd_qualifier_fails_the_pattern(qualifier: str) -> None:
    assert qualifier_problem(qualifier) == one_error(
        f"'{qualifier}'",
        "qualifier",
        r"Member must satisfy regular expression pattern: ((?!^\d+$)^[0-9a-zA-Z-_]+$)",
    )


def test_qualifier_lengths() -> None:
    assert "greater than or equal to 1" in (qualifier_problem("") or "")
    assert "less than or equal to 128" in (qualifier_problem("a" * 129) or "")


def test_max_items_range() -> None:
    validate("ListFunctionUrlConfigs", {"FunctionName": "f", "MaxItems": 1})
    validate("ListFunctionUrlConfigs", {"FunctionName": "f", "MaxItems": 50})
    for bad in (0, 51):
        with pytest.raises(ValidationException, match="'maxItems'"):
            validate("ListFunctionUrlConfigs", {"FunctionName": "f", "MaxItems": bad})


# --- Url ids and hosts -----------------------------------------------------------------------


def test_new_url_id_is_32_lowercase_alphanumerics() -> None:
    ids = {new_url_id() for _ in range(50)}
    assert len(ids) == 50
    assert all(re.fullmatch(r"[a-z0-9]{32}", i) for i in ids)


def test_function_url() -> None:
    assert function_url(URL_ID, region=REGION, port=9000) == (
        f"http://{URL_ID}.lambda-url.us-east-1.localhost:9000/"
    )


@pytest.mark.parametrize(
    "host",
    [
        f"{URL_ID}.lambda-url.us-east-1.localhost",
        f"{URL_ID}.lambda-url.us-east-1.localhost:9000",
        f"{URL_ID.upper()}.LAMBDA-URL.US-EAST-1.LOCALHOST:9000",
        f"{URL_ID}.lambda-url.us-east-1.on.aws",
        f"{URL_ID}.lambda-url.us-east-1.localhost.",
    ],
)
def test_url_id_from_accepted_hosts(host: str) -> None:
    assert url_id_from_host(host, region=REGION) == URL_ID


@pytest.mark.parametrize(
    "host",
    [
        "",
        "localhost:9000",
        f"{URL_ID}.lambda-url.eu-west-1.localhost",  # another region
        f"{URL_ID}.lambda-url.us-east-1.example.com",
        f"{URL_ID}.lambda-url.us-east-1.localhost:port",
        f"{URL_ID[:-1]}.lambda-url.us-east-1.localhost",  # 31 characters
        f"x.{URL_ID}.lambda-url.us-east-1.localhost",
        f"{URL_ID}.lambda.us-east-1.localhost",
        f"{URL_ID}-.lambda-url.us-east-1.localhost",
    ],
)
def test_url_id_from_other_hosts_is_none(host: str) -> None:
    assert url_id_from_host(host, region=REGION) is None
