"""The Python runtime's snap-start mode, driven over a socketpair as the daemon drives it: the
bootstrap runs in a child interpreter; "clones" of a template are forks made after its
TemplateReady without Python's at-fork handlers (libc's fork(), as the kernel-level clone
runs none), each resuming on its own fresh stream."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from sandbox.protocol import (
    AFTER_RESTORE_ERROR,
    BEFORE_SNAPSHOT_ERROR,
    EXIT_AFTER_RESTORE_ERROR,
    EXIT_BEFORE_SNAPSHOT_ERROR,
    Closed,
    Connection,
    InitError,
    Invoke,
    Log,
    Message,
    NeedData,
    Prepare,
    Prepared,
    Ready,
    Response,
    Restore,
    RestoreError,
    TemplateReady,
)

# The child: the runtime as a stem would run it, the handler's directory standing for
# /var/task. With clone fds, a template forks one clone per fd once TemplateReady has gone out
# and waits for them (what the sandbox layer does in the kernel: no Python code in between),
# each clone's own stream put on the runtime's descriptor number.
HARNESS = textwrap.dedent(
    """
    import ctypes, json, os, sys
    import sandbox.runtimes.python.snapstart as snapstart
    from sandbox.protocol import TemplateReady
    from sandbox.runtimes.python import bootstrap

    fd, task, handler = int(sys.argv[1]), sys.argv[2], sys.argv[3]
    clones, options = sys.argv[4], sys.argv[5]
    clone_fds = [int(fd) for fd in clones.split(",") if fd]
    if "timeout" in options:
        bootstrap.AFTER_RESTORE_TIMEOUT_S = 0.3
    if "no-reseed" in options:
        snapstart.make_unique_again = lambda: None
    bootstrap.preload(snapstart="exec" not in options)  # as main_exec() does for "exec"
    bootstrap._SANDBOX_PATH[:] = [task]
    bootstrap.prepare_stem()
    libc_fork = ctypes.CDLL(None, use_errno=True).fork

    send = bootstrap._Channel.send

    def clone_after_template_ready(self, msg):
        send(self, msg)
        if not isinstance(msg, TemplateReady) or not clone_fds:
            return
        pids = []
        for clone in clone_fds:
            pid = libc_fork()
            if pid == 0:
                os.dup2(clone, fd)
                for other in clone_fds:
                    os.close(other)
                return
            pids.append(pid)
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in pids]
        os.write(2, ("clone exit codes: " + json.dumps(codes) + "\\n").encode())
        os._exit(0)

    bootstrap._Channel.send = clone_after_template_ready
    bootstrap.run(fd, handler=handler)
    """
)


@dataclass
class Peer:
    """The daemon's end of one runtime stream."""

    sock: socket.socket
    conn: Connection = field(default_factory=Connection)
    logs: list[str] = field(default_factory=list)

    def send(self, msg: Message) -> None:
        self.sock.sendall(self.conn.send(msg))

    def recv(self) -> Message | Closed:
        """The next message that is not output (output is kept in `logs`)."""
        while True:
            event = self.conn.next_event()
            if isinstance(event, NeedData):
                self.conn.receive_data(self.sock.recv(65536))
            elif isinstance(event, Log):
                self.logs.append(event.data.decode())
            else:
                return event

    def output(self) -> str:
        return "".join(self.logs)


@dataclass
class Runtime:
    proc: subprocess.Popen[bytes]
    template: Peer
    clones: list[Peer]

    def wait(self) -> int:
        return self.proc.wait(timeout=30)

    def stderr(self) -> str:
        assert self.proc.stderr is not None
        return self.proc.stderr.read().decode()


