"""The CLI's `aws lambda` commands send what the AWS CLI sends.

Every command runs through `engine.cli.main.main` against a fake daemon on a unix socket that
records the request. The same argument lists then go through the real AWS CLI (a test
dependency) against the fake over TCP, and every command row is checked against botocore's
service model, so a wrong date prefix, member location or option name cannot slip in.
"""

from __future__ import annotations

import argparse
import base64
import http.server
import io
import json
import re
import shlex
import socketserver
import threading
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl

import pytest

from engine.cli import main as cli
from engine.cli.args import (
    BOOLEAN,
    DOUBLE_MAP,
    INTEGER,
    STRING,
    STRING_MAP,
    STRINGS,
    ShorthandError,
    coerce,
    parse_shorthand,
    parse_structured,
)
from engine.cli.lambda_commands import COMMAND_LIST, COMMANDS
from engine.cli.paging import PagingError, decode_token, encode_token, paginate
from engine.cli.request import Command, Option
from engine.registry.packaging import zip_bytes_of_directory

FN_ARN = "arn:aws:lambda:us-east-1:123456789012:function:my-fn"
FN_ARN_PATH = "arn%3Aaws%3Alambda%3Aus-east-1%3A123456789012%3Afunction%3Amy-fn"
LAYER_ARN = "arn:aws:lambda:us-east-1:123456789012:layer:deps:3"


def _zip_bytes() -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(zipfile.ZipInfo("python/dep.py", (1980, 1, 1, 0, 0, 0)), "X = 1\n")
    return buf.getvalue()


ZIP_BYTES = _zip_bytes()
ZIP_B64 = base64.b64encode(ZIP_BYTES).decode()


# -- a fake daemon --------------------------------------------------------------------------


@dataclass(frozen=True)
class Seen:
    method: str
    path: str  # as sent: percent-encoded, without the query
    query: list[tuple[str, str]]
    body: Any  # parsed JSON, or None for no body
    headers: dict[str, str]


Answer = tuple[int, dict[str, str], Any]  # status, headers, JSON body (None: empty)


@dataclass
class FakeLambda:
    """Records each request; answers from `answers` in order, then 200 with ``{}``."""

    socket: Path
    seen: list[Seen] = field(default_factory=list)
    answers: list[Answer] = field(default_factory=list)

    def handle(self, method: str, target: str, body: bytes, headers: dict[str, str]) -> Answer:
        path, _, qs = target.partition("?")
        self.seen.append(
            Seen(
                method=method,
                path=path,
                query=parse_qsl(qs, keep_blank_values=True),
                body=json.loads(body) if body else None,
                headers=headers,
            )
        )
        return self.answers.pop(0) if self.answers else (200, {}, {})


