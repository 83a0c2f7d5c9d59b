"""SnapStart in the Python runtime: the hooks around the snapshot, and what a clone of a template
renews before it serves. The bootstrap's snap-start mode drives these and talks to the daemon.

A clone is made by the kernel, not by ``os.fork()``: none of Python's at-fork handlers run in
it, so `make_unique_again` does what they would have done for per-process state, and more:

* ``random``'s module-level generator is reseeded from ``os.urandom`` (CPython does it only
  after ``os.fork()``); generators the function made itself (``random.Random()``, numpy's) are
  not reachable from here: the function reseeds them in an after-restore hook.
* ``uuid``: the cached node is dropped, and uuid1 no longer goes through libuuid, whose clock
  sequence and node are process state every clone would share; it takes the pure-Python path
  (clock sequence from the reseeded ``random``). uuid4 is ``os.urandom``: nothing to do.
* ``tempfile``'s name sequence renews its generator only when the pid changes, and a clone in
  its own pid namespace may have the template's pid: it is dropped.
* ``ssl``: OpenSSL's generator detects forks by pid as well; fresh kernel entropy is mixed in.
* ``platform``'s cached ``uname()`` (the hostname is each sandbox's own) is dropped.
* The ``logging`` handlers' locks are made anew (a thread of the template may have held one).

What no code can renew: ``hash()``'s per-process key (PYTHONHASHSEED) is the template's in every
clone, and threads other than the main one do not exist in a clone.
"""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Iterable, Mapping
from types import FrameType

import sandbox.runtimes.python.snapshot_restore_py as snapshot_restore_py
from sandbox.protocol import AFTER_RESTORE_TIMEOUT_S


class AfterRestoreTimeout(BaseException):
    """Raised into an after-restore hook still running at the limit. A BaseException, so that
    a hook's own ``except Exception`` does not swallow it."""


def run_before_snapshot() -> None:
    """Run the before-snapshot hooks, last registered first (each taken off its list)."""
    hooks = snapshot_restore_py.get_before_snapshot()
    while hooks:
        func, args, kwargs = hooks.pop()
        func(*args, **kwargs)


def run_after_restore(timeout_s: float) -> None:
    """Run the after-restore hooks in registration order; `AfterRestoreTimeout` is raised into
    the one running when `timeout_s` (what is left of Lambda's limit) has passed. From the main
    thread only: a signal is how."""

    def ring(signum: int, frame: FrameType | None) -> None:
        raise AfterRestoreTimeout(
            f"The after-restore hooks did not finish within {AFTER_RESTORE_TIMEOUT_S:g} seconds"
        )

    hooks = snapshot_restore_py.get_after_restore()
    if not hooks:
        return
    try:
        previous = signal.signal(signal.SIGALRM, ring)
    except ValueError:  # not the main thread: the daemon's kill is the only limit
        previous = None
    else:
        signal.setitimer(signal.ITIMER_REAL, max(timeout_s, 0.001))
    try:
        for func, args, kwargs in hooks:
            func(*args, **kwargs)
    finally:
        if previous is not None:
            signal.setitimer(signal.ITIMER_REAL, 0)
            signal.signal(signal.SIGALRM, previous)


def make_unique_again() -> None:
    """Renew the per-process state a clone shares with its template (see the module's text).
    Only modules already imported are touched: one imported later starts fresh in the clone."""
    modules = sys.modules
    if (random := modules.get("random")) is not None:
        random.seed()
    if (uuid := modules.get("uuid")) is not None:
        setattr(uuid, "_node", None)  # noqa: B010 (a module's private global)
        setattr(uuid, "_generate_time_safe", None)  # noqa: B010
    if (tempfile := modules.get("tempfile")) is not None:
        setattr(tempfile, "_name_sequence", None)  # noqa: B010
    if (ssl := modules.get("ssl")) is not None:
        ssl.RAND_add(os.urandom(32), 32.0)
    if (platform := modules.get("platform")) is not None:
        setattr(platform, "_uname_cache", None)  # noqa: B010
    if (logging := modules.get("logging")) is not None:
        reinit = getattr(logging, "_after_at_fork_child_reinit_locks", None)
        if reinit is not None:
            reinit()


def apply_environment(env: Mapping[str, str], unset: Iterable[str]) -> None:
    """Take this environment's variables (os.environ and the process's own environment)."""
    for name in unset:
        os.environ.pop(name, None)
    os.environ.update(env)
