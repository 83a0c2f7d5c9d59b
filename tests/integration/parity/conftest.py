"""Fixtures for replaying calls whose real-AWS answers are on record.

`parity("test_lambda_api::TestLambdaAlias::test_alias_naming")` gives a `Scenario`: its `call`
makes one boto3 call against the daemon and compares the answer with the one AWS gave under
that label (`recorded/*.json`, written by `record.py`). `maker` creates functions the way the
recordings' fixture did (same defaults), on this host's Python.

Set ``LAMBDALET_PARITY_REPORT=/path/report.jsonl`` to record every comparison there instead of
failing on the first difference: that is how the before/after figures are counted.
"""

from __future__ import annotations

import base64
import fnmatch
import json
import os
import uuid
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import botocore.exceptions
import pytest

from engine.shapes.model import load_service
from tests.integration.conftest import (
    ACCESS_KEY_ID,
    ROLE,
    SECRET_ACCESS_KEY,
    Daemon,
    make_zip,
)
from tests.integration.parity.compare import RECORDED_ACCOUNT, Answer, Bindings, compare
from tests.integration.parity.kept import KEPT, KNOWN_DIFFERENCES, PROVISIONING_RACE

HERE = Path(__file__).parent
REPORT = os.environ.get("LAMBDALET_PARITY_REPORT")
# The recordings ran python3.12, which this host's catalogue may lack; scenarios create their
# functions on python3.11 and compare as if the recording had.
RECORDED_RUNTIME = "python3.12"
RUNTIME = "python3.11"
HANDLER_CODE = "def handler(event, context):\n    return event\n"
# Shapes whose pattern the model changed after the recording: shape -> (recorded, model).
MODEL_NEWER_THAN_RECORDING: dict[str, tuple[str, str]] = {}


def _load_recorded() -> dict[str, Any]:
    tests: dict[str, Any] = {}
    for path in sorted((HERE / "recorded").glob("*.json")):
        tests.update(json.loads(path.read_text())["tests"])
    return tests


_RECORDED = _load_recorded()


def known_difference(scenario: str, label: str) -> str | None:
    """The reason this answer differs from AWS's on purpose, if it does (kept.py)."""
    for scenario_glob, label_glob, reason in KNOWN_DIFFERENCES:
        if fnmatch.fnmatchcase(scenario, scenario_glob) and fnmatch.fnmatchcase(label, label_glob):
            return reason
    return None


