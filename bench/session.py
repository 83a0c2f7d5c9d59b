"""What a benchmark script does around its measurement: a root check, a tagged temporary
directory, the host's facts, the check for leftovers, and the JSON result file."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

from bench.coldstart import RESULTS_DIR, leftovers
from bench.host import BenchError, host_facts, loadavg
from engine.cli.client import ClientError

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Session:
    name: str  # names the result file: bench/results/<name>-<UTC timestamp>.json
    tag: str  # lambdalet-bench-<pid>: the daemons' cgroup parents and names
    base: Path  # the temporary directory the daemons live in
    facts: dict[str, Any]
    started_at: datetime


def open_session(name: str) -> Session | None:
    """None (and a message) when not root: benchmarks start lambdalet daemons."""
    if os.geteuid() != 0:
        print("the benchmark starts lambdalet daemons, which needs root", file=sys.stderr)
        return None
    tag = f"lambdalet-bench-{os.getpid()}"
    facts = host_facts()
    facts["loadavg_start"] = loadavg()
    base = Path(tempfile.mkdtemp(prefix=f"{tag}-"))
    return Session(name, tag, base, facts, datetime.now(UTC))


def run_measured(
    session: Session,
    measure: Callable[[Path, str], T],
    *,
    more_leftovers: Callable[[], list[str]] = list,
) -> T | None:
    """Run `measure(base, tag)`; None if it failed or left anything behind (the directory
    is then kept for a look), else its result (and the directory is removed)."""
    result: T | None = None
    try:
        result = measure(session.base, session.tag)
    except (BenchError, ClientError) as exc:
        print(f"error: {exc}", file=sys.stderr)
    left = leftovers(session.tag, session.base, {}) + more_leftovers()
    for item in left:
        print(f"warning: left behind: {item}")
    if result is None or left:
        print(f"keeping {session.base}")
        return None
    shutil.rmtree(session.base, ignore_errors=True)
    return result


def write_results(session: Session, path: Path | None, document: dict[str, Any]) -> Path:
    stamp = session.started_at.strftime("%Y%m%dT%H%M%SZ")
    path = path or RESULTS_DIR / f"{session.name}-{stamp}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    header = {"benchmark": session.name, "started_at": session.started_at.isoformat()}
    path.write_text(json.dumps({**header, **session.facts, **document}, indent=2) + "\n")
    print(f"wrote {path}")
    return path
