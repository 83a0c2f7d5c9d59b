"""Function URLs: config parsing and AWS's errors, url ids and hosts, the 2.0 event, the response
mapping and CORS."""

from __future__ import annotations

import base64
import json
import re
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.errors import (
    ApiError,
    InvalidParameterValueException,
    InvalidRequestContentException,
    NotImplementedApiError,
    ValidationException,
)
from engine.urls.config import (
    Cors,
    UrlConfig,
    UrlConfigRequest,
    function_url,
    new_url_config,
    new_url_id,
    parse_cors,
    parse_url_config,
    url_id_from_host,
    validate_url_max_items,
    validate_url_qualifier,
)
from engine.urls.payload import (
    HttpAnswer,
    IamIdentity,
    apply_cors,
    build_event,
    build_response,
    cors_headers,
    header_value,
    iam_identity,
    is_text_media_type,
    preflight,
)

URL_ID = "abcdefghijklmnopqrstuvwxyz012345"
REGION = "us-east-1"
ACCOUNT = "123456789012"
DOMAIN = f"{URL_ID}.lambda-url.{REGION}.localhost"
NOW = datetime(2024, 3, 5, 7, 8, 9, 123456, tzinfo=UTC)
T0 = "2024-03-05T07:08:09.123+0000"
T1 = "2024-03-06T10:00:00.000+0000"
CONSTRAINTS_253 = (
    "Member must satisfy constraint: [Member must have length less than or equal to 253, "
    "Member must have length greater than or equal to 1, Member must satisfy regular expression "
    "pattern: .*, Member must not be null]"
)
CONSTRAINTS_1024 = (
    "Member must satisfy constraint: [Member must have length less than or equal to 1024, "
    "Member must have length greater than or equal to 0, Member must satisfy regular expression "
    "pattern: .*, Member must not be null]"
)


