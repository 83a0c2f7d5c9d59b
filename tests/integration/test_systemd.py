"""The daemon under a service manager, against a real daemon process: systemd's notify messages
at a fake `NOTIFY_SOCKET` (this host's PID 1 is not systemd), SIGHUP reloads, graceful stop.

Each test runs its own daemon (from `daemon_factory`) and reads the datagrams it sends to a
socket the test binds, as systemd would.
"""

from __future__ import annotations

import json
import re
import signal
import socket
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from tests.integration.conftest import Daemon, wait_until
from tests.integration.test_restart import parent_dirs, spawner_pids

pytestmark = pytest.mark.privileged

SLEEPY = """
import json, time
def handler(event, context):
    print("got", context.aws_request_id, json.dumps(event))
    time.sleep(event.get("sleep", 0))
    return {"slept": event.get("sleep", 0)}
"""


class FakeSystemd:
    """A datagram socket at a path, as systemd's notify socket, and what arrived on it."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(path))
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, dict[str, str]]] = []  # (monotonic time, fields)
        self._stop = False
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        while not self._stop:
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                return
            fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
            self.messages.append((time.monotonic(), fields))

    def with_key(self, key: str) -> list[dict[str, str]]:
        return [fields for _, fields in self.messages if key in fields]

    def statuses(self) -> list[str]:
        return [fields["STATUS"] for fields in self.with_key("STATUS")]

    def wait_for(
        self, predicate: Callable[[dict[str, str]], bool], timeout_s: float = 15, *, since: int = 0
    ) -> dict[str, str]:
        """The first message from the `since`-th on that satisfies `predicate`."""
        deadline = time.monotonic() + timeout_s
        seen = since
        while time.monotonic() < deadline:
            for _, fields in self.messages[seen:]:
                seen += 1
                if predicate(fields):
                    return fields
            time.sleep(0.02)
        raise AssertionError(f"no such message; got {[m for _, m in self.messages]}")

    def close(self) -> None:
        self._stop = True
        self._thread.join()
        self.sock.close()


@pytest.fixture
def systemd(tmp_path: Path) -> Iterator[FakeSystemd]:
    fake = FakeSystemd(tmp_path / "notify.sock")
    yield fake
    fake.close()


@pytest.fixture
def make_daemon(
    daemon_factory: Callable[[], Daemon], systemd: FakeSystemd
) -> Iterator[Callable[..., Daemon]]:
    started: list[Daemon] = []

    def make(*, watchdog_usec: int | None = None, extra_toml: str = "") -> Daemon:
        d = daemon_factory()
        env = {"NOTIFY_SOCKET": str(systemd.path)}
        if watchdog_usec is not None:
            env["WATCHDOG_USEC"] = str(watchdog_usec)
        d.start(extra_toml=extra_toml, extra_env=env)
        d.extra_env = env  # type: ignore[attr-defined]  # for a restart
        started.append(d)
        return d

    yield make
    for d in started:
        d.stop()


def config_path(daemon: Daemon) -> Path:
    return daemon.state_dir.parent / f"{daemon.state_dir.name}.toml"


def send_signal(daemon: Daemon, sig: int) -> None:
    assert daemon.process is not None
    daemon.process.send_signal(sig)


def wait_exit(daemon: Daemon, timeout_s: float) -> int:
    assert daemon.process is not None
    code = daemon.process.wait(timeout_s)
    daemon.process = None
    return code


def assert_clean(daemon: Daemon, pid: int) -> None:
    """Nothing of the daemon left: no cgroups, no spawner, no socket."""
    assert parent_dirs(daemon) == []
    assert spawner_pids(pid) == []
    assert not daemon.socket_path.exists()


def in_flight_invoke(
    daemon: Daemon, name: str, sleep_s: float
) -> tuple[threading.Thread, dict[str, Any]]:
    """Invoke `name` (sleeping `sleep_s`) from a thread with boto3; its answer lands in the dict."""
    result: dict[str, Any] = {}

    def call() -> None:
        try:
            answer = daemon.lambda_client().invoke(
                FunctionName=name, Payload=json.dumps({"sleep": sleep_s}).encode()
            )
            result["status"] = answer["StatusCode"]
            result["error"] = answer.get("FunctionError")
            result["payload"] = json.loads(answer["Payload"].read())
        except Exception as exc:
            result["exception"] = exc

    thread = threading.Thread(target=call)
    thread.start()
    return thread, result


def wait_busy(daemon: Daemon) -> None:
    """Until an environment is busy with an invoke (the pool's view says so)."""

    def busy() -> bool:
        resp = daemon.client.request("GET", "/lambdalet/v1/pool")
        return bool(json.loads(resp.body)["Environments"].get("Busy", 0))

    assert wait_until(busy, 30)


def reload(daemon: Daemon, systemd: FakeSystemd) -> tuple[dict[str, str], dict[str, str]]:
    """SIGHUP, then the RELOADING=1 and the READY=1 that follow it."""
    mark = len(systemd.messages)
    send_signal(daemon, signal.SIGHUP)
    reloading = systemd.wait_for(lambda m: m.get("RELOADING") == "1", since=mark)
    ready = systemd.wait_for(lambda m: m.get("READY") == "1", since=mark)
    return reloading, ready


def create(daemon: Daemon, name: str, **settings: Any) -> None:
    resp = daemon.create(name, SLEEPY, Timeout=60, **settings)
    assert resp.status == 201, resp.body


# --- notify, watchdog, reload ------------------------------------------------------------------


def test_start_reload_and_stop_tell_systemd_what_happens(
    make_daemon: Callable[..., Daemon], systemd: FakeSystemd
) -> None:
    d = make_daemon(watchdog_usec=1_000_000, extra_toml="[daemon]\nstatus_interval_s = 0.3\n")
    pid = d.process.pid if d.process else 0
    ready = systemd.wait_for(lambda m: m.get("READY") == "1")
    steps = systemd.statuses()
    assert steps[0] == "checking the host"
    assert "opening the registry" in steps and steps.index("opening the registry") < len(steps)
    assert ready["STATUS"] == "serving"
    # Keep-alives every half period once ready, and the status line while serving.
    time.sleep(1.6)
    assert len(systemd.with_key("WATCHDOG")) >= 3
    create(d, "sd-fn")
    assert d.invoke("sd-fn", {"sleep": 0}).status == 200
    serving = systemd.wait_for(lambda m: "1 function" in m.get("STATUS", ""))
    assert re.fullmatch(
        r"serving: 1 function, \d+ environments?, \d+\.\d invokes/s", serving["STATUS"]
    )

    # A live setting and one that needs a restart.
    lambda_client = d.lambda_client()
    assert lambda_client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 1000
    path = config_path(d)
    text = 'region = "eu-west-1"\n' + path.read_text() + "\n[concurrency]\naccount_limit = 600\n"
    path.write_text(text)
    reloading, done = reload(d, systemd)
    assert int(reloading["MONOTONIC_USEC"]) > 0
    assert "applied concurrency.account_limit" in done["STATUS"]
    assert "restart to apply region" in done["STATUS"]
    settings = lambda_client.get_account_settings()
    assert settings["AccountLimit"]["ConcurrentExecutions"] == 600
    assert settings["AccountLimit"]["UnreservedConcurrentExecutions"] == 600
    mark = len(systemd.messages)
    serving = systemd.wait_for(lambda m: m.get("STATUS", "").startswith("serving:"), since=mark)
    assert serving["STATUS"].endswith("; restart to apply region")

    # A broken file changes nothing, and says why.
    path.write_text(text.replace("account_limit = 600", "account_limit = 7 = 8"))
    _, failed = reload(d, systemd)
    assert failed["STATUS"].startswith("reload failed, previous configuration kept:")
    assert "not valid TOML" in failed["STATUS"]
    assert lambda_client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 600
    # A valid file whose limit the functions' reservations do not fit: refused by the service.
    lambda_client.put_function_concurrency(FunctionName="sd-fn", ReservedConcurrentExecutions=400)
    path.write_text(text.replace("account_limit = 600", "account_limit = 450"))
    _, refused = reload(d, systemd)
    assert refused["STATUS"].startswith(
        "reloaded: nothing to apply; refused concurrency.account_limit"
    )
    assert "below concurrency.unreserved_minimum 100" in refused["STATUS"]
    assert lambda_client.get_account_settings()["AccountLimit"]["ConcurrentExecutions"] == 600

    send_signal(d, signal.SIGTERM)
    stopping = systemd.wait_for(lambda m: m.get("STOPPING") == "1")
    assert stopping["STATUS"].startswith("stopping:")
    assert wait_exit(d, 30) == 0
    assert systemd.statuses()[-1] == "stopped"
    assert_clean(d, pid)
    order = [k for _, m in systemd.messages for k in ("READY", "RELOADING", "STOPPING") if k in m]
    assert order == [
        "READY",
        "RELOADING",
        "READY",
        "RELOADING",
        "READY",
        "RELOADING",
        "READY",
        "STOPPING",
    ]


def test_watchdog_is_off_when_meant_for_another_pid(
    make_daemon: Callable[..., Daemon], systemd: FakeSystemd, daemon_factory: Callable[[], Daemon]
) -> None:
    d = daemon_factory()
    env = {"NOTIFY_SOCKET": str(systemd.path), "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"}
    d.start(extra_env=env)
    try:
        systemd.wait_for(lambda m: m.get("READY") == "1")
        time.sleep(0.6)
        assert systemd.with_key("WATCHDOG") == []
    finally:
        d.stop()


# --- graceful stop -----------------------------------------------------------------------------


def test_an_invoke_in_flight_finishes_and_new_connections_are_refused(
    make_daemon: Callable[..., Daemon], systemd: FakeSystemd
) -> None:
    d = make_daemon()
    pid = d.process.pid if d.process else 0
    create(d, "slow")
    thread, result = in_flight_invoke(d, "slow", 3)
    wait_busy(d)
    send_signal(d, signal.SIGTERM)
    stopping = systemd.wait_for(lambda m: m.get("STOPPING") == "1")
    assert "1 invokes" in stopping["STATUS"]
    with pytest.raises(botocore.exceptions.EndpointConnectionError):
        d.lambda_client().get_account_settings()  # a new connection: refused
    with pytest.raises(ConnectionRefusedError), socket.socket(socket.AF_UNIX) as s:
        s.connect(str(d.socket_path))
    thread.join(30)
    assert result.get("status") == 200, result
    assert result["error"] is None and result["payload"] == {"slept": 3}
    assert wait_exit(d, 30) == 0
    assert_clean(d, pid)
    assert "stopping: nothing in flight any more" in d.log()


@pytest.mark.parametrize("how", ["second SIGTERM", "stop bound"])
def test_what_outlasts_the_stop_is_cut_short(
    make_daemon: Callable[..., Daemon], systemd: FakeSystemd, how: str
) -> None:
    d = make_daemon(extra_toml="[daemon]\nstop_timeout_s = 1.5\n" if how == "stop bound" else "")
    pid = d.process.pid if d.process else 0
    create(d, "stuck")
    thread, result = in_flight_invoke(d, "stuck", 40)
    wait_busy(d)
    started = time.monotonic()
    send_signal(d, signal.SIGTERM)
    systemd.wait_for(lambda m: m.get("STOPPING") == "1")
    if how == "second SIGTERM":
        time.sleep(0.5)
        send_signal(d, signal.SIGTERM)
    assert wait_exit(d, 30) == 0
    assert time.monotonic() - started < 15  # not the function's 40 s
    thread.join(30)
    assert "status" not in result  # the connection was cut: no answer
    why = "a second signal came" if how == "second SIGTERM" else "1.5 s passed"
    assert f"stopping: {why}; cutting short 1 invokes" in d.log()
    assert_clean(d, pid)


def test_an_accepted_async_event_waits_through_a_stop_and_runs_after_restart(
    make_daemon: Callable[..., Daemon], systemd: FakeSystemd
) -> None:
    d = make_daemon()
    create(d, "one-at-a-time")
    lambda_client = d.lambda_client()
    lambda_client.put_function_concurrency(
        FunctionName="one-at-a-time", ReservedConcurrentExecutions=1
    )
    thread, result = in_flight_invoke(d, "one-at-a-time", 3)
    wait_busy(d)
    # The only unit is taken: the event is stored and waits.
    answer = lambda_client.invoke(
        FunctionName="one-at-a-time", InvocationType="Event", Payload=b'{"async": 1}'
    )
    assert answer["StatusCode"] == 202
    request_id = answer["ResponseMetadata"]["RequestId"]
    send_signal(d, signal.SIGTERM)
    thread.join(30)
    assert result.get("status") == 200, result  # the sync invoke in flight finished
    assert wait_exit(d, 30) == 0
    logs = d.state_dir / "logs" / "one-at-a-time"

    def ran() -> bool:
        return any(request_id in p.read_text(errors="replace") for p in logs.glob("*.log"))

    assert not ran()  # not started during the stop, not dropped either
    d.start(extra_env=d.extra_env)  # type: ignore[attr-defined]
    assert wait_until(ran, 30)
    log = "".join(p.read_text(errors="replace") for p in logs.glob("*.log"))
    assert f"got {request_id} " + json.dumps({"async": 1}) in log
    assert "left unfinished by the previous daemon" in d.log()
