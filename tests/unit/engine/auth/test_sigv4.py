"""SigV4 verification against requests signed by botocore, and the ASGI middleware around it."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from unittest.mock import patch
from urllib.parse import unquote, urlsplit

import boto3
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.config import Config
from botocore.credentials import Credentials
from starlette.types import Message, Receive, Scope, Send

from engine.auth.credentials import CredentialsFile
from engine.auth.gate import SigV4Middleware
from engine.auth.sigv4 import MISMATCH, check_headers, claimed_access_key_id, verify_request
from engine.errors import (
    ApiError,
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

KEY_ID = "LKIAABCDEFGHIJKLMNOP"
SECRET = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
SECRETS = {KEY_ID: SECRET, "LKIAOTHERKEY2345": "another-secret"}
HOST = "127.0.0.1:9001"
REGION = "us-east-1"
NOW = datetime(2024, 1, 1, 0, 10, tzinfo=UTC)
FUNCTION_ARN = "arn:aws:lambda:us-east-1:000000000000:function:f"
ARN = "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Afunction%3Af"
LAYER_ARN = "arn%3Aaws%3Alambda%3Aus-east-1%3A000000000000%3Alayer%3Al%3A1"


@dataclasses.dataclass(frozen=True, slots=True, kw_only=True)
class Wire:
    """A request as an HTTP client puts it on the wire."""

    method: str
    raw_path: str
    query_string: str
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        return next(v for k, v in self.headers if k.lower() == name.lower())

    def with_header(self, name: str, value: str | None) -> Wire:
        kept = [(k, v) for k, v in self.headers if k.lower() != name.lower()]
        added = [] if value is None else [(name, value)]
        return dataclasses.replace(self, headers=kept + added)


def sign(
    method: str,
    path_and_query: str,
    *,
    body: bytes = b"",
    params: list[tuple[str, str]] | None = None,
    headers: dict[str, str] | None = None,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    token: str | None = None,
    region: str = REGION,
    service: str = "lambda",
    at: datetime = NOW,
    host: str = HOST,
) -> Wire:
    """Sign with botocore's SigV4Auth at a fixed time, as the SDKs do for non-S3 services."""
    request = AWSRequest(
        method=method,
        url=f"http://{host}{path_and_query}",
        data=body,
        params=params or {},
        headers=headers or {},
    )
    auth = SigV4Auth(Credentials(key_id, secret, token), service, region)
    with patch("botocore.auth.get_current_datetime", return_value=at.replace(tzinfo=None)):
        auth.add_auth(request)
    return on_the_wire(request.prepare())


def on_the_wire(prepared: Any) -> Wire:
    url = urlsplit(prepared.url)
    # An HTTP client adds Host (botocore signs it from the URL) and headers nobody signs.
    headers = [("User-Agent", "Boto3/1.0 test")]
    for name, value in prepared.headers.items():
        headers.append((name, value.decode() if isinstance(value, bytes) else value))
    if "host" not in {name.lower() for name, _ in headers}:
        headers.insert(0, ("Host", url.netloc))
    body = prepared.body or b""
    if isinstance(body, str):
        body = body.encode()
    if body:
        headers.append(("Content-Length", str(len(body))))
    return Wire(
        method=prepared.method,
        raw_path=url.path,
        query_string=url.query,
        headers=headers,
        body=body,
    )


def verify(
    wire: Wire,
    *,
    now: datetime = NOW,
    hosts: tuple[str, ...] = (HOST,),
    region: str = REGION,
    service: str = "lambda",
) -> str:
    return verify_request(
        method=wire.method,
        raw_path=wire.raw_path,
        query_string=wire.query_string,
        headers=wire.headers,
        body=wire.body,
        secrets=SECRETS,
        now=now,
        hosts=hosts,
        region=region,
        service=service,
    )


