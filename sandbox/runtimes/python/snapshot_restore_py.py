"""SnapStart's runtime hooks for Python functions, with the API of AWS's snapshot-restore-py 1.0.0.

Function code does ``from snapshot_restore_py import register_before_snapshot,
register_after_restore``: the runtime puts this module in ``sys.modules`` under that name before
it loads the handler, so the function registers into the very lists the runtime runs (a copy
vendored in /var/task is not the one imported, as on Lambda, whose runtime imports its own
first). Both functions work as plain calls, ``register_after_restore(fn, *args, **kwargs)``, and
as bare decorators, which return the function unchanged. The runtime runs the before-snapshot
hooks in reverse registration order and the after-restore hooks in registration order; without
SnapStart they are never run.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

__version__ = "1.0.0"
__all__ = ["register_after_restore", "register_before_snapshot"]

F = TypeVar("F", bound=Callable[..., Any])
Hook = tuple[Callable[..., Any], tuple[Any, ...], dict[str, Any]]

_before_snapshot_hooks: list[Hook] = []
_after_restore_hooks: list[Hook] = []


def register_before_snapshot(func: F, *args: Any, **kwargs: Any) -> F:
    """Call ``func(*args, **kwargs)`` before the snapshot is taken; returns `func`."""
    _before_snapshot_hooks.append((func, args, kwargs))
    return func


def register_after_restore(func: F, *args: Any, **kwargs: Any) -> F:
    """Call ``func(*args, **kwargs)`` in each environment restored from the snapshot;
    returns `func`."""
    _after_restore_hooks.append((func, args, kwargs))
    return func


def get_before_snapshot() -> list[Hook]:
    """The before-snapshot registry itself, as ``(func, args, kwargs)`` in registration order
    (for the runtime, which pops from its end)."""
    return _before_snapshot_hooks


def get_after_restore() -> list[Hook]:
    """The after-restore registry itself, as ``(func, args, kwargs)`` in registration order."""
    return _after_restore_hooks
