"""Pure: which settings differ between two configurations, and the configuration that results
from taking some of a new one's settings.

A setting is named by its path in the TOML file: a top-level key (`socket_path`, `vpcs` for
the `[[vpc]]` documents) or `section.key` (`concurrency.account_limit`).
"""

from __future__ import annotations

import dataclasses
from typing import Any

from engine.config import Config


def _sections(config: Config) -> dict[str, Any]:
    return {f.name: getattr(config, f.name) for f in dataclasses.fields(config)}


def changed_settings(old: Config, new: Config) -> list[str]:
    """Every setting whose value differs, in the order of the configuration's fields."""
    changed: list[str] = []
    new_sections = _sections(new)
    for name, value in _sections(old).items():
        other = new_sections[name]
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            for field in dataclasses.fields(value):
                if getattr(value, field.name) != getattr(other, field.name):
                    changed.append(f"{name}.{field.name}")
        elif value != other:
            changed.append(name)
    return changed


def take_settings(old: Config, new: Config, settings: set[str]) -> Config:
    """`old` with the value of each of `settings` taken from `new` (the rest stays old)."""
    top: dict[str, Any] = {}
    by_section: dict[str, dict[str, Any]] = {}
    for path in settings:
        section, _, key = path.partition(".")
        if key:
            by_section.setdefault(section, {})[key] = getattr(getattr(new, section), key)
        else:
            top[section] = getattr(new, section)
    for section, values in by_section.items():
        top[section] = dataclasses.replace(getattr(old, section), **values)
    return dataclasses.replace(old, **top)