# -- requests that verify -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "path_and_query", "body"),
    [
        ("GET", f"/2015-03-31/functions/{ARN}/configuration", b""),
        ("GET", f"/2015-03-31/functions/{ARN}/configuration?Qualifier=%24LATEST", b""),
        ("GET", "/2015-03-31/functions/f/versions?Marker=b%20c&MaxItems=5&Marker=a", b""),
        ("GET", f"/2017-03-31/tags/{ARN}", b""),
        ("GET", f"/2018-10-31/layers?find=LayerVersion&Arn={LAYER_ARN}", b""),
        ("GET", "/2015-03-31/functions/", b""),
        ("GET", "/2015-03-31/functions/./g/../f//configuration", b""),
        ("POST", "/2015-03-31/functions/f/invocations", b'{"key": "value \xc3\xa9"}'),
        ("POST", "/2015-03-31/functions/f/invocations", b""),
        ("DELETE", f"/2015-03-31/functions/{ARN}?Qualifier=1", b""),
    ],
    ids=[
        "arn-path",
        "qualifier-latest",
        "repeated-keys-and-spaces",
        "tags-path",
        "layer-by-arn",
        "trailing-slash",
        "dot-segments",
        "json-body",
        "empty-body",
        "delete",
    ],
)
def test_botocore_signed_requests_verify(method: str, path_and_query: str, body: bytes) -> None:
    assert verify(sign(method, path_and_query, body=body)) == KEY_ID


def test_query_params_sent_form_encoded_verify() -> None:
    # botocore puts `params` on the wire with '+' for spaces but signs them as %20.
    params = [("Qualifier", "$LATEST"), ("tag", "a b"), ("tag", "A b"), ("eq", "1+1=2")]
    wire = sign("GET", f"/2015-03-31/functions/{ARN}", params=params)
    assert "+" in wire.query_string
    assert verify(wire) == KEY_ID


def test_headers_are_trimmed_and_multiple_spaces_collapsed() -> None:
    wire = sign(
        "POST",
        "/2015-03-31/functions/f/invocations",
        body=b"{}",
        headers={"X-Amz-Invocation-Type": "  RequestResponse  ", "X-Custom": "a   b \t c"},
    )
    assert verify(wire) == KEY_ID


def test_date_header_instead_of_x_amz_date() -> None:
    wire = sign("GET", "/2015-03-31/functions", headers={"Date": "placeholder"})
    assert "x-amz-date" not in {k.lower() for k, _ in wire.headers}
    assert verify(wire) == KEY_ID


def test_content_sha256_header_of_the_body_verifies() -> None:
    body = b'{"n": 1}'
    digest = hashlib.sha256(body).hexdigest()
    wire = sign("POST", "/f", body=body, headers={"X-Amz-Content-SHA256": digest})
    assert verify(wire) == KEY_ID


def test_host_compares_case_insensitively_with_port() -> None:
    wire = sign("GET", "/f", host="localhost:9001", headers={"Host": "LocalHost:9001"})
    assert wire.header("Host") == "LocalHost:9001"
    assert verify(wire, hosts=("other:9001", "LOCALHOST:9001")) == KEY_ID


@pytest.mark.parametrize("skew", [timedelta(minutes=5), timedelta(minutes=4, seconds=59)])
def test_clock_skew_within_five_minutes_passes(skew: timedelta) -> None:
    assert verify(sign("GET", "/f", at=NOW - skew)) == KEY_ID
    assert verify(sign("GET", "/f", at=NOW + skew)) == KEY_ID


# -- requests from a real boto3 Lambda client -----------------------------------------------


@pytest.fixture
def _no_aws_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    # boto3 must sign with the keys given here, whatever the host's environment says.
    for name in list(os.environ):
        if name.startswith("AWS_"):
            monkeypatch.delenv(name)
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "no-config"))


class _Sent(Exception):
    def __init__(self, request: Any) -> None:
        super().__init__("captured")
        self.request = request


@pytest.fixture
def lambda_client(_no_aws_environment: None) -> Any:
    session = boto3.session.Session(
        aws_access_key_id=KEY_ID, aws_secret_access_key=SECRET, region_name=REGION
    )
    client = session.client(
        "lambda", endpoint_url=f"http://{HOST}", config=Config(retries={"max_attempts": 0})
    )

    def capture(request: Any, **_: Any) -> None:
        raise _Sent(request)

    client.meta.events.register("before-send.lambda.*", capture)
    return client


