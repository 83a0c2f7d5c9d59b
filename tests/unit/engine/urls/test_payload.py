"""A function URL's HTTP side: the payload format 2.0 event, the response mapping and CORS."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from engine.urls.config import (
    Cors,
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
    ("payload", "body"),
    [(b'"Hello, world!"', b"Hello, world!"), (b'{"message": "hi"}', b'{"message":"hi"}'),
     (b"42", b"42"), (b"[1, 2]", b"[1,2]"), (b"null", b"null"), (b"true", b"true"),
     (b'{"statusCode": null, "body": "x"}', b'{"statusCode":null,"body":"x"}'),
     (b'{"StatusCode": 201}', b'{"StatusCode":201}')],
)  # fmt: skip
def test_other_json_is_200_with_compact_json_or_a_bare_string_as_body(
    payload: bytes, body: bytes
) -> None:
    assert build_response(payload, function_error=False) == HttpAnswer(
        status=200, headers=(JSON_TYPE,), body=body
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