def raises(kind: type[ApiError], message: str, body: Any, *, create: bool = True) -> None:
    with pytest.raises(kind) as caught:
        parse_url_config(body, create=create)
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
    message = one_error(
        "'STREAM'", "invokeMode", "Member must satisfy enum value set: [BUFFERED, RESPONSE_STREAM]"
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
        parse_url_config(body, create=True)
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
    cors = parse_cors({"AllowOrigins": ["*"], "MaxAge": 0, "AllowCredentials": False})
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
    assert parse_cors(aws).to_aws() == aws
    assert list(parse_cors(aws).to_aws()) == list(aws)  # the model's order


def test_cors_limits_at_their_edges_pass() -> None:
    cors = parse_cors(
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
    with pytest.raises(ValidationException) as caught:
        parse_cors(cors)
    assert caught.value.message == message


@pytest.mark.parametrize("method", ["get", "TRACE", "FOO", ""])
def test_cors_methods_outside_the_http_list_are_refused(method: str) -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        parse_cors({"AllowMethods": ["GET", method]})
    assert caught.value.message == (
        f"Cors.AllowMethods contains '{method}': each method must be one of"
        " GET, PUT, HEAD, POST, PATCH, DELETE, * (upper case)"
    )


def test_cors_must_be_an_object() -> None:
    with pytest.raises(InvalidParameterValueException) as caught:
        parse_cors(None)
    assert caught.value.message == "Invalid type for parameter Cors: expected an object, got null"


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


def test_alias_qualifier_passes() -> None:
    assert validate_url_qualifier("live-1_a") == "live-1_a"
    assert validate_url_qualifier("1a") == "1a"


@pytest.mark.parametrize("qualifier", ["1", "42", "$LATEST", "a.b"])
def test_version_or_odd_qualifier_fails_the_pattern(qualifier: str) -> None:
    with pytest.raises(ValidationException) as caught:
        validate_url_qualifier(qualifier)
    assert caught.value.message == one_error(
        f"'{qualifier}'",
        "qualifier",
        r"Member must satisfy regular expression pattern: ((?!^\d+$)^[0-9a-zA-Z-_]+$)",
    )


def test_qualifier_lengths() -> None:
    with pytest.raises(ValidationException, match="greater than or equal to 1"):
        validate_url_qualifier("")
    with pytest.raises(ValidationException, match="less than or equal to 128"):
        validate_url_qualifier("a" * 129)


def test_max_items_range() -> None:
    assert validate_url_max_items(1) == 1
    assert validate_url_max_items(50) == 50
    for bad in (0, 51):
        with pytest.raises(ValidationException, match="'maxItems'"):
            validate_url_max_items(bad)


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


# --- Event -----------------------------------------------------------------------------------


def event(**overrides: Any) -> dict[str, Any]:
    args: dict[str, Any] = {
        "method": "GET",
        "raw_path": "/",
        "raw_query": "",
        "headers": [("Host", DOMAIN), ("User-Agent", "curl/8")],
        "body": b"",
        "source_ip": "10.0.0.7",
        "url_id": URL_ID,
        "region": REGION,
        "account_id": ACCOUNT,
        "request_id": "req-1",
        "now": NOW,
        "domain": DOMAIN,
        "iam": None,
    }
    return build_event(**{**args, **overrides})


def test_minimal_event_is_exactly_aws_shape() -> None:
    assert event() == {
        "version": "2.0",
        "routeKey": "$default",
        "rawPath": "/",
        "rawQueryString": "",
        "headers": {"host": DOMAIN, "user-agent": "curl/8"},
        "requestContext": {
            "accountId": "anonymous",
            "apiId": URL_ID,
            "domainName": DOMAIN,
            "domainPrefix": URL_ID,
            "http": {
                "method": "GET",
                "path": "/",
                "protocol": "HTTP/1.1",
                "sourceIp": "10.0.0.7",
                "userAgent": "curl/8",
            },
            "requestId": "req-1",
            "routeKey": "$default",
            "stage": "$default",
            "time": "05/Mar/2024:07:08:09 +0000",
            "timeEpoch": 1709622489123,
        },
        "isBase64Encoded": False,
    }


def test_event_with_iam_caller() -> None:
    ctx = event(iam=iam_identity("AKIDLOCAL", ACCOUNT))["requestContext"]
    assert ctx["accountId"] == ACCOUNT
    assert ctx["authorizer"] == {
        "iam": {
            "accessKey": "AKIDLOCAL",
            "accountId": ACCOUNT,
            "callerId": ACCOUNT,
            "cognitoIdentity": None,
            "principalOrgId": None,
            "userArn": f"arn:aws:iam::{ACCOUNT}:root",
            "userId": ACCOUNT,
        }
    }
    assert list(ctx)[:3] == ["accountId", "apiId", "authorizer"]


def test_iam_identity_fields() -> None:
    assert iam_identity("AKID", "111122223333") == IamIdentity(
        access_key="AKID",
        account_id="111122223333",
        caller_id="111122223333",
        user_arn="arn:aws:iam::111122223333:root",
        user_id="111122223333",
    )


def test_repeated_headers_are_joined_and_names_lowered() -> None:
    headers = [("X-Multi", "a"), ("x-multi", "b"), ("X-MULTI", "c, d"), ("Accept", "*/*")]
    assert event(headers=headers)["headers"] == {"x-multi": "a,b,c, d", "accept": "*/*"}


def test_cookies_leave_the_headers() -> None:
    headers = [("Cookie", "a=1; b=2"), ("cookie", "c=3"), ("X", "y")]
    got = event(headers=headers)
    assert got["cookies"] == ["a=1", "b=2", "c=3"]
    assert got["headers"] == {"x": "y"}
    assert list(got)[:6] == [
        "version", "routeKey", "rawPath", "rawQueryString", "cookies", "headers",
    ]  # fmt: skip


def test_no_user_agent_is_an_empty_string() -> None:
    assert event(headers=[])["requestContext"]["http"]["userAgent"] == ""


def test_query_parameters_are_decoded_and_repeats_joined() -> None:
    raw = "a=1&a=2&b=hello%20world&c=x+y&d&e=%2C&a=3"
    got = event(raw_query=raw)
    assert got["rawQueryString"] == raw
    assert got["queryStringParameters"] == {
        "a": "1,2,3",
        "b": "hello world",
        "c": "x y",
        "d": "",
        "e": ",",
    }


def test_path_is_passed_through() -> None:
    got = event(method="POST", raw_path="/a/b%20c/")
    assert got["rawPath"] == "/a/b%20c/"
    assert got["requestContext"]["http"]["path"] == "/a/b%20c/"
    assert got["requestContext"]["http"]["method"] == "POST"


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "application/json; charset=utf-8",
        "Text/Plain",
        "text/html",
        "application/xml",
        "application/javascript",
        "application/vnd.api+json",
        "application/atom+xml",
    ],
)
def test_text_bodies_arrive_as_text(content_type: str) -> None:
    got = event(headers=[("Content-Type", content_type)], body='{"é": 1}'.encode())
    assert got["body"] == '{"é": 1}'
    assert got["isBase64Encoded"] is False