def _swap_whole(value: Any, old: str, new: str) -> Any:
    """`value` with every string that is exactly `old` read as `new`."""
    if isinstance(value, dict):
        return {k: _swap_whole(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap_whole(v, old, new) for v in value]
    return new if value == old else value


def _swap(value: Any, old: str, new: str) -> Any:
    if isinstance(value, dict):
        return {k: _swap(v, old, new) for k, v in value.items()}
    if isinstance(value, list):
        return [_swap(v, old, new) for v in value]
    if isinstance(value, str):
        return value.replace(old, new)
    return value


class Scenario:
    """One recorded test's calls, replayed: each `call` compared with AWS's answer."""

    def __init__(self, key: str, node: str, account: str) -> None:
        if key not in _RECORDED:
            raise LookupError(f"{key} is not recorded; run tests/integration/parity/record.py")
        self.key = key
        self.node = node
        self.account = account
        self.answers: dict[str, Any] = _RECORDED[key]["answers"]
        self.bindings = Bindings()
        self.replacements: dict[str, str] = {}
        self.swap_runtime = True
        self.kept: dict[str, str] = {}

    def verbatim_runtime(self) -> None:
        """Compare python3.12 as python3.12: the scenario sent it itself (a layer's compatible
        runtimes), rather than creating a function that runs it."""
        self.swap_runtime = False

    def newer_model_pattern(self, recorded: str, shape: str) -> None:
        """The recording printed `recorded` as `shape`'s pattern; the service model this engine
        ships (botocore's, the authority for constraints) has changed it since. Compare as if
        AWS had printed the model's pattern; the README lists each such change."""
        pattern = load_service("lambda").shape(shape).pattern
        assert pattern is not None and pattern != recorded, f"{shape}: nothing newer to read"
        MODEL_NEWER_THAN_RECORDING[shape] = (recorded, pattern)
        self.replace(recorded, pattern)

    def replace(self, old: str, new: str) -> None:
        """Read `old` as `new` in the recorded answers (a value this host must differ in)."""
        self.replacements[old] = new

    def call(
        self,
        label: str,
        method: Callable[..., Any],
        /,
        **kwargs: Any,
    ) -> dict[str, Any]:
        """Make the call; compare its answer with AWS's under `label`; return boto3's dict
        (for an error, `ClientError.response`)."""
        try:
            response: dict[str, Any] = method(**kwargs)
        except botocore.exceptions.ClientError as exc:
            response = dict(exc.response)
        self.expect(label, response)
        return response

    def call_while_provisioning(
        self, label: str, method: Callable[..., Any], /, **kwargs: Any
    ) -> dict[str, Any]:
        """`call`, for a provisioned-concurrency answer taken while environments are being
        made: its progress fields are not compared (`kept.PROVISIONING_RACE`)."""
        saved = dict(self.kept)
        self.kept.update(PROVISIONING_RACE)
        try:
            return self.call(label, method, **kwargs)
        finally:
            self.kept = saved

    def expect_raw(self, label: str, value: Any) -> None:
        """Compare a value the scenario computed from its answers, as the recording did."""
        recorded = self._recorded(label)
        if "raw" not in recorded:
            raise LookupError(f"{self.key} / {label} is an answer; use expect or call")
        body = self._replaced(recorded["raw"])
        value = _swap(value, self.account, RECORDED_ACCOUNT)
        diffs = compare(
            Answer(0, {"value": body}), Answer(0, {"value": value}), bindings=self.bindings
        )
        self._report(label, diffs)

    def _recorded(self, label: str) -> dict[str, Any]:
        if label not in self.answers:
            raise LookupError(f"{self.key} has no recorded answer {label!r}")
        recorded: dict[str, Any] = self.answers[label]
        return recorded

    def _replaced(self, body: Any) -> Any:
        # A Runtime value, not the name inside a text (AWS's messages list both runtimes).
        if self.swap_runtime:
            body = _swap_whole(body, RECORDED_RUNTIME, RUNTIME)
        for old, new in self.replacements.items():
            body = _swap(body, old, new)
        return body

    def _report(self, label: str, diffs: list[str]) -> None:
        known = known_difference(self.key, label)
        if REPORT:
            line = {
                "scenario": self.key,
                "label": label,
                "node": self.node,
                "diffs": diffs,
                "kept": known,
            }
            with open(REPORT, "a") as out:
                out.write(json.dumps(line) + "\n")
            return
        if known is not None:
            assert diffs, (
                f"{self.key} / {label} is now identical to AWS's answer: remove it from "
                f"kept.KNOWN_DIFFERENCES ({known})"
            )
            return
        assert not diffs, f"{self.key} / {label} differs from AWS:\n  " + "\n  ".join(diffs)

    def keep(self, path: str, reason: str) -> None:
        """Answer differently from AWS at `path` (``*`` for any one level) in this scenario's
        later comparisons, for `reason` (say it in the README's compatibility notes too)."""
        self.kept[path] = reason

    def expect(self, label: str, response: Mapping[str, Any]) -> None:
        """Compare an answer boto3 gave (a response dict or `ClientError.response`)."""
        recorded = self._recorded(label)
        if "raw" in recorded:
            raise LookupError(f"{self.key} / {label} is a computed value; use expect_raw")
        body = self._replaced(recorded["body"])
        meta = response.get("ResponseMetadata", {})
        actual_body = {k: v for k, v in response.items() if k != "ResponseMetadata"}
        actual_body = _swap(actual_body, self.account, RECORDED_ACCOUNT)
        if hasattr(actual_body.get("Payload"), "read"):
            actual_body["Payload"] = actual_body["Payload"].read().decode()
        diffs = compare(
            Answer(recorded["status"], body),
            Answer(meta.get("HTTPStatusCode", 0), actual_body),
            bindings=self.bindings,
            kept={**KEPT, **self.kept},
        )
        headers = meta.get("HTTPHeaders", {})
        if not headers.get("x-amzn-requestid") or not meta.get("RequestId"):
            diffs.append("header x-amzn-RequestId: missing (AWS sends one on every answer)")
        self._report(label, diffs)


@pytest.fixture(scope="module")
def lam(daemon: Daemon) -> Any:
    return daemon.lambda_client()


@pytest.fixture
def parity(request: pytest.FixtureRequest, daemon: Daemon) -> Callable[[str], Scenario]:
    account = "000000000000"

    def make(key: str) -> Scenario:
        return Scenario(key, request.node.nodeid, account)

    return make


def short_uid() -> str:
    """8 hex characters: LocalStack's `short_uid`, for names a scenario makes itself."""
    return uuid.uuid4().hex[:8]


def unvalidated_client(lam: Any) -> Any:
    """A client like `lam` that sends what it is given (botocore's
    `parameter_validation=False`), as the recordings' tests did to see the service's own
    validation errors."""
    import boto3
    import botocore.config

    return boto3.client(
        "lambda",
        endpoint_url=lam.meta.endpoint_url,
        region_name=lam.meta.region_name,
        aws_access_key_id=ACCESS_KEY_ID,
        aws_secret_access_key=SECRET_ACCESS_KEY,
        config=botocore.config.Config(
            retries={"max_attempts": 0}, read_timeout=60, parameter_validation=False
        ),
    )


class Maker:
    """Creates functions (and layers) the way the recordings' fixtures did; deletes them
    afterwards."""

    def __init__(self, lam: Any) -> None:
        self.lam = lam
        self.functions: list[str] = []
        self.layers: list[tuple[str, int]] = []

    @staticmethod
    def name(prefix: str = "fn") -> str:
        return f"{prefix}-{uuid.uuid4().hex[:10]}"

    @staticmethod
    def zip(code: str = HANDLER_CODE, filename: str = "handler.py") -> bytes:
        return base64.b64decode(make_zip({filename: code}))

    def function_args(self, name: str | None = None, **settings: Any) -> dict[str, Any]:
        """CreateFunction's arguments as LocalStack's `create_lambda_function` sends them."""
        args: dict[str, Any] = {
            "FunctionName": name or self.name(),
            "Runtime": RUNTIME,
            "Handler": "handler.handler",
            "Role": ROLE,
            "Code": {"ZipFile": self.zip()},
            "Timeout": 30,
            "Environment": {"Variables": {}},
            "Tags": {},
        }
        args.update(settings)
        return args

    def function(self, name: str | None = None, **settings: Any) -> dict[str, Any]:
        args = self.function_args(name, **settings)
        self.functions.append(args["FunctionName"])
        response: dict[str, Any] = self.lam.create_function(**args)
        return response

    def track(self, name: str) -> None:
        """Delete `name` afterwards (a function a scenario created itself)."""
        self.functions.append(name)

    def track_layer(self, name: str, version: int) -> None:
        self.layers.append((name, version))

    def cleanup(self) -> None:
        for name in self.functions:
            try:
                self.lam.delete_function(FunctionName=name)
            except botocore.exceptions.ClientError:
                pass
        for name, version in self.layers:
            try:
                self.lam.delete_layer_version(LayerName=name, VersionNumber=version)
            except botocore.exceptions.ClientError:
                pass


@pytest.fixture
def maker(lam: Any) -> Iterator[Maker]:
    made = Maker(lam)
    yield made
    made.cleanup()
