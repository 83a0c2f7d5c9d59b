"""The per-hierarchy driver base: group dirs, create/destroy, pids, the start-up sweep.

``V1Driver`` and ``V2Driver`` fill in the limits, accounting and freezing of their hierarchy.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable

from sandbox.cgroups.files import HostOps, read_pids, setup_error, setup_step
from sandbox.errors import SandboxSetupError
from sandbox.limits import CgroupLimits

log = logging.getLogger(__name__)


class Driver:
    """What both drivers share: a parent dir per hierarchy, ``<parent>/<name>`` below it."""

    kind = ""

    def __init__(self, *, parent_of: dict[str, str], ops: HostOps) -> None:
        self._parent_of = parent_of  # controller -> parent group dir
        self._parents = list(dict.fromkeys(parent_of.values()))  # co-mounted share one
        self._ops = ops

    def owns(self, controller: str) -> bool:
        return controller in self._parent_of

    def describe(self) -> dict[str, str]:
        return {c: f"{self.kind}:{p}" for c, p in self._parent_of.items()}

    def _dir(self, controller: str, name: str) -> str:
        return f"{self._parent_of[controller]}/{name}"

    def _dirs(self, name: str) -> list[str]:
        return [f"{parent}/{name}" for parent in self._parents]

    def prepare(self) -> None:
        for parent in self._parents:
            try:
                self._ops.mkdir(parent)
            except FileExistsError:
                pass
            except OSError as err:
                raise setup_error("create the parent cgroup", parent, err) from err

    def create(self, name: str, limits: CgroupLimits | None) -> None:
        created: list[str] = []
        try:
            for path in self._dirs(name):
                with setup_step(f"create {self.kind} cgroup {name}", path):
                    self._ops.mkdir(path)
                created.append(path)
            if limits is not None:
                self.write_limits(name, limits)
        except SandboxSetupError:
            for path in reversed(created):
                try:
                    self._ops.rmdir(path)
                except OSError as err:
                    log.warning("could not remove half-created cgroup %s: %s", path, err)
            raise

    def write_limits(self, name: str, limits: CgroupLimits) -> None:
        raise NotImplementedError

    def set_cpu_quota(self, name: str, quota_us: int, period_us: int) -> None:
        raise NotImplementedError

    def procs_files(self, name: str) -> list[str]:
        return [f"{path}/cgroup.procs" for path in self._dirs(name)]

    def pids(self, name: str) -> set[int]:
        return set().union(*(read_pids(path) for path in self.procs_files(name)))

    def populated(self, name: str) -> bool:
        return bool(self.pids(name))

    def kill_all_at_once(self, name: str) -> bool:
        return False

    def freeze(self, name: str, frozen: bool) -> bool:
        """Freeze (waiting briefly for the kernel to finish) or thaw; False: no freezer."""
        return False

    def request_freeze(self, name: str, frozen: bool) -> bool:
        """Ask for frozen/thawed without waiting for it to complete; False: no freezer."""
        return False

    def freezer_state(self, name: str) -> str | None:
        """``THAWED``, ``FREEZING`` or ``FROZEN``; None without a freezer here."""
        return None

    def memory_peak_bytes(self, name: str) -> int:
        raise NotImplementedError

    def memory_peak_file(self, name: str) -> str:
        raise NotImplementedError

    def memory_usage_bytes(self, name: str) -> int:
        raise NotImplementedError

    def oom_kill_count(self, name: str) -> int:
        raise NotImplementedError

    def cpu_usage_ns(self, name: str) -> int:
        raise NotImplementedError

    def destroy(self, name: str) -> list[SandboxSetupError]:
        return _rmdir_all(self._ops, self._dirs(name), f"remove cgroup {name}")

    def children(self) -> set[str]:
        names: set[str] = set()
        for parent in self._parents:
            try:
                with os.scandir(parent) as entries:
                    names |= {e.name for e in entries if e.is_dir(follow_symlinks=False)}
            except FileNotFoundError:
                pass
        return names

    def remove_parent(self) -> None:
        if errors := _rmdir_all(self._ops, self._parents, "remove the parent cgroup"):
            raise errors[0] from errors[0].__cause__


def _rmdir_all(ops: HostOps, paths: Iterable[str], step: str) -> list[SandboxSetupError]:
    """rmdir each path, missing ones included; the errors, each with its OSError as cause."""
    errors = []
    for path in paths:
        try:
            ops.rmdir(path)
        except FileNotFoundError:
            pass
        except OSError as err:
            error = setup_error(step, path, err)
            error.__cause__ = err
            errors.append(error)
    return errors