@pytest.mark.parametrize(
    "headers",
    [
        [],
        [("Content-Type", "application/octet-stream")],
        [("Content-Type", "image/png")],
        [("Content-Type", "application/x-www-form-urlencoded")],
        [("Content-Type", "multipart/form-data; boundary=x")],
        [("Content-Type", "text/plain")],  # but not UTF-8
    ],
)
def test_other_bodies_arrive_base64_encoded(headers: list[tuple[str, str]]) -> None:
    body = b"\x89PNG\xff\x00" if headers and headers[0][1] == "text/plain" else b"\x89PNG\x00a=1"
    got = event(method="POST", headers=headers, body=body)
    assert got["isBase64Encoded"] is True
    assert base64.b64decode(got["body"]) == body


def test_is_text_media_type() -> None:
    assert is_text_media_type("text/csv")
    assert not is_text_media_type(None)
    assert not is_text_media_type("")
    assert not is_text_media_type("application/x-www-form-urlencoded")
    assert not is_text_media_type("image/svg")


def test_naive_now_is_utc_and_aware_now_is_converted() -> None:
    naive = event(now=NOW.replace(tzinfo=None))["requestContext"]
    assert (naive["time"], naive["timeEpoch"]) == ("05/Mar/2024:07:08:09 +0000", 1709622489123)
    plus_two = NOW.astimezone(timezone(timedelta(hours=2)))
    aware = event(now=plus_two)["requestContext"]
    assert (aware["time"], aware["timeEpoch"]) == ("05/Mar/2024:07:08:09 +0000", 1709622489123)


def test_empty_domain_falls_back_to_the_local_name() -> None:
    assert event(domain="")["requestContext"]["domainName"] == DOMAIN


def test_event_is_json() -> None:
    got = event(
        headers=[("Cookie", "a=1"), ("Content-Type", "image/png")],
        raw_query="x=1",
        body=b"\x00\x01",
        iam=iam_identity("AKID", ACCOUNT),
    )
    assert json.loads(json.dumps(got)) == got


# --- Response --------------------------------------------------------------------------------

JSON_TYPE = ("content-type", "application/json")
BAD_GATEWAY = HttpAnswer(
    status=502, headers=(("content-type", "text/plain"),), body=b"Internal Server Error"
)


def respond(value: Any) -> HttpAnswer:
    return build_response(json.dumps(value).encode(), function_error=False)


def test_function_error_is_502() -> None:
    assert build_response(b'{"errorMessage": "boom"}', function_error=True) == BAD_GATEWAY


