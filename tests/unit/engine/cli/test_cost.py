"""`lambdalet cost`: the request it sends the daemon, and its table of the answer."""

from __future__ import annotations

import json
from typing import Any

import pytest

from engine.cli.cost import render
from tests.unit.engine.cli.test_lambda_commands import FakeLambda, lambdalet
from tests.unit.engine.cli.test_lambda_commands import fake as fake  # the fixture

DOC: dict[str, Any] = {
    "Since": "2026-03-01T00:00:00Z",
    "Until": "2026-03-15T12:30:45.000Z",
    "Functions": [
        {
            "FunctionName": "hello",
            "Qualifier": "$LATEST",
            "Architecture": "x86_64",
            "MemorySize": 128,
            "Requests": 1234,
            "GBSeconds": 1.5,
            "ProvisionedConcurrencyGBSeconds": 0.0,
            "ProvisionedDurationGBSeconds": 0.0,
            "SnapStartCacheGBSeconds": 0.0,
            "SnapStartRestores": 0,
            "Cost": {"Total": 0.0002647},
        },
        {
            "FunctionName": "api",
            "Qualifier": "live",
            "Architecture": "arm64",
            "MemorySize": 1024,
            "Requests": 10,
            "GBSeconds": 0.0,
            "ProvisionedConcurrencyGBSeconds": 7200.0,
            "ProvisionedDurationGBSeconds": 2.25,
            "SnapStartCacheGBSeconds": 0.0,
            "SnapStartRestores": 0,
            "Cost": {"Total": 0.024},
        },
        {
            "FunctionName": "snappy",
            "Qualifier": "3",
            "Architecture": "x86_64",
            "MemorySize": 512,
            "Requests": 4,
            "GBSeconds": 0.002,
            "ProvisionedConcurrencyGBSeconds": 0.0,
            "ProvisionedDurationGBSeconds": 0.0,
            "SnapStartCacheGBSeconds": 5400.0,
            "SnapStartRestores": 2,
            "Cost": {"Total": 0.0082655},
        },
    ],
    "Total": {
        "Requests": 1244,
        "GBSeconds": 1.5,
        "ProvisionedConcurrencyGBSeconds": 7200.0,
        "ProvisionedDurationGBSeconds": 2.25,
        "SnapStartCacheGBSeconds": 5400.0,
        "SnapStartRestoredGB": 1.0,
        "CostBeforeFreeTier": 0.0325302,
        "Cost": 0.0324655,
    },
    "FreeTier": {"Enabled": True, "Applied": True, "Requests": 1244, "GBSeconds": 1.5,
                 "Credit": 0.0000647},
}  # fmt: skip


def test_the_table_has_a_row_per_function_and_a_total_line() -> None:
    lines = render(DOC).splitlines()
    assert lines[0] == "usage from 2026-03-01T00:00:00Z to 2026-03-15T12:30:45.000Z"
    assert lines[1].split() == [
        "FUNCTION", "QUALIFIER", "ARCH", "MEMORY", "REQUESTS", "GB-S", "PROV", "GB-S",
        "PROV", "INVOKE", "GB-S", "SNAPSHOT", "GB-S", "RESTORES", "COST", "(USD)",
    ]  # fmt: skip
    assert lines[2].split() == [
        "hello", "$LATEST", "x86_64", "128", "MB", "1,234", "1.500", "0.000", "0.000", "0.000",
        "0", "0.000265",
    ]  # fmt: skip
    assert lines[3].split() == [
        "api", "live", "arm64", "1024", "MB", "10", "0.000", "7,200.000", "2.250", "0.000", "0",
        "0.024000",
    ]  # fmt: skip
    assert lines[4].split() == [
        "snappy", "3", "x86_64", "512", "MB", "4", "0.002", "0.000", "0.000", "5,400.000", "2",
        "0.008266",
    ]  # fmt: skip
    assert lines[5].split() == [
        "free", "tier", "-1,244", "-1.500", "-0.000065",
    ]  # fmt: skip
    assert set(lines[6].replace(" ", "")) == {"-"}
    assert lines[7].split() == [
        "TOTAL", "1,244", "1.500", "7,200.000", "2.250", "5,400.000", "2", "0.032466",
    ]  # fmt: skip
    # columns line up: every row is as wide as the header's columns
    assert lines[2].index("1,234") + len("1,234") == lines[1].index("REQUESTS") + len("REQUESTS")


def test_a_free_tier_not_applied_says_why() -> None:
    doc = {
        **DOC,
        "Functions": [],
        "FreeTier": {"Enabled": True, "Applied": False, "Reason": "because"},
    }
    assert render(doc).splitlines()[-1] == "free tier: because"


@pytest.mark.parametrize(
    ("argv", "query"),
    [
        ([], []),
        (["--since", "24h"], [("since", "24h")]),
        (
            ["--since", "2026-03-01T00:00:00+02:00", "--until", "1h", "--function", "f:live"],
            [("since", "2026-03-01T00:00:00+02:00"), ("until", "1h"), ("function", "f:live")],
        ),
    ],
)
def test_the_request_carries_the_window_and_the_function(
    fake: FakeLambda, argv: list[str], query: list[tuple[str, str]], capsys: Any
) -> None:
    fake.answers.append((200, {}, DOC))
    assert lambdalet(fake, ["cost", "--json", *argv]) == 0
    (seen,) = fake.seen
    assert (seen.method, seen.path, seen.query) == ("GET", "/lambdalet/v1/usage", query)
    assert json.loads(capsys.readouterr().out) == DOC


def test_a_refusal_is_printed_and_fails(fake: FakeLambda, capsys: Any) -> None:
    message = "The parameter since must be less than the parameter until."
    fake.answers.append(
        (400, {"x-amzn-ErrorType": "InvalidParameterValueException"}, {"message": message})
    )
    assert lambdalet(fake, ["cost", "--since", "1h", "--until", "2h"]) == 1
    assert capsys.readouterr().err == f"lambdalet: InvalidParameterValueException: {message}\n"
