"""The reloader: live settings handed to their service, the rest named for a restart, a bad
file or a refusing service changing nothing."""

from __future__ import annotations

import pytest

from engine.config import ConcurrencyConfig, Config, EventsConfig
from engine.errors import ConfigError
from engine.lifecycle.reload import LiveSetting, Reloader, ReloadReport


class Service:
    def __init__(self, *, refuse: str | None = None) -> None:
        self.seen: list[tuple[Config, Config]] = []
        self.refuse = refuse

    async def apply(self, old: Config, new: Config) -> None:
        if self.refuse is not None:
            raise ConfigError(self.refuse)
        self.seen.append((old, new))


def make(files: list[Config | Exception], *live: tuple[Service, set[str]]) -> Reloader:
    def load() -> Config:
        item = files.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    return Reloader(
        load=load,
        config=Config(),
        live=[LiveSetting(keys=frozenset(keys), apply=s.apply) for s, keys in live],
    )


LIMITS = {"concurrency.account_limit", "concurrency.unreserved_minimum"}


async def test_live_settings_are_applied_and_the_rest_wait_for_a_restart() -> None:
    limits, workers = Service(), Service()
    new = Config(
        region="eu-west-1",
        concurrency=ConcurrencyConfig(account_limit=50, unreserved_minimum=10),
    )
    reloader = make([new], (limits, LIMITS), (workers, {"events.workers"}))
    report = await reloader.reload()
    assert report == ReloadReport(
        applied=("concurrency.account_limit", "concurrency.unreserved_minimum"),
        needs_restart=("region",),
    )
    assert limits.seen == [(Config(), new)] and workers.seen == []  # only what changed
    assert reloader.config.concurrency.account_limit == 50
    assert reloader.config.region == "us-east-1"  # still the running one
    assert reloader.needs_restart == ("region",)
    assert report.summary() == (
        "reloaded: applied concurrency.account_limit, concurrency.unreserved_minimum; "
        "restart to apply region"
    )


async def test_a_setting_still_different_is_named_again_and_a_reverted_one_no_more() -> None:
    moved = Config(region="eu-west-1")
    reloader = make([moved, moved, Config()])
    assert (await reloader.reload()).needs_restart == ("region",)
    assert (await reloader.reload()).needs_restart == ("region",)
    assert (await reloader.reload()).needs_restart == ()
    assert reloader.needs_restart == ()


async def test_a_bad_file_changes_nothing_and_says_why() -> None:
    limits = Service()
    reloader = make([ConfigError("config file x is not valid TOML: line 3")], (limits, LIMITS))
    report = await reloader.reload()
    assert report.error == "config file x is not valid TOML: line 3"
    assert report.summary() == (
        "reload failed, previous configuration kept: config file x is not valid TOML: line 3"
    )
    assert reloader.config == Config() and limits.seen == []


async def test_a_service_that_refuses_keeps_its_settings_and_others_still_apply() -> None:
    limits = Service(refuse="reservations would not fit")
    workers = Service()
    new = Config(
        concurrency=ConcurrencyConfig(account_limit=50, unreserved_minimum=10),
        events=EventsConfig(workers=8),
    )
    reloader = make([new], (limits, LIMITS), (workers, {"events.workers"}))
    report = await reloader.reload()
    assert report.applied == ("events.workers",)
    assert report.refused == (
        "concurrency.account_limit, concurrency.unreserved_minimum: reservations would not fit",
    )
    assert reloader.config.concurrency == Config().concurrency
    assert reloader.config.events.workers == 8
    assert "refused concurrency.account_limit" in report.summary()


async def test_nothing_changed() -> None:
    report = await make([Config()]).reload()
    assert report == ReloadReport()
    assert report.summary() == "reloaded: nothing to apply"


@pytest.mark.parametrize("level", ["DEBUG", "warning"])
async def test_log_levels_change_live(level: str) -> None:
    import logging

    from engine.config import DaemonConfig
    from engine.lifecycle.logs import DAEMON_SETTINGS, set_log_levels

    root = logging.getLogger()
    before = root.level
    try:
        set_log_levels(DaemonConfig(log_levels={"engine.test_a": "ERROR"}))
        reloader = Reloader(
            load=lambda: Config(
                daemon=DaemonConfig(log_level=level, log_levels={"engine.test_b": "DEBUG"})
            ),
            config=Config(daemon=DaemonConfig(log_levels={"engine.test_a": "ERROR"})),
            live=[DAEMON_SETTINGS],
        )
        report = await reloader.reload()
        assert report.applied == ("daemon.log_level", "daemon.log_levels")
        assert root.level == getattr(logging, level.upper())
        assert logging.getLogger("engine.test_b").level == logging.DEBUG
        assert logging.getLogger("engine.test_a").level == logging.NOTSET  # follows root again
    finally:
        root.setLevel(before)
        logging.getLogger("engine.test_b").setLevel(logging.NOTSET)
