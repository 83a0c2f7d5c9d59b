"""The daemon's log levels from `[daemon]`: at start and on reload (handlers stay the CLI's)."""

from __future__ import annotations

import logging

from engine.config import Config, DaemonConfig
from engine.lifecycle.reload import LiveSetting


def set_log_levels(daemon: DaemonConfig, previous: DaemonConfig | None = None) -> None:
    """The root logger at `log_level`, each of `log_levels` at its own; a logger that had a
    level of its own in `previous` and has none now follows the root again."""
    logging.getLogger().setLevel(daemon.log_level.upper())
    for name in set(previous.log_levels if previous else ()) - set(daemon.log_levels):
        logging.getLogger(name).setLevel(logging.NOTSET)
    for name, level in daemon.log_levels.items():
        logging.getLogger(name).setLevel(level.upper())


async def _apply(old: Config, new: Config) -> None:
    set_log_levels(new.daemon, old.daemon)


# The rest of [daemon] is read where it is used (the stop bound at SIGTERM, the status
# interval each refresh), from the reloader's running configuration.
DAEMON_SETTINGS = LiveSetting(
    keys=frozenset(
        {
            "daemon.log_level",
            "daemon.log_levels",
            "daemon.stop_timeout_s",
            "daemon.status_interval_s",
        }
    ),
    apply=_apply,
)
