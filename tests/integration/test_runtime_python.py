"""Python runtimes other than the native python3.11: exec'd host interpreters, or a clear no."""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator

import pytest

from tests.integration.conftest import Daemon
from tests.integration.fnhelpers import ONE_VCPU_MB, Functions

APP = """
import os, sys, time
calls = 0

def handler(event, context):
    global calls
    calls += 1
    if event.get("fail"):
        raise KeyError("nope")
    if event.get("sleep"):
        time.sleep(event["sleep"])
    print("exec'd python says hi")
    return {
        "calls": calls,
        "argv0": sys.argv[0],
        "isolated": sys.flags.isolated,
        "runtime_module": sys.modules["sandbox.runtimes.python.bootstrap"].__file__,
        "execution_env": os.environ["AWS_EXECUTION_ENV"],
        "uid": os.getuid(),
        "request_id": context.aws_request_id,
        "remaining": context.get_remaining_time_in_millis(),
        "greeting": os.environ.get("GREETING"),
    }
"""


DAEMON_PATH = "/usr/local/bin:/usr/bin:/bin"  # the daemon's default runtimes.search_path


@pytest.mark.skipif(
    shutil.which("python3.12", path=DAEMON_PATH) is not None, reason="this host has python3.12"
)
def test_missing_interpreter_is_refused_by_name(functions: Functions) -> None:
    body = functions.create("python3.12", "app.handler", {"app.py": APP}, expect=400)
    assert "python3.12 interpreter" in body
    assert "InvalidParameterValueException" in body or "not supported" in body
    too_old = functions.create("python3.9", "app.handler", {"app.py": APP}, expect=400)
    assert "Python 3.10 or newer" in too_old


@pytest.fixture(scope="module")
def exec_daemon(daemon_factory: Callable[[], Daemon]) -> Iterator[Daemon]:
    """A daemon told that python3.12 is the host's /usr/bin/python3.11 (this host has no
    3.12): the exec'd-interpreter path, with a real second interpreter start."""
    d = daemon_factory()
    d.start(extra_toml='[runtimes.interpreters]\n"python3.12" = "/usr/bin/python3.11"\n')
    yield d
    d.stop()


def test_execd_interpreter_runs_the_python_runtime(exec_daemon: Daemon) -> None:
    functions = Functions(exec_daemon, [])
    name = functions.create(
        "python3.12",
        "app.handler",
        {"app.py": APP},
        MemorySize=ONE_VCPU_MB,
        Timeout=2,
        Environment={"Variables": {"GREETING": "hello"}},
    )
    first = functions.invoke(name)
    out = first.ok()
    assert out["argv0"] == "/var/runtime/bootstrap.py"
    assert out["isolated"] == 1  # started as `python -I -S`, not forked from the spawner
    assert out["runtime_module"] == "/var/runtime/lib/sandbox/runtimes/python/bootstrap.py"
    assert out["execution_env"] == "AWS_Lambda_python3.12"
    assert out["uid"] != 0
    assert out["request_id"] == first.request_id
    assert 0 < out["remaining"] <= 2000
    assert out["greeting"] == "hello"
    assert "exec'd python says hi" in first.log
    first.assert_framed(cold=True)
    assert functions.invoke(name).ok()["calls"] == 2

    err = functions.invoke(name, {"fail": True}).failed()
    assert err["errorType"] == "KeyError"
    assert any("app.py" in line for line in err["stackTrace"])

    slow = functions.invoke(name, {"sleep": 5})
    assert slow.failed()["errorType"] == "Sandbox.Timedout"
    assert functions.invoke(name).ok()["calls"] == 1