@pytest.mark.parametrize(
    "payload",
    [b'"Hello, world!"', b'{"message": "hi"}', b"42", b"[1, 2]", b"null", b"true",
     b'{"statusCode": null, "body": "x"}', b'{"StatusCode": 201}'],
)  # fmt: skip
def test_other_json_is_200_with_the_payload_as_body(payload: bytes) -> None:
    assert build_response(payload, function_error=False) == HttpAnswer(
        status=200, headers=(JSON_TYPE,), body=payload
    )


@pytest.mark.parametrize("payload", [b"", b"not json", b"{", b"NaN", b"\xff\xfe\x00"])
def test_empty_or_invalid_json_is_502(payload: bytes) -> None:
    assert build_response(payload, function_error=False) == BAD_GATEWAY


def test_shaped_response() -> None:
    answer = respond(
        {
            "statusCode": 201,
            "headers": {"Content-Type": "text/html", "X-Custom": "v"},
            "body": "<p>hi</p>",
            "isBase64Encoded": False,
        }
    )
    assert answer == HttpAnswer(
        status=201,
        headers=(("Content-Type", "text/html"), ("X-Custom", "v")),
        body=b"<p>hi</p>",
    )


def test_shaped_response_defaults() -> None:
    assert respond({"statusCode": 204}) == HttpAnswer(status=204, headers=(JSON_TYPE,))


def test_content_type_default_only_when_absent_in_any_case() -> None:
    answer = respond({"statusCode": 200, "headers": {"CONTENT-TYPE": "text/plain"}, "body": "x"})
    assert answer.headers == (("CONTENT-TYPE", "text/plain"),)


@pytest.mark.parametrize(
    ("status", "expected"),
    [(200, 200), (100, 100), (599, 599), ("404", 404), (302.0, 302)],
)
def test_status_code_forms(status: object, expected: int) -> None:
    assert respond({"statusCode": status, "body": "x"}).status == expected


@pytest.mark.parametrize("status", [99, 600, -200, "abc", "2e2", " 200", True, 200.5, [200], {}])
def test_invalid_status_code_is_502(status: object) -> None:
    assert respond({"statusCode": status}) == BAD_GATEWAY


def test_header_values_are_stringified_as_json_scalars() -> None:
    answer = respond(
        {
            "statusCode": 200,
            "headers": {"X-Int": 42, "X-Bool": True, "X-Float": 1.5, "X-Null": None},
        }
    )
    assert answer.headers == (
        JSON_TYPE,
        ("X-Int", "42"),
        ("X-Bool", "true"),
        ("X-Float", "1.5"),
    )


@pytest.mark.parametrize(
    "headers",
    [
        {"X-Obj": {"a": 1}},
        {"X-List": ["a", "b"]},
        {"X-Split": "a\r\nSet-Cookie: evil=1"},
        {"Bad Name": "v"},
        {"": "v"},
        "not-an-object",
    ],
)
def test_unusable_headers_are_502(headers: object) -> None:
    assert respond({"statusCode": 200, "headers": headers}) == BAD_GATEWAY


def test_framing_headers_of_the_function_are_dropped() -> None:
    answer = respond(
        {
            "statusCode": 200,
            "headers": {"Content-Length": "999", "Transfer-Encoding": "chunked", "X": "1"},
            "body": "abc",
        }
    )
    assert answer.headers == (JSON_TYPE, ("X", "1"))
    assert answer.body == b"abc"


def test_cookies_become_set_cookie_headers() -> None:
    cookies = ["a=1; Max-Age=60", "b=2; Path=/; HttpOnly"]
    answer = respond({"statusCode": 200, "cookies": cookies, "headers": {"X": "1"}})
    assert answer.headers == (
        JSON_TYPE,
        ("X", "1"),
        ("set-cookie", "a=1; Max-Age=60"),
        ("set-cookie", "b=2; Path=/; HttpOnly"),
    )


@pytest.mark.parametrize("cookies", ["a=1", [1], ["a=1\r\nX: y"]])
def test_bad_cookies_are_502(cookies: object) -> None:
    assert respond({"statusCode": 200, "cookies": cookies}) == BAD_GATEWAY


