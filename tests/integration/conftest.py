"""Fixtures that run the real daemon (as a separate process) and deploy functions to it.

Stages, as firecracker's fixtures: `daemon_factory` (start/stop daemons on a state dir)
→ `daemon` (one shared, running daemon) → `deploy` (a function of the test's own code).
Each daemon gets its own cgroup parent ``lambdalet-test-<pid>-<n>``, socket and state dir,
and a loopback TCP port for boto3 and the AWS CLI.
"""

from __future__ import annotations

import base64
import io
import itertools
import os
import signal
import socket
import subprocess
import sys
import textwrap
import time
import uuid
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from engine.cli.client import Client, HttpResponse
from netns.addressing import base36
from tests.conftest import IF_TEST_TAG, IS_ROOT, NFT_TEST_TAG, TEST_TAG

pytestmark = pytest.mark.privileged

FUNCTIONS = "/2015-03-31/functions"
ROLE = "arn:aws:iam::000000000000:role/test"
START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
# Concurrent test runs on one host (helpers, side work) pass different bases so their daemons
# never share veth names or default addresses.
_counter = itertools.count(int(os.environ.get("LAMBDALET_TEST_DAEMON_BASE", "1")))


def free_port() -> int:
    return free_ports(1)[0]


def free_ports(count: int) -> list[int]:
    """`count` distinct free loopback ports: the sockets are held together while chosen, so
    the kernel cannot hand the same port out twice (two separate calls sometimes did)."""
    socks = [socket.socket() for _ in range(count)]
    try:
        for s in socks:
            s.bind(("127.0.0.1", 0))
        return [int(s.getsockname()[1]) for s in socks]
    finally:
        for s in socks:
            s.close()


