"""Unbuffered control-file I/O and host operations shared by the drivers and the facade.

OSErrors become SandboxSetupError with a hint via ``setup_step`` / ``setup_error``.
"""

from __future__ import annotations

import errno
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from sandbox.errors import SandboxSetupError

_HINTS = {
    errno.EACCES: "run as root (cgroup v2: as a systemd service with Delegate=yes)",
    errno.EPERM: "run as root (cgroup v2: as a systemd service with Delegate=yes)",
    errno.EROFS: "the cgroup filesystem is read-only (a container? give it a writable cgroupns)",
    errno.ENOENT: "a hierarchy or control file is missing: check the mounts and kernel config",
    errno.EBUSY: "processes or child groups are still inside: kill_all() first",
    errno.ESRCH: "the process has already exited",
    errno.EEXIST: "a group of that name exists (a crashed predecessor's?): destroy() it first",
}


@dataclass(frozen=True, slots=True, kw_only=True)
class HostOps:
    """Operations a plain directory tree cannot imitate; unit tests pass fakes."""

    mkdir: Callable[[str], None] = os.mkdir
    rmdir: Callable[[str], None] = os.rmdir
    kill: Callable[[int, int], None] = os.kill
    sleep: Callable[[float], None] = time.sleep
    getpid: Callable[[], int] = os.getpid


def parse_flat_keyed(text: str) -> dict[str, int]:
    """``key value`` lines (memory.events, cpu.stat, memory.oom_control) as a dict."""
    pairs = (line.split() for line in text.splitlines())
    return {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].lstrip("-").isdigit()}


# --- file I/O: unbuffered, one syscall per control file ----------------------------------------


def read(path: str | bytes) -> str:
    fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    try:
        chunks = []
        while chunk := os.read(fd, 65536):
            chunks.append(chunk)
    finally:
        os.close(fd)
    return b"".join(chunks).decode()


def write(path: str | bytes, value: str) -> None:
    # O_TRUNC is a no-op on cgroupfs and keeps a fake tree's files exact; no O_CREAT, so a
    # missing control file fails with ENOENT as it does on the kernel.
    fd = os.open(path, os.O_WRONLY | os.O_TRUNC | os.O_CLOEXEC)
    try:
        os.write(fd, value.encode())
    finally:
        os.close(fd)


def write_if_present(path: str, value: str) -> bool:
    try:
        write(path, value)
    except FileNotFoundError:
        return False
    return True


def read_pids(path: str) -> set[int]:
    try:
        return {int(p) for p in read(path).split()}
    except FileNotFoundError:
        return set()


# --- errors ------------------------------------------------------------------------------------


def setup_error(
    step: str, path: str, err: OSError, ebusy_hint: str | None = None
) -> SandboxSetupError:
    """SandboxSetupError for ``err`` in ``step``: the exact file if known, a hint by errno."""
    code = err.errno or 0
    hint = ebusy_hint if ebusy_hint and code == errno.EBUSY else _HINTS.get(code)
    path = os.fsdecode(err.filename) if err.filename else path  # the exact file, if known
    return SandboxSetupError(f"{step}: {err.strerror}", path, hint or os.strerror(code))


@contextmanager
def setup_step(step: str, path: str, ebusy_hint: str | None = None) -> Iterator[None]:
    """Turn an OSError of the block into SandboxSetupError(step, path, hint) raised from it."""
    try:
        yield
    except OSError as err:
        raise setup_error(step, path, err, ebusy_hint) from err
