"""The `sandbox.memory_reserve_mb` setting: automatic by default, a whole number of MB; and
`sandbox.memory_limit_mb`: none by default."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ConfigError


def test_memory_reserve_defaults_to_automatic_and_can_be_set(tmp_path: Path) -> None:
    assert load_config(None).sandbox.memory_reserve_mb is None
    f = tmp_path / "c.toml"
    for value in (0, 512, 1048576):
        f.write_text(f"[sandbox]\nmemory_reserve_mb = {value}\n")
        assert load_config(f).sandbox.memory_reserve_mb == value


@pytest.mark.parametrize("value", ["-1", "1.5", '"512"', "true", "1048577"])
def test_memory_reserve_must_be_whole_megabytes(tmp_path: Path, value: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(f"[sandbox]\nmemory_reserve_mb = {value}\n")
    with pytest.raises(ConfigError, match="memory_reserve_mb must be a whole number"):
        load_config(f)


def test_memory_limit_defaults_to_none_and_can_be_set(tmp_path: Path) -> None:
    assert load_config(None).sandbox.memory_limit_mb is None
    f = tmp_path / "c.toml"
    for value in (128, 5632, 1048576):
        f.write_text(f"[sandbox]\nmemory_limit_mb = {value}\n")
        assert load_config(f).sandbox.memory_limit_mb == value


@pytest.mark.parametrize("value", ["0", "127", "1.5", '"512"', "true", "1048577"])
def test_memory_limit_must_be_whole_megabytes(tmp_path: Path, value: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(f"[sandbox]\nmemory_limit_mb = {value}\n")
    with pytest.raises(ConfigError, match="memory_limit_mb must be a whole number"):
        load_config(f)