def _handler(fake: FakeLambda) -> type[http.server.BaseHTTPRequestHandler]:
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def _serve(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
            headers = {k.lower(): v for k, v in self.headers.items()}
            status, extra, payload = fake.handle(self.command, self.path, body, headers)
            out = b"" if payload is None else json.dumps(payload).encode()
            self.send_response(status)
            for key, value in extra.items():
                self.send_header(key, value)
            self.send_header("Content-Length", str(len(out)))
            self.end_headers()
            self.wfile.write(out)

        do_GET = do_POST = do_PUT = do_DELETE = _serve

        def log_message(self, format: str, *args: Any) -> None:
            pass

    return Handler


class _UnixHTTPServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True


@dataclass
class Running:
    fake: FakeLambda
    server: socketserver.BaseServer
    thread: threading.Thread

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def _start(fake: FakeLambda, server: socketserver.BaseServer) -> Running:
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    return Running(fake, server, thread)


@pytest.fixture
def fake(tmp_path: Path) -> Iterator[FakeLambda]:
    f = FakeLambda(socket=tmp_path / "api.sock")
    running = _start(f, _UnixHTTPServer(str(f.socket), _handler(f)))
    yield f
    running.stop()


@pytest.fixture
def zip_path(tmp_path: Path) -> Path:
    path = tmp_path / "layer.zip"
    path.write_bytes(ZIP_BYTES)
    return path


def lambdalet(fake: FakeLambda, argv: list[str]) -> int:
    return cli.main(["--socket", str(fake.socket), *argv])


def expand(argv: str, tmp_path: Path) -> list[str]:
    return [arg.replace("{tmp}", str(tmp_path)) for arg in shlex.split(argv)]


# -- every command: method, exact path, query and body ---------------------------------------


@dataclass(frozen=True)
class Case:
    argv: str  # {tmp} is the test's temporary directory (layer.zip is there)
    method: str
    path: str
    query: list[tuple[str, str]] = field(default_factory=list)
    body: Any = None
    aws: bool = True  # the AWS CLI takes this argv too (the oracle test runs it)


def case(argv: str, method: str, path: str, query: Any = (), body: Any = None, **kw: Any) -> Any:
    c = Case(argv=argv, method=method, path=path, query=list(query), body=body, **kw)
    return pytest.param(c, id=argv.split()[0])


F = "/2015-03-31/functions/my-fn"
EIC = "/2019-09-25/functions/my-fn/event-invoke-config"
ESM = "/2015-03-31/event-source-mappings"
ESM_UUID = "6c5e2a0e-1b7d-4d0c-9b1e-2f3a4b5c6d7e"
QUEUE_ARN = "arn:aws:sqs:us-east-1:123456789012:q"
STREAM_ARN = "arn:aws:kinesis:us-east-1:123456789012:stream/s"
CASES = [
    case("publish-version --function-name my-fn", "POST", F + "/versions", body={}),
    case(
        f"publish-version --function-name {FN_ARN} --code-sha256 abc= --description 'v one' "
        "--revision-id r1",
        "POST", f"/2015-03-31/functions/{FN_ARN_PATH}/versions",
        body={"CodeSha256": "abc=", "Description": "v one", "RevisionId": "r1"},
    ),
    case(
        "list-versions-by-function --function-name my-fn --marker m1 --max-items 5",
        "GET", F + "/versions", [("Marker", "m1"), ("MaxItems", "5")],
    ),
    case("list-versions-by-function --function-name my-fn", "GET", F + "/versions"),
    case(
        "create-alias --function-name my-fn --name live --function-version 1 --description d "
        "--routing-config AdditionalVersionWeights={2=0.1}",
        "POST", F + "/aliases",
        body={
            "Name": "live", "FunctionVersion": "1", "Description": "d",
            "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.1}},
        },
    ),
    case(
        "create-alias --function-name my-fn --name live --function-version 1 "
        """--routing-config '{"AdditionalVersionWeights": {"2": 0.25}}'""",
        "POST", F + "/aliases",
        body={
            "Name": "live", "FunctionVersion": "1",
            "RoutingConfig": {"AdditionalVersionWeights": {"2": 0.25}},
        },
    ),
    case("get-alias --function-name my-fn --name live", "GET", F + "/aliases/live"),
    case(
        "list-aliases --function-name my-fn --function-version 3",
        "GET", F + "/aliases", [("FunctionVersion", "3")],
    ),
    case(
        "update-alias --function-name my-fn --name live --function-version 2 --revision-id r2",
        "PUT", F + "/aliases/live", body={"FunctionVersion": "2", "RevisionId": "r2"},
    ),
    case("delete-alias --function-name my-fn --name live", "DELETE", F + "/aliases/live"),
    case(
        "publish-layer-version --layer-name deps --description d "
        "--zip-file fileb://{tmp}/layer.zip --compatible-runtimes python3.11 python3.12 "
        "--compatible-architectures x86_64 --license-info MIT",
        "POST", "/2018-10-31/layers/deps/versions",
        body={
            "Description": "d", "Content": {"ZipFile": ZIP_B64},
            "CompatibleRuntimes": ["python3.11", "python3.12"],
            "CompatibleArchitectures": ["x86_64"], "LicenseInfo": "MIT",
        },
    ),
    case(
        "publish-layer-version --layer-name deps --zip-file {tmp}/layer.zip",
        "POST", "/2018-10-31/layers/deps/versions", body={"Content": {"ZipFile": ZIP_B64}},
        aws=False,  # the AWS CLI wants fileb://
    ),
    case(
        "get-layer-version --layer-name deps --version-number 3",
        "GET", "/2018-10-31/layers/deps/versions/3",
    ),
    case(
        f"get-layer-version-by-arn --arn {LAYER_ARN}",
        "GET", "/2018-10-31/layers", [("find", "LayerVersion"), ("Arn", LAYER_ARN)],
    ),
    case(
        "list-layers --compatible-runtime python3.11 --compatible-architecture arm64",
        "GET", "/2018-10-31/layers",
        [("CompatibleRuntime", "python3.11"), ("CompatibleArchitecture", "arm64")],
    ),
    case("list-layer-versions --layer-name deps", "GET", "/2018-10-31/layers/deps/versions"),
    case(
        "delete-layer-version --layer-name deps --version-number 3",
        "DELETE", "/2018-10-31/layers/deps/versions/3",
    ),
    case(
        "put-function-concurrency --function-name my-fn --reserved-concurrent-executions 10",
        "PUT", "/2017-10-31/functions/my-fn/concurrency",
        body={"ReservedConcurrentExecutions": 10},
    ),
    case(
        "get-function-concurrency --function-name my-fn",
        "GET", "/2019-09-30/functions/my-fn/concurrency",
    ),
    case(
        "delete-function-concurrency --function-name my-fn",
        "DELETE", "/2017-10-31/functions/my-fn/concurrency",
    ),
    case(
        "put-provisioned-concurrency-config --function-name my-fn --qualifier live "
        "--provisioned-concurrent-executions 2",
        "PUT", "/2019-09-30/functions/my-fn/provisioned-concurrency", [("Qualifier", "live")],
        body={"ProvisionedConcurrentExecutions": 2},
    ),
    case(
        "get-provisioned-concurrency-config --function-name my-fn --qualifier live",
        "GET", "/2019-09-30/functions/my-fn/provisioned-concurrency", [("Qualifier", "live")],
    ),
    case(
        "delete-provisioned-concurrency-config --function-name my-fn --qualifier 1",
        "DELETE", "/2019-09-30/functions/my-fn/provisioned-concurrency", [("Qualifier", "1")],
    ),
    case(
        "list-provisioned-concurrency-configs --function-name my-fn",
        "GET", "/2019-09-30/functions/my-fn/provisioned-concurrency", [("List", "ALL")],
    ),
    case("get-account-settings", "GET", "/2016-08-19/account-settings"),
    case(
        "create-function-url-config --function-name my-fn --qualifier live --auth-type NONE "
        "--cors AllowOrigins=https://a.example,AllowMethods=GET --invoke-mode BUFFERED",
        "POST", "/2021-10-31/functions/my-fn/url", [("Qualifier", "live")],
        body={
            "AuthType": "NONE", "InvokeMode": "BUFFERED",
            "Cors": {"AllowOrigins": ["https://a.example"], "AllowMethods": ["GET"]},
        },
    ),
    case(
        "create-function-url-config --function-name my-fn --auth-type AWS_IAM --cors "
        "'AllowOrigins=[https://a.example,https://b.example:8443],AllowMethods=GET,POST,"
        "MaxAge=300,AllowCredentials=true,ExposeHeaders=x-a'",
        "POST", "/2021-10-31/functions/my-fn/url",
        body={
            "AuthType": "AWS_IAM",
            "Cors": {
                "AllowOrigins": ["https://a.example", "https://b.example:8443"],
                "AllowMethods": ["GET", "POST"], "MaxAge": 300, "AllowCredentials": True,
                "ExposeHeaders": ["x-a"],
            },
        },
    ),
    case("get-function-url-config --function-name my-fn", "GET", "/2021-10-31/functions/my-fn/url"),
    case(
        "update-function-url-config --function-name my-fn --auth-type AWS_IAM",
        "PUT", "/2021-10-31/functions/my-fn/url", body={"AuthType": "AWS_IAM"},
    ),
    case(
        "delete-function-url-config --function-name my-fn --qualifier live",
        "DELETE", "/2021-10-31/functions/my-fn/url", [("Qualifier", "live")],
    ),
    case(
        "list-function-url-configs --function-name my-fn",
        "GET", "/2021-10-31/functions/my-fn/urls",
    ),
    case(
        f"tag-resource --resource {FN_ARN} --tags Team=a,Env=dev",
        "POST", f"/2017-03-31/tags/{FN_ARN_PATH}", body={"Tags": {"Team": "a", "Env": "dev"}},
    ),
    case(
        f"""tag-resource --resource {FN_ARN} --tags '{{"Team": "a b"}}'""",
        "POST", f"/2017-03-31/tags/{FN_ARN_PATH}", body={"Tags": {"Team": "a b"}},
    ),
    case(
        f"untag-resource --resource {FN_ARN} --tag-keys Team Env",
        "DELETE", f"/2017-03-31/tags/{FN_ARN_PATH}", [("tagKeys", "Team"), ("tagKeys", "Env")],
    ),
    case(f"list-tags --resource {FN_ARN}", "GET", f"/2017-03-31/tags/{FN_ARN_PATH}"),
    case(
        "add-permission --function-name my-fn --statement-id s1 --action lambda:InvokeFunction "
        "--principal s3.amazonaws.com --source-arn arn:aws:s3:::b --source-account 123456789012 "
        "--qualifier live --revision-id r --function-url-auth-type NONE "
        "--principal-org-id o-a1b2c3d4e5 --event-source-token t",
        "POST", F + "/policy", [("Qualifier", "live")],
        body={
            "StatementId": "s1", "Action": "lambda:InvokeFunction",
            "Principal": "s3.amazonaws.com", "SourceArn": "arn:aws:s3:::b",
            "SourceAccount": "123456789012", "RevisionId": "r", "FunctionUrlAuthType": "NONE",
            "PrincipalOrgID": "o-a1b2c3d4e5", "EventSourceToken": "t",
        },
    ),
    case(
        "remove-permission --function-name my-fn --statement-id s1 --qualifier live "
        "--revision-id r",
        "DELETE", F + "/policy/s1", [("Qualifier", "live"), ("RevisionId", "r")],
    ),
    case(
        "get-policy --function-name my-fn --qualifier 2", "GET", F + "/policy", [("Qualifier", "2")]
    ),
    case(
        "update-function-code --function-name my-fn --zip-file fileb://{tmp}/layer.zip "
        "--revision-id r --publish --architectures arm64",
        "PUT", F + "/code",
        body={"ZipFile": ZIP_B64, "RevisionId": "r", "Publish": True, "Architectures": ["arm64"]},
    ),
    case(
        "update-function-code --function-name my-fn --zip-file fileb://{tmp}/layer.zip "
        "--no-publish",
        "PUT", F + "/code", body={"ZipFile": ZIP_B64, "Publish": False},
    ),
    case(
        "update-function-configuration --function-name my-fn --memory-size 256 --timeout 9 "
        "--environment Variables={A=1,B=2} --handler app.h --runtime python3.12 "
        "--description d --layers arn:l:1 arn:l:2 "
        "--vpc-config SubnetIds=subnet-a,subnet-b,SecurityGroupIds=sg-c "
        "--ephemeral-storage Size=1024 --revision-id r",
        "PUT", F + "/configuration",
        body={
            "MemorySize": 256, "Timeout": 9, "Environment": {"Variables": {"A": "1", "B": "2"}},
            "Handler": "app.h", "Runtime": "python3.12", "Description": "d",
            "Layers": ["arn:l:1", "arn:l:2"],
            "VpcConfig": {"SubnetIds": ["subnet-a", "subnet-b"], "SecurityGroupIds": ["sg-c"]},
            "EphemeralStorage": {"Size": 1024}, "RevisionId": "r",
        },
    ),
    case(
        "update-function-configuration --function-name my-fn --layers [] "
        """--environment '{"Variables": {"A": "x,y"}}' """
        "--vpc-config SubnetIds=[],SecurityGroupIds=[]",
        "PUT", F + "/configuration",
        body={
            "Layers": [], "Environment": {"Variables": {"A": "x,y"}},
            "VpcConfig": {"SubnetIds": [], "SecurityGroupIds": []},
        },
    ),
    case(
        "update-function-configuration --function-name my-fn --environment A=1 "
        "--environment B=x=y,z --ephemeral-storage 2048",
        "PUT", F + "/configuration",
        body={
            "Environment": {"Variables": {"A": "1", "B": "x=y,z"}},
            "EphemeralStorage": {"Size": 2048},
        },
        aws=False,  # lambdalet's own spellings, as create-function takes them
    ),
    case("get-function --function-name my-fn", "GET", F),
    case("get-function my-fn", "GET", F, aws=False),
    case("delete-function --function-name my-fn", "DELETE", F),
    case(
        """invoke --function-name my-fn --payload '{"a": 1}' {tmp}/out.json""",
        "POST", F + "/invocations", body={"a": 1},
    ),
    case(
        """invoke --function-name my-fn --invocation-type Event --payload '{"a": 1}' """
        "{tmp}/out.json",
        "POST", F + "/invocations", body={"a": 1},
    ),
    case(
        "update-function-configuration --function-name my-fn "
        "--dead-letter-config TargetArn=arn:aws:sqs:us-east-1:123456789012:dlq",
        "PUT", F + "/configuration",
        body={"DeadLetterConfig": {"TargetArn": "arn:aws:sqs:us-east-1:123456789012:dlq"}},
    ),
    case(
        "update-function-configuration --function-name my-fn --dead-letter-config TargetArn=",
        "PUT", F + "/configuration", body={"DeadLetterConfig": {"TargetArn": ""}},
    ),
    case(
        "update-function-configuration --function-name my-fn --logging-config "
        "LogFormat=JSON,ApplicationLogLevel=DEBUG,SystemLogLevel=WARN,LogGroup=/my/group",
        "PUT", F + "/configuration",
        body={"LoggingConfig": {"LogFormat": "JSON", "ApplicationLogLevel": "DEBUG",
                                "SystemLogLevel": "WARN", "LogGroup": "/my/group"}},
    ),
    case(
        "update-function-configuration --function-name my-fn --snap-start "
        "ApplyOn=PublishedVersions",
        "PUT", F + "/configuration", body={"SnapStart": {"ApplyOn": "PublishedVersions"}},
    ),
    case(
        "update-function-configuration --function-name my-fn "
        """--snap-start '{"ApplyOn": "None"}'""",
        "PUT", F + "/configuration", body={"SnapStart": {"ApplyOn": "None"}},
    ),
    case(
        "put-function-event-invoke-config --function-name my-fn --qualifier live "
        "--maximum-retry-attempts 0 --maximum-event-age-in-seconds 60 --destination-config "
        "OnFailure={Destination=arn:aws:sqs:us-east-1:123456789012:q}",
        "PUT", EIC, [("Qualifier", "live")],
        body={
            "MaximumRetryAttempts": 0, "MaximumEventAgeInSeconds": 60,
            "DestinationConfig": {
                "OnFailure": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"}
            },
        },
    ),
    case(
        "update-function-event-invoke-config --function-name my-fn --destination-config "
        """'{"OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"}}'""",
        "POST", EIC,
        body={
            "DestinationConfig": {
                "OnSuccess": {"Destination": "arn:aws:sqs:us-east-1:123456789012:q"}
            },
        },
    ),
    case("get-function-event-invoke-config --function-name my-fn", "GET", EIC),
    case(
        "delete-function-event-invoke-config --function-name my-fn --qualifier 1",
        "DELETE", EIC, [("Qualifier", "1")],
    ),
    case(
        "list-function-event-invoke-configs --function-name my-fn --marker m --max-items 2",
        "GET", EIC + "/list", [("Marker", "m"), ("MaxItems", "2")],
    ),
    case(
        f"create-event-source-mapping --function-name my-fn --event-source-arn {QUEUE_ARN} "
        "--batch-size 50 --maximum-batching-window-in-seconds 2 --no-enabled "
        "--scaling-config MaximumConcurrency=5 --function-response-types ReportBatchItemFailures "
        "--tags Team=a",
        "POST", ESM,
        body={
            "FunctionName": "my-fn", "EventSourceArn": QUEUE_ARN, "BatchSize": 50,
            "MaximumBatchingWindowInSeconds": 2, "Enabled": False,
            "ScalingConfig": {"MaximumConcurrency": 5},
            "FunctionResponseTypes": ["ReportBatchItemFailures"], "Tags": {"Team": "a"},
        },
    ),
    case(
        f"create-event-source-mapping --function-name {FN_ARN}:live "
        f"--event-source-arn {STREAM_ARN} --starting-position AT_TIMESTAMP "
        "--starting-position-timestamp 2024-01-01T00:00:00Z --parallelization-factor 2 "
        "--maximum-record-age-in-seconds 60 --bisect-batch-on-function-error "
        "--maximum-retry-attempts 3 --tumbling-window-in-seconds 10 "
        f"--destination-config OnFailure={{Destination={QUEUE_ARN}}} "
        """--filter-criteria '{"Filters": [{"Pattern": "{\\"data\\": {\\"a\\": [1]}}"}]}'""",
        "POST", ESM,
        body={
            "FunctionName": f"{FN_ARN}:live", "EventSourceArn": STREAM_ARN,
            "StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": 1704067200,
            "ParallelizationFactor": 2, "MaximumRecordAgeInSeconds": 60,
            "BisectBatchOnFunctionError": True, "MaximumRetryAttempts": 3,
            "TumblingWindowInSeconds": 10,
            "DestinationConfig": {"OnFailure": {"Destination": QUEUE_ARN}},
            "FilterCriteria": {"Filters": [{"Pattern": '{"data": {"a": [1]}}'}]},
        },
    ),
    case(
        f"create-event-source-mapping --function-name my-fn --event-source-arn {STREAM_ARN} "
        "--starting-position AT_TIMESTAMP --starting-position-timestamp 1704067200 "
        """--filter-criteria "Filters=[{Pattern='{\\"a\\": [1]}'}]" """,
        "POST", ESM,
        body={
            "FunctionName": "my-fn", "EventSourceArn": STREAM_ARN,
            "StartingPosition": "AT_TIMESTAMP", "StartingPositionTimestamp": 1704067200,
            "FilterCriteria": {"Filters": [{"Pattern": '{"a": [1]}'}]},
        },
    ),
    case(
        f"update-event-source-mapping --uuid {ESM_UUID} --function-name other --enabled "
        "--batch-size 20 --function-response-types [] --filter-criteria '{}'",
        "PUT", f"{ESM}/{ESM_UUID}",
        body={
            "FunctionName": "other", "Enabled": True, "BatchSize": 20,
            "FunctionResponseTypes": [], "FilterCriteria": {},
        },
    ),
    case(f"get-event-source-mapping --uuid {ESM_UUID}", "GET", f"{ESM}/{ESM_UUID}"),
    case(f"delete-event-source-mapping --uuid {ESM_UUID}", "DELETE", f"{ESM}/{ESM_UUID}"),
    case(
        f"list-event-source-mappings --event-source-arn {QUEUE_ARN} --function-name my-fn "
        "--marker m --max-items 3",
        "GET", ESM,
        [("EventSourceArn", QUEUE_ARN), ("FunctionName", "my-fn"), ("Marker", "m"),
         ("MaxItems", "3")],
    ),
]  # fmt: skip


@pytest.mark.parametrize("c", CASES)
def test_each_command_sends_the_aws_request(
    c: Case, fake: FakeLambda, tmp_path: Path, zip_path: Path
) -> None:
    assert lambdalet(fake, expand(c.argv, tmp_path)) == 0
    [seen] = fake.seen
    assert (seen.method, seen.path) == (c.method, c.path)
    assert sorted(seen.query) == sorted(c.query)
    assert seen.body == c.body


def test_every_command_has_a_case() -> None:
    covered = {p.values[0].argv.split()[0] for p in CASES}
    assert {c.name for c in COMMAND_LIST} <= covered


# -- the AWS CLI, as the oracle ------------------------------------------------------------


@pytest.fixture(scope="module")
def aws_cli() -> Iterator[Callable[[list[str]], int]]:
    clidriver = pytest.importorskip("awscli.clidriver")
    with pytest.MonkeyPatch.context() as mp:
        for key, value in {
            "AWS_ACCESS_KEY_ID": "testing",
            "AWS_SECRET_ACCESS_KEY": "testing",
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": "/nonexistent",
            "AWS_SHARED_CREDENTIALS_FILE": "/nonexistent",
        }.items():
            mp.setenv(key, value)
        driver = clidriver.create_clidriver()  # one for all: a new one costs ~0.3 s

        def run(argv: list[str]) -> int:
            # --marker turns the AWS CLI's paging off by swapping --max-items back to the raw
            # MaxItems in its cached argument table, for good: that needs a driver of its own.
            once = clidriver.create_clidriver() if "--marker" in argv else driver
            return int(once.main(argv))

        yield run


@pytest.fixture
def tcp_fake(tmp_path: Path) -> Iterator[tuple[FakeLambda, str]]:
    f = FakeLambda(socket=tmp_path / "unused")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler(f))
    server.daemon_threads = True
    running = _start(f, server)
    yield f, f"http://127.0.0.1:{server.server_address[1]}"
    running.stop()