@dataclass
class Daemon:
    state_dir: Path
    socket_path: Path
    port: int
    url_port: int
    cgroup_parent: str
    n: int = 0  # the daemon's number in this test run: names its network objects
    process: subprocess.Popen[bytes] | None = None
    log_path: Path = field(default_factory=Path)
    _client: Client | None = None

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def client(self) -> Client:
        if self._client is None:
            self._client = Client(self.socket_path, timeout_s=120)
        return self._client

    def lambda_client(
        self, *, key: str | None = None, secret: str | None = None, region: str = "us-east-1"
    ) -> Any:
        """A real boto3 Lambda client for this daemon's TCP API, signing with the test key
        (or `key`/`secret`), without retries: a refusal is seen as it is."""
        import boto3
        import botocore.config

        return boto3.client(
            "lambda",
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=key or ACCESS_KEY_ID,
            aws_secret_access_key=secret or SECRET_ACCESS_KEY,
            config=botocore.config.Config(retries={"max_attempts": 0}, read_timeout=60),
        )

    def sqs_client(
        self, *, key: str | None = None, secret: str | None = None, region: str = "us-east-1"
    ) -> Any:
        """A real boto3 SQS client for this daemon's TCP API (the same endpoint as Lambda's),
        signing with the test key, without retries."""
        import boto3
        import botocore.config

        return boto3.client(
            "sqs",
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=key or ACCESS_KEY_ID,
            aws_secret_access_key=secret or SECRET_ACCESS_KEY,
            config=botocore.config.Config(retries={"max_attempts": 0}, read_timeout=60),
        )

    def kinesis_client(
        self, *, key: str | None = None, secret: str | None = None, region: str = "us-east-1"
    ) -> Any:
        """A real boto3 Kinesis client for this daemon's TCP API (the same endpoint as
        Lambda's), signing with the test key, without retries."""
        import boto3
        import botocore.config

        return boto3.client(
            "kinesis",
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=key or ACCESS_KEY_ID,
            aws_secret_access_key=secret or SECRET_ACCESS_KEY,
            config=botocore.config.Config(retries={"max_attempts": 0}, read_timeout=60),
        )

    def scheduler_client(
        self, *, key: str | None = None, secret: str | None = None, region: str = "us-east-1"
    ) -> Any:
        """A real boto3 EventBridge Scheduler client for this daemon's TCP API (the same
        endpoint as Lambda's), signing with the test key, without retries."""
        import boto3
        import botocore.config

        return boto3.client(
            "scheduler",
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=key or ACCESS_KEY_ID,
            aws_secret_access_key=secret or SECRET_ACCESS_KEY,
            config=botocore.config.Config(retries={"max_attempts": 0}, read_timeout=60),
        )

    def logs_client(
        self, *, key: str | None = None, secret: str | None = None, region: str = "us-east-1"
    ) -> Any:
        """A real boto3 CloudWatch Logs client for this daemon's TCP API (the same endpoint as
        Lambda's), signing with the test key, without retries."""
        import boto3
        import botocore.config

        return boto3.client(
            "logs",
            endpoint_url=self.endpoint,
            region_name=region,
            aws_access_key_id=key or ACCESS_KEY_ID,
            aws_secret_access_key=secret or SECRET_ACCESS_KEY,
            config=botocore.config.Config(retries={"max_attempts": 0}, read_timeout=60),
        )

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    started_once: bool = False

    def has_cgroups(self) -> bool:
        return any(Path("/sys/fs/cgroup").glob(f"*/{self.cgroup_parent}"))

    @property
    def if_prefix(self) -> str:
        return f"{IF_TEST_TAG}{base36(self.n)}-"

    @property
    def netns_prefix(self) -> str:
        return f"{self.cgroup_parent}-"

    @property
    def nft_table(self) -> str:
        return f"{NFT_TEST_TAG}_{self.n}"

    @property
    def default_cidr(self) -> str:
        return f"10.254.{self.n % 256}.0/24"  # daemons of one run never share addresses

    @property
    def credentials_file(self) -> Path:
        return self.state_dir.parent / f"{self.state_dir.name}.credentials"

    @property
    def url_endpoint(self) -> str:
        return f"http://127.0.0.1:{self.url_port}"

    def start(
        self,
        *,
        keep_warm_s: float = 60.0,
        extra_toml: str = "",
        extra_env: dict[str, str] | None = None,
        sandbox_toml: str = "",
    ) -> None:
        self.started_once = True
        write_credentials(self.credentials_file)
        config = self.state_dir.parent / f"{self.state_dir.name}.toml"
        config.write_text(
            textwrap.dedent(
                f"""\
                state_dir = "{self.state_dir}"
                socket_path = "{self.socket_path}"
                http_listen = "127.0.0.1:{self.port}"
                function_url_listen = "127.0.0.1:{self.url_port}"
                credentials_file = "{self.credentials_file}"
                [sandbox]
                cgroup_parent = "{self.cgroup_parent}"
                keep_warm_s = {keep_warm_s}
                {sandbox_toml}
                [network]
                if_prefix = "{self.if_prefix}"
                nft_table = "{self.nft_table}"
                netns_prefix = "{self.netns_prefix}"
                default_cidr = "{self.default_cidr}"
                """
            )
            + textwrap.dedent(extra_toml)
        )
        self.log_path = self.state_dir.parent / f"{self.state_dir.name}.log"
        log = open(self.log_path, "ab")  # noqa: SIM115 - the daemon process owns it
        self.process = subprocess.Popen(
            [sys.executable, "-m", "engine.cli", "serve", "--config", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(extra_env or {})},
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"daemon exited at start-up:\n{self.log()}")
            try:
                with socket.socket(socket.AF_UNIX) as s:
                    s.connect(str(self.socket_path))
                with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError(f"daemon did not start in {START_TIMEOUT_S} s:\n{self.log()}")

    def stop(self, sig: int = signal.SIGTERM) -> int:
        if self._client is not None:
            self._client.close()
            self._client = None
        proc = self.process
        if proc is None:
            return 0
        proc.send_signal(sig)
        try:
            code = proc.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            proc.kill()
            code = proc.wait()
        self.process = None
        return code

    # -- API helpers --------------------------------------------------------------------

    def create(self, name: str, code: str, **settings: Any) -> HttpResponse:
        body: dict[str, Any] = {
            "FunctionName": name,
            "Runtime": "python3.11",
            "Role": ROLE,
            "Handler": "lambda_function.handler",
            "Code": {"ZipFile": make_zip({"lambda_function.py": code})},
            **settings,
        }
        return self.client.json_request("POST", FUNCTIONS, body)

    def invoke(
        self, name: str, payload: Any = None, *, tail: bool = False, raw: bytes | None = None
    ) -> HttpResponse:
        import json

        body = (
            raw if raw is not None else (b"" if payload is None else json.dumps(payload).encode())
        )
        headers = {"X-Amz-Log-Type": "Tail"} if tail else {}
        return self.client.request("POST", f"{FUNCTIONS}/{name}/invocations", body, headers)


def make_zip(
    files: dict[str, str], *, executable: tuple[str, ...] = (), tree: Path | None = None
) -> str:
    """A deployment package: `files` (dedented text), the `executable` ones mode 0755, plus
    every file under `tree` (kept byte for byte, modes kept)."""
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            # A fixed timestamp: the same files give the same bytes (and CodeSha256)
            # however many seconds apart two zips are built.
            info = zipfile.ZipInfo(name, date_time=(2020, 1, 1, 0, 0, 0))
            info.external_attr = (0o755 if name in executable else 0o644) << 16
            zf.writestr(info, textwrap.dedent(text))
        if tree is not None:
            for path in sorted(p for p in tree.rglob("*") if p.is_file()):
                info = zipfile.ZipInfo(str(path.relative_to(tree)), (2020, 1, 1, 0, 0, 0))
                info.external_attr = (path.stat().st_mode & 0o777) << 16
                zf.writestr(info, path.read_bytes())
    return base64.b64encode(buf.getvalue()).decode()