@pytest.fixture
def start(tmp_path: Path) -> Iterator[object]:
    started: list[Runtime] = []

    def run(source: str, *, clones: int = 0, options: str = "", snap_start: bool = True) -> Runtime:
        (tmp_path / "app.py").write_text(textwrap.dedent(source))
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        pairs = [socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM) for _ in range(clones)]
        env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
        env["AWS_LAMBDA_LOG_STREAM_NAME"] = "template-stream"
        env["GONE"] = "template only"
        if snap_start:
            env["AWS_LAMBDA_INITIALIZATION_TYPE"] = "snap-start"
        clone_fds = [theirs_.fileno() for _, theirs_ in pairs]
        argv = [sys.executable, "-c", HARNESS, str(theirs.fileno()), str(tmp_path), "app.handler"]
        argv += [",".join(map(str, clone_fds)), options]
        proc = subprocess.Popen(
            argv, env=env, pass_fds=[theirs.fileno(), *clone_fds], stderr=subprocess.PIPE
        )
        theirs.close()
        for _, theirs_ in pairs:
            theirs_.close()
        runtime = Runtime(proc=proc, template=Peer(ours), clones=[Peer(o) for o, _ in pairs])
        started.append(runtime)
        return runtime

    yield run
    for runtime in started:
        if runtime.proc.poll() is None:
            runtime.proc.kill()
            runtime.proc.wait()
        for peer in (runtime.template, *runtime.clones):
            peer.sock.close()
        if runtime.proc.stderr is not None:
            runtime.proc.stderr.close()


def invoke(peer: Peer, request_id: str = "r-1") -> object:
    peer.send(
        Invoke(
            request_id=request_id,
            deadline_ms=int(time.time() * 1000) + 10_000,
            invoked_function_arn="arn:aws:lambda:us-east-1:000000000000:function:f",
            payload=b"{}",
        )
    )
    answer = peer.recv()
    assert isinstance(answer, Response), answer
    return json.loads(answer.payload)


HOOKS = """
    import os, threading
    from snapshot_restore_py import register_after_restore, register_before_snapshot

    stopped = threading.Event()
    threading.Thread(target=stopped.wait, daemon=True).start()  # does not survive a clone

    @register_before_snapshot
    def first_before():
        print("before: first registered")

    def second_before(x, *, y):
        print(f"before: second registered {x} {y}")

    register_before_snapshot(second_before, 1, y=2)

    @register_after_restore
    def first_after():
        print("after: first registered", os.environ["AWS_LAMBDA_LOG_STREAM_NAME"])

    register_after_restore(lambda *a, **k: print("after: second registered", a, k), "p", k="v")

    def handler(event, context):
        return {
            "stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"],
            "gone": os.environ.get("GONE"),
            "decorated": first_before.__name__,
            "log_stream_name": context.log_stream_name,
        }
"""


@pytest.mark.parametrize("options", ["", "exec"], ids=["in-process", "exec'd"])
def test_template_runs_before_snapshot_hooks_in_reverse_then_restores_in_order(  # type: ignore[no-untyped-def]
    start, options: str
) -> None:
    rt = start(HOOKS, options=options)
    ready = rt.template.recv()
    assert ready == TemplateReady(threads=2)
    assert rt.template.output() == (
        "before: second registered 1 2\nbefore: first registered\n"  # reverse order
    )
    rt.template.logs.clear()
    rt.template.send(Restore(env={"AWS_LAMBDA_LOG_STREAM_NAME": "s-1"}, unset_env=["GONE"]))
    assert rt.template.recv() == Ready()
    assert rt.template.output() == (
        "after: first registered s-1\nafter: second registered ('p',) {'k': 'v'}\n"
    )
    assert invoke(rt.template) == {
        "stream": "s-1",
        "gone": None,
        "decorated": "first_before",  # a decorator hands the function back
        "log_stream_name": "s-1",
    }
    rt.template.sock.shutdown(socket.SHUT_WR)
    assert rt.wait() == 0


