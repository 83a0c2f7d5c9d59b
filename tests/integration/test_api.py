"""The AWS Lambda REST API against the real daemon: the raw HTTP client and boto3.

Each test asserts what a caller sees: status codes, headers, AWS error types and messages,
payloads and the Tail log.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import quote

import pytest
from botocore.exceptions import ClientError

from engine.cli.client import Client, HttpResponse
from tests.integration.conftest import (
    FUNCTIONS,
    ROLE,
    Daemon,
    host_pids_matching,
    log_of,
    make_zip,
    wait_until,
)

pytestmark = pytest.mark.privileged

REGION = "us-east-1"
ACCOUNT = "000000000000"
SIX_MB = 6 * 1024 * 1024
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"

ECHO = """
import os
def handler(event, context):
    return {"event": event, "host": os.uname().nodename}
"""


def arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"


def new_name() -> str:
    return f"api-{uuid.uuid4().hex[:10]}"


def zip_bytes(code: str) -> bytes:
    return base64.b64decode(make_zip({"lambda_function.py": code}))


@pytest.fixture(scope="module")
def lam(daemon: Daemon) -> Any:
    return daemon.lambda_client()


@pytest.fixture
def names(daemon: Daemon) -> Iterator[list[str]]:
    """Names of functions a test creates itself; deleted afterwards."""
    made: list[str] = []
    yield made
    for name in made:
        daemon.client.request("DELETE", f"{FUNCTIONS}/{name}")


def invoke(
    daemon: Daemon,
    name: str,
    body: bytes = b"",
    headers: dict[str, str] | None = None,
    client: Client | None = None,
    query: str = "",
) -> HttpResponse:
    c = client or daemon.client
    return c.request("POST", f"{FUNCTIONS}/{name}/invocations{query}", body, headers or {})


def ok(resp: HttpResponse) -> Any:
    assert resp.status == 200, (resp.status, resp.body[:500])
    assert "x-amz-function-error" not in resp.headers, resp.body[:2000]
    return resp.json()


def function_error(resp: HttpResponse) -> dict[str, Any]:
    assert resp.status == 200, (resp.status, resp.body[:500])
    assert resp.headers.get("x-amz-function-error") == "Unhandled", resp.body[:2000]
    err: dict[str, Any] = resp.json()
    return err


def api_error(resp: HttpResponse, status: int, error_type: str) -> str:
    assert resp.status == status, (resp.status, resp.headers, resp.body[:500])
    assert resp.error_type == error_type, (resp.headers, resp.body[:500])
    body = resp.json()
    message: str = body.get("message") or body.get("Message")
    assert message, body
    return message


def report_line(log: str) -> str:
    lines = [line for line in log.splitlines() if line.startswith("REPORT RequestId: ")]
    assert len(lines) == 1, log
    return lines[0]


# -- control plane: raw HTTP ----------------------------------------------------------------


def test_create_answers_201_with_the_function_configuration(
    daemon: Daemon, names: list[str]
) -> None:
    name = new_name()
    code = "def handler(e, c):\n    return 1\n"
    resp = daemon.create(
        name,
        code,
        MemorySize=256,
        Timeout=7,
        Description="a test",
        Environment={"Variables": {"GREETING": "hi"}},
    )
    names.append(name)
    assert resp.status == 201, resp.body
    cfg = resp.json()
    raw_zip = zip_bytes(code)
    assert cfg["FunctionName"] == name
    assert cfg["FunctionArn"] == arn(name)
    assert cfg["Runtime"] == "python3.11"
    assert cfg["Role"] == ROLE
    assert cfg["Handler"] == "lambda_function.handler"
    assert cfg["MemorySize"] == 256
    assert cfg["Timeout"] == 7
    assert cfg["Description"] == "a test"
    assert cfg["EphemeralStorage"] == {"Size": 512}
    assert cfg["CodeSha256"] == base64.b64encode(hashlib.sha256(raw_zip).digest()).decode()
    assert cfg["CodeSize"] == len(raw_zip)
    assert cfg["State"] == "Active"
    assert cfg["LastUpdateStatus"] == "Successful"
    assert cfg["Version"] == "$LATEST"
    assert cfg["PackageType"] == "Zip"
    assert cfg["Architectures"] == ["x86_64"]
    assert cfg["Environment"] == {"Variables": {"GREETING": "hi"}}
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+0000", cfg["LastModified"])
    assert isinstance(cfg["RevisionId"], str) and cfg["RevisionId"]

    got = daemon.client.request("GET", f"{FUNCTIONS}/{name}")
    assert got.status == 200
    assert got.json()["Configuration"] == cfg
    assert got.json()["Code"]["RepositoryType"] == "S3"
    assert got.json()["Code"]["Location"]
    conf = daemon.client.request("GET", f"{FUNCTIONS}/{name}/configuration")
    assert conf.status == 200
    assert conf.json() == cfg


def test_create_twice_is_a_conflict(daemon: Daemon, lam: Any, names: list[str]) -> None:
    name = new_name()
    assert daemon.create(name, ECHO).status == 201
    names.append(name)
    message = api_error(daemon.create(name, ECHO), 409, "ResourceConflictException")
    assert name in message
    with pytest.raises(lam.exceptions.ResourceConflictException):
        lam.create_function(
            FunctionName=name,
            Runtime="python3.11",
            Role=ROLE,
            Handler="lambda_function.handler",
            Code={"ZipFile": zip_bytes(ECHO)},
        )
    # The first function is untouched and still runs.
    assert ok(invoke(daemon, name, b'{"a": 1}'))["event"] == {"a": 1}


def test_concurrent_creates_of_one_name_make_one_function(daemon: Daemon, names: list[str]) -> None:
    name = new_name()
    names.append(name)
    barrier = threading.Barrier(4, timeout=30)
    statuses: dict[int, int] = {}

    def create(i: int) -> None:
        client = Client(daemon.socket_path, timeout_s=60)
        try:
            barrier.wait()
            body = {
                "FunctionName": name,
                "Runtime": "python3.11",
                "Role": ROLE,
                "Handler": "lambda_function.handler",
                "Code": {
                    "ZipFile": make_zip(
                        {"lambda_function.py": f"def handler(e, c):\n    return {i}\n"}
                    )
                },
            }
            statuses[i] = client.json_request("POST", FUNCTIONS, body).status
        finally:
            client.close()

    threads = [threading.Thread(target=create, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(statuses.values()) == [201, 409, 409, 409], statuses
    winner = next(i for i, status in statuses.items() if status == 201)
    assert ok(invoke(daemon, name)) == winner


def test_delete_then_the_function_is_gone(daemon: Daemon, names: list[str]) -> None:
    name = new_name()
    assert daemon.create(name, ECHO).status == 201
    names.append(name)
    ok(invoke(daemon, name))  # leaves a warm environment behind
    resp = daemon.client.request("DELETE", f"{FUNCTIONS}/{name}")
    assert resp.status == 204, resp.body
    message = api_error(invoke(daemon, name), 404, "ResourceNotFoundException")
    assert arn(name) in message
    api_error(daemon.client.request("GET", f"{FUNCTIONS}/{name}"), 404, "ResourceNotFoundException")
    api_error(
        daemon.client.request("DELETE", f"{FUNCTIONS}/{name}"), 404, "ResourceNotFoundException"
    )
    listed = daemon.client.request("GET", f"{FUNCTIONS}?MaxItems=10000").json()
    assert name not in [f["FunctionName"] for f in listed["Functions"]]


def test_list_functions_pages_with_max_items_and_marker(
    daemon: Daemon, lam: Any, names: list[str]
) -> None:
    prefix = f"page-{uuid.uuid4().hex[:6]}"
    mine = [f"{prefix}-{i}" for i in range(3)]
    for name in mine:
        assert daemon.create(name, ECHO).status == 201
        names.append(name)

    seen: list[str] = []
    marker: str | None = None
    for _ in range(200):  # bounded: a handful of pages at most
        path = f"{FUNCTIONS}?MaxItems=2" + (f"&Marker={quote(marker)}" if marker else "")
        resp = daemon.client.request("GET", path)
        assert resp.status == 200, resp.body
        page = resp.json()
        assert 1 <= len(page["Functions"]) <= 2
        seen += [f["FunctionName"] for f in page["Functions"]]
        marker = page.get("NextMarker")
        if marker is None:
            break
    else:
        pytest.fail("ListFunctions never stopped returning NextMarker")
    assert len(seen) == len(set(seen)), seen
    assert [n for n in seen if n.startswith(prefix)] == mine

    # boto3: one item per page, the next page starts after the marker.
    first = lam.list_functions(MaxItems=1)
    assert len(first["Functions"]) == 1
    assert first["NextMarker"]
    second = lam.list_functions(MaxItems=1, Marker=first["NextMarker"])
    assert second["Functions"][0]["FunctionName"] != first["Functions"][0]["FunctionName"]
    everything = lam.list_functions(MaxItems=10000)
    assert "NextMarker" not in everything
    listed = {f["FunctionName"]: f for f in everything["Functions"]}
    assert set(mine) <= set(listed)
    assert listed[mine[0]]["FunctionArn"] == arn(mine[0])

    bad = daemon.client.request("GET", f"{FUNCTIONS}?MaxItems=0")
    assert "maxItems" in api_error(bad, 400, "ValidationException")


def test_function_named_by_full_arn(daemon: Daemon, deploy: Callable[..., str]) -> None:
    name = deploy(ECHO)
    encoded = quote(arn(name), safe="")
    assert ok(invoke(daemon, encoded, b'{"k": 2}'))["event"] == {"k": 2}
    conf = daemon.client.request("GET", f"{FUNCTIONS}/{encoded}/configuration")
    assert conf.status == 200
    assert conf.json()["FunctionName"] == name
    latest = quote(f"{arn(name)}:$LATEST", safe="")
    assert ok(invoke(daemon, latest, b"{}"))["event"] == {}
    missing = invoke(daemon, name, query="?Qualifier=7")
    assert arn(name) + ":7" in api_error(missing, 404, "ResourceNotFoundException")


def test_unknown_route_is_404(daemon: Daemon) -> None:
    resp = daemon.client.request("GET", "/2015-03-31/no-such-thing")
    assert resp.status == 404
    assert resp.error_type == "UnknownOperationException"
    resp = daemon.client.request("POST", f"{FUNCTIONS}/x/not-an-operation", b"{}")
    assert resp.status == 404


# -- control plane: boto3 -------------------------------------------------------------------


def test_boto3_function_lifecycle(lam: Any, names: list[str]) -> None:
    name = new_name()
    created = lam.create_function(
        FunctionName=name,
        Runtime="python3.11",
        Role=ROLE,
        Handler="lambda_function.handler",
        Code={"ZipFile": zip_bytes(ECHO)},
        MemorySize=192,
        Timeout=5,
    )
    names.append(name)
    assert created["ResponseMetadata"]["HTTPStatusCode"] == 201
    assert created["FunctionName"] == name
    assert created["FunctionArn"] == arn(name)
    assert created["MemorySize"] == 192
    assert created["State"] == "Active"

    got = lam.get_function(FunctionName=name)
    assert got["Configuration"]["CodeSha256"] == created["CodeSha256"]
    conf = lam.get_function_configuration(FunctionName=name)
    assert conf["Timeout"] == 5
    assert conf["RevisionId"] == created["RevisionId"]
    assert name in [f["FunctionName"] for f in lam.list_functions(MaxItems=10000)["Functions"]]

    resp = lam.invoke(FunctionName=name, Payload=b'{"hello": "boto3"}', LogType="Tail")
    assert resp["StatusCode"] == 200
    assert resp["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in resp
    assert json.loads(resp["Payload"].read())["event"] == {"hello": "boto3"}
    assert (
        f"START RequestId: {resp['ResponseMetadata']['RequestId']}"
        in base64.b64decode(resp["LogResult"]).decode()
    )

    by_arn = lam.invoke(FunctionName=arn(name), Payload=b"{}")
    assert by_arn["StatusCode"] == 200

    deleted = lam.delete_function(FunctionName=name)
    assert deleted["ResponseMetadata"]["HTTPStatusCode"] in (200, 204)
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.invoke(FunctionName=name, Payload=b"{}")
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)


_BIG_ENV = {"Variables": {f"KEY_{i:03d}": "v" * 40 for i in range(100)}}


@pytest.mark.parametrize(
    ("settings", "code", "status", "needle"),
    [
        ({"MemorySize": 20000}, "ValidationException", 400, "less than or equal to 10240"),
        ({"Timeout": 901}, "ValidationException", 400, "less than or equal to 900"),
        ({"Runtime": "python2.5"}, "InvalidParameterValueException", 400, "or be a valid ARN"),
        ({"Runtime": "java21"}, "InvalidParameterValueException", 400, "provided.al2023"),
        ({"Environment": _BIG_ENV}, "InvalidParameterValueException", 400, "4KB limit"),
        (
            {"Environment": {"Variables": {"AWS_REGION": "x"}}},
            "InvalidParameterValueException",
            400,
            "reserved keys",
        ),
        (
            {"Code": {"ZipFile": b"this is not a zip file"}},
            "InvalidParameterValueException",
            400,
            "Could not unzip uploaded file",
        ),
        ({"Role": "not-a-role"}, "ValidationException", 400, "role"),
    ],
    ids=["memory", "timeout", "runtime-enum", "runtime-host", "env-4kb", "env-reserved",
         "bad-zip", "role"],
)  # fmt: skip
def test_boto3_create_validation_errors(
    lam: Any, settings: dict[str, Any], code: str, status: int, needle: str
) -> None:
    name = new_name()
    params: dict[str, Any] = {
        "FunctionName": name,
        "Runtime": "python3.11",
        "Role": ROLE,
        "Handler": "lambda_function.handler",
        "Code": {"ZipFile": zip_bytes(ECHO)},
        **settings,
    }
    with pytest.raises(ClientError) as info:
        lam.create_function(**params)
    err = info.value.response
    assert err["Error"]["Code"] == code, err
    assert err["ResponseMetadata"]["HTTPStatusCode"] == status
    assert needle in err["Error"]["Message"], err["Error"]["Message"]
    with pytest.raises(lam.exceptions.ResourceNotFoundException):
        lam.get_function(FunctionName=name)


def test_update_function_code_runs_the_new_code(
    daemon: Daemon, lam: Any, deploy: Callable[..., str]
) -> None:
    v1 = """
    import os
    def handler(event, context):
        return {"version": 1, "host": os.uname().nodename}
    """
    v2 = """
    import os
    def handler(event, context):
        return {"version": 2, "host": os.uname().nodename}
    """
    name = deploy(v1)
    before = lam.get_function_configuration(FunctionName=name)
    first = ok(invoke(daemon, name))
    assert ok(invoke(daemon, name)) == first  # warm: the same environment
    assert first["version"] == 1

    updated = lam.update_function_code(FunctionName=name, ZipFile=zip_bytes(v2))
    assert updated["CodeSha256"] != before["CodeSha256"]
    assert updated["RevisionId"] != before["RevisionId"]
    assert updated["CodeSha256"] == (
        base64.b64encode(hashlib.sha256(zip_bytes(v2)).digest()).decode()
    )

    resp = invoke(daemon, name, headers={"X-Amz-Log-Type": "Tail"})
    after = ok(resp)
    assert after["version"] == 2
    assert after["host"] != first["host"]
    assert "Init Duration: " in report_line(log_of(resp))  # a cold, new environment
    assert (
        lam.get_function(FunctionName=name)["Configuration"]["CodeSha256"]
        == (updated["CodeSha256"])
    )


def test_update_function_configuration_takes_effect(
    daemon: Daemon, lam: Any, deploy: Callable[..., str]
) -> None:
    name = deploy(
        """
        import os
        def handler(event, context):
            return {"memory": int(context.memory_limit_in_mb),
                    "greeting": os.environ.get("GREETING"),
                    "timeout_left": context.get_remaining_time_in_millis()}
        """,
        Environment={"Variables": {"GREETING": "hello"}},
    )
    assert ok(invoke(daemon, name))["memory"] == 128
    assert ok(invoke(daemon, name))["greeting"] == "hello"

    changed = lam.update_function_configuration(
        FunctionName=name,
        MemorySize=256,
        Timeout=20,
        Environment={"Variables": {"GREETING": "bye", "OTHER": "x"}},
    )
    assert changed["MemorySize"] == 256
    assert changed["Timeout"] == 20
    assert changed["Environment"]["Variables"] == {"GREETING": "bye", "OTHER": "x"}

    resp = invoke(daemon, name, headers={"X-Amz-Log-Type": "Tail"})
    result = ok(resp)
    assert result["memory"] == 256
    assert result["greeting"] == "bye"
    assert 3000 < result["timeout_left"] <= 20000
    assert "\tMemory Size: 256 MB\t" in report_line(log_of(resp))

    cleared = lam.update_function_configuration(FunctionName=name, Environment={"Variables": {}})
    assert "Environment" not in cleared or not cleared["Environment"].get("Variables")
    assert ok(invoke(daemon, name))["greeting"] is None

    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.update_function_configuration(
            FunctionName=name, MemorySize=512, RevisionId=changed["RevisionId"]
        )  # stale: the Environment change above made a new revision
    with pytest.raises(ClientError) as info:
        lam.update_function_configuration(FunctionName=name, MemorySize=20000)
    assert info.value.response["Error"]["Code"] == "ValidationException"
    assert lam.get_function_configuration(FunctionName=name)["MemorySize"] == 256


def test_update_code_with_a_bad_zip_keeps_the_old_code(
    daemon: Daemon, lam: Any, deploy: Callable[..., str]
) -> None:
    name = deploy(ECHO)
    before = lam.get_function_configuration(FunctionName=name)
    with pytest.raises(ClientError) as info:
        lam.update_function_code(FunctionName=name, ZipFile=b"not a zip")
    assert info.value.response["Error"]["Code"] == "InvalidParameterValueException"
    with pytest.raises(lam.exceptions.PreconditionFailedException):
        lam.update_function_code(
            FunctionName=name, ZipFile=zip_bytes("def handler(e, c):\n    return 2\n"),
            RevisionId="00000000-0000-0000-0000-000000000000",
        )  # fmt: skip
    after = lam.get_function_configuration(FunctionName=name)
    assert after["CodeSha256"] == before["CodeSha256"]
    assert after["RevisionId"] == before["RevisionId"]
    assert ok(invoke(daemon, name, b'{"still": "v1"}'))["event"] == {"still": "v1"}


def test_deleting_a_function_mid_invoke_tears_its_sandbox_down(
    daemon: Daemon, names: list[str]
) -> None:
    """Failed when written (engine bug): the environment of an invoke that was running when
    its function was deleted goes back to the idle pool (under the deleted revision) and
    keeps running until keep_warm_s, although nothing can ever use it again."""
    marker = f"{900 + secrets.randbelow(99)}.{secrets.randbelow(10**9):09d}"
    name = new_name()
    code = f"""