def test_multi_value_headers_are_not_part_of_2_0() -> None:
    answer = respond({"statusCode": 200, "multiValueHeaders": {"X": ["a", "b"]}})
    assert answer.headers == (JSON_TYPE,)


def test_base64_body_is_decoded() -> None:
    raw = bytes(range(256))
    encoded = base64.b64encode(raw).decode()
    for flag in (True, "true", "TRUE"):
        answer = respond({"statusCode": 200, "body": encoded, "isBase64Encoded": flag})
        assert answer.body == raw
    wrapped = "\n".join(encoded[i : i + 76] for i in range(0, len(encoded), 76))
    assert respond({"statusCode": 200, "body": wrapped, "isBase64Encoded": True}).body == raw


def test_base64_flag_false_keeps_the_text() -> None:
    for flag in (False, "false", None):
        answer = respond({"statusCode": 200, "body": "aGk=", "isBase64Encoded": flag})
        assert answer.body == b"aGk="


@pytest.mark.parametrize(
    ("body", "flag"), [("not base64!", True), ("aGk", True), ("aGk=", 1), ("aGk=", "yes")]
)
def test_bad_base64_or_flag_is_502(body: str, flag: object) -> None:
    assert respond({"statusCode": 200, "body": body, "isBase64Encoded": flag}) == BAD_GATEWAY


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"a": [1, "é"]}, '{"a":[1,"é"]}'.encode()),
        ([1, 2], b"[1,2]"),
        (3, b"3"),
        (False, b"false"),
        (None, b""),
        ("héllo", "héllo".encode()),
    ],
)
def test_body_forms(body: object, expected: bytes) -> None:
    assert respond({"statusCode": 200, "body": body}).body == expected


# --- CORS ------------------------------------------------------------------------------------

ORIGIN = "https://app.example"
FULL = Cors(
    allow_credentials=True,
    allow_headers=("X-Custom", "content-type"),
    allow_methods=("GET", "POST"),
    allow_origins=(ORIGIN, "https://other.example"),
    expose_headers=("X-Out", "X-Two"),
    max_age=300,
)


def preflight_headers(
    origin: str = ORIGIN, method: str = "POST", requested: str | None = None
) -> list[tuple[str, str]]:
    out = [("Origin", origin), ("Access-Control-Request-Method", method)]
    if requested is not None:
        out.append(("Access-Control-Request-Headers", requested))
    return out


def test_preflight_without_cors_goes_to_the_function() -> None:
    assert preflight(None, preflight_headers()) is None


def test_only_options_with_origin_and_request_method_is_a_preflight() -> None:
    assert preflight(FULL, preflight_headers(), method="GET") is None
    assert preflight(FULL, [("Origin", ORIGIN)]) is None
    assert preflight(FULL, [("Access-Control-Request-Method", "GET")]) is None
    assert preflight(FULL, preflight_headers(), method="options") is not None


def test_preflight_from_an_allowed_origin() -> None:
    answer = preflight(FULL, preflight_headers(requested="x-custom, X-Other,Content-Type"))
    assert answer == HttpAnswer(
        status=200,
        headers=(
            ("access-control-allow-origin", ORIGIN),
            ("access-control-allow-credentials", "true"),
            ("access-control-allow-methods", "GET, POST"),
            ("access-control-allow-headers", "x-custom, Content-Type"),
            ("access-control-max-age", "300"),
            ("vary", "Origin"),
        ),
    )


def test_preflight_from_a_disallowed_origin_allows_nothing() -> None:
    answer = preflight(FULL, preflight_headers(origin="https://evil.example", requested="X"))
    assert answer == HttpAnswer(status=200, headers=(("vary", "Origin"),))