def test_prepare_takes_the_variables_and_runs_no_hook_until_the_restore(start) -> None:  # type: ignore[no-untyped-def]
    rt = start(HOOKS)
    assert isinstance(rt.template.recv(), TemplateReady)
    rt.template.logs.clear()
    rt.template.send(Prepare(env={"AWS_LAMBDA_LOG_STREAM_NAME": "s-2"}, unset_env=["GONE"]))
    assert rt.template.recv() == Prepared(ready=False)  # hooks are registered: a Restore runs them
    assert rt.template.output() == ""  # no function code ran, the rehearsal printed nothing
    rt.template.send(Restore())
    assert rt.template.recv() == Ready()
    assert rt.template.output() == (
        "after: first registered s-2\nafter: second registered ('p',) {'k': 'v'}\n"
    )
    assert invoke(rt.template) == {
        "stream": "s-2",
        "gone": None,
        "decorated": "first_before",
        "log_stream_name": "s-2",
    }
    rt.template.sock.shutdown(socket.SHUT_WR)
    assert rt.wait() == 0


COUNTED = """
    import os
    calls = []

    def handler(event, context):
        calls.append(context.aws_request_id)
        return {"calls": calls, "stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"]}
"""


def test_a_clone_with_no_after_restore_hook_is_ready_once_prepared(start) -> None:  # type: ignore[no-untyped-def]
    rt = start(COUNTED)
    assert isinstance(rt.template.recv(), TemplateReady)
    rt.template.send(Prepare(env={"AWS_LAMBDA_LOG_STREAM_NAME": "s-3"}))
    assert rt.template.recv() == Prepared(ready=True)
    # The restore is the first invoke: no Restore, no Ready; the rehearsal never called the
    # function's handler.
    assert invoke(rt.template, "r-1") == {"calls": ["r-1"], "stream": "s-3"}
    assert invoke(rt.template, "r-2") == {"calls": ["r-1", "r-2"], "stream": "s-3"}
    rt.template.sock.shutdown(socket.SHUT_WR)
    assert rt.wait() == 0


def test_without_snap_start_hooks_never_run_and_ready_comes_at_once(start) -> None:  # type: ignore[no-untyped-def]
    rt = start(HOOKS, snap_start=False)
    assert rt.template.recv() == Ready()
    assert invoke(rt.template)["stream"] == "template-stream"  # type: ignore[index]
    assert rt.template.output() == ""


def test_a_vendored_snapshot_restore_py_is_not_the_one_imported(start, tmp_path: Path) -> None:  # type: ignore[no-untyped-def]
    (tmp_path / "snapshot_restore_py.py").write_text("raise ImportError('vendored copy')\n")
    rt = start(HOOKS)
    assert isinstance(rt.template.recv(), TemplateReady)


def test_a_failing_before_snapshot_hook_is_an_init_error_and_exit_64(start) -> None:  # type: ignore[no-untyped-def]
    rt = start(
        """
        from snapshot_restore_py import register_before_snapshot

        @register_before_snapshot
        def close_pool():
            raise ValueError("pool busy")

        def handler(event, context):
            return 1
        """
    )
    failed = rt.template.recv()
    assert isinstance(failed, InitError)
    assert failed.error.error_type == BEFORE_SNAPSHOT_ERROR
    assert failed.error.error_message == "pool busy"
    (frame,) = failed.error.stack_trace
    assert "app.py" in frame and "close_pool" in frame
    assert failed.body is not None
    # awslambdaric's document: the exception's class; the report's type says which phase.
    assert json.loads(failed.body) == {
        "errorMessage": "pool busy",
        "errorType": "ValueError",
        "requestId": "",
        "stackTrace": [frame],
    }
    assert rt.template.output().startswith(
        "[ERROR] ValueError: pool busy\nTraceback (most recent call last):\n"
    )
    assert rt.template.recv() == Closed()
    assert rt.wait() == EXIT_BEFORE_SNAPSHOT_ERROR