import os, time
def handler(event, context):
    if os.fork() == 0:
        os.setsid()
        os.execv("/bin/sleep", ["sleep", "{marker}"])
    time.sleep(1.5)
    return "finished"
"""
    assert daemon.create(name, code).status == 201
    names.append(name)
    results: list[HttpResponse | BaseException] = []

    def call() -> None:
        client = Client(daemon.socket_path, timeout_s=60)
        try:
            results.append(invoke(daemon, name, b"{}", client=client))
        except BaseException as exc:
            results.append(exc)
        finally:
            client.close()

    worker = threading.Thread(target=call)
    worker.start()
    try:
        assert wait_until(lambda: bool(host_pids_matching(f"sleep {marker}")), 10)
        assert daemon.client.request("DELETE", f"{FUNCTIONS}/{name}").status == 204
    finally:
        worker.join(60)
    assert len(results) == 1 and isinstance(results[0], HttpResponse), results
    assert ok(results[0]) == "finished"  # the running invoke completes
    assert wait_until(lambda: not host_pids_matching(f"sleep {marker}"), 5), (
        "the deleted function's sandbox is still running"
    )


# -- invoke: request validation -------------------------------------------------------------


def test_dry_run_answers_204_and_runs_nothing(
    daemon: Daemon, lam: Any, deploy: Callable[..., str]
) -> None:
    name = deploy(
        """
        COUNT = 0
        def handler(event, context):
            global COUNT
            COUNT += 1
            return COUNT
        """
    )
    resp = invoke(daemon, name, b"{}", {"X-Amz-Invocation-Type": "DryRun"})
    assert resp.status == 204
    assert resp.body == b""
    assert lam.invoke(FunctionName=name, InvocationType="DryRun")["StatusCode"] == 204
    # No environment was started: the first real invoke is cold and the first to run.
    assert not list((daemon.state_dir / "logs").glob(f"{name}/*"))
    real = invoke(daemon, name, b"{}", {"X-Amz-Log-Type": "Tail"})
    assert ok(real) == 1
    assert "Init Duration: " in report_line(log_of(real))
    missing = invoke(daemon, new_name(), b"{}", {"X-Amz-Invocation-Type": "DryRun"})
    api_error(missing, 404, "ResourceNotFoundException")


def test_bad_invocation_and_log_types(daemon: Daemon, deploy: Callable[..., str]) -> None:
    name = deploy(ECHO)
    resp = invoke(daemon, name, b"{}", {"X-Amz-Invocation-Type": "Sync"})
    assert "'Sync' at 'invocationType'" in api_error(resp, 400, "ValidationException")
    resp = invoke(daemon, name, b"{}", {"X-Amz-Log-Type": "Full"})
    assert "'Full' at 'logType'" in api_error(resp, 400, "ValidationException")


def test_invalid_json_payload(daemon: Daemon, deploy: Callable[..., str]) -> None:
    name = deploy(ECHO)
    resp = invoke(daemon, name, b'{"unterminated": ')
    message = api_error(resp, 400, "InvalidRequestContentException")
    assert "Could not parse" in message


def test_client_context_must_be_base64_json(daemon: Daemon, deploy: Callable[..., str]) -> None:
    name = deploy(ECHO)
    resp = invoke(daemon, name, b"{}", {"X-Amz-Client-Context": "%%% not base64 %%%"})
    api_error(resp, 400, "InvalidRequestContentException")


def test_payload_size_limit(daemon: Daemon, lam: Any, deploy: Callable[..., str]) -> None:
    name = deploy(
        """
        def handler(event, context):
            return len(event["data"])
        """,
        MemorySize=512,
    )
    # Just under 6 MB reaches the function whole.
    filler = SIX_MB - len(b'{"data": ""}') - 16
    body = json.dumps({"data": "x" * filler}).encode()
    assert len(body) < SIX_MB
    assert ok(invoke(daemon, name, body)) == filler
    # Over 6 MB is refused before the function runs: boto3 reads the early 413.
    big = json.dumps({"data": "x" * (SIX_MB + 10)}).encode()
    with pytest.raises(lam.exceptions.RequestTooLargeException) as info:
        lam.invoke(FunctionName=name, Payload=big)
    assert info.value.response["ResponseMetadata"]["HTTPStatusCode"] == 413
    assert str(SIX_MB) in info.value.response["Error"]["Message"]
    # A declared Content-Length over the limit is answered before any body is sent.
    with socket.socket(socket.AF_UNIX) as s:
        s.settimeout(30)
        s.connect(str(daemon.socket_path))
        s.sendall(
            f"POST {FUNCTIONS}/{name}/invocations HTTP/1.1\r\nHost: lambdalet\r\n"
            f"Content-Length: {SIX_MB + 1}\r\n\r\n".encode()
        )
        reply = b""
        while b"}" not in reply and len(reply) < 65536:  # bounded: one small JSON answer
            chunk = s.recv(4096)
            if not chunk:
                break
            reply += chunk
    head = reply.decode(errors="replace").lower()
    assert head.startswith("http/1.1 413"), head
    assert "x-amzn-errortype: requesttoolargeexception" in head
    # The daemon keeps serving.
    assert ok(invoke(daemon, name, b'{"data": "abc"}')) == 3


# -- invoke: results, errors and logs -------------------------------------------------------


def test_response_over_6_mb_is_a_function_error(daemon: Daemon, deploy: Callable[..., str]) -> None:
    name = deploy(
        """
        def handler(event, context):
            return "x" * event["n"]
        """,
        MemorySize=512,
    )
    err = function_error(invoke(daemon, name, json.dumps({"n": SIX_MB + 10}).encode()))
    assert err["errorType"] == "Function.ResponseSizeTooLarge"
    assert f"exceeded maximum allowed payload size ({SIX_MB} bytes)" in err["errorMessage"]
    # Just under the limit (the JSON string's quotes count) comes back whole.
    resp = invoke(daemon, name, json.dumps({"n": SIX_MB - 2}).encode())
    assert len(ok(resp)) == SIX_MB - 2


def test_tail_log_has_start_end_report_and_the_functions_output(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    name = deploy(
        """
        import logging, os
        logger = logging.getLogger()
        logger.setLevel(logging.INFO)
        def handler(event, context):
            print("printed-line", event["n"])
            logger.info("logged-line %s", event["n"])
            os.system("echo from-child")
            return event["n"]
        """
    )
    logs = []
    for n in (1, 2):
        resp = invoke(daemon, name, json.dumps({"n": n}).encode(), {"X-Amz-Log-Type": "Tail"})
        assert ok(resp) == n
        request_id = resp.headers["x-amzn-requestid"]
        assert re.fullmatch(UUID, request_id)
        log = log_of(resp)
        logs.append(log)
        lines = log.splitlines()
        start = lines.index(f"START RequestId: {request_id} Version: $LATEST")
        end = lines.index(f"END RequestId: {request_id}")
        assert start < end
        body = lines[start + 1 : end]
        assert f"printed-line {n}" in body
        assert any(
            re.fullmatch(rf"\[INFO\]\t{TS}\t{re.escape(request_id)}\tlogged-line {n}", line)
            for line in body
        ), body
        assert "from-child" in body
        report = report_line(log)
        assert lines.index(report) > end
        assert report.startswith(f"REPORT RequestId: {request_id}\t")
        assert re.search(r"\tDuration: \d+\.\d{2} ms\t", report), report
        assert re.search(r"\tBilled Duration: \d+ ms\t", report), report
        assert "\tMemory Size: 128 MB\t" in report
        used = re.search(r"\tMax Memory Used: (\d+) MB", report)
        assert used is not None and 1 <= int(used.group(1)) <= 128, report
    cold, warm = (report_line(log) for log in logs)
    assert re.search(r"\tInit Duration: \d+\.\d{2} ms", cold), cold
    assert "Init Duration" not in warm, warm
    # Without Tail there is no log header.
    assert "x-amz-log-result" not in invoke(daemon, name, b'{"n": 3}').headers


def test_handler_exception_is_an_unhandled_function_error(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    name = deploy(
        """
        class PaymentDeclined(Exception):
            pass
        def check(amount):
            raise PaymentDeclined(f"card refused for {amount}")
        def handler(event, context):
            if event.get("fail"):
                check(event["amount"])
            return "fine"
        """
    )
    assert ok(invoke(daemon, name, b"{}")) == "fine"
    resp = invoke(daemon, name, b'{"fail": true, "amount": 42}', {"X-Amz-Log-Type": "Tail"})
    err = function_error(resp)
    assert err["errorType"] == "PaymentDeclined"
    assert err["errorMessage"] == "card refused for 42"
    trace = err["stackTrace"]
    assert isinstance(trace, list) and trace and all(isinstance(f, str) for f in trace)
    assert any("/var/task/lambda_function.py" in f and "in check" in f for f in trace), trace
    assert not any("bootstrap.py" in f for f in trace), trace
    log = log_of(resp)
    assert "PaymentDeclined" in log and "card refused for 42" in log
    # A handled-by-the-runtime exception keeps the environment: the next invoke is warm.
    again = invoke(daemon, name, b"{}", {"X-Amz-Log-Type": "Tail"})
    assert ok(again) == "fine"
    assert "Init Duration" not in report_line(log_of(again))


@pytest.mark.parametrize(
    ("code", "error_type", "message"),
    [
        (
            "import no_such_module_xyz\ndef handler(e, c):\n    return 1\n",
            "Runtime.ImportModuleError",
            "Unable to import module 'lambda_function': No module named 'no_such_module_xyz'",
        ),
        (
            "def other(e, c):\n    return 1\n",
            "Runtime.HandlerNotFound",
            "Handler 'handler' missing on module 'lambda_function'",
        ),
        (
            "def handler(e, c)\n    return 1\n",
            "Runtime.UserCodeSyntaxError",
            "Syntax error in module 'lambda_function'",
        ),
    ],
    ids=["import", "handler-missing", "syntax"],
)
def test_init_errors(
    daemon: Daemon, deploy: Callable[..., str], code: str, error_type: str, message: str
) -> None:
    name = deploy(code)
    for _ in range(2):  # the error is reported on every invoke, not just the first
        resp = invoke(daemon, name, b"{}", {"X-Amz-Log-Type": "Tail"})
        err = function_error(resp)
        assert err["errorType"] == error_type, err
        assert message in err["errorMessage"], err
        log = log_of(resp)
        assert error_type in log
        assert "REPORT RequestId: " in log


def test_runtime_exit_is_reported_and_the_next_invoke_gets_a_new_environment(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    name = deploy(
        """
        import os
        def handler(event, context):
            if event.get("exit"):
                os._exit(3)
            return os.uname().nodename
        """
    )
    host = ok(invoke(daemon, name, b"{}"))
    resp = invoke(daemon, name, b'{"exit": true}', {"X-Amz-Log-Type": "Tail"})
    err = function_error(resp)
    assert err["errorType"] == "Runtime.ExitError"
    assert "exit status 3" in err["errorMessage"]
    assert "REPORT RequestId: " in log_of(resp)
    again = invoke(daemon, name, b"{}", {"X-Amz-Log-Type": "Tail"})
    assert ok(again) != host
    assert "Init Duration: " in report_line(log_of(again))


@pytest.mark.parametrize(
    ("raise_it", "status"),
    [("sys.exit(3)", 3), ("raise KeyboardInterrupt()", None)],
    ids=["sys-exit", "keyboard-interrupt"],
)
def test_base_exception_in_handler_ends_the_runtime_with_an_exit_error(
    daemon: Daemon, deploy: Callable[..., str], raise_it: str, status: int | None
) -> None:
    """Failed when written (engine bug): a handler's SystemExit escapes the runtime into the
    sandbox's set-up failure path, so the caller sees the set-up exit code ("exit status
    125"; earlier Runtime.InvalidResponse "unexpected SetupFailed") instead of
    Runtime.ExitError with the function's own "exit status 3"."""
    name = deploy(
        f"""
        import os, sys
        def handler(event, context):
            if event.get("die"):
                {raise_it}
            return os.uname().nodename
        """
    )
    host = ok(invoke(daemon, name, b"{}"))
    resp = invoke(daemon, name, b'{"die": true}', {"X-Amz-Log-Type": "Tail"})
    err = function_error(resp)
    assert err["errorType"] == "Runtime.ExitError", err
    assert "Runtime exited with error: " in err["errorMessage"], err
    if status is not None:
        assert f"exit status {status}" in err["errorMessage"], err
    again = ok(invoke(daemon, name, b"{}"))
    assert again != host