def test_preflight_with_minimal_settings() -> None:
    cors = Cors(allow_origins=(ORIGIN,))
    answer = preflight(cors, preflight_headers(requested="X-Custom"))
    assert answer is not None
    assert answer.headers == (("access-control-allow-origin", ORIGIN), ("vary", "Origin"))


def test_wildcard_origin_without_credentials_is_star() -> None:
    cors = Cors(allow_origins=("*",), allow_methods=("*",), allow_headers=("*",))
    answer = preflight(cors, preflight_headers(method="DELETE", requested="X-A, X-B"))
    assert answer is not None
    assert answer.headers == (
        ("access-control-allow-origin", "*"),
        ("access-control-allow-methods", "DELETE"),
        ("access-control-allow-headers", "X-A, X-B"),
        ("vary", "Origin"),
    )


def test_wildcard_origin_with_credentials_echoes_the_origin() -> None:
    cors = Cors(allow_origins=("*",), allow_credentials=True)
    answer = preflight(cors, preflight_headers(origin="https://any.example"))
    assert answer is not None
    assert header_value(answer.headers, "Access-Control-Allow-Origin") == "https://any.example"
    assert header_value(answer.headers, "access-control-allow-credentials") == "true"
    got = cors_headers(cors, [("origin", "https://any.example")])
    assert got[0] == ("access-control-allow-origin", "https://any.example")


def test_origin_and_header_names_match_case_insensitively() -> None:
    cors = Cors(allow_origins=("https://App.Example/",))
    answer = preflight(
        cors, [("ORIGIN", ORIGIN), ("access-control-request-method", "GET")], method="OPTIONS"
    )
    assert answer is not None
    assert answer.headers[0] == ("access-control-allow-origin", ORIGIN)


def test_cors_headers_for_an_allowed_origin() -> None:
    assert cors_headers(FULL, [("Origin", "https://other.example")]) == (
        ("access-control-allow-origin", "https://other.example"),
        ("access-control-allow-credentials", "true"),
        ("access-control-expose-headers", "X-Out, X-Two"),
        ("vary", "Origin"),
    )


def test_cors_headers_for_a_disallowed_or_missing_origin() -> None:
    assert cors_headers(FULL, [("Origin", "https://evil.example")]) == (("vary", "Origin"),)
    assert cors_headers(FULL, []) == (("vary", "Origin"),)
    assert cors_headers(None, [("Origin", ORIGIN)]) == ()


def test_cors_headers_with_star_and_no_credentials() -> None:
    cors = Cors(allow_origins=("*",))
    assert cors_headers(cors, [("Origin", ORIGIN)]) == (
        ("access-control-allow-origin", "*"),
        ("vary", "Origin"),
    )


def test_url_settings_override_the_functions_cors_headers() -> None:
    answer = HttpAnswer(
        status=200,
        headers=(
            JSON_TYPE,
            ("Access-Control-Allow-Origin", "*"),
            ("access-control-allow-credentials", "true"),
            ("Vary", "Accept-Encoding"),
        ),
        body=b"{}",
    )
    got = apply_cors(answer, Cors(allow_origins=(ORIGIN,)), [("Origin", ORIGIN)])
    assert got == HttpAnswer(
        status=200,
        headers=(
            JSON_TYPE,
            ("Vary", "Accept-Encoding"),
            ("access-control-allow-origin", ORIGIN),
            ("vary", "Origin"),
        ),
        body=b"{}",
    )
    denied = apply_cors(answer, Cors(allow_origins=(ORIGIN,)), [("Origin", "https://evil")])
    assert header_value(denied.headers, "access-control-allow-origin") is None


def test_without_cors_the_functions_headers_pass() -> None:
    answer = HttpAnswer(status=200, headers=(("Access-Control-Allow-Origin", "*"),))
    assert apply_cors(answer, None, [("Origin", ORIGIN)]) is answer


def test_header_value_takes_the_first_match() -> None:
    headers = [("A", "1"), ("a", "2")]
    assert header_value(headers, "a") == "1"
    assert header_value(headers, "b") is None