def test_a_failing_after_restore_hook_is_a_restore_error_and_exit_65(start) -> None:  # type: ignore[no-untyped-def]
    rt = start(
        """
        from snapshot_restore_py import register_after_restore

        def reconnect(where):
            raise KeyError(where)

        register_after_restore(reconnect, "db")
        register_after_restore(print, "never reached")

        def handler(event, context):
            return 1
        """
    )
    assert isinstance(rt.template.recv(), TemplateReady)
    rt.template.send(Restore())
    failed = rt.template.recv()
    assert isinstance(failed, RestoreError)
    assert failed.error.error_type == AFTER_RESTORE_ERROR
    assert failed.error.error_message == "'db'"
    assert not failed.timed_out
    assert failed.body is not None and json.loads(failed.body)["errorType"] == "KeyError"
    assert "never reached" not in rt.template.output()
    assert rt.template.output().startswith("[ERROR] KeyError: 'db'\n")
    assert rt.wait() == EXIT_AFTER_RESTORE_ERROR


def test_after_restore_hooks_past_the_limit_are_interrupted(start) -> None:  # type: ignore[no-untyped-def]
    rt = start(
        """
        import time
        from snapshot_restore_py import register_after_restore

        @register_after_restore
        def warm_caches():
            try:
                time.sleep(30)
            except Exception:  # does not swallow the interruption
                pass

        def handler(event, context):
            return 1
        """,
        options="timeout",  # the limit at 0.3 s instead of 10
    )
    assert isinstance(rt.template.recv(), TemplateReady)
    began = time.monotonic()
    rt.template.send(Restore())
    failed = rt.template.recv()
    assert time.monotonic() - began < 5
    assert isinstance(failed, RestoreError) and failed.timed_out
    assert failed.error.error_type == AFTER_RESTORE_ERROR
    assert "did not finish within 10 seconds" in failed.error.error_message
    assert any("warm_caches" in frame for frame in failed.error.stack_trace)
    assert rt.wait() == EXIT_AFTER_RESTORE_ERROR


UNIQUE = """
    import os, random, tempfile, uuid

    random.random()  # the generator's state is part of the snapshot
    uuid.uuid1()  # and so are uuid's node and libuuid's clock sequence
    next(tempfile._get_candidate_names())

    def handler(event, context):
        return {
            "random": random.random(),
            "uuid4": str(uuid.uuid4()),
            "uuid1": str(uuid.uuid1()),
            "stream": os.environ["AWS_LAMBDA_LOG_STREAM_NAME"],
        }
"""


def restore_clones(rt: Runtime, *, prepared: bool = False) -> list[dict[str, str]]:
    """Each clone restored (with its variables), or prepared (with them) then invoked at
    once, as the daemon does with a function that registered no after-restore hook."""
    assert isinstance(rt.template.recv(), TemplateReady)
    results = []
    for n, clone in enumerate(rt.clones):
        variables = {"AWS_LAMBDA_LOG_STREAM_NAME": f"clone-{n}"}
        if prepared:
            clone.send(Prepare(env=variables))
            assert clone.recv() == Prepared(ready=True)
        else:
            clone.send(Restore(env=variables))
            assert clone.recv() == Ready()
        results.append(invoke(clone, f"r-{n}"))
        clone.sock.shutdown(socket.SHUT_WR)
    assert rt.wait() == 0
    assert "clone exit codes: [0, 0]" in rt.stderr()
    return results  # type: ignore[return-value]


@pytest.mark.parametrize("prepared", [False, True], ids=["restored", "prepared"])
def test_each_clone_draws_its_own_random_numbers_and_uuids(start, prepared: bool) -> None:  # type: ignore[no-untyped-def]
    first, second = restore_clones(start(UNIQUE, clones=2), prepared=prepared)
    assert (first["stream"], second["stream"]) == ("clone-0", "clone-1")
    assert first["random"] != second["random"]
    assert first["uuid4"] != second["uuid4"]
    assert first["uuid1"] != second["uuid1"]


def test_without_the_reseed_the_clones_would_draw_the_same_numbers(start) -> None:  # type: ignore[no-untyped-def]
    # The harness's clones really share the template's state (no at-fork handler ran).
    first, second = restore_clones(start(UNIQUE, clones=2, options="no-reseed"))
    assert first["random"] == second["random"]
    assert first["uuid4"] != second["uuid4"]  # os.urandom: the kernel's, never shared
