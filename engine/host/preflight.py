"""Before the daemon serves: is this host fit (root, nft, a /usr Python, the mount API,
cgroups), and what did a crashed predecessor leave behind (its sandboxes' cgroups: killed and
removed)."""

from __future__ import annotations

import logging
import os
import resource
import shutil
import sys
import time

from engine.config import Config
from engine.errors import ConfigError
from sandbox.cgroups import Cgroups, hierarchy_mode
from sandbox.errors import SandboxError
from sandbox.rootfs import check_mount_api

logger = logging.getLogger(__name__)

NOFILE_TARGET = 65536


def check_host(config: Config) -> None:
    if os.geteuid() != 0:
        raise ConfigError(
            "lambdalet serve must run as root: it creates namespaces, cgroups and mounts "
            "(run it with sudo, or as the systemd service)"
        )
    if config.network.enabled and shutil.which("nft") is None:
        raise ConfigError(
            "networking needs the nft command (Debian/Ubuntu package 'nftables'; "
            "scripts/setup.sh installs it), or set network.enabled = false"
        )
    base = os.path.realpath(sys.base_prefix)
    if not (base == "/usr" or base.startswith("/usr/")):
        raise ConfigError(
            f"the daemon's Python ({sys.executable}, stdlib under {base}) must be the "
            "distribution's interpreter (/usr/bin/python3.11 or a venv made from it): sandboxes "
            "see only /usr, so its standard library must live there"
        )


def raise_nofile_limit(target: int = NOFILE_TARGET) -> int:
    """Let the daemon hold `target` descriptors (the listeners' connection caps, every
    sandbox's sockets and pipes, ENI namespaces), whatever limit it was started with; returns
    the soft limit in force. Root may raise the hard limit too (up to fs.nr_open)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= target:
        return soft
    try:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, max(hard, target)))
    except (ValueError, OSError) as exc:
        logger.warning("cannot raise RLIMIT_NOFILE to %d (%s); using %d", target, exc, hard)
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        return hard
    return target


def open_cgroups(config: Config) -> Cgroups:
    """The daemon's cgroups (detected per controller, the parent prepared), or why not."""
    try:
        check_mount_api(os.fspath(config.state_dir))
    except SandboxError as exc:
        raise ConfigError(str(exc)) from exc
    try:
        cgroups = Cgroups.detect(parent_name=config.sandbox.cgroup_parent)
        cgroups.prepare()
    except SandboxError as exc:
        raise ConfigError(f"cannot use cgroups: {exc}") from exc
    return cgroups


def cgroup_mode() -> str:
    """ "unified", "hybrid" or "legacy" (`sandbox.cgroups.hierarchy_mode`), for the log."""
    return hierarchy_mode()


def sweep_leftovers(cgroups: Cgroups) -> int:
    """Kill and remove sandbox cgroups a crashed predecessor left; returns how many."""
    swept = 0
    for name in cgroups.children():
        try:
            for _ in range(200):
                cgroups.kill_all(name)
                if not cgroups.populated(name):
                    break
                time.sleep(0.005)  # start-up only: nothing is served yet
            for _ in range(100):
                try:
                    cgroups.destroy(name)
                    break
                except SandboxError:
                    time.sleep(0.005)
            swept += 1
        except (OSError, SandboxError) as exc:
            logger.error("could not remove leftover cgroup %s: %s", name, exc)
    return swept


DAEMON_OOM_SCORE_ADJ = -900  # as scripts/lambdalet.service's OOMScoreAdjust


def protect_from_oom_killer(path: str = "/proc/self/oom_score_adj") -> int | None:
    """Make the daemon (and the spawner it starts) the host OOM killer's last choice, as the
    systemd unit does, without raising a lower value it was given; returns the value in force
    (None: unreadable). Sandboxes' runtimes set their own back to 0 (`sandbox.stem`)."""
    try:
        with open(path) as f:
            current = int(f.read())
        if current > DAEMON_OOM_SCORE_ADJ:
            with open(path, "w") as f:
                f.write(str(DAEMON_OOM_SCORE_ADJ))
            return DAEMON_OOM_SCORE_ADJ
        return current
    except (OSError, ValueError) as exc:  # no CAP_SYS_RESOURCE (some containers)
        logger.warning("cannot lower the daemon's oom_score_adj: %s", exc)
        return None
