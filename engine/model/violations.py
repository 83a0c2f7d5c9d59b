"""Constraint violations in AWS's words, collected so one `ValidationException` names them all."""

from __future__ import annotations

from collections.abc import Collection

from engine.errors import ValidationException


class Violations:
    """Collects constraint failures; AWS reports them all in one message."""

    def __init__(self) -> None:
        self._messages: list[str] = []

    def add(self, path: str, value: object, constraint: str) -> None:
        self._messages.append(
            f"Value {_render(value)} at '{path}' failed to satisfy constraint: {constraint}"
        )

    def add_sensitive(self, path: str, constraint: str) -> None:
        self._messages.append(f"Value at '{path}' failed to satisfy constraint: {constraint}")

    def add_null(self, path: str) -> None:
        self.add(path, None, "Member must not be null")

    def add_pattern(self, path: str, value: str, pattern: str) -> None:
        self.add(path, value, f"Member must satisfy regular expression pattern: {pattern}")

    def add_enum(self, path: str, value: str, allowed: Collection[str]) -> None:
        self.add(path, value, f"Member must satisfy enum value set: [{', '.join(allowed)}]")

    def add_max_length(self, path: str, value: object, limit: int) -> None:
        self.add(path, value, f"Member must have length less than or equal to {limit}")

    def check_range(self, path: str, value: int, low: int, high: int) -> None:
        if value < low:
            self.add(path, value, f"Member must have value greater than or equal to {low}")
        elif value > high:
            self.add(path, value, f"Member must have value less than or equal to {high}")

    def message(self) -> str | None:
        """AWS's summary of the violations so far, or None if there are none."""
        count = len(self._messages)
        if not count:
            return None
        noun = "error" if count == 1 else "errors"
        return f"{count} validation {noun} detected: {'; '.join(self._messages)}"

    def raise_if_any(self) -> None:
        message = self.message()
        if message is not None:
            raise ValidationException(message)


def _render(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, list | tuple):  # Java's List.toString, as AWS prints it
        return f"'[{', '.join(str(v) for v in value)}]'"
    return f"'{value}'"