@pytest.mark.parametrize(
    ("operation", "kwargs"),
    [
        ("get_function_configuration", {"FunctionName": FUNCTION_ARN, "Qualifier": "$LATEST"}),
        ("invoke", {"FunctionName": "f", "Payload": '{"k": "v \u00e9"}'.encode()}),
        ("list_tags", {"Resource": FUNCTION_ARN}),
        ("get_layer_version_by_arn", {"Arn": unquote(LAYER_ARN)}),
        ("list_functions", {"MaxItems": 5, "Marker": "a b+c/d"}),
        ("update_function_configuration", {"FunctionName": "f", "Description": "x  y"}),
        ("delete_function", {"FunctionName": FUNCTION_ARN}),
    ],
)
def test_boto3_client_requests_verify(
    lambda_client: Any, operation: str, kwargs: dict[str, Any]
) -> None:
    with pytest.raises(_Sent) as sent:
        getattr(lambda_client, operation)(**kwargs)
    wire = on_the_wire(sent.value.request)
    assert verify(wire, now=datetime.now(UTC)) == KEY_ID


# -- requests that are refused --------------------------------------------------------------


def refused(wire: Wire, error: type[ApiError], **kwargs: Any) -> ApiError:
    with pytest.raises(error) as caught:
        verify(wire, **kwargs)
    return caught.value


def test_wrong_secret() -> None:
    err = refused(sign("GET", "/f", secret="not-the-secret"), InvalidSignatureException)
    assert err.message == MISMATCH
    assert (err.status, err.error_type) == (403, "InvalidSignatureException")


def test_unknown_access_key_id() -> None:
    err = refused(sign("GET", "/f", key_id="LKIAUNKNOWN"), UnrecognizedClientException)
    assert err.message == "The security token included in the request is invalid."
    assert (err.status, err.error_type) == (403, "UnrecognizedClientException")


def test_security_token_is_not_supported() -> None:
    refused(sign("GET", "/f", token="session-token"), UnrecognizedClientException)


def test_tampered_body() -> None:
    wire = sign("POST", "/2015-03-31/functions/f/invocations", body=b'{"n": 1}')
    refused(dataclasses.replace(wire, body=b'{"n": 2}'), InvalidSignatureException)
    refused(dataclasses.replace(wire, body=b""), InvalidSignatureException)


def test_tampered_path() -> None:
    wire = sign("GET", f"/2015-03-31/functions/{ARN}/configuration")
    for path in (
        f"/2015-03-31/functions/{ARN.replace('function%3Af', 'function%3Ag')}/configuration",
        f"/2015-03-31/functions/{unquote(ARN)}/configuration",  # decoded is another path
    ):
        err = refused(dataclasses.replace(wire, raw_path=path), InvalidSignatureException)
        assert err.message == MISMATCH


@pytest.mark.parametrize(
    "query",
    [
        "Qualifier=%24LATEST&Qualifier=1",
        "Qualifier=1",
        "Qualifier=%24LATEST&Extra=",
        "Qualifier=%2524LATEST",
        "",
    ],
)
def test_tampered_query(query: str) -> None:
    wire = sign("GET", "/2015-03-31/functions/f?Qualifier=%24LATEST")
    refused(dataclasses.replace(wire, query_string=query), InvalidSignatureException)


def test_tampered_signed_header() -> None:
    wire = sign("POST", "/f", body=b"{}", headers={"X-Amz-Invocation-Type": "Event"})
    refused(wire.with_header("X-Amz-Invocation-Type", "DryRun"), InvalidSignatureException)


def test_method_is_signed() -> None:
    wire = sign("GET", f"/2015-03-31/functions/{ARN}")
    refused(dataclasses.replace(wire, method="DELETE"), InvalidSignatureException)


def test_expired() -> None:
    err = refused(sign("GET", "/f", at=NOW - timedelta(minutes=10)), InvalidSignatureException)
    assert err.message == (
        "Signature expired: 20240101T000000Z is now earlier than 20240101T000500Z "
        "(20240101T001000Z - 5 min.)"
    )


def test_not_yet_current() -> None:
    err = refused(sign("GET", "/f", at=NOW + timedelta(minutes=10)), InvalidSignatureException)
    assert err.message == (
        "Signature not yet current: 20240101T002000Z is still later than 20240101T001500Z "
        "(20240101T001000Z + 5 min.)"
    )


