"""The [daemon] table: the stop bound, the status interval, log levels."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import DaemonConfig, load_config
from engine.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "config.toml"
    path.write_text(text)
    return path


def test_defaults() -> None:
    assert load_config(None).daemon == DaemonConfig()
    assert DaemonConfig().stop_timeout_s == 30.0


def test_a_daemon_table_is_read(tmp_path: Path) -> None:
    config = load_config(
        write(
            tmp_path,
            '[daemon]\nstop_timeout_s = 12\nstatus_interval_s = 2.5\nlog_level = "debug"\n'
            '[daemon.log_levels]\n"engine.sources" = "WARNING"\n',
        )
    )
    assert config.daemon == DaemonConfig(
        stop_timeout_s=12,
        status_interval_s=2.5,
        log_level="debug",
        log_levels={"engine.sources": "WARNING"},
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[daemon]\nstop_timeout_s = 0\n", "daemon.stop_timeout_s must be a number of seconds"),
        ("[daemon]\nstatus_interval_s = true\n", "daemon.status_interval_s must be a number"),
        ('[daemon]\nlog_level = "LOUD"\n', "daemon.log_level must be one of DEBUG, INFO"),
        ('[daemon.log_levels]\n"x" = 3\n', "daemon.log_levels.x must be one of"),
        ("[daemon]\nwatchdog = 1\n", r"unknown configuration key\(s\) in \[daemon\]: watchdog"),
        ("daemon = 3\n", r"\[daemon\] must be a table"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config(write(tmp_path, text))
