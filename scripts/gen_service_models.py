"""Write engine/shapes/data/<service>.json from the installed botocore's service models.

The engine validates requests, shapes errors and routes operations from these files, so their
answers follow the model AWS publishes. A file is botocore's ``service-2.json`` without its
documentation, plus the botocore version it came from. Run after upgrading botocore, and
commit the result:

    /opt/lambdalet/venv/bin/python scripts/gen_service_models.py

``--check`` writes nothing and exits 1 if a committed file is out of date.
"""

from __future__ import annotations

import argparse
import gzip
import json
import sys
from pathlib import Path
from typing import Any

import botocore

ROOT = Path(__file__).resolve().parents[1]
OUTPUT = ROOT / "engine" / "shapes" / "data"
# (botocore's service name, API version) for every service the engine speaks.
SERVICES = (
    ("lambda", "2015-03-31"),
    ("sqs", "2012-11-05"),
    ("kinesis", "2013-12-02"),
    ("scheduler", "2021-06-30"),
    ("logs", "2014-03-28"),
)
# Member order is kept: AWS reports violations in it.
_DROPPED = frozenset(("documentation", "documentationUrl", "examples", "deprecatedMessage"))


def load_service_model(service: str, version: str) -> dict[str, Any]:
    """botocore's service-2.json, from botocore's own data directory (not ~/.aws/models)."""
    folder = Path(botocore.__file__).parent / "data" / service / version
    plain, packed = folder / "service-2.json", folder / "service-2.json.gz"
    if plain.exists():
        text = plain.read_text(encoding="utf-8")
    elif packed.exists():
        text = gzip.decompress(packed.read_bytes()).decode("utf-8")
    else:
        raise SystemExit(f"no service-2.json(.gz) under {folder}; is botocore installed?")
    model: dict[str, Any] = json.loads(text)
    return model


def strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: strip(v) for k, v in value.items() if k not in _DROPPED}
    if isinstance(value, list):
        return [strip(v) for v in value]
    return value


def render(service: str, version: str) -> str:
    model = strip(load_service_model(service, version))
    model["metadata"]["botocoreVersion"] = botocore.__version__
    return json.dumps(model, indent=0, separators=(",", ":")) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="only check; exit 1 if stale")
    args = parser.parse_args()
    stale = []
    for service, version in SERVICES:
        path = OUTPUT / f"{service}-{version}.json"
        text = render(service, version)
        if args.check:
            if not path.exists() or path.read_text(encoding="utf-8") != text:
                stale.append(path)
            continue
        path.write_text(text, encoding="utf-8")
        print(f"wrote {path.relative_to(ROOT)} ({len(text)} bytes)")
    if stale:
        names = ", ".join(str(p.relative_to(ROOT)) for p in stale)
        sys.exit(f"out of date: {names}; run scripts/gen_service_models.py")


if __name__ == "__main__":
    main()