def test_one_second_beyond_five_minutes_is_refused() -> None:
    skew = timedelta(minutes=5, seconds=1)
    refused(sign("GET", "/f", at=NOW - skew), InvalidSignatureException)
    refused(sign("GET", "/f", at=NOW + skew), InvalidSignatureException)


def test_wrong_region() -> None:
    err = refused(sign("GET", "/f", region="eu-west-1"), InvalidSignatureException)
    assert "'us-east-1'" in err.message
    assert "'eu-west-1'" in err.message


def test_wrong_service() -> None:
    err = refused(sign("GET", "/f", service="execute-api"), InvalidSignatureException)
    assert "'lambda'" in err.message


def test_credential_date_must_match_the_request_day() -> None:
    wire = sign("GET", "/f")
    forged = wire.header("Authorization").replace("/20240101/", "/20231231/")
    err = refused(wire.with_header("Authorization", forged), InvalidSignatureException)
    assert "'20231231' != '20240101'" in err.message


def test_wrong_terminator() -> None:
    wire = sign("GET", "/f")
    forged = wire.header("Authorization").replace("/aws4_request", "/aws5_request")
    err = refused(wire.with_header("Authorization", forged), InvalidSignatureException)
    assert "aws4_request" in err.message


@pytest.mark.parametrize("host", ["evil.example:9001", "127.0.0.1:9002", "127.0.0.1"])
def test_host_not_served_here(host: str) -> None:
    err = refused(sign("GET", "/f", host=host), InvalidSignatureException)
    assert host in err.message


def test_missing_host_header() -> None:
    wire = sign("GET", "/f").with_header("Host", None)
    refused(wire, InvalidSignatureException)


def test_missing_authorization() -> None:
    err = refused(
        sign("GET", "/f").with_header("Authorization", None), MissingAuthenticationTokenException
    )
    assert err.message == "Missing Authentication Token"
    assert (err.status, err.error_type) == (403, "MissingAuthenticationTokenException")


SIG = "a" * 64
CRED = f"{KEY_ID}/20240101/us-east-1/lambda/aws4_request"


@pytest.mark.parametrize(
    ("authorization", "says"),
    [
        ("garbage", "Unsupported AWS 'algorithm'"),
        (f"AWS4-HMAC-SHA512 Credential={CRED}, SignedHeaders=host, Signature={SIG}", "SHA512"),
        ("AWS4-HMAC-SHA256", "requires 'Credential' parameter"),
        (f"AWS4-HMAC-SHA256 Credential={CRED}, Signature={SIG}", "'SignedHeaders'"),
        (f"AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders=host", "'Signature'"),
        (f"AWS4-HMAC-SHA256 Credential={CRED} SignedHeaders=host Signature={SIG}", "parameter"),
        (f"AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders=host, Signature=xyz", "hexadecimal"),
        (f"AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders=Host, Signature={SIG}", "lowercase"),
        (f"AWS4-HMAC-SHA256 Credential={KEY_ID}/20240101/us-east-1/lambda, "
         f"SignedHeaders=host, Signature={SIG}", "Credential must have the form"),
        (f"AWS4-HMAC-SHA256 Credential={CRED}, Credential={CRED}, "
         f"SignedHeaders=host, Signature={SIG}", "more than one"),
        (f"AWS4-HMAC-SHA256 Credential={CRED}, SignedHeaders=host, Signature={SIG}, "
         "Extra=1", "'Extra'"),
    ],
)  # fmt: skip
def test_malformed_authorization(authorization: str, says: str) -> None:
    wire = sign("GET", "/f").with_header("Authorization", authorization)
    err = refused(wire, IncompleteSignatureException)
    assert says in err.message
    assert (err.status, err.error_type) == (400, "IncompleteSignatureException")


def test_host_must_be_signed() -> None:
    wire = sign("GET", "/f")
    forged = wire.header("Authorization").replace("SignedHeaders=host;", "SignedHeaders=")
    assert "host" not in forged.split("SignedHeaders=")[1].split(",")[0]
    err = refused(wire.with_header("Authorization", forged), IncompleteSignatureException)
    assert "'host'" in err.message


