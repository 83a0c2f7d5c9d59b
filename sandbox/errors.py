"""Sandbox errors: one base; set-up failures name the step, the path and what to do."""

from __future__ import annotations


class SandboxError(Exception):
    """Base of every error raised by the sandbox package."""


class SandboxSetupError(SandboxError):
    """A kernel step of building or tearing down a sandbox failed.

    Raised ``from`` the underlying ``OSError`` whenever there is one.
    """

    def __init__(self, step: str, path: str | None = None, hint: str | None = None) -> None:
        parts = [step]
        if path:
            parts.append(f"({path})")
        if hint:
            parts.append(f"- {hint}")
        super().__init__(" ".join(parts))
        self.step = step
        self.path = path
        self.hint = hint


class SpawnerError(SandboxError):
    """The spawner process died or answered something unexpected."""
