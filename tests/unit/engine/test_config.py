"""Loading the daemon's TOML configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import Config, load_config
from engine.errors import ConfigError


def test_defaults_without_a_file() -> None:
    config = load_config(None)
    assert config.state_dir == Path("/var/lib/lambdalet")
    assert config.socket_path == Path("/run/lambdalet/lambdalet.sock")
    assert config.sandbox.mb_per_vcpu == 1769.0
    assert config.http_listen is None


def test_file_values_and_overrides(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('state_dir = "/srv/l"\nregion = "eu-west-1"\n[sandbox]\nkeep_warm_s = 5\n')
    config = load_config(f, socket_path=Path("/run/x.sock"), examples_dir=None)
    assert config.state_dir == Path("/srv/l")
    assert config.region == "eu-west-1"
    assert config.sandbox.keep_warm_s == 5
    assert config.socket_path == Path("/run/x.sock")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("bogus = 1\n", "unknown configuration key"),
        ("[sandbox]\nkeep_warm = 1\n", r"unknown configuration key.*\[sandbox\].*keep_warm"),
        ('[sandbox]\ncgroup_parent = "other"\n', "cgroup_parent"),
        ('http_listen = "0.0.0.0:9001"\n', "loopback"),
        ('state_dir = "relative"\n', "absolute"),
        ("[sandbox]\nuid_base = 0\n", "uid_base"),
        ("not toml [", "not valid TOML"),
    ],
)
def test_bad_files_are_rejected_with_a_clear_message(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(f)


def test_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read config file"):
        load_config(tmp_path / "nope.toml")


def test_config_is_frozen() -> None:
    with pytest.raises(AttributeError):
        Config().region = "x"  # type: ignore[misc]
