"""SnapStart through the daemon: a published version's environments start from its template
(Restore Duration in REPORT, hooks, uniqueness, isolation, limits), $LATEST never does, and a
restart rebuilds templates. boto3 against the real daemon; nothing of the kernel is mocked."""

from __future__ import annotations

import base64
import json
import os
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest

from tests.integration.conftest import ROLE, Daemon, make_zip, wait_for_template

pytestmark = pytest.mark.privileged

CODE = """
import json, os, random, socket, time, uuid
from snapshot_restore_py import register_after_restore, register_before_snapshot

ORDER = []
INIT_TYPE = os.environ.get("AWS_LAMBDA_INITIALIZATION_TYPE")
INIT_PID_SEEN = os.getpid()
with open("/tmp/written-during-init", "w") as f:
    f.write("template")

@register_before_snapshot
def first_registered():
    ORDER.append("before:first")

def second_registered(tag, suffix=""):
    ORDER.append("before:" + tag + suffix)

register_before_snapshot(second_registered, "second", suffix="!")

@register_after_restore
def after_one():
    ORDER.append("after:one")

@register_after_restore
def after_two():
    ORDER.append("after:two")

def handler(event, context):
    if event.get("sleep"):
        time.sleep(event["sleep"])
    if event.get("write"):
        with open("/tmp/" + event["write"], "w") as f:
            f.write("mine")
    if event.get("allocate_mb"):
        chunks = [bytearray(1024 * 1024) for _ in range(event["allocate_mb"])]
    status = dict(line.split(":\\t", 1) for line in open("/proc/self/status").read().splitlines()
                  if line.startswith(("CapEff", "CapBnd", "NoNewPrivs", "Seccomp:")))
    return {
        "order": ORDER, "init_type": INIT_TYPE, "request_id": context.aws_request_id,
        "uuid": str(uuid.uuid4()), "random": random.random(), "uid": os.getuid(),
        "pid": os.getpid(), "procs": sorted(int(p) for p in os.listdir("/proc") if p.isdigit()),
        "tmp": sorted(os.listdir("/tmp")), "hostname": socket.gethostname(), "status": status,
        "log_variables": sorted(k for k in os.environ if k.startswith("AWS_LAMBDA_LOG_")),
    }
"""


@pytest.fixture
def lam(daemon: Daemon) -> Any:
    return daemon.lambda_client()


def create_snap_function(lam: Any, code: str = CODE, **settings: Any) -> str:
    """A python3.11 function with SnapStart on published versions; its name."""
    name = f"snap-{uuid.uuid4().hex[:10]}"
    lam.create_function(
        FunctionName=name,
        Role=ROLE,
        Runtime="python3.11",
        Handler="lambda_function.handler",
        Code={"ZipFile": base64.b64decode(make_zip({"lambda_function.py": code}))},
        SnapStart={"ApplyOn": "PublishedVersions"},
        **{"Timeout": 30, **settings},
    )
    return name


@pytest.fixture
def snap_function(lam: Any) -> Iterator[Callable[..., str]]:
    names: list[str] = []

    def create(code: str = CODE, **settings: Any) -> str:
        name = create_snap_function(lam, code, **settings)
        names.append(name)
        return name

    yield create
    for name in names:
        try:
            lam.delete_function(FunctionName=name)
        except lam.exceptions.ResourceNotFoundException:  # the test deleted it
            pass


def invoke(lam: Any, name: str, qualifier: str, event: dict[str, Any]) -> tuple[Any, str]:
    resp = lam.invoke(
        FunctionName=name, Qualifier=qualifier, Payload=json.dumps(event), LogType="Tail"
    )
    log = base64.b64decode(resp["LogResult"]).decode()
    assert "FunctionError" not in resp, (resp["Payload"].read(), log)
    return json.loads(resp["Payload"].read()), log


def stream_of(daemon: Daemon, name: str, request_id: str) -> str:
    """The log stream an invoke's lines went to (CloudWatch Logs' FilterLogEvents)."""
    found = daemon.logs_client().filter_log_events(
        logGroupName=f"/aws/lambda/{name}", filterPattern=f'"{request_id}"'
    )["events"]
    assert found, request_id
    assert len({e["logStreamName"] for e in found}) == 1, found
    return str(found[0]["logStreamName"])


