"""scripts/lambdalet.service says what the daemon does: notify, watchdog, reload, stop."""

from __future__ import annotations

import os
from pathlib import Path

from engine.config import DaemonConfig
from engine.host.preflight import DAEMON_OOM_SCORE_ADJ


def test_the_unit_file_matches_the_daemon() -> None:
    unit = (Path(__file__).parents[4] / "scripts" / "lambdalet.service").read_text()
    settings = dict(
        line.split("=", 1) for line in unit.splitlines() if "=" in line and not line.startswith("#")
    )
    assert settings["Type"] == "notify"
    assert settings["NotifyAccess"] == "main"
    assert settings["Delegate"] == "yes"
    assert settings["KillMode"] == "mixed"
    assert settings["Restart"] == "on-failure"
    assert settings["ExecReload"] == "/bin/kill -HUP $MAINPID"
    assert int(settings["OOMScoreAdjust"]) == DAEMON_OOM_SCORE_ADJ
    assert int(settings["WatchdogSec"].removesuffix("s")) > 0
    # systemd's stop timeout outlasts the daemon's own bound plus its teardown.
    assert int(settings["TimeoutStopSec"].removesuffix("s")) > DaemonConfig().stop_timeout_s + 10
    assert os.path.basename(settings["ExecStart"].split()[0]) == "lambdalet"
