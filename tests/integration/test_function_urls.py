"""Function URLs end to end: configured with boto3 over SigV4, served by the daemon's URL
listener on loopback, as payload-2.0 events in and HTTP responses out (CORS, AWS_IAM)."""

from __future__ import annotations

import http.client
import json
import uuid
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import botocore.auth
import botocore.awsrequest
import botocore.credentials
import pytest

from tests.integration.conftest import ACCESS_KEY_ID, ROLE, SECRET_ACCESS_KEY, Daemon
from tests.integration.test_aws_compat import zip_of

pytestmark = pytest.mark.privileged

REGION = "us-east-1"
APP = """
import json
def handler(event, context):
    if event["rawPath"] == "/plain":
        return {"just": "data"}
    ctx = event["requestContext"]
    return {
        "statusCode": 201,
        "headers": {"x-echo": event["rawPath"], "content-type": "application/json"},
        "cookies": ["a=1", "b=2"],
        "body": json.dumps({
            "version": event["version"], "method": ctx["http"]["method"],
            "query": event.get("queryStringParameters"), "raw_query": event["rawQueryString"],
            "body": event.get("body"), "b64": event["isBase64Encoded"],
            "iam": ctx.get("authorizer", {}).get("iam", {}).get("accessKey"),
            "url_id": ctx["apiId"],
        }),
    }
"""


@pytest.fixture(scope="module")
def lam(daemon: Daemon) -> Any:
    return daemon.lambda_client()


@pytest.fixture
def app(lam: Any) -> Iterator[str]:
    name = f"url-{uuid.uuid4().hex[:10]}"
    lam.create_function(
        FunctionName=name, Runtime="python3.11", Role=ROLE, Handler="lambda_function.handler",
        Code={"ZipFile": zip_of({"lambda_function.py": APP})},
    )  # fmt: skip
    yield name
    lam.delete_function(FunctionName=name)


def request(
    daemon: Daemon,
    url: str,
    method: str,
    path: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
) -> tuple[int, http.client.HTTPMessage, bytes]:
    """Send to the URL listener on loopback with the function URL's Host."""
    conn = http.client.HTTPConnection("127.0.0.1", daemon.url_port, timeout=30)
    try:
        conn.request(
            method, path, body=body, headers={"Host": urlsplit(url).netloc, **(headers or {})}
        )
        resp = conn.getresponse()
        return resp.status, resp.headers, resp.read()
    finally:
        conn.close()


def open_to_everyone(lam: Any, name: str) -> None:
    """What AWS requires of an AuthType NONE URL: a resource policy letting anyone call it."""
    lam.add_permission(
        FunctionName=name,
        StatementId="public-url",
        Action="lambda:InvokeFunctionUrl",
        Principal="*",
        FunctionUrlAuthType="NONE",
    )


FORBIDDEN = (
    "Forbidden. For troubleshooting Function URL authorization issues, see: "
    "https://docs.aws.amazon.com/lambda/latest/dg/urls-auth.html"
)


def test_a_none_url_needs_a_resource_policy_as_on_aws(daemon: Daemon, lam: Any, app: str) -> None:
    url = lam.create_function_url_config(FunctionName=app, AuthType="NONE")["FunctionUrl"]
    status, headers, body = request(daemon, url, "GET", "/plain")
    assert (status, headers["x-amzn-errortype"], json.loads(body)) == (
        403, "AccessDeniedException", {"Message": FORBIDDEN},
    )  # fmt: skip
    # A permission for another action, or without the NONE condition, opens nothing.
    lam.add_permission(
        FunctionName=app, StatementId="invoke", Action="lambda:InvokeFunction", Principal="*"
    )
    assert request(daemon, url, "GET", "/plain")[0] == 403
    open_to_everyone(lam, app)  # negative control: the same request now reaches the function
    status, headers, body = request(daemon, url, "GET", "/plain")
    assert (status, json.loads(body)) == (200, {"just": "data"})
    assert len(headers["x-amzn-requestid"]) == 36
    lam.remove_permission(FunctionName=app, StatementId="public-url")
    assert request(daemon, url, "GET", "/plain")[0] == 403
    lam.delete_function_url_config(FunctionName=app)