def test_signed_header_missing_from_the_request() -> None:
    wire = sign("POST", "/f", body=b"{}", headers={"X-Amz-Invocation-Type": "Event"})
    refused(wire.with_header("X-Amz-Invocation-Type", None), IncompleteSignatureException)


def test_missing_date() -> None:
    err = refused(sign("GET", "/f").with_header("X-Amz-Date", None), IncompleteSignatureException)
    assert "'X-Amz-Date' or a 'Date' header" in err.message


@pytest.mark.parametrize(
    "value", ["2024-01-01T00:10:00Z", "20241301T001000Z", "\uff120240101T001000Z"]
)
def test_malformed_x_amz_date(value: str) -> None:
    refused(sign("GET", "/f").with_header("X-Amz-Date", value), IncompleteSignatureException)


def test_repeated_x_amz_date() -> None:
    wire = sign("GET", "/f")
    twice = dataclasses.replace(wire, headers=[*wire.headers, ("X-Amz-Date", "20240101T001000Z")])
    refused(twice, IncompleteSignatureException)


@pytest.mark.parametrize("value", ["UNSIGNED-PAYLOAD", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"])
def test_unsigned_payload_is_refused(value: str) -> None:
    wire = sign("POST", "/f", body=b"{}", headers={"X-Amz-Content-SHA256": value})
    err = refused(wire, InvalidSignatureException)
    assert value in err.message


def test_content_sha256_header_must_match_the_body() -> None:
    wire = sign("POST", "/f", body=b"{}", headers={"X-Amz-Content-SHA256": "0" * 64})
    refused(wire, InvalidSignatureException)


def test_naive_now_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify(sign("GET", "/f"), now=NOW.replace(tzinfo=None))


def test_check_headers_needs_no_body() -> None:
    wire = sign("POST", "/f", body=b"{}")
    kwargs: dict[str, Any] = {
        "secrets": SECRETS,
        "now": NOW,
        "hosts": (HOST,),
        "region": REGION,
    }
    assert check_headers(headers=wire.headers, **kwargs) == KEY_ID
    with pytest.raises(MissingAuthenticationTokenException):
        check_headers(headers=wire.with_header("Authorization", None).headers, **kwargs)


def test_claimed_access_key_id() -> None:
    wire = sign("GET", "/f", key_id="LKIAUNKNOWN")
    assert claimed_access_key_id(wire.headers) == "LKIAUNKNOWN"
    assert claimed_access_key_id(wire.with_header("Authorization", None).headers) is None
    assert claimed_access_key_id([("Authorization", "garbage")]) is None


# -- the ASGI middleware --------------------------------------------------------------------


@pytest.fixture
def credentials(tmp_path: Path) -> CredentialsFile:
    path = tmp_path / "credentials"
    lines = [f"[p{i}]\naws_access_key_id = {k}\naws_secret_access_key = {s}\n" for i, (k, s) in
             enumerate(SECRETS.items())]  # fmt: skip
    path.write_text("\n".join(lines))
    path.chmod(0o600)
    creds = CredentialsFile(path, owner_uid=os.geteuid())
    creds.load()
    return creds


@dataclasses.dataclass
class Inner:
    """The wrapped app: records what reached it, reads the body, answers 200."""

    scopes: list[Scope] = dataclasses.field(default_factory=list)
    bodies: list[bytes] = dataclasses.field(default_factory=list)
    after_body: list[Message] = dataclasses.field(default_factory=list)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        self.scopes.append(scope)
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body", False):
                break
        self.bodies.append(body)
        self.after_body.append(await receive())
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


@dataclasses.dataclass
class Exchange:
    """Drives the middleware with a fake receive and send."""

    messages: list[Message]
    received: int = 0
    sent: list[Message] = dataclasses.field(default_factory=list)

    async def receive(self) -> Message:
        self.received += 1
        if self.messages:
            return self.messages.pop(0)
        return {"type": "http.disconnect"}

    async def send(self, message: Message) -> None:
        self.sent.append(message)

    @property
    def status(self) -> int:
        return int(self.sent[0]["status"])

    @property
    def headers(self) -> dict[str, str]:
        return {k.decode(): v.decode() for k, v in self.sent[0]["headers"]}

    @property
    def json(self) -> Any:
        return json.loads(b"".join(m.get("body", b"") for m in self.sent[1:]))


def scope_for(wire: Wire, *, raw_path: bool = True) -> Scope:
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": wire.method,
        "scheme": "http",
        "path": unquote(wire.raw_path),
        "raw_path": wire.raw_path.encode() if raw_path else None,
        "query_string": wire.query_string.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in wire.headers],
        "client": ("127.0.0.1", 40000),
        "server": ("127.0.0.1", 9001),
    }


