"""Command-line clients against the real daemon: the AWS CLI (over loopback TCP) and the
``lambdalet`` CLI (over the unix socket)."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import textwrap
import uuid
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.integration.conftest import ACCESS_KEY_ID, FUNCTIONS, SECRET_ACCESS_KEY, Daemon

pytestmark = pytest.mark.privileged

REPO = Path(__file__).resolve().parents[2]
AWS = Path(sys.executable).parent / "aws"
CLI_TIMEOUT_S = 60

CODE = """\
import logging, os
logger = logging.getLogger()
logger.setLevel(logging.INFO)
def handler(event, context):
    print("cli-print", event.get("n"))
    if event.get("fail"):
        raise RuntimeError("asked to fail")
    return {"n": event.get("n"), "greeting": os.environ.get("GREETING"),
            "memory": context.memory_limit_in_mb}
"""


def run(args: list[str], *, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args,
        capture_output=True,
        text=True,
        timeout=CLI_TIMEOUT_S,
        cwd=REPO,
        env=env,
        check=False,
    )


# -- the AWS CLI ----------------------------------------------------------------------------


@pytest.fixture(scope="module")
def aws_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    home = tmp_path_factory.mktemp("aws-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_") and k != "HTTP_PROXY"}
    env.update(
        {
            "HOME": str(home),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(home / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "AWS_MAX_ATTEMPTS": "1",
            "AWS_PAGER": "",
            "NO_PROXY": "127.0.0.1",
        }
    )
    return env


@pytest.fixture(scope="module")
def raw_payload_flag(aws_env: dict[str, str]) -> list[str]:
    """AWS CLI v2 base64-decodes blobs unless told otherwise; v1 has no such option."""
    version = run([str(AWS), "--version"], env=aws_env)
    assert version.returncode == 0, version.stderr
    if (version.stdout + version.stderr).startswith("aws-cli/1."):
        return []
    return ["--cli-binary-format", "raw-in-base64-out"]


def aws(daemon: Daemon, env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    return run([str(AWS), "--endpoint-url", daemon.endpoint, "--output", "json", *args], env=env)


def test_aws_cli_lists_gets_and_invokes(
    daemon: Daemon,
    deploy: Callable[..., str],
    aws_env: dict[str, str],
    raw_payload_flag: list[str],
    tmp_path: Path,
) -> None:
    name = deploy(CODE, Environment={"Variables": {"GREETING": "hi"}})

    listed = aws(daemon, aws_env, "lambda", "list-functions")
    assert listed.returncode == 0, listed.stderr
    functions = {f["FunctionName"]: f for f in json.loads(listed.stdout)["Functions"]}
    assert functions[name]["Runtime"] == "python3.11"

    got = aws(daemon, aws_env, "lambda", "get-function", "--function-name", name)
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["Configuration"]["FunctionName"] == name
    assert json.loads(got.stdout)["Configuration"]["Environment"]["Variables"] == {"GREETING": "hi"}

    out = tmp_path / "out.json"
    inv = aws(
        daemon,
        aws_env,
        "lambda",
        "invoke",
        "--function-name",
        name,
        *raw_payload_flag,
        "--payload",
        '{"n": 7}',
        "--log-type",
        "Tail",
        str(out),
    )
    assert inv.returncode == 0, inv.stderr
    meta = json.loads(inv.stdout)
    assert meta["StatusCode"] == 200
    assert meta["ExecutedVersion"] == "$LATEST"
    assert "FunctionError" not in meta
    assert json.loads(out.read_text()) == {"n": 7, "greeting": "hi", "memory": "128"}
    log = base64.b64decode(meta["LogResult"]).decode()
    assert "START RequestId: " in log and "cli-print 7" in log and "REPORT RequestId: " in log

    failed = aws(
        daemon,
        aws_env,
        "lambda",
        "invoke",
        "--function-name",
        name,
        *raw_payload_flag,
        "--payload",
        '{"fail": true}',
        str(out),
    )
    assert failed.returncode == 0, failed.stderr  # a function error is still a 200
    assert json.loads(failed.stdout)["FunctionError"] == "Unhandled"
    err = json.loads(out.read_text())
    assert err["errorType"] == "RuntimeError"
    assert err["errorMessage"] == "asked to fail"


def test_aws_cli_versions_aliases_layers_and_concurrency(
    daemon: Daemon,
    deploy: Callable[..., str],
    aws_env: dict[str, str],
    raw_payload_flag: list[str],
    tmp_path: Path,
) -> None:
    name = deploy(CODE)

    def ok(*args: str) -> Any:
        done = aws(daemon, aws_env, "lambda", *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    assert ok("publish-version", "--function-name", name)["Version"] == "1"
    alias = ok("create-alias", "--function-name", name, "--name", "live", "--function-version", "1")
    assert alias["AliasArn"].endswith(f":{name}:live")
    out = tmp_path / "out.json"
    meta = ok("invoke", "--function-name", name, "--qualifier", "live", *raw_payload_flag,
              "--payload", '{"n": 1}', str(out))  # fmt: skip
    assert meta["ExecutedVersion"] == "1" and json.loads(out.read_text())["n"] == 1

    layer_zip = tmp_path / "layer.zip"
    with zipfile.ZipFile(layer_zip, "w") as zf:
        zf.writestr("python/cli_layer.py", "X = 1\n")
    zip_arg = f"fileb://{layer_zip}"
    layer = ok("publish-layer-version", "--layer-name", f"cli-{name}",
               "--zip-file", zip_arg, "--compatible-runtimes", "python3.11")  # fmt: skip
    try:
        assert layer["Version"] == 1
        ok("update-function-configuration", "--function-name", name,
           "--layers", layer["LayerVersionArn"])  # fmt: skip
    finally:
        ok("delete-layer-version", "--layer-name", f"cli-{name}", "--version-number", "1")

    ok("put-function-concurrency", "--function-name", name,
       "--reserved-concurrent-executions", "0")  # fmt: skip
    throttled = aws(daemon, aws_env, "lambda", "invoke", "--function-name", name, str(out))
    assert throttled.returncode != 0 and "TooManyRequestsException" in throttled.stderr
    settings = ok("get-account-settings")
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 1000


def test_aws_cli_reports_a_missing_function(daemon: Daemon, aws_env: dict[str, str]) -> None:
    missing = f"nope-{uuid.uuid4().hex[:8]}"
    got = aws(daemon, aws_env, "lambda", "get-function", "--function-name", missing)
    assert got.returncode != 0
    assert "ResourceNotFoundException" in got.stderr
    assert missing in got.stderr


# -- the lambdalet CLI ----------------------------------------------------------------------


def lambdalet(socket_path: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return run([sys.executable, "-m", "engine.cli", "--socket", str(socket_path), *args])


@pytest.fixture
def cli_name(daemon: Daemon) -> Iterator[str]:
    name = f"cli-{uuid.uuid4().hex[:10]}"
    yield name
    daemon.client.request("DELETE", f"{FUNCTIONS}/{name}")


def test_lambdalet_cli_function_lifecycle(daemon: Daemon, cli_name: str, tmp_path: Path) -> None:
    code_dir = tmp_path / "src"
    code_dir.mkdir()
    (code_dir / "lambda_function.py").write_text(CODE)
    sock = daemon.socket_path

    created = lambdalet(
        sock,
        "create-function",
        cli_name,
        "--code",
        str(code_dir),
        "--handler",
        "lambda_function.handler",
        "--memory-size",
        "256",
        "--environment",
        "GREETING=hello",
    )
    assert created.returncode == 0, created.stderr
    cfg = json.loads(created.stdout)
    assert cfg["FunctionName"] == cli_name
    assert cfg["MemorySize"] == 256
    assert cfg["Handler"] == "lambda_function.handler"
    assert cfg["Environment"] == {"Variables": {"GREETING": "hello"}}

    again = lambdalet(
        sock, "create-function", cli_name, "--code", str(code_dir), "--handler", "x.y"
    )
    assert again.returncode == 1
    assert "ResourceConflictException" in again.stderr

    inv = lambdalet(sock, "invoke", cli_name, "--payload", '{"n": 5}', "--log-type", "Tail")
    assert inv.returncode == 0, inv.stderr
    assert json.loads(inv.stdout) == {"n": 5, "greeting": "hello", "memory": "256"}
    assert "START RequestId: " in inv.stderr
    assert "cli-print 5" in inv.stderr
    assert "END RequestId: " in inv.stderr
    assert "\tMemory Size: 256 MB\t" in inv.stderr
    assert "START RequestId" not in inv.stdout

    quiet = lambdalet(sock, "invoke", cli_name, "--payload", '{"n": 6}')
    assert quiet.returncode == 0, quiet.stderr
    assert json.loads(quiet.stdout)["n"] == 6
    assert "START RequestId" not in quiet.stderr

    failed = lambdalet(sock, "invoke", cli_name, "--payload", '{"fail": true}')
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["errorType"] == "RuntimeError"
    assert "function error (Unhandled)" in failed.stderr

    bad = lambdalet(sock, "invoke", cli_name, "--payload", "{not json")
    assert bad.returncode == 1
    assert "InvalidRequestContentException" in bad.stderr

    listed = lambdalet(sock, "list-functions")
    assert listed.returncode == 0, listed.stderr
    assert cli_name in [f["FunctionName"] for f in json.loads(listed.stdout)["Functions"]]

    got = lambdalet(sock, "get-function", cli_name)
    assert got.returncode == 0, got.stderr
    got_cfg: dict[str, Any] = json.loads(got.stdout)["Configuration"]
    assert got_cfg["CodeSha256"] == cfg["CodeSha256"]

    deleted = lambdalet(sock, "delete-function", cli_name)
    assert deleted.returncode == 0, deleted.stderr
    gone = lambdalet(sock, "get-function", cli_name)
    assert gone.returncode == 1
    assert "ResourceNotFoundException" in gone.stderr
    assert cli_name in gone.stderr


def test_lambdalet_cli_creates_from_a_zip_file(
    daemon: Daemon, cli_name: str, tmp_path: Path
) -> None:
    archive = tmp_path / "fn.zip"
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("app/main.py", "def run(event, context):\n    return 'from-zip'\n")
    created = lambdalet(
        daemon.socket_path, "create-function", cli_name, "--code", str(archive),
        "--handler", "app/main.run",
    )  # fmt: skip
    assert created.returncode == 0, created.stderr
    inv = lambdalet(daemon.socket_path, "invoke", cli_name)
    assert inv.returncode == 0, inv.stderr
    assert json.loads(inv.stdout) == "from-zip"


def test_lambdalet_cli_without_a_daemon(tmp_path: Path) -> None:
    sock = tmp_path / "no-daemon.sock"
    for args in (["list-functions"], ["invoke", "f"], ["get-function", "f"]):
        res = lambdalet(sock, *args)
        assert res.returncode == 1, res
        assert f"no lambdalet daemon at {sock}" in res.stderr
        assert "lambdalet serve" in res.stderr
        assert "Traceback" not in res.stderr
        assert res.stdout == ""


def test_the_cli_manages_vpcs_and_attached_hosts(daemon: Daemon, tmp_path: Path) -> None:
    sock = daemon.socket_path
    a = 160 + daemon.n % 40
    doc = tmp_path / "vpc.toml"
    doc.write_text(
        textwrap.dedent(
            f"""\
            [[vpc]]
            cidr = "10.{a}.0.0/16"
            [[vpc.subnet]]
            id = "subnet-cli"
            cidr = "10.{a}.1.0/24"
            [[vpc.security_group]]
            id = "sg-cli"
            ingress = [{{protocol = "tcp", ports = "5432", group = "sg-cli"}}]
            """
        )
    )
    put = lambdalet(sock, "vpc", "put", "vpc-cli", "--file", str(doc))
    assert put.returncode == 0, put.stderr
    assert json.loads(put.stdout)["subnets"] == [
        {"id": "subnet-cli", "cidr": f"10.{a}.1.0/24", "nat_gateway": False}
    ]
    listed = json.loads(lambdalet(sock, "vpc", "list").stdout)["Vpcs"]
    assert "vpc-cli" in [v["id"] for v in listed]
    attached = lambdalet(
        sock, "vpc", "attach-host", "cli-db", "--subnet", "subnet-cli", "--security-group", "sg-cli"
    )
    assert attached.returncode == 0, attached.stderr
    host = json.loads(attached.stdout)
    assert host["address"] == f"10.{a}.1.4"  # the first address AWS leaves usable
    assert Path(host["netns_path"]).exists()  # `ip netns exec <netns> …` works
    app = tmp_path / "app"
    app.mkdir()
    (app / "lambda_function.py").write_text("def lambda_handler(e, c):\n    return 'in vpc'\n")
    made = lambdalet(
        sock, "create-function", "cli-vpc-fn", "--code", str(app),
        "--subnet-ids", "subnet-cli", "--security-group-ids", "sg-cli",
    )  # fmt: skip
    assert made.returncode == 0, made.stderr
    assert json.loads(made.stdout)["VpcConfig"]["VpcId"] == "vpc-cli"
    busy = lambdalet(sock, "vpc", "delete", "vpc-cli")
    assert busy.returncode == 1
    assert "ResourceConflictException" in busy.stderr
    assert lambdalet(sock, "delete-function", "cli-vpc-fn").returncode == 0
    assert lambdalet(sock, "vpc", "detach-host", "cli-db").returncode == 0
    assert not Path(host["netns_path"]).exists()
    assert json.loads(lambdalet(sock, "vpc", "hosts").stdout)["Hosts"] == []
    assert lambdalet(sock, "vpc", "delete", "vpc-cli").returncode == 0
    gone = lambdalet(sock, "vpc", "get", "vpc-cli")
    assert gone.returncode == 1
    assert "ResourceNotFoundException" in gone.stderr


def test_lambdalet_cli_speaks_the_aws_lambda_commands(
    daemon: Daemon, cli_name: str, tmp_path: Path
) -> None:
    code_dir = tmp_path / "src"
    code_dir.mkdir()
    (code_dir / "lambda_function.py").write_text(CODE)
    sock = daemon.socket_path

    def ok(*args: str) -> Any:
        done = lambdalet(sock, *args)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout) if done.stdout.strip() else None

    ok("create-function", "--function-name", cli_name, "--code", str(code_dir),
       "--handler", "lambda_function.handler", "--publish")  # fmt: skip
    assert (
        ok("list-versions-by-function", "--function-name", cli_name)["Versions"][1]["Version"]
        == "1"
    )
    ok("create-alias", "--function-name", cli_name, "--name", "live", "--function-version", "1")
    ok("put-function-concurrency", "--function-name", cli_name,
       "--reserved-concurrent-executions", "5")  # fmt: skip
    assert ok("get-function-concurrency", "--function-name", cli_name) == {
        "ReservedConcurrentExecutions": 5
    }
    arn = f"arn:aws:lambda:us-east-1:000000000000:function:{cli_name}"
    ok("tag-resource", "--resource", arn, "--tags", "Team=a,Env=dev")
    assert ok("list-tags", "--resource", arn)["Tags"] == {"Team": "a", "Env": "dev"}
    out = tmp_path / "out.json"
    meta = ok("invoke", "--function-name", cli_name, "--qualifier", "live", "--payload", '{"n": 2}',
              str(out))  # fmt: skip
    assert meta["ExecutedVersion"] == "1" and json.loads(out.read_text())["n"] == 2
    missing = lambdalet(sock, "get-alias", "--function-name", cli_name, "--name", "nope")
    assert missing.returncode == 1
    assert "An error occurred (ResourceNotFoundException) when calling the GetAlias" in (
        missing.stderr
    )