def test_requests_become_events_and_answers_become_responses(
    daemon: Daemon, lam: Any, app: str
) -> None:
    created = lam.create_function_url_config(FunctionName=app, AuthType="NONE")
    open_to_everyone(lam, app)
    url = created["FunctionUrl"]
    assert url.startswith("http://") and f".lambda-url.{REGION}.localhost:{daemon.url_port}/" in url
    status, headers, body = request(
        daemon, url, "POST", "/orders/7?x=1&x=2&y=z", b'{"k": 1}',
        {"Content-Type": "application/json"},
    )  # fmt: skip
    assert status == 201
    assert headers["x-echo"] == "/orders/7"
    assert headers.get_all("set-cookie") == ["a=1", "b=2"]
    assert json.loads(body) == {
        "version": "2.0", "method": "POST", "query": {"x": "1,2", "y": "z"},
        "raw_query": "x=1&x=2&y=z", "body": '{"k": 1}', "b64": False, "iam": None,
        "url_id": urlsplit(url).netloc.split(".")[0],
    }  # fmt: skip
    # A value that is not {statusCode, ...} is the JSON body of a 200.
    status, headers, body = request(daemon, url, "GET", "/plain")
    assert (status, headers["content-type"], json.loads(body)) == (
        200, "application/json", {"just": "data"},
    )  # fmt: skip
    # An unknown URL id is not anyone's function: AWS answers it as forbidden.
    unknown = url.replace(urlsplit(url).netloc.split(".")[0], "0" * 32)
    status, headers, body = request(daemon, unknown, "GET", "/")
    assert (status, headers["x-amzn-errortype"], json.loads(body)) == (
        403, "AccessDeniedException", {"Message": None},
    )  # fmt: skip

    assert lam.get_function_url_config(FunctionName=app)["FunctionUrl"] == url
    listed = lam.list_function_url_configs(FunctionName=app)["FunctionUrlConfigs"]
    assert [c["FunctionUrl"] for c in listed] == [url]
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_function_url_config(FunctionName=app, AuthType="NONE")
    lam.delete_function_url_config(FunctionName=app)
    assert request(daemon, url, "GET", "/plain")[0] == 403
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function_url_config(FunctionName=app)


def test_cors_preflights_are_answered_and_responses_carry_cors_headers(
    daemon: Daemon, lam: Any, app: str
) -> None:
    url = lam.create_function_url_config(
        FunctionName=app, AuthType="NONE",
        Cors={"AllowOrigins": ["https://app.example"], "AllowMethods": ["POST"], "MaxAge": 60},
    )["FunctionUrl"]  # fmt: skip
    open_to_everyone(lam, app)
    status, headers, _ = request(daemon, url, "OPTIONS", "/x", headers={
        "Origin": "https://app.example", "Access-Control-Request-Method": "POST",
    })  # fmt: skip
    assert status == 200
    assert headers["access-control-allow-origin"] == "https://app.example"
    assert "POST" in headers["access-control-allow-methods"]
    assert headers["access-control-max-age"] == "60"
    status, headers, _ = request(
        daemon, url, "POST", "/x", b"{}", {"Origin": "https://evil.example"}
    )
    assert status == 201 and "access-control-allow-origin" not in headers
    status, headers, _ = request(
        daemon, url, "POST", "/x", b"{}", {"Origin": "https://app.example"}
    )
    assert headers["access-control-allow-origin"] == "https://app.example"
    updated = lam.update_function_url_config(FunctionName=app, Cors={})
    assert "Cors" not in updated


def test_aws_iam_urls_need_a_sigv4_signature_by_a_known_key(
    daemon: Daemon, lam: Any, app: str
) -> None:
    url = lam.create_function_url_config(FunctionName=app, AuthType="AWS_IAM")["FunctionUrl"]
    assert request(daemon, url, "GET", "/hello")[0] == 403

    def signed(secret: str) -> int:
        req = botocore.awsrequest.AWSRequest(method="GET", url=url + "hello?a=b")
        creds = botocore.credentials.Credentials(ACCESS_KEY_ID, secret)
        botocore.auth.SigV4Auth(creds, "lambda", REGION).add_auth(req)
        hdrs = {k: v for k, v in req.headers.items() if k.lower() != "host"}
        return request(daemon, url, "GET", "/hello?a=b", headers=hdrs)[0]

    assert signed(SECRET_ACCESS_KEY) == 201
    assert signed("wrong-secret") == 403
