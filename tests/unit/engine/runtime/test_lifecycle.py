"""The environment lifecycle table."""

from __future__ import annotations

import pytest

from engine.runtime.lifecycle import TRANSITIONS, EnvState, InvalidTransition, advance


def test_every_state_has_a_row_and_destroyed_is_final() -> None:
    assert set(TRANSITIONS) == set(EnvState)
    assert TRANSITIONS[EnvState.DESTROYED] == frozenset()
    for state in EnvState:
        if state is not EnvState.DESTROYED:
            assert EnvState.DESTROYED in TRANSITIONS[state], state


@pytest.mark.parametrize(
    "path",
    [
        [EnvState.CREATING, EnvState.INITIALIZING, EnvState.BUSY, EnvState.IDLE, EnvState.BUSY],
        [EnvState.CREATING, EnvState.INITIALIZING, EnvState.IDLE, EnvState.DESTROYED],
    ],
)
def test_legal_paths(path: list[EnvState]) -> None:
    state = path[0]
    for nxt in path[1:]:
        state = advance(state, nxt)
    assert state is path[-1]


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        (EnvState.IDLE, EnvState.IDLE),
        (EnvState.CREATING, EnvState.BUSY),
        (EnvState.DESTROYED, EnvState.IDLE),
        (EnvState.BUSY, EnvState.INITIALIZING),
    ],
)
def test_illegal_transitions_raise(src: EnvState, dst: EnvState) -> None:
    with pytest.raises(InvalidTransition, match=f"from {src.value} to {dst.value}"):
        advance(src, dst)
