"""SIGHUP: read the configuration file again and hand each service the settings it can take
while running; say which changed settings wait for a restart.

Each service that can change live offers a `LiveSetting`: the settings it takes and an
`apply(old, new)` that either takes them all or refuses (ConfigError) having changed nothing.
Settings no `LiveSetting` names (sockets, the state directory, the cgroup parent, …) keep their
running value until a restart; every later reload names them again while they differ. A file
that cannot be read or is invalid changes nothing: the daemon keeps its configuration and says
why.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

import trio

from engine.config import Config
from engine.errors import ConfigError
from engine.lifecycle.settings import changed_settings, take_settings

logger = logging.getLogger(__name__)

Apply = Callable[[Config, Config], Awaitable[None]]


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveSetting:
    """Settings one service takes while running, and how (`apply(old, new)`)."""

    keys: frozenset[str]  # setting paths, e.g. "concurrency.account_limit"
    apply: Apply


@dataclass(frozen=True, slots=True, kw_only=True)
class ReloadReport:
    applied: tuple[str, ...] = ()
    refused: tuple[str, ...] = ()  # "setting(s): why"
    needs_restart: tuple[str, ...] = ()
    error: str | None = None  # the file was not taken at all

    def summary(self) -> str:
        """One line for the log and systemd's STATUS=."""
        if self.error is not None:
            return f"reload failed, previous configuration kept: {self.error}"
        parts = [f"applied {', '.join(self.applied)}" if self.applied else "nothing to apply"]
        if self.refused:
            parts.append(f"refused {'; '.join(self.refused)}")
        if self.needs_restart:
            parts.append(f"restart to apply {', '.join(self.needs_restart)}")
        return "reloaded: " + "; ".join(parts)


class Reloader:
    """The running configuration (`config`) and how to change it (`reload`)."""

    def __init__(
        self, *, load: Callable[[], Config], config: Config, live: Sequence[LiveSetting] = ()
    ) -> None:
        self._load = load
        self.config = config
        self.live = list(live)
        self.needs_restart: tuple[str, ...] = ()  # from the last reload that read the file
        self._lock = trio.Lock()  # one reload at a time (SIGHUPs in a row wait their turn)

    async def reload(self) -> ReloadReport:
        async with self._lock:
            report = await self._reload()
        log = logger.error if report.error or report.refused else logger.info
        log("%s", report.summary())
        return report

    async def _reload(self) -> ReloadReport:
        try:
            new = await trio.to_thread.run_sync(self._load)
        except ConfigError as exc:
            return ReloadReport(error=str(exc))
        old = self.config
        changed = changed_settings(old, new)
        applied: list[str] = []
        refused: list[str] = []
        for live in self.live:
            keys = [key for key in changed if key in live.keys]
            if not keys:
                continue
            try:
                await live.apply(old, new)
            except ConfigError as exc:
                refused.append(f"{', '.join(keys)}: {exc}")
            else:
                applied += keys
        known = frozenset().union(*(live.keys for live in self.live))
        self.needs_restart = tuple(key for key in changed if key not in known)
        self.config = take_settings(old, new, set(applied))
        return ReloadReport(
            applied=tuple(applied), refused=tuple(refused), needs_restart=self.needs_restart
        )
