"""Write ``recorded/<module>.json``: the answers real AWS gave, for the scenarios we replay.

The answers come from LocalStack's snapshot files, which LocalStack records against real AWS
(``tests/aws/services/lambda_/*.snapshot.json`` in localstack/localstack, and those of its
subfolders). We keep, per test that a scenario module names
(``parity("test_lambda_api::TestLambdaAlias::test_alias_naming")``,
``parity("event_source_mapping/test_lambda_integration_sqs::test_esm_with_not_existing_sqs_queue")``
for a test outside a class), each labelled answer's HTTP status and parsed body, placeholders as
recorded.

    python -m tests.integration.parity.record /path/to/localstack/checkout

Run it after adding a scenario that names a new test, and commit the result; CI never needs
the checkout.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

HERE = Path(__file__).parent
SNAPSHOTS = "tests/aws/services/lambda_"
# `parity("stem::Class::test")`, or `parity(f"stem::Class::test[{…}]")` for every variant of a
# parametrized test; the stem may be in a subfolder (`dir/stem`), the class may be absent.
_NAMED = re.compile(
    r"""parity\(\s*f?["']([A-Za-z0-9_/]+)::(?:([A-Za-z0-9_]+)::)?([A-Za-z0-9_-]+)(\[[^"']*)?["']"""
)


def answers(content: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, value in content.items():
        if isinstance(value, dict) and "CreateFunctionResponse" in value:
            value = value["CreateFunctionResponse"]  # LocalStack's create fixture wraps it
        if not isinstance(value, dict):
            continue  # a client-side (botocore) error: the request never left the client
        if "ResponseMetadata" not in value:
            out[label] = {"raw": value}  # a value the test computed from the answers
            continue
        body = {k: v for k, v in value.items() if k != "ResponseMetadata"}
        out[label] = {"status": value["ResponseMetadata"]["HTTPStatusCode"], "body": body}
    return out


def _snapshot(checkout: Path, path: str) -> str:
    """A file of the checkout: from its work tree, or from HEAD of a bare mirror."""
    if (checkout / path).exists():
        return (checkout / path).read_text()
    shown = subprocess.run(
        ["git", "-C", str(checkout), "show", f"HEAD:{path}"],
        capture_output=True,
        text=True,
        check=True,
    )
    return shown.stdout


def main(checkout: Path) -> None:
    commit = subprocess.run(
        ["git", "-C", str(checkout), "rev-parse", "HEAD"], capture_output=True, text=True
    ).stdout.strip()
    loaded: dict[str, dict[str, Any]] = {}
    for module in sorted(HERE.glob("test_*.py")):
        wanted = sorted(set(_NAMED.findall(module.read_text())))
        if not wanted:
            continue
        recorded: dict[str, Any] = {}
        for stem, cls, test, variant in wanted:
            if stem not in loaded:
                loaded[stem] = json.loads(_snapshot(checkout, f"{SNAPSHOTS}/{stem}.snapshot.json"))
            prefix = f"{SNAPSHOTS}/{stem}.py::{cls + '::' if cls else ''}{test}"
            keys = (
                [prefix] if not variant else [k for k in loaded[stem] if k.startswith(prefix + "[")]
            )
            if not keys or keys[0] not in loaded[stem]:
                sys.exit(f"{module.name}: no recording for {prefix}{variant}")
            for key in keys:
                entry = loaded[stem][key]
                recorded[key.removeprefix(f"{SNAPSHOTS}/").replace(".py::", "::", 1)] = {
                    "recorded_date": entry.get("recorded-date"),
                    "answers": answers(entry["recorded-content"]),
                }
        target = HERE / "recorded" / f"{module.stem.removeprefix('test_')}.json"
        document = {"source": f"localstack/localstack@{commit}", "tests": recorded}
        target.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
        print(f"{target.relative_to(HERE)}: {len(recorded)} tests")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
