"""Test-wide probes and the leak sweep.

The host is probed once (root? cgroups?); `privileged` tests are skipped with a reason when
they cannot run. At the end of the session, a sweep fails the run if any kernel object
tagged for the tests (cgroups under ``lambdalet-test-*``, sandbox mounts, spawners of test
daemons) is left behind.
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0
CGROUP_ROOT = Path("/sys/fs/cgroup")
TEST_TAG = f"lambdalet-test-{os.getpid()}"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if IS_ROOT:
        return
    skip = pytest.mark.skip(reason="needs root: real namespaces, cgroups and mounts")
    for item in items:
        if "privileged" in item.keywords:
            item.add_marker(skip)


def leftovers(tag: str = TEST_TAG) -> list[str]:
    """Kernel objects and processes of this run's test daemons that still exist.

    Only objects carrying this run's tag count: other runs on the same host are theirs.
    """
    found: list[str] = []
    if CGROUP_ROOT.is_dir():
        for hierarchy in CGROUP_ROOT.iterdir():
            if not hierarchy.is_dir() or hierarchy.is_symlink():
                continue
            for parent in hierarchy.glob(f"{tag}-*"):
                found.append(f"cgroup {parent}")
    with open("/proc/mounts") as f:
        for line in f:
            # Sandbox mounts live only in sandbox mount namespaces; in ours, any mount
            # with our source name is a leak, whoever made it.
            if line.split()[0] == "lambdalet":
                found.append(f"mount {line.split()[1]}")
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=False)
    for line in ps.stdout.splitlines():
        if f"--tag={tag}-" in line:
            found.append(f"process {line.strip()}")
    return found


@pytest.fixture(scope="session", autouse=True)
def _no_leftovers() -> Iterator[None]:
    yield
    if IS_ROOT:
        left = leftovers()
        assert not left, "tests left kernel objects behind:\n" + "\n".join(left)