def aws_request(
    aws_cli: Callable[[list[str]], int], tcp_fake: tuple[FakeLambda, str], argv: list[str]
) -> tuple[int, list[Seen]]:
    f, url = tcp_fake
    f.seen.clear()
    rc = aws_cli(["--endpoint-url", url, "lambda", *argv])
    return rc, list(f.seen)


@pytest.mark.parametrize("c", [p for p in CASES if p.values[0].aws])
def test_the_aws_cli_sends_the_same_request(
    c: Case,
    fake: FakeLambda,
    tcp_fake: tuple[FakeLambda, str],
    aws_cli: Callable[[list[str]], int],
    tmp_path: Path,
    zip_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    rc, aws_seen = aws_request(aws_cli, tcp_fake, expand(c.argv, tmp_path))
    aws_out = capsys.readouterr()
    assert rc == 0, aws_out.err
    assert lambdalet(fake, expand(c.argv, tmp_path)) == 0
    ours = capsys.readouterr()
    [theirs] = aws_seen
    [mine] = fake.seen
    assert (mine.method, mine.path, sorted(mine.query), mine.body) == (
        theirs.method,
        theirs.path,
        sorted(theirs.query),
        theirs.body,
    )
    if c.argv.split()[0] in {*COMMANDS, "invoke"}:  # get-function & co. print {}, indent 2
        assert ours.out == aws_out.out  # e.g. nothing for {}


def test_paging_matches_the_aws_cli(
    fake: FakeLambda,
    tcp_fake: tuple[FakeLambda, str],
    aws_cli: Callable[[list[str]], int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    pages: list[Answer] = [
        (200, {}, {"NextMarker": "m2", "Versions": [{"Version": "1"}, {"Version": "2"}]}),
        (200, {}, {"NextMarker": "m3", "Versions": [{"Version": "3"}, {"Version": "4"}]}),
        (200, {}, {"Versions": [{"Version": "5"}]}),
    ]
    for extra in ([], ["--max-items", "3"], ["--max-items", "2"], ["--page-size", "2"]):
        argv = ["list-versions-by-function", "--function-name", "my-fn", *extra]
        tcp_fake[0].answers[:] = pages
        aws_rc, aws_seen = aws_request(aws_cli, tcp_fake, argv)
        theirs = capsys.readouterr().out
        fake.answers[:] = pages
        fake.seen.clear()
        assert (aws_rc, lambdalet(fake, argv)) == (0, 0)
        assert capsys.readouterr().out == theirs, extra
        assert [(s.path, sorted(s.query)) for s in fake.seen] == [
            (s.path, sorted(s.query)) for s in aws_seen
        ]
    # a NextToken from one CLI resumes in the other, mid-page too
    for max_items in ("3", "1"):
        argv = ["list-versions-by-function", "--function-name", "my-fn", "--max-items", max_items]
        tcp_fake[0].answers[:] = pages
        aws_request(aws_cli, tcp_fake, argv)
        token = json.loads(capsys.readouterr().out)["NextToken"]
        resume = [*argv, "--starting-token", token]
        tcp_fake[0].answers[:] = pages[1:] if max_items == "3" else pages
        aws_request(aws_cli, tcp_fake, resume)
        theirs = capsys.readouterr().out
        fake.answers[:] = pages[1:] if max_items == "3" else pages
        assert lambdalet(fake, resume) == 0
        assert capsys.readouterr().out == theirs


def test_an_error_reads_as_the_aws_cli_says_it(
    fake: FakeLambda,
    tcp_fake: tuple[FakeLambda, str],
    aws_cli: Callable[[list[str]], int],
    capsys: pytest.CaptureFixture[str],
) -> None:
    answer: Answer = (
        404,
        {"x-amzn-ErrorType": "ResourceNotFoundException"},
        {"Type": "User", "message": "Alias not found: arn:aws:lambda:us-east-1:1:function:f:live"},
    )
    argv = ["get-alias", "--function-name", "f", "--name", "live"]
    tcp_fake[0].answers[:] = [answer]
    aws_rc, _ = aws_request(aws_cli, tcp_fake, argv)
    # botocore may add " (reached max retries: 0)" depending on its retry mode; not the point
    theirs = re.sub(r" \(reached max retries: \d+\)", "", capsys.readouterr().err.strip())
    fake.answers[:] = [answer]
    assert lambdalet(fake, argv) == 1  # lambdalet's exit code for every failure
    ours = capsys.readouterr()
    assert aws_rc != 0
    assert ours.out == ""
    assert ours.err == f"lambdalet: {theirs}\n"
    assert theirs == (
        "An error occurred (ResourceNotFoundException) when calling the GetAlias operation: "
        "Alias not found: arn:aws:lambda:us-east-1:1:function:f:live"
    )


# -- every command row against botocore's service model ------------------------------------


@pytest.fixture(scope="module")
def service_model() -> Any:
    session = pytest.importorskip("botocore.session")
    return session.get_session().get_service_model("lambda")


def _our_shape(shape: Any) -> Any:
    """A botocore shape in `engine.cli.args`'s terms (structures: only what we name)."""
    match shape.type_name:
        case "string" | "blob":
            return STRING
        case "integer" | "long":
            return INTEGER
        case "double":
            return "double"
        case "boolean":
            return BOOLEAN
        case "list":
            assert shape.member.type_name == "string", shape.name
            return STRINGS
        case "map":
            value = _our_shape(shape.value)
            return {STRING: STRING_MAP, "double": DOUBLE_MAP}[value]
    return shape  # a structure: compared member by member


def _same_shape(ours: Any, theirs: Any, where: str) -> None:
    if isinstance(ours, dict):
        assert theirs.type_name == "structure", where
        for key, member in ours.items():
            assert key in theirs.members, f"{where}.{key} is not in botocore's model"
            _same_shape(member, theirs.members[key], f"{where}.{key}")
    else:
        assert _our_shape(theirs) == ours, where


def _option_kind(option: Option) -> str:
    kw = option.argparse_kw
    if option.shape is not None:
        return "structure or map"
    if kw.get("nargs") == "+":
        return "list"
    if kw.get("action") is argparse.BooleanOptionalAction:
        return "boolean"
    return "integer" if kw.get("type") is int else "string"


def _botocore_kind(shape: Any) -> str:
    name: str = shape.type_name
    return {
        "structure": "structure or map",
        "map": "structure or map",
        "long": "integer",
        "blob": "string",  # a zip: base64 text in the JSON body
        "timestamp": "string",  # typed as text (epoch seconds or ISO 8601), sent as a number
    }.get(name, name)


@pytest.mark.parametrize("command", COMMAND_LIST, ids=lambda c: c.name)
def test_each_command_agrees_with_botocore(service_model: Any, command: Command) -> None:
    from botocore import xform_name

    op = service_model.operation_model(command.operation)
    assert xform_name(op.name, "-") == command.name
    assert (op.http["method"], op.http["requestUri"]) == (command.method, command.uri)
    members = op.input_shape.members if op.input_shape else {}
    has_body = any("location" not in m.serialization for m in members.values())
    assert has_body == (command.method in ("POST", "PUT"))  # we send {} exactly when AWS does
    required = set(op.input_shape.required_members) if op.input_shape else set()
    for option in command.options:
        top, *nested = option.member.split(".")
        assert top in members, f"{option.flags[0]}: no member {top} in {op.name}"
        member = members[top]
        assert member.serialization.get("location", "body") == option.where, option.flags[0]
        if option.where == "querystring":
            assert member.serialization["name"] == option.wire
        if option.where == "uri":
            assert f"{{{top}}}" in command.uri
        for key in nested:
            member = member.members[key]
        assert _option_kind(option) == _botocore_kind(member), option.flags[0]
        if option.shape is not None:
            _same_shape(option.shape, member, option.flags[0])
        if top in required:
            assert option.argparse_kw.get("required"), f"{option.flags[0]} is required by AWS"
        required.discard(top)
    assert not required, f"{command.name} has no option for {required}"


def test_paged_commands_merge_botocore_s_result_key(service_model: Any) -> None:
    from botocore.session import get_session

    paged = {c.operation: c.result_key for c in COMMAND_LIST if c.result_key}
    loader = get_session().get_component("data_loader")
    config = loader.load_service_model("lambda", "paginators-1")["pagination"]
    listed = {c.operation for c in COMMAND_LIST if c.operation in config}
    assert listed == set(paged)  # every command AWS pages, we page
    for operation, result_key in paged.items():
        assert config[operation]["result_key"] == result_key
        assert (config[operation]["input_token"], config[operation]["limit_key"]) == (
            "Marker",
            "MaxItems",
        )


# -- shorthand ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "parsed"),
    [
        ("Team=a,Env=dev", {"Team": "a", "Env": "dev"}),
        ("AdditionalVersionWeights={2=0.1}", {"AdditionalVersionWeights": {"2": "0.1"}}),
        ("SubnetIds=a,b,SecurityGroupIds=c", {"SubnetIds": ["a", "b"], "SecurityGroupIds": "c"}),
        (
            "AllowOrigins=[a,b],AllowMethods=GET",
            {"AllowOrigins": ["a", "b"], "AllowMethods": "GET"},
        ),
        ("AllowOrigins=https://a.example:8443/x", {"AllowOrigins": "https://a.example:8443/x"}),
        ("Variables={A=1,B=x=y}", {"Variables": {"A": "1", "B": "x=y"}}),
        ("Variables={A=1,2,B=3}", {"Variables": {"A": ["1", "2"], "B": "3"}}),
        (" A = 1 , B = [ x , y ] ", {"A": "1", "B": ["x", "y"]}),
        ("A=,B=[],C={}", {"A": "", "B": [], "C": {}}),
        ("A={B={C=[1,{D=2}]}}", {"A": {"B": {"C": ["1", {"D": "2"}]}}}),
        ("""A="x, y",B='a=b',C="say \\"hi\\"\"""", {"A": "x, y", "B": "a=b", "C": 'say "hi"'}),
        ("A=a\\,b,C=[a\\]b]", {"A": "a,b", "C": ["a]b"]}),
        ("aws:tag/k.1=v", {"aws:tag/k.1": "v"}),
    ],
)
def test_shorthand(text: str, parsed: Any) -> None:
    assert parse_shorthand(text) == parsed


@pytest.mark.parametrize(
    ("text", "error"),
    [
        ("A", "expected '=' after 'A' at character 2"),
        ("=1", "expected a key at character 1"),
        ("A=1,", "expected a value at character 5"),
        ("A=[1,2", "expected ',' or ']' at character 7"),
        ("A={B=1", "expected ',' or '}' at character 7"),
        ("A=1]", "expected ',' or the end at character 4"),
        ("A=1,A=2", "'A' given twice"),
        ("A='x", "unterminated ' at character 5"),
        ("A=[1,,2]", "expected a value at character 6"),
        ("A='x'y", "expected ',' or the end at character 6"),
    ],
)
def test_malformed_shorthand_says_where(text: str, error: str) -> None:
    with pytest.raises(ShorthandError, match="^" + re.escape(error)):
        parse_shorthand(text)


def test_coerce_types_values_by_the_shape() -> None:
    cors = {"AllowOrigins": STRINGS, "MaxAge": INTEGER, "AllowCredentials": BOOLEAN}
    value = coerce({"AllowOrigins": "a", "MaxAge": "5", "AllowCredentials": "TRUE"}, cors)
    assert value == {"AllowOrigins": ["a"], "MaxAge": 5, "AllowCredentials": True}
    assert coerce({"w": {"2": "0.5"}}, {"w": DOUBLE_MAP}) == {"w": {"2": 0.5}}
    with pytest.raises(ShorthandError, match="MaxAge: expected an integer, got 'soon'"):
        coerce({"MaxAge": "soon"}, cors)
    with pytest.raises(ShorthandError, match="unknown key 'AllowOrigin'; expected one of: "):
        coerce({"AllowOrigin": "a"}, cors)
    with pytest.raises(ShorthandError, match="AllowCredentials: expected true or false"):
        coerce({"AllowCredentials": "yes"}, cors)
    with pytest.raises(ShorthandError, match="w: expected KEY=VALUE pairs"):
        coerce({"w": "x"}, {"w": DOUBLE_MAP})


def test_structured_values_come_as_json_shorthand_or_a_file(tmp_path: Path) -> None:
    shape = {"SubnetIds": STRINGS}
    assert parse_structured('{"SubnetIds": ["a"]}', shape) == {"SubnetIds": ["a"]}
    (tmp_path / "vpc.json").write_text('{"SubnetIds": ["b"]}')
    assert parse_structured(f"file://{tmp_path}/vpc.json", shape) == {"SubnetIds": ["b"]}
    assert parse_structured("SubnetIds=c", shape) == {"SubnetIds": ["c"]}
    with pytest.raises(ValueError, match="invalid JSON"):
        parse_structured("{SubnetIds: 1}", shape)


@pytest.mark.parametrize(
    ("argv", "error"),
    [
        (
            "create-alias --function-name f --name a --function-version 1 --routing-config "
            "AdditionalVersionWeights={2=often}",
            "argument --routing-config: AdditionalVersionWeights.2: expected a number, got 'often'",
        ),
        (
            "create-function-url-config --function-name f --auth-type NONE --cors AllowOrigin=x",
            "argument --cors: unknown key 'AllowOrigin'; expected one of: AllowCredentials, ",
        ),
        ("tag-resource --resource r --tags Team", "argument --tags: expected '=' after 'Team'"),
        (
            "update-function-configuration --function-name f --environment Variables=x",
            "argument --environment: Variables: expected KEY=VALUE pairs, got 'x'",
        ),
        (
            "update-function-code --function-name f --zip-file fileb://{tmp}/nope.zip",
            "argument --zip-file/--code: {tmp}/nope.zip: no such file or directory",
        ),
        (
            "publish-layer-version --layer-name l --zip-file {tmp}/notes.txt",
            "argument --zip-file: {tmp}/notes.txt is not a zip file",
        ),
        (
            "update-function-configuration --function-name f --layers [arn",
            "argument --layers: expected a word, [] or a JSON list of strings, got '[arn'",
        ),
        ("get-function-concurrency", "the following arguments are required: --function-name"),
        ("get-function", "the following arguments are required: --function-name (or NAME)"),
        ("get-function a --function-name b", "two function names: 'a' and --function-name 'b'"),
    ],
)
def test_a_bad_option_is_a_usage_error_naming_it(
    argv: str, error: str, fake: FakeLambda, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "notes.txt").write_text("not a zip")
    with pytest.raises(SystemExit) as exit:
        lambdalet(fake, expand(argv, tmp_path))
    assert exit.value.code == 2
    assert error.replace("{tmp}", str(tmp_path)) in capsys.readouterr().err
    assert fake.seen == []


# -- zips, names, output, errors -----------------------------------------------------------


def test_a_directory_is_zipped_for_the_zip_file_options(fake: FakeLambda, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "lambda_function.py").write_text("def lambda_handler(e, c):\n    return 1\n")
    expected = base64.b64encode(zip_bytes_of_directory(src)).decode()
    assert (
        lambdalet(fake, ["update-function-code", "--function-name", "f", "--code", str(src)]) == 0
    )
    assert (
        lambdalet(fake, ["publish-layer-version", "--layer-name", "l", "--zip-file", str(src)]) == 0
    )
    assert [s.body for s in fake.seen] == [
        {"ZipFile": expected},
        {"Content": {"ZipFile": expected}},
    ]


def test_create_function_takes_layers_publish_and_either_name(
    fake: FakeLambda, tmp_path: Path
) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "lambda_function.py").write_text("")
    for name in (["my-fn"], ["--function-name", "my-fn"]):
        argv = ["create-function", *name, "--code", str(src), "--layers", "arn:l:1", "arn:l:2"]
        assert lambdalet(fake, [*argv, "--publish"]) == 0
    assert lambdalet(fake, ["create-function", "my-fn", "--code", str(src)]) == 0
    bodies = [s.body for s in fake.seen]
    assert bodies[0] == bodies[1]
    assert bodies[0]["FunctionName"] == "my-fn"
    assert (bodies[0]["Layers"], bodies[0]["Publish"]) == (["arn:l:1", "arn:l:2"], True)
    assert "Layers" not in bodies[2] and "Publish" not in bodies[2]


def test_invoke_with_an_outfile_answers_as_the_aws_cli(
    fake: FakeLambda, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    headers = {"X-Amz-Function-Error": "Unhandled", "X-Amz-Executed-Version": "$LATEST"}
    fake.answers[:] = [(200, headers, {"errorMessage": "boom"})] * 2
    out = tmp_path / "out.json"
    argv = ["invoke", "--function-name", "my-fn", "--payload", "{}", str(out)]
    assert lambdalet(fake, argv) == 0  # as the AWS CLI: a function error is in the output
    assert json.loads(out.read_text()) == {"errorMessage": "boom"}
    assert json.loads(capsys.readouterr().out) == {
        "StatusCode": 200,
        "FunctionError": "Unhandled",
        "ExecutedVersion": "$LATEST",
    }
    assert lambdalet(fake, ["invoke", "my-fn"]) == 1  # lambdalet's form: unchanged
    got = capsys.readouterr()
    assert json.loads(got.out) == {"errorMessage": "boom"}
    assert "function error (Unhandled)" in got.err
    assert [s.path for s in fake.seen] == ["/2015-03-31/functions/my-fn/invocations"] * 2


def test_output_is_the_aws_cli_s_json(fake: FakeLambda, capsys: pytest.CaptureFixture[str]) -> None:
    fake.answers[:] = [(200, {}, {"Name": "live", "Description": "día"}), (204, {}, None)]
    assert lambdalet(fake, ["get-alias", "--function-name", "f", "--name", "live"]) == 0
    assert capsys.readouterr().out == '{\n    "Name": "live",\n    "Description": "día"\n}\n'
    assert lambdalet(fake, ["delete-alias", "--function-name", "f", "--name", "live"]) == 0
    assert capsys.readouterr().out == ""


@pytest.mark.parametrize(
    ("answer", "sentence"),
    [
        (
            (409, {"x-amzn-ErrorType": "ResourceConflictException:http://x/"}, {"Message": "busy"}),
            "An error occurred (ResourceConflictException) when calling the PublishVersion "
            "operation: busy",
        ),
        (
            (500, {}, {"__type": "com.amazon#ServiceException", "message": "oops"}),
            "An error occurred (ServiceException) when calling the PublishVersion operation: oops",
        ),
        ((502, {}, None), "An error occurred (502) when calling the PublishVersion operation: "),
    ],
)
def test_error_sentences(
    answer: Answer, sentence: str, fake: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.answers[:] = [answer]
    assert lambdalet(fake, ["publish-version", "--function-name", "f"]) == 1
    assert capsys.readouterr().err == f"lambdalet: {sentence}\n"


# -- paging ---------------------------------------------------------------------------------


def test_paginate_follows_markers_and_stops_at_max_items() -> None:
    pages = {None: {"Items": [1, 2], "NextMarker": "b"}, "b": {"Items": [3, 4], "NextMarker": "c"}}
    pages["c"] = {"Items": [5]}
    asked: list[str | None] = []

    def fetch(marker: str | None) -> dict[str, Any]:
        asked.append(marker)
        return pages[marker]

    assert paginate(fetch, "Items") == {"Items": [1, 2, 3, 4, 5]}
    assert asked == [None, "b", "c"]
    first = paginate(fetch, "Items", max_items=3)
    assert first == {"Items": [1, 2, 3], "NextToken": encode_token("b", 1)}
    assert paginate(fetch, "Items", starting_token=first["NextToken"]) == {"Items": [4, 5]}
    at_edge = paginate(fetch, "Items", max_items=2)
    assert at_edge == {"Items": [1, 2], "NextToken": encode_token("b")}
    assert decode_token(at_edge["NextToken"]) == ("b", 0)
    assert paginate(lambda m: {}, "Items") == {}  # no such key on any page: none printed


def test_paginate_refuses_a_loop_and_a_bad_token() -> None:
    with pytest.raises(PagingError, match="NextMarker 'x' twice"):
        paginate(lambda m: {"Items": [], "NextMarker": "x"}, "Items")
    with pytest.raises(PagingError, match="is not a NextToken"):
        paginate(lambda m: {}, "Items", starting_token="garbage!")


def test_invoke_event_prints_the_status_and_request_id(
    fake: FakeLambda, capsys: pytest.CaptureFixture[str]
) -> None:
    fake.answers[:] = [(202, {"x-amzn-RequestId": "req-1"}, None)]
    argv = ["invoke", "my-fn", "--invocation-type", "Event", "--payload", "{}"]
    assert lambdalet(fake, argv) == 0
    assert json.loads(capsys.readouterr().out) == {"StatusCode": 202, "RequestId": "req-1"}
    [seen] = fake.seen
    assert seen.headers["x-amz-invocation-type"] == "Event"


def test_create_function_takes_a_dead_letter_config(fake: FakeLambda, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "lambda_function.py").write_text("")
    queue = "arn:aws:sqs:us-east-1:000000000000:dlq"
    argv = ["create-function", "my-fn", "--code", str(src)]
    assert lambdalet(fake, [*argv, "--dead-letter-config", f"TargetArn={queue}"]) == 0
    assert lambdalet(fake, [*argv, "--dead-letter-config", json.dumps({"TargetArn": queue})]) == 0
    assert lambdalet(fake, argv) == 0
    bodies = [s.body for s in fake.seen]
    assert bodies[0]["DeadLetterConfig"] == bodies[1]["DeadLetterConfig"] == {"TargetArn": queue}
    assert "DeadLetterConfig" not in bodies[2]


def test_create_function_takes_a_logging_config(fake: FakeLambda, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "lambda_function.py").write_text("")
    argv = ["create-function", "my-fn", "--code", str(src)]
    assert lambdalet(fake, [*argv, "--logging-config", "LogFormat=JSON,LogGroup=/g"]) == 0
    assert lambdalet(fake, [*argv, "--logging-config", '{"LogFormat": "Text"}']) == 0
    assert lambdalet(fake, argv) == 0
    bodies = [s.body for s in fake.seen]
    assert bodies[0]["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": "/g"}
    assert bodies[1]["LoggingConfig"] == {"LogFormat": "Text"}
    assert "LoggingConfig" not in bodies[2]


def test_create_function_takes_a_snap_start(fake: FakeLambda, tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    (src / "lambda_function.py").write_text("")
    argv = ["create-function", "my-fn", "--code", str(src)]
    assert lambdalet(fake, [*argv, "--snap-start", "ApplyOn=PublishedVersions"]) == 0
    assert lambdalet(fake, [*argv, "--snap-start", '{"ApplyOn": "None"}']) == 0
    assert lambdalet(fake, argv) == 0
    bodies = [s.body for s in fake.seen]
    assert bodies[0]["SnapStart"] == {"ApplyOn": "PublishedVersions"}
    assert bodies[1]["SnapStart"] == {"ApplyOn": "None"}
    assert "SnapStart" not in bodies[2]