def chunked(body: bytes, size: int) -> list[Message]:
    pieces = [body[i : i + size] for i in range(0, len(body), size)] or [b""]
    return [
        {"type": "http.request", "body": piece, "more_body": i < len(pieces) - 1}
        for i, piece in enumerate(pieces)
    ]


def middleware(inner: Inner, credentials: CredentialsFile, max_body: int = 1024) -> Any:
    return SigV4Middleware(
        inner,
        credentials=credentials,
        hosts=[HOST],
        region=REGION,
        max_body=max_body,
        clock=NOW.timestamp,
    )


@pytest.mark.parametrize("chunk_size", [1, 7, 1024])
async def test_verified_body_is_replayed_byte_for_byte(
    credentials: CredentialsFile, chunk_size: int
) -> None:
    body = json.dumps({"data": "x" * 300, "é": "\u2603"}).encode()
    wire = sign("POST", f"/2015-03-31/functions/{ARN}/invocations", body=body)
    inner, exchange = Inner(), Exchange(chunked(body, chunk_size))
    await middleware(inner, credentials)(scope_for(wire), exchange.receive, exchange.send)
    assert inner.bodies == [body]
    assert inner.scopes[0]["lambdalet.access_key_id"] == KEY_ID
    assert inner.after_body == [{"type": "http.disconnect"}]  # delegated to the real receive
    assert exchange.status == 200


async def test_path_is_quoted_when_the_server_gives_no_raw_path(
    credentials: CredentialsFile,
) -> None:
    wire = sign("GET", f"/2015-03-31/functions/{ARN}/configuration?Qualifier=%24LATEST")
    inner, exchange = Inner(), Exchange(chunked(b"", 1))
    scope = scope_for(wire, raw_path=False)
    await middleware(inner, credentials)(scope, exchange.receive, exchange.send)
    assert exchange.status == 200


async def test_refusal_is_an_aws_error_and_reads_no_body(
    credentials: CredentialsFile, caplog: pytest.LogCaptureFixture
) -> None:
    wire = sign("POST", "/f", body=b"{}").with_header("Authorization", None)
    inner, exchange = Inner(), Exchange(chunked(b"{}", 1))
    with caplog.at_level(logging.INFO, logger="engine.auth.gate"):
        await middleware(inner, credentials)(scope_for(wire), exchange.receive, exchange.send)
    assert inner.scopes == []
    assert exchange.received == 0
    assert exchange.status == 403
    headers = exchange.headers
    assert headers["content-type"] == "application/json"
    assert headers["x-amzn-errortype"] == "MissingAuthenticationTokenException"
    assert uuid.UUID(headers["x-amzn-requestid"]).version == 4
    assert int(headers["content-length"]) == len(json.dumps(exchange.json))
    assert exchange.json == {"Type": "User", "message": "Missing Authentication Token"}
    assert "MissingAuthenticationTokenException" in caplog.text


async def test_refusal_of_a_json_protocol_request_names_its_type_in_the_body(
    credentials: CredentialsFile,
) -> None:
    """SQS, Kinesis and CloudWatch Logs clients read the error code from ``__type``."""
    wire = sign("POST", "/", body=b"{}").with_header("Authorization", None)
    wire = wire.with_header("X-Amz-Target", "Logs_20140328.DescribeLogGroups")
    inner, exchange = Inner(), Exchange(chunked(b"{}", 1))
    await middleware(inner, credentials)(scope_for(wire), exchange.receive, exchange.send)
    assert exchange.status == 403 and inner.scopes == []
    assert exchange.json == {
        "__type": "MissingAuthenticationTokenException",
        "message": "Missing Authentication Token",
    }