# The key pair every test client signs with (boto3, the AWS CLI); the daemon's credentials
# file (root-only, as the daemon demands) lists it.
ACCESS_KEY_ID = "LKIATESTTESTTEST2345"
SECRET_ACCESS_KEY = "lambdalet-test-secret-0123456789abcdefghij"


def write_credentials(path: Path) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(
            f"[test]\naws_access_key_id = {ACCESS_KEY_ID}\n"
            f"aws_secret_access_key = {SECRET_ACCESS_KEY}\n"
        )
    os.chmod(path, 0o600)


def log_of(resp: HttpResponse) -> str:
    return base64.b64decode(resp.headers.get("x-amz-log-result", "")).decode()


@pytest.fixture(scope="session")
def daemon_factory(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[], Daemon]]:
    if not IS_ROOT:
        pytest.skip("needs root")
    made: list[Daemon] = []

    def make() -> Daemon:
        n = next(_counter)
        base = tmp_path_factory.mktemp(f"daemon{n}")
        port, url_port = free_ports(2)
        d = Daemon(
            state_dir=base / "state",
            socket_path=base / "run" / "api.sock",
            port=port,
            url_port=url_port,
            cgroup_parent=f"{TEST_TAG}-{n}",
            n=n,
        )
        made.append(d)
        return d

    yield make
    for d in made:
        d.stop()
        if d.started_once and d.has_cgroups():
            # A test killed this daemon and failed before starting it again: a new start
            # sweeps what the dead one left (as it would for a user); then stop it cleanly.
            d.start()
            d.stop()


@pytest.fixture(scope="session")
def daemon(daemon_factory: Callable[[], Daemon]) -> Daemon:
    d = daemon_factory()
    d.start()
    return d


KINDS = ("on-demand", "snap-start")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Modules marked `both_kinds` run each test that deploys twice: with ordinary
    environments, and with environments restored from a SnapStart template."""
    if metafunc.definition.get_closest_marker("both_kinds") and "deploy" in metafunc.fixturenames:
        metafunc.parametrize("sandbox_kind", KINDS)


@pytest.fixture
def sandbox_kind() -> str:
    return "on-demand"


@pytest.fixture
def deploy(daemon: Daemon, sandbox_kind: str) -> Iterator[Callable[..., str]]:
    """Create a function with the given source; deleted after the test. As `snap-start`
    (see `both_kinds`), a python3.11 function gets SnapStart and a published version whose
    template is ready, and what is returned is `name:version`: its environments are clones."""
    names: list[str] = []

    def make(code: str, **settings: Any) -> str:
        name = f"t-{uuid.uuid4().hex[:10]}"
        snap = sandbox_kind == "snap-start"
        if snap:
            if settings.get("Runtime", "python3.11") != "python3.11":
                pytest.skip("SnapStart: lambdalet's templates are python3.11 functions")
            settings = {**settings, "SnapStart": {"ApplyOn": "PublishedVersions"}}
        resp = daemon.create(name, code, **settings)
        assert resp.status == 201, resp.body
        names.append(name)
        if not snap:
            return name
        published = daemon.client.json_request("POST", f"{FUNCTIONS}/{name}/versions", {})
        assert published.status == 201, published.body
        version = str(published.json()["Version"])
        wait_for_template(daemon, name, version)
        return f"{name}:{version}"

    yield make
    for name in names:
        daemon.client.request("DELETE", f"{FUNCTIONS}/{name}")


@pytest.fixture
def functions(daemon: Daemon) -> Iterator[Any]:
    """A `tests.integration.fnhelpers.Functions` on the shared daemon (any runtime)."""
    from tests.integration.fnhelpers import Functions

    made: list[str] = []
    yield Functions(daemon, made)
    for name in made:
        daemon.client.request("DELETE", f"{FUNCTIONS}/{name}")


def wait_for_template(daemon: Daemon, name: str, version: str, timeout_s: float = 60) -> bool:
    """Wait until `name:version`'s SnapStart template is ready with a shell; False if its
    build failed (its init raised: its cold starts are then ordinary ones)."""
    import json

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        doc = json.loads(daemon.client.request("GET", "/lambdalet/v1/pool").body)
        for t in doc["SnapStart"]["Templates"]:
            if t["FunctionName"] == name and t["Version"] == version:
                if t["Failed"]:
                    return False
                if t["Ready"] and t["ReadyShells"] >= 1:
                    return True
        time.sleep(0.05)
    raise AssertionError(f"no SnapStart template for {name}:{version} within {timeout_s} s")


def host_pids_matching(text: str) -> list[int]:
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/cmdline", "rb") as f:
                    if text.encode() in f.read().replace(b"\0", b" "):
                        pids.append(int(entry))
            except OSError:
                pass
    return pids


def wait_until(predicate: Callable[[], bool], timeout_s: float) -> bool:
    """Poll `predicate` every 50 ms until it holds or `timeout_s` passes; its last value."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.05)
    return predicate()