def report_of(log: str) -> str:
    return next(line for line in log.splitlines() if line.startswith("REPORT"))


def test_environments_of_a_published_version_are_restored_from_its_template(
    daemon: Daemon, lam: Any, snap_function: Callable[..., str]
) -> None:
    name = snap_function()
    version = lam.publish_version(FunctionName=name)["Version"]
    wait_for_template(daemon, name, version)
    # Three at once: three environments, each a clone of the template.
    with ThreadPoolExecutor(3) as pool:
        runs = list(pool.map(lambda _: invoke(lam, name, version, {"sleep": 1}), range(3)))
    for seen, log in runs:
        report = report_of(log)
        assert "Restore Duration: " in report and "Billed Restore Duration: " in report, report
        assert "Init Duration" not in report
        assert seen["init_type"] == "snap-start"
        # before_snapshot hooks in reverse order, once (in the template); after_restore in
        # order, in this environment.
        assert seen["order"] == ["before:second!", "before:first", "after:one", "after:two"]
        assert seen["tmp"] == []  # /tmp starts empty (see the README's caveats)
        assert seen["procs"] == [1, 2] and seen["pid"] == 2
        assert int(seen["status"]["CapEff"], 16) == 0 and int(seen["status"]["CapBnd"], 16) == 0
        assert seen["status"]["NoNewPrivs"] == "1" and seen["status"]["Seccomp"] == "2"
    assert len({s["uuid"] for s, _ in runs}) == 3
    assert len({s["random"] for s, _ in runs}) == 3  # the module's generator was reseeded
    assert len({s["request_id"] for s, _ in runs}) == 3
    assert len({s["uid"] for s, _ in runs}) == 3  # a uid each
    assert len({s["hostname"] for s, _ in runs}) == 3
    # As on Lambda, a SnapStart function has no log group or stream variable; each
    # environment still logs to a stream of its own.
    assert all(s["log_variables"] == [] for s, _ in runs)
    assert len({stream_of(daemon, name, s["request_id"]) for s, _ in runs}) == 3
    # /tmp is each one's own: what one writes, the others do not see (control: the writer).
    with ThreadPoolExecutor(3) as pool:
        events = [{"write": f"f{i}", "sleep": 0.5} for i in range(3)]
        wrote = list(pool.map(lambda event: invoke(lam, name, version, event), events))
    for seen, _ in wrote:
        assert len(seen["tmp"]) == 1, seen["tmp"]


COUNTED = """
import os
CALLS = []
os.environ["GREETING"] = "set by init"  # a clone has the memory init left, this included

def handler(event, context):
    CALLS.append(context.aws_request_id)
    return {"calls": list(CALLS), "variable": os.environ.get("AWS_LAMBDA_LOG_STREAM_NAME"),
            "greeting": os.environ["GREETING"]}
"""


def test_without_after_restore_hooks_the_restore_is_the_first_invoke(
    daemon: Daemon, lam: Any, snap_function: Callable[..., str]
) -> None:
    # The shell's clone was prepared ahead (variables, the runtime's rehearsal): the handler
    # runs for the first time on the first invoke, with this environment's own variables.
    name = snap_function(COUNTED, Environment={"Variables": {"GREETING": "configured"}})
    version = lam.publish_version(FunctionName=name)["Version"]
    assert wait_for_template(daemon, name, version)
    seen, log = invoke(lam, name, version, {})
    assert "Restore Duration: " in report_of(log)
    request_id = report_of(log).split()[2]
    assert seen["calls"] == [request_id]  # never called before (no rehearsal of user code)
    assert seen["variable"] is None  # as on Lambda: a SnapStart function has none
    assert seen["greeting"] == "set by init"  # its environment as init left it, not reset
    logs = daemon.logs_client()
    group = f"/aws/lambda/{name}"
    stream_of(daemon, name, request_id)  # its output went to a stream of its own
    # The next shell is made once that invoke is done: its stream is there, empty.
    assert wait_for_template(daemon, name, version)

    def empty_streams() -> list[str]:
        """Streams without an event, oldest first."""
        found = logs.describe_log_streams(logGroupName=group)["logStreams"]
        found.sort(key=lambda s: s["creationTime"])
        return [s["logStreamName"] for s in found if "lastEventTimestamp" not in s]

    # The template's own (its init printed nothing) and the new shell's, the newest.
    template_stream, shell_stream = empty_streams()
    lam.delete_function(FunctionName=name)  # its template and its unused shell go
    deadline = time.monotonic() + 10
    while shell_stream in empty_streams() and time.monotonic() < deadline:
        time.sleep(0.1)
    # An environment that never ran leaves no stream; control: the template's stays, as
    # every environment's does once it ran.
    assert empty_streams() == [template_stream]