def test_sys_exit_at_import_is_a_function_error_not_a_platform_error(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    """Failed when written (engine bug): SystemExit while importing the handler's module
    is answered 500 ServiceException ("sandbox set-up failed ..."), blaming the host for
    the function's own exit, instead of a Runtime.ExitError function error."""
    name = deploy("import sys\nsys.exit(2)\ndef handler(e, c):\n    return 1\n")
    resp = invoke(daemon, name, b"{}", {"X-Amz-Log-Type": "Tail"})
    err = function_error(resp)
    assert err["errorType"] == "Runtime.ExitError", err
    assert "exit status 2" in err["errorMessage"], err
    assert "REPORT RequestId: " in log_of(resp)


def test_platform_log_lines_start_on_their_own_line(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    """Failed when written (engine bug): output without a trailing newline runs into the
    END line ("no-newlineEND RequestId: ..."), so END no longer starts a line."""
    name = deploy(
        """
        import sys
        def handler(event, context):
            print("no-newline", end="")
            sys.stdout.flush()
            return 1
        """
    )
    resp = invoke(daemon, name, b"{}", {"X-Amz-Log-Type": "Tail"})
    assert ok(resp) == 1
    request_id = resp.headers["x-amzn-requestid"]
    lines = log_of(resp).splitlines()
    assert "no-newline" in lines, lines
    assert f"END RequestId: {request_id}" in lines, lines


def test_tail_is_the_last_4_kb_of_the_log(daemon: Daemon, deploy: Callable[..., str]) -> None:
    name = deploy(
        """
        def handler(event, context):
            for i in range(400):
                print(f"line {i:04d} " + "y" * 40)
            return "done"
        """
    )
    resp = invoke(daemon, name, b"{}", {"X-Amz-Log-Type": "Tail"})
    assert ok(resp) == "done"
    raw = base64.b64decode(resp.headers["x-amz-log-result"])
    assert 3500 < len(raw) <= 4096
    log = raw.decode()
    assert "line 0399 " in log and "line 0000 " not in log
    assert log.endswith("\n") and log.splitlines()[-1].startswith("REPORT RequestId: ")
    # The whole log is kept in the function's log stream on the host.
    streams = list((daemon.state_dir / "logs" / name).glob("*.log"))
    assert len(streams) == 1
    assert "line 0000 " in streams[0].read_text()


def test_empty_payload_and_null_result(daemon: Daemon, deploy: Callable[..., str]) -> None:
    name = deploy(
        """
        def handler(event, context):
            return None if event == {} else event
        """
    )
    resp = invoke(daemon, name)
    assert ok(resp) is None
    assert resp.body == b"null"
    assert ok(invoke(daemon, name, '{"ü": "ß"}'.encode())) == {"ü": "ß"}
    assert ok(invoke(daemon, name, b"[1, 2]")) == [1, 2]


def test_unserialisable_result_is_a_marshal_error(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    name = deploy(
        """
        def handler(event, context):
            return {"when": {1, 2}}
        """
    )
    err = function_error(invoke(daemon, name, b"{}"))
    assert err["errorType"] == "Runtime.MarshalError"
    assert "Unable to marshal response" in err["errorMessage"]
    assert "set" in err["errorMessage"]


CONTEXT = """
def handler(event, context):
    cc = context.client_context
    return {
        "function_name": context.function_name,
        "function_version": context.function_version,
        "invoked_function_arn": context.invoked_function_arn,
        "memory_limit_in_mb": context.memory_limit_in_mb,
        "aws_request_id": context.aws_request_id,
        "log_group_name": context.log_group_name,
        "log_stream_name": context.log_stream_name,
        "remaining": context.get_remaining_time_in_millis(),
        "custom": None if cc is None else cc.custom,
    }
"""


def test_context_attributes(daemon: Daemon, lam: Any, deploy: Callable[..., str]) -> None:
    name = deploy(CONTEXT, Timeout=9)
    client_context = base64.b64encode(json.dumps({"custom": {"k": "v"}}).encode()).decode()
    resp = invoke(daemon, name, b"{}", {"X-Amz-Client-Context": client_context})
    ctx = ok(resp)
    assert ctx["function_name"] == name
    assert ctx["function_version"] == "$LATEST"
    assert ctx["invoked_function_arn"] == arn(name)
    assert int(ctx["memory_limit_in_mb"]) == 128
    assert ctx["aws_request_id"] == resp.headers["x-amzn-requestid"]
    assert ctx["log_group_name"] == f"/aws/lambda/{name}"
    assert re.fullmatch(r"\d{4}/\d\d/\d\d/\[\$LATEST\][0-9a-f]{32}", ctx["log_stream_name"])
    assert 0 < ctx["remaining"] <= 9000
    assert ctx["remaining"] > 5000  # the handler ran at once
    assert ctx["custom"] == {"k": "v"}

    plain = ok(invoke(daemon, name, b"{}"))
    assert plain["custom"] is None
    assert plain["aws_request_id"] != ctx["aws_request_id"]
    assert plain["log_stream_name"] == ctx["log_stream_name"]  # the same warm environment

    via_boto = lam.invoke(FunctionName=name, Payload=b"{}", ClientContext=client_context)
    got = json.loads(via_boto["Payload"].read())
    assert got["custom"] == {"k": "v"}
    assert got["aws_request_id"] == via_boto["ResponseMetadata"]["RequestId"]


# -- concurrency ----------------------------------------------------------------------------


def test_concurrent_invokes_scale_out_then_reuse_a_warm_environment(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    name = deploy(
        """
        import os, time
        def handler(event, context):
            time.sleep(1)
            return os.uname().nodename
        """
    )
    barrier = threading.Barrier(3, timeout=30)
    results: list[HttpResponse | BaseException] = []
    lock = threading.Lock()

    def call() -> None:
        client = Client(daemon.socket_path, timeout_s=60)
        try:
            barrier.wait()
            r: HttpResponse | BaseException = invoke(daemon, name, b"{}", client=client)
        except BaseException as exc:
            r = exc
        finally:
            client.close()
        with lock:
            results.append(r)

    threads = [threading.Thread(target=call) for _ in range(3)]
    started = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    elapsed = time.monotonic() - started
    assert len(results) == 3, results
    hosts = set()
    for r in results:
        assert isinstance(r, HttpResponse), r
        hosts.add(ok(r))
    assert len(hosts) == 3, hosts
    assert elapsed < 2.5, f"3 concurrent 1 s invokes took {elapsed:.2f} s"

    fourth = invoke(daemon, name, b"{}", {"X-Amz-Log-Type": "Tail"})
    assert ok(fourth) in hosts
    assert "Init Duration" not in report_line(log_of(fourth))


def test_keep_alive_survives_answers_that_ignore_the_body(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    """DryRun and errors answer without using the body; requests on one client go on working."""
    name = deploy("def handler(e, c):\n    return 1\n")
    client = Client(daemon.socket_path, timeout_s=30)
    try:
        for _ in range(30):  # bounded
            dry = client.request(
                "POST", f"{FUNCTIONS}/{name}/invocations", b'{"x": 1}',
                {"X-Amz-Invocation-Type": "DryRun"},
            )  # fmt: skip
            assert dry.status == 204
            bad = client.request(
                "PUT", f"{FUNCTIONS}/{'x' * 200}/configuration", b'{"MemorySize": 256}'
            )
            assert bad.status == 400
            assert client.request("GET", f"{FUNCTIONS}/{name}/configuration").status == 200
    finally:
        client.close()


def test_a_body_arriving_after_the_answer_keeps_the_connection(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    """A DryRun is answered from its head; its body, sent late, is read and the connection
    serves the next request (hypercorn alone closes it: the client's body send then fails)."""
    name = deploy("def handler(e, c):\n    return 1\n")
    body = b'{"late": true}'
    head = (
        f"POST {FUNCTIONS}/{name}/invocations HTTP/1.1\r\nHost: lambdalet\r\n"
        f"X-Amz-Invocation-Type: DryRun\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode()
    second = f"GET {FUNCTIONS}/{name}/configuration HTTP/1.1\r\nHost: lambdalet\r\n\r\n".encode()
    with socket.socket(socket.AF_UNIX) as sock:
        sock.settimeout(10)
        sock.connect(str(daemon.socket_path))
        sock.sendall(head)
        first = sock.recv(65536)
        assert first.startswith(b"HTTP/1.1 204"), first
        time.sleep(0.2)  # the answer has left; the body comes late
        sock.sendall(body + second)
        answer = b""
        while b"FunctionName" not in answer:
            chunk = sock.recv(65536)
            assert chunk, f"the daemon closed the connection: {answer!r}"
            answer += chunk
    assert b"HTTP/1.1 200" in answer
