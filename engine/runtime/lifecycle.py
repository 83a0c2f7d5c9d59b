"""The execution environment's lifecycle as data.

Rule 1: every state change of an environment goes through `advance()`, and every allowed
change is listed in `TRANSITIONS`; nothing else moves an environment between states.
Rule 2: this module knows nothing about sandboxes or invokes; it only says what may follow what.

    CREATING ──► INITIALIZING ──► IDLE ◄──► BUSY
        │              │            │         │
        └──────────────┴────────────┴─────────┴──► DESTROYED
"""

from __future__ import annotations

import enum
from typing import Final


class EnvState(enum.Enum):
    CREATING = "creating"  # cgroup made, spawner asked for a sandbox
    INITIALIZING = "initializing"  # runtime started, loading the handler
    IDLE = "idle"  # warm, waiting in the pool for an invoke
    BUSY = "busy"  # running exactly one invoke
    DESTROYED = "destroyed"  # killed or being torn down; never used again


TRANSITIONS: Final[dict[EnvState, frozenset[EnvState]]] = {
    EnvState.CREATING: frozenset({EnvState.INITIALIZING, EnvState.DESTROYED}),
    EnvState.INITIALIZING: frozenset({EnvState.BUSY, EnvState.IDLE, EnvState.DESTROYED}),
    EnvState.IDLE: frozenset({EnvState.BUSY, EnvState.DESTROYED}),
    EnvState.BUSY: frozenset({EnvState.IDLE, EnvState.DESTROYED}),
    EnvState.DESTROYED: frozenset(),
}


class InvalidTransition(RuntimeError):
    pass


def advance(current: EnvState, new: EnvState) -> EnvState:
    if new not in TRANSITIONS[current]:
        raise InvalidTransition(f"environment cannot go from {current.value} to {new.value}")
    return new
