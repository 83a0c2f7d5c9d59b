"""The `[metrics]` table: on by default, a dedicated loopback listener only when asked for."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import load_config
from engine.errors import ConfigError


def test_metrics_are_on_without_a_listener_of_their_own_by_default() -> None:
    metrics = load_config(None).metrics
    assert metrics.enabled is True and metrics.listen is None


def test_a_dedicated_listener_and_the_switch(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[metrics]\nlisten = "127.0.0.1:9464"\n')
    assert load_config(f).metrics.listen == "127.0.0.1:9464"
    f.write_text("[metrics]\nenabled = false\n")
    assert load_config(f).metrics.enabled is False


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[metrics]\nenabled = "no"\n', "metrics.enabled must be true or false"),
        ('[metrics]\nlisten = "0.0.0.0:9464"\n', "metrics.listen must be a loopback address"),
        ("[metrics]\nlisten = 9464\n", "metrics.listen must be a string"),
        (
            '[metrics]\nenabled = false\nlisten = "127.0.0.1:9464"\n',
            "metrics.listen needs metrics.enabled = true",
        ),
        (
            'http_listen = "127.0.0.1:9001"\n[metrics]\nlisten = "localhost:9001"\n',
            "metrics.listen and http_listen must be different ports",
        ),
        ("[metrics]\nport = 1\n", r"unknown configuration key\(s\) in \[metrics\]: port"),
        ("metrics = 1\n", r"\[metrics\] must be a table"),
    ],
)
def test_bad_metrics_settings(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(f)