def ready_clones(daemon: Daemon) -> list[int]:
    """Host pids of this daemon's clones waiting in their shells (pid 2 of a pid namespace
    nested in a template's, in one of the daemon's cgroups)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/status") as f:
                nspid = next(line for line in f if line.startswith("NSpid:")).split()[1:]
            with open(f"/proc/{entry}/cgroup") as f:
                ours = daemon.cgroup_parent in f.read()
        except (OSError, StopIteration):
            continue
        if ours and len(nspid) == 3 and nspid[-1] == "2":
            found.append(int(entry))
    return found


def test_a_ready_clone_that_died_is_never_handed_to_an_invoke(
    daemon: Daemon, lam: Any, snap_function: Callable[..., str]
) -> None:
    name = snap_function(COUNTED)
    version = lam.publish_version(FunctionName=name)["Version"]
    assert wait_for_template(daemon, name, version)
    (clone,) = ready_clones(daemon)
    os.kill(clone, signal.SIGKILL)  # out of memory, or killed by an operator
    time.sleep(0.5)  # its end is reported
    seen, log = invoke(lam, name, version, {})
    assert "Restore Duration: " in report_of(log)  # a new clone, made on demand
    assert seen["calls"] == [report_of(log).split()[2]]


def test_latest_never_uses_a_template(
    daemon: Daemon, lam: Any, snap_function: Callable[..., str]
) -> None:
    name = snap_function()
    version = lam.publish_version(FunctionName=name)["Version"]
    wait_for_template(daemon, name, version)
    seen, log = invoke(lam, name, "$LATEST", {})
    assert "Init Duration: " in report_of(log)
    assert "Restore Duration" not in log
    assert seen["init_type"] == "on-demand"
    assert seen["order"] == []  # no hook ran: nothing was snapshotted or restored
    assert seen["tmp"] == ["written-during-init"]  # control: an ordinary init's /tmp


def test_memory_limits_apply_to_each_restored_environment(
    daemon: Daemon, lam: Any, snap_function: Callable[..., str]
) -> None:
    name = snap_function(MemorySize=128)
    version = lam.publish_version(FunctionName=name)["Version"]
    wait_for_template(daemon, name, version)
    _, log = invoke(lam, name, version, {"allocate_mb": 32})  # control: within the limit
    assert "Restore Duration" in log
    resp = lam.invoke(
        FunctionName=name, Qualifier=version, Payload=json.dumps({"allocate_mb": 256})
    )
    assert resp["FunctionError"] == "Unhandled"
    assert json.loads(resp["Payload"].read())["errorType"] == "Runtime.OutOfMemory"


def test_a_failing_after_restore_hook_is_a_snapstart_exception(
    daemon: Daemon, lam: Any, snap_function: Callable[..., str]
) -> None:
    code = (
        "from snapshot_restore_py import register_after_restore\n"
        "@register_after_restore\n"
        "def broken():\n"
        "    raise ValueError('no connection')\n"
        "def handler(event, context):\n"
        "    return 'never'\n"
    )
    name = snap_function(code)
    version = lam.publish_version(FunctionName=name)["Version"]
    wait_for_template(daemon, name, version)
    with pytest.raises(lam.exceptions.ClientError) as err:
        lam.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")
    assert err.value.response["Error"]["Code"] == "SnapStartException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 400


def test_a_restart_rebuilds_the_templates(
    daemon_factory: Callable[[], Daemon],
) -> None:
    daemon = daemon_factory()
    daemon.start()
    try:
        lam = daemon.lambda_client()
        name = create_snap_function(lam)
        version = lam.publish_version(FunctionName=name)["Version"]
        wait_for_template(daemon, name, version)
        daemon.stop()
        daemon.start()
        wait_for_template(daemon, name, version)  # rebuilt without any invoke
        _, log = invoke(daemon.lambda_client(), name, version, {})
        assert "Restore Duration" in report_of(log)
    finally:
        daemon.stop()


def test_an_idle_template_is_dropped_and_rebuilt_on_demand(
    daemon_factory: Callable[[], Daemon],
) -> None:
    daemon = daemon_factory()
    daemon.start(keep_warm_s=0.5, sandbox_toml="snapstart_idle_s = 10")
    try:
        lam = daemon.lambda_client()
        name = create_snap_function(lam)
        version = lam.publish_version(FunctionName=name)["Version"]
        assert wait_for_template(daemon, name, version)
        _, log = invoke(lam, name, version, {})
        assert "Restore Duration" in report_of(log)  # control: the template serves

        def has_template() -> bool:
            doc = json.loads(daemon.client.request("GET", "/lambdalet/v1/pool").body)
            return any(t["FunctionName"] == name for t in doc["SnapStart"]["Templates"])

        deadline = time.monotonic() + 30  # 10 s idle, checked every 2.5 s
        while has_template() and time.monotonic() < deadline:
            time.sleep(0.25)
        assert not has_template(), "the idle template was not dropped"
        deadline = time.monotonic() + 10  # and its environment is reaped (keep_warm_s)
        while time.monotonic() < deadline:
            doc = json.loads(daemon.client.request("GET", "/lambdalet/v1/pool").body)
            if doc["Environments"]["Live"] == 0:
                break
            time.sleep(0.1)
        # The next cold start is an ordinary one, and asks for the template again.
        _, log = invoke(lam, name, version, {})
        assert "Init Duration" in report_of(log)
        assert wait_for_template(daemon, name, version)
    finally:
        daemon.stop()


def test_after_restore_hooks_past_10_s_are_a_snapstart_timeout(
    daemon: Daemon, lam: Any, snap_function: Callable[..., str]
) -> None:
    code = (
        "import time\n"
        "from snapshot_restore_py import register_after_restore\n"
        "register_after_restore(time.sleep, 30)\n"
        "def handler(event, context):\n"
        "    return 'never'\n"
    )
    name = snap_function(code)
    version = lam.publish_version(FunctionName=name)["Version"]
    assert wait_for_template(daemon, name, version)
    started = time.monotonic()
    with pytest.raises(lam.exceptions.ClientError) as err:
        lam.invoke(FunctionName=name, Qualifier=version, Payload=b"{}")
    assert err.value.response["Error"]["Code"] == "SnapStartTimeoutException"
    assert err.value.response["ResponseMetadata"]["HTTPStatusCode"] == 408
    assert 9 < time.monotonic() - started < 25


def test_a_template_dropped_while_it_is_built_leaves_the_daemon_serving(
    daemon: Daemon, lam: Any
) -> None:
    # Publish, then delete the function while its template is being built, at several
    # points of the build; the daemon must go on (a build step used to crash it).
    for delay_s in (0.0, 0.05, 0.1, 0.2, 0.4):
        name = create_snap_function(lam)
        lam.publish_version(FunctionName=name)
        time.sleep(delay_s)
        lam.delete_function(FunctionName=name)
    time.sleep(1.0)  # the builds notice
    name = create_snap_function(lam)  # control: the daemon still builds and restores
    try:
        version = lam.publish_version(FunctionName=name)["Version"]
        assert wait_for_template(daemon, name, version)
        _, log = invoke(lam, name, version, {})
        assert "Restore Duration" in report_of(log)
        doc = json.loads(daemon.client.request("GET", "/lambdalet/v1/pool").body)
        names = {t["FunctionName"] for t in doc["SnapStart"]["Templates"]}
        assert names <= {name}  # nothing left of the deleted functions' templates
    finally:
        lam.delete_function(FunctionName=name)
