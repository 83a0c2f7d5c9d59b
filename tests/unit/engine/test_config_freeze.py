"""The `sandbox.freeze_idle` setting: on by default, a TOML boolean only."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ConfigError


def test_freeze_idle_defaults_to_on_and_can_be_turned_off(tmp_path: Path) -> None:
    assert load_config(None).sandbox.freeze_idle is True
    f = tmp_path / "c.toml"
    f.write_text("[sandbox]\nfreeze_idle = false\n")
    assert load_config(f).sandbox.freeze_idle is False


@pytest.mark.parametrize("value", ['"false"', "0"])
def test_freeze_idle_must_be_a_boolean(tmp_path: Path, value: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(f"[sandbox]\nfreeze_idle = {value}\n")
    with pytest.raises(ConfigError, match="freeze_idle must be true or false"):
        load_config(f)