async def test_bad_signature_is_logged_without_secret_or_signature(
    credentials: CredentialsFile, caplog: pytest.LogCaptureFixture
) -> None:
    wire = sign("POST", "/f", body=b'{"n": 1}', secret="wrong-secret")
    inner, exchange = Inner(), Exchange(chunked(b'{"n": 1}', 4))
    with caplog.at_level(logging.INFO, logger="engine.auth.gate"):
        await middleware(inner, credentials)(scope_for(wire), exchange.receive, exchange.send)
    assert inner.scopes == []
    assert exchange.status == 403
    assert exchange.headers["x-amzn-errortype"] == "InvalidSignatureException"
    assert exchange.json == {"Type": "User", "message": MISMATCH}
    signature = wire.header("Authorization").rsplit("Signature=", 1)[1]
    assert KEY_ID in caplog.text
    assert signature not in caplog.text
    assert SECRET not in caplog.text
    assert "wrong-secret" not in caplog.text


async def test_tampered_body_is_refused(credentials: CredentialsFile) -> None:
    wire = sign("POST", "/f", body=b'{"n": 1}')
    inner, exchange = Inner(), Exchange(chunked(b'{"n": 2}', 3))
    await middleware(inner, credentials)(scope_for(wire), exchange.receive, exchange.send)
    assert inner.scopes == []
    assert exchange.status == 403


async def test_body_over_the_limit_is_cut_off(credentials: CredentialsFile) -> None:
    body = b"x" * 40
    wire = sign("POST", "/f", body=body).with_header("Content-Length", None)  # chunked upload
    inner, exchange = Inner(), Exchange(chunked(body, 4))
    await middleware(inner, credentials, max_body=10)(
        scope_for(wire), exchange.receive, exchange.send
    )
    assert exchange.received == 3  # 4, 8, 12 bytes: refused at 12 without reading on
    assert exchange.status == 413
    assert exchange.headers["x-amzn-errortype"] == "RequestEntityTooLargeException"
    assert exchange.json["Type"] == "User"
    assert inner.scopes == []


async def test_declared_length_over_the_limit_is_refused_unread(
    credentials: CredentialsFile,
) -> None:
    body = b"x" * 40
    wire = sign("POST", "/f", body=body)
    inner, exchange = Inner(), Exchange(chunked(body, 40))
    await middleware(inner, credentials, max_body=10)(
        scope_for(wire), exchange.receive, exchange.send
    )
    assert (exchange.received, exchange.status) == (0, 413)


async def test_body_of_exactly_the_limit_passes(credentials: CredentialsFile) -> None:
    body = b"x" * 10
    wire = sign("POST", "/f", body=body)
    inner, exchange = Inner(), Exchange(chunked(body, 3))
    await middleware(inner, credentials, max_body=10)(
        scope_for(wire), exchange.receive, exchange.send
    )
    assert inner.bodies == [body]


async def test_client_gone_before_the_body_ends(credentials: CredentialsFile) -> None:
    wire = sign("POST", "/f", body=b"x" * 10)
    inner, exchange = Inner(), Exchange(chunked(b"x" * 10, 4)[:1])  # then http.disconnect
    await middleware(inner, credentials)(scope_for(wire), exchange.receive, exchange.send)
    assert inner.scopes == []
    assert exchange.sent == []


async def test_lifespan_passes_through(credentials: CredentialsFile) -> None:
    inner, exchange = Inner(), Exchange([])
    scope: Scope = {"type": "lifespan", "asgi": {"version": "3.0"}}
    await middleware(inner, credentials)(scope, exchange.receive, exchange.send)
    assert inner.scopes == [scope]


async def test_unsafe_credentials_file_refuses_everything(
    credentials: CredentialsFile, caplog: pytest.LogCaptureFixture
) -> None:
    credentials.path.chmod(0o644)
    wire = sign("GET", "/f")
    inner, exchange = Inner(), Exchange(chunked(b"", 1))
    with caplog.at_level(logging.ERROR, logger="engine.auth.credentials"):
        await middleware(inner, credentials)(scope_for(wire), exchange.receive, exchange.send)
    assert exchange.status == 403
    assert exchange.headers["x-amzn-errortype"] == "UnrecognizedClientException"
    assert "chmod 600" in caplog.text
