"""scripts/install-service.sh into a temporary root: what it writes, that a second run changes
nothing, that an operator's config is kept, and that the config it writes is one the daemon
accepts. (This host's PID 1 is not systemd: with --root, systemctl is never run anyway.)"""

from __future__ import annotations

import os
import stat
import subprocess
from pathlib import Path

import pytest

from engine.config import load_config

pytestmark = pytest.mark.privileged  # groupadd writes group files only as root

SCRIPT = Path(__file__).parents[2] / "scripts" / "install-service.sh"


def run(root: Path, *extra: str) -> str:
    done = subprocess.run(
        ["bash", str(SCRIPT), "--root", str(root), *extra],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def root(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("needs root")
    (tmp_path / "etc").mkdir()
    (tmp_path / "etc" / "group").write_text("root:x:0:\n")
    (tmp_path / "etc" / "gshadow").write_text("root:*::\n")
    return tmp_path


def test_it_installs_everything_once(root: Path) -> None:
    first = run(root)
    unit = root / "etc/systemd/system/lambdalet.service"
    assert unit.read_text() == (SCRIPT.parent / "lambdalet.service").read_text()
    config = root / "etc/lambdalet/config.toml"
    loaded = load_config(config)
    assert loaded.socket_group == "lambdalet"
    assert str(loaded.state_dir) == "/var/lib/lambdalet"
    state = root / "var/lib/lambdalet"
    assert stat.S_IMODE(state.stat().st_mode) == 0o700
    assert [line.split(":")[0] for line in (root / "etc/group").read_text().splitlines()] == [
        "root",
        "lambdalet",
    ]
    assert "systemd: not reloaded" in first
    second = run(root)
    assert "unit: " in second and "unchanged" in second
    assert "config: " in second and "exists, kept" in second
    assert "group: lambdalet exists" in second
    assert (root / "etc/group").read_text().count("lambdalet") == 1


def test_an_operators_config_is_kept_and_an_old_unit_replaced(root: Path) -> None:
    (root / "etc/lambdalet").mkdir(parents=True)
    config = root / "etc/lambdalet/config.toml"
    config.write_text('region = "eu-west-1"\n')
    (root / "etc/systemd/system").mkdir(parents=True)
    unit = root / "etc/systemd/system/lambdalet.service"
    unit.write_text("[Service]\nType=simple\n")
    out = run(root)
    assert config.read_text() == 'region = "eu-west-1"\n'
    assert "Type=notify" in unit.read_text()
    assert "unit: wrote" in out


def test_bad_options_are_refused(tmp_path: Path) -> None:
    done = subprocess.run(
        ["bash", str(SCRIPT), "--rooot", str(tmp_path)], capture_output=True, text=True
    )
    assert done.returncode == 2 and "unknown option --rooot" in done.stderr
