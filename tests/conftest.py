"""Test-wide probes and the leak sweep.

The host is probed once (root? cgroups?); `privileged` tests are skipped with a reason when
they cannot run. At the end of the session, a sweep fails the run if any kernel object
tagged for the tests (cgroups under ``lambdalet-test-*``, sandbox mounts, spawners of test
daemons, ``lbt*`` links, ``/run/netns/lambdalet-test-*`` namespaces, ``lambdalet_test_*`` nft
tables) is left behind.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

IS_ROOT = os.geteuid() == 0
CGROUP_ROOT = Path("/sys/fs/cgroup")
TEST_TAG = f"lambdalet-test-{os.getpid()}"
NFT_TEST_TAG = f"lambdalet_test_{os.getpid()}"  # nft tables: lambdalet_test_<pid>_<n>
IF_TEST_TAG = "lbt"  # host veth ends of test daemons: lbt<n>-<id> (15 characters leave no pid)


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
    found += [f"link {name}" for name in _links(IF_TEST_TAG)]
    netns_dir = Path("/run/netns")
    if netns_dir.is_dir():
        found += [f"netns {p}" for p in netns_dir.glob(f"{tag}-*")]
    found += [f"nft table inet {t}" for t in nft_tables() if t.startswith(NFT_TEST_TAG + "_")]
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True, check=False)
    for line in ps.stdout.splitlines():
        if f"--tag={tag}-" in line:
            found.append(f"process {line.strip()}")
    return found


def _links(prefix: str) -> list[str]:
    names = os.listdir("/sys/class/net") if os.path.isdir("/sys/class/net") else []
    return sorted(n for n in names if n.startswith(prefix))


def nft_tables() -> list[str]:
    try:
        out = subprocess.run(
            ["nft", "-j", "list", "tables"], capture_output=True, text=True, check=False
        ).stdout
    except FileNotFoundError:
        return []
    items = json.loads(out or '{"nftables": []}')["nftables"]
    return [i["table"]["name"] for i in items if "table" in i]


@pytest.fixture(scope="session", autouse=True)
def _no_leftovers() -> Iterator[None]:
    yield
    if IS_ROOT:
        # The kernel removes a released ENI's veth in the background (cleanup_net, one RCU
        # grace period at a time): give it time on a loaded machine.
        deadline = time.monotonic() + 30
        while leftovers() and time.monotonic() < deadline:
            time.sleep(0.1)
        left = leftovers()
        assert not left, "tests left kernel objects behind:\n" + "\n".join(left)
