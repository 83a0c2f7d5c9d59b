"""Following a function's logs while it runs: the real AWS CLI v2's ``aws logs tail --follow``
against the daemon's CloudWatch-Logs-compatible API (unmodified: it polls FilterLogEvents),
and ``lambdalet logs`` over the daemon's socket."""

from __future__ import annotations

import os
import queue
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import IO

import pytest

from engine.cli.client import Client
from tests.integration.conftest import (
    ACCESS_KEY_ID,
    FUNCTIONS,
    SECRET_ACCESS_KEY,
    Daemon,
)

pytestmark = pytest.mark.privileged

AWS_V2 = Path("/usr/bin/aws")  # Debian 12's awscli package (scripts/setup.sh installs it)
SLOW_PRINTER = """
import time

def handler(event, context):
    for line in event["lines"]:
        print(line)
    time.sleep(event.get("then_sleep", 0))
    return "done"
"""
FOLLOW_TIMEOUT_S = 30.0  # aws logs tail polls every 5 s


class Lines:
    """A process's output lines, read by a thread, waited for by the test."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._queue: queue.Queue[str] = queue.Queue()
        self._thread = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._thread.start()

    def _read(self, stream: IO[str]) -> None:
        for line in stream:
            self._queue.put(line)

    def wait_for(self, text: str, timeout_s: float) -> str:
        deadline = time.monotonic() + timeout_s
        while True:
            for line in self.seen:
                if text in line:
                    return line
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"{text!r} not in the output after {timeout_s} s: {self.seen}")
            try:
                self.seen.append(self._queue.get(timeout=remaining))
            except queue.Empty:
                pass


def start(
    args: list[str], env: dict[str, str] | None = None
) -> tuple[subprocess.Popen[str], Lines]:
    proc = subprocess.Popen(
        args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env
    )
    assert proc.stdout is not None
    return proc, Lines(proc.stdout)


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    """Interrupt as a user would (Ctrl-C), kill if that is not enough; (exit code, stderr)."""
    proc.send_signal(signal.SIGINT)
    try:
        code = proc.wait(10)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
        raise
    finally:
        assert proc.stdout is not None and proc.stderr is not None
        errors = proc.stderr.read()
        proc.stderr.close()
        proc.stdout.close()  # the reader thread has seen its end: the process exited
    return code, errors


class Invoke(threading.Thread):
    """An invoke in a thread: the test looks while it runs, then waits for its answer."""

    def __init__(self, daemon: Daemon, name: str, body: bytes) -> None:
        super().__init__(daemon=True)
        self.args_ = (daemon.socket_path, f"{FUNCTIONS}/{name}/invocations", body)
        self.status: int | None = None
        self.start()

    def run(self) -> None:
        socket_path, path, body = self.args_
        client = Client(socket_path, timeout_s=60)
        try:
            self.status = client.request("POST", path, body).status
        finally:
            client.close()

    def finish(self) -> int | None:
        self.join(60)
        return self.status


@pytest.fixture(scope="module")
def aws_v2_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    if not AWS_V2.exists():
        pytest.skip(f"needs AWS CLI v2 at {AWS_V2} (scripts/setup.sh installs Debian's awscli)")
    home = tmp_path_factory.mktemp("aws-v2-home")
    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        {
            "HOME": str(home),
            "AWS_ACCESS_KEY_ID": ACCESS_KEY_ID,
            "AWS_SECRET_ACCESS_KEY": SECRET_ACCESS_KEY,
            "AWS_DEFAULT_REGION": "us-east-1",
            "AWS_CONFIG_FILE": str(home / "config"),
            "AWS_SHARED_CREDENTIALS_FILE": str(home / "credentials"),
            "AWS_PAGER": "",
            "PYTHONUNBUFFERED": "1",  # Debian's aws is a Python script: lines as they come
        }
    )
    version = subprocess.run(
        [str(AWS_V2), "--version"], capture_output=True, text=True, env=env, timeout=60
    )
    if not (version.stdout + version.stderr).startswith("aws-cli/2."):
        pytest.skip(f"{AWS_V2} is not AWS CLI v2: {version.stdout}{version.stderr}")
    return env


def test_aws_logs_tail_follow_shows_the_lines_of_a_running_function(
    daemon: Daemon, deploy: Callable[..., str], aws_v2_env: dict[str, str]
) -> None:
    name = deploy(SLOW_PRINTER, Timeout=30)
    marker = uuid.uuid4().hex[:8]
    first = daemon.invoke(name, {"lines": [f"before-{marker}"]})
    assert first.status == 200, first.body  # the group exists before the tail starts
    command = [
        str(AWS_V2), "logs", "tail", f"/aws/lambda/{name}", "--follow",
        "--endpoint-url", daemon.endpoint, "--region", "us-east-1",
    ]  # fmt: skip
    proc, lines = start(command, aws_v2_env)
    try:
        line = lines.wait_for(f"before-{marker}", FOLLOW_TIMEOUT_S)
        stamp, stream, message = line.rstrip("\n").split(" ", 2)
        assert stream.startswith(time.strftime("%Y/%m/%d/[$LATEST]", time.gmtime()))
        assert message == f"before-{marker}" and stamp.endswith("+00:00")
        lines.wait_for("REPORT RequestId:", FOLLOW_TIMEOUT_S)

        # Lines printed by an invoke still running (it sleeps 20 s after printing them).
        body = f'{{"lines": ["running-{marker}-1", "running-{marker}-2"], "then_sleep": 12}}'
        running = Invoke(daemon, name, body.encode())
        lines.wait_for(f"running-{marker}-2", FOLLOW_TIMEOUT_S)
        assert running.is_alive(), "the lines came only after the invoke ended"
        assert lines.wait_for(f"running-{marker}-1", 0)  # each line once, in order
        texts = [ln.split(" ", 2)[2] for ln in lines.seen]
        assert texts.count(f"running-{marker}-1\n") == 1
        assert texts.index(f"running-{marker}-1\n") < texts.index(f"running-{marker}-2\n")
        assert running.finish() == 200
    finally:
        code, errors = stop(proc)
    assert code == 0, errors


def lambdalet(*args: str) -> list[str]:
    return [sys.executable, "-m", "engine.cli", *args]


@pytest.fixture
def printed(daemon: Daemon, deploy: Callable[..., str]) -> tuple[str, str]:
    name = deploy(SLOW_PRINTER, Timeout=30)
    marker = uuid.uuid4().hex[:8]
    lines = [f"INFO hello {marker}", f"ERROR broken {marker}", '{"level": "WARN", "n": 3}']
    resp = daemon.invoke(name, {"lines": lines})
    assert resp.status == 200, resp.body
    return name, marker


def test_lambdalet_logs_prints_like_aws_logs_tail(daemon: Daemon, printed: tuple[str, str]) -> None:
    name, marker = printed
    socket_args = ["--socket", str(daemon.socket_path)]
    done = subprocess.run(
        lambdalet("logs", name, *socket_args), capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout.splitlines()
    messages = [line.split(" ", 2)[2] for line in out]
    assert messages[0].startswith("START RequestId: ") and messages[-1].startswith("REPORT ")
    assert messages[1:4] == [f"INFO hello {marker}", f"ERROR broken {marker}",
                             '{"level": "WARN", "n": 3}']  # fmt: skip
    stamp, stream = out[0].split(" ", 2)[:2]
    assert stamp.endswith("+00:00") and "[$LATEST]" in stream

    only = subprocess.run(
        lambdalet("logs", name, "--filter", "?ERROR ?WARN", "--since", "1h", *socket_args),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert [line.split(" ", 2)[2] for line in only.stdout.splitlines()] == [
        f"ERROR broken {marker}", '{"level": "WARN", "n": 3}'
    ]  # fmt: skip
    as_json = subprocess.run(
        lambdalet("logs", name, "--filter", '{ $.n > 2 }', *socket_args),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert len(as_json.stdout.splitlines()) == 1
    later = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(time.time() + 3600))
    future = subprocess.run(
        lambdalet("logs", name, "--since", later, *socket_args),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert future.returncode == 0 and future.stdout == ""

    bad = subprocess.run(
        lambdalet("logs", name, "--filter", "{ $.n >", *socket_args),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 1
    assert "InvalidParameterException: If a filter pattern starts with '{'" in bad.stderr
    missing = subprocess.run(
        lambdalet("logs", "no-such-function", *socket_args),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1
    assert "ResourceNotFoundException: The specified log group does not exist." in missing.stderr


def test_lambdalet_logs_follow(daemon: Daemon, printed: tuple[str, str]) -> None:
    name, marker = printed
    proc, lines = start(lambdalet("logs", name, "--follow", "--socket", str(daemon.socket_path)))
    try:
        lines.wait_for(f"ERROR broken {marker}", FOLLOW_TIMEOUT_S)
        body = f'{{"lines": ["following-{marker}"], "then_sleep": 5}}'
        running = Invoke(daemon, name, body.encode())
        lines.wait_for(f"following-{marker}", FOLLOW_TIMEOUT_S)
        assert running.is_alive()
        texts = [ln.split(" ", 2)[2] for ln in lines.seen]
        assert texts.count(f"ERROR broken {marker}\n") == 1  # polls never repeat a line
        assert running.finish() == 200
    finally:
        code, errors = stop(proc)
    assert code == 0, errors
