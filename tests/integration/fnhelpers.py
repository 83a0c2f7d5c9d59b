"""Helpers shared by the runtime tests: deploy a function of any runtime, read its answers."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.cli.client import HttpResponse
from tests.integration.conftest import FUNCTIONS, ROLE, Daemon, log_of, make_zip

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
TS = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z"
ONE_VCPU_MB = 1769  # CPU quota scales with memory: this much buys a whole CPU


def host_node_runtime() -> str | None:
    """The nodejs<N>.x name the daemon will offer for the host's node, if there is one."""
    node = shutil.which("node", path="/usr/local/bin:/usr/bin:/bin")
    if node is None:
        return None
    out = subprocess.run([node, "--version"], capture_output=True, text=True, check=True)
    m = re.fullmatch(r"v(\d+)\..*", out.stdout.strip())
    return f"nodejs{m.group(1)}.x" if m else None


@dataclass
class Functions:
    """Creates functions on a daemon and deletes them after the test."""

    daemon: Daemon
    made: list[str]

    def create(
        self,
        runtime: str,
        handler: str,
        files: dict[str, str],
        *,
        executable: tuple[str, ...] = (),
        tree: Path | None = None,
        expect: int = 201,
        **settings: Any,
    ) -> str:
        name = f"rt-{uuid.uuid4().hex[:10]}"
        body = {
            "FunctionName": name,
            "Runtime": runtime,
            "Role": ROLE,
            "Handler": handler,
            "Code": {"ZipFile": make_zip(files, executable=executable, tree=tree)},
            **settings,
        }
        resp = self.daemon.client.json_request("POST", FUNCTIONS, body)
        assert resp.status == expect, resp.body[:1000]
        if resp.status == 201:
            self.made.append(name)
        return name if resp.status == 201 else resp.body.decode()

    def stream_logs(self, name: str) -> str:
        """Everything the function's log streams hold (init output included)."""
        directory = self.daemon.state_dir / "logs" / name
        return "".join(p.read_text() for p in sorted(directory.glob("*.log")))

    def invoke(self, name: str, payload: Any = None) -> Invocation:
        resp = self.daemon.invoke(name, {} if payload is None else payload, tail=True)
        assert resp.status == 200, (resp.status, resp.body[:1000])
        return Invocation(resp)


@dataclass
class Invocation:
    resp: HttpResponse

    @property
    def request_id(self) -> str:
        return self.resp.headers["x-amzn-requestid"]

    @property
    def log(self) -> str:
        return log_of(self.resp)

    @property
    def error(self) -> str | None:
        return self.resp.headers.get("x-amz-function-error")

    def ok(self) -> Any:
        assert self.error is None, (self.resp.body[:2000], self.log)
        return self.resp.json()

    def failed(self) -> dict[str, Any]:
        assert self.error == "Unhandled", (self.resp.body[:2000], self.log)
        doc: dict[str, Any] = json.loads(self.resp.body)
        return doc

    def report(self) -> str:
        lines = [line for line in self.log.splitlines() if line.startswith("REPORT RequestId: ")]
        assert len(lines) == 1, self.log
        return lines[0]

    def assert_framed(self, *, cold: bool) -> None:
        """START, END and REPORT lines for this request, Init Duration on a cold start."""
        rid = self.request_id
        lines = self.log.splitlines()
        assert lines[0] == f"START RequestId: {rid} Version: $LATEST", self.log
        assert f"END RequestId: {rid}" in lines, self.log
        report = self.report()
        assert report.startswith(f"REPORT RequestId: {rid}\tDuration: "), report
        assert re.search(r"\tMax Memory Used: \d+ MB", report), report
        assert ("Init Duration: " in report) == cold, report
