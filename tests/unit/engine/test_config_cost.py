"""The `[usage]` (the ledger) and `[cost]` (the price table) tables of the configuration."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.config import CostConfig, load_config
from engine.errors import ConfigError


def test_defaults_are_lambda_s_public_prices() -> None:
    config = load_config(None)
    assert (config.usage.retention_days, config.usage.flush_interval_s) == (400, 5.0)
    cost = config.cost
    assert cost.request_per_million == 0.20
    assert cost.duration_rate("x86_64") == 0.0000166667
    assert cost.duration_rate("arm64") == 0.0000133334
    assert cost.provisioned_rate("x86_64") == 0.0000041667
    assert cost.provisioned_rate("arm64") == 0.0000033334
    assert cost.duration_rate("x86_64", provisioned=True) == 0.0000097222
    assert cost.duration_rate("arm64", provisioned=True) == 0.0000077778
    assert not cost.free_tier
    assert (cost.free_tier_requests, cost.free_tier_gb_seconds) == (1_000_000, 400_000)


def test_tables_from_the_file(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text(
        "[usage]\nretention_days = 30\nflush_interval_s = 1\n"
        "[cost]\nfree_tier = true\ngb_second_x86_64 = 0.00002\nrequest_per_million = 0\n"
    )
    config = load_config(f)
    assert (config.usage.retention_days, config.usage.flush_interval_s) == (30, 1)
    assert config.cost == CostConfig(
        free_tier=True, gb_second_x86_64=0.00002, request_per_million=0
    )


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[cost]\nrequests = 1\n", r"unknown configuration key.*\[cost\].*requests"),
        ("[usage]\nretention = 1\n", r"unknown configuration key.*\[usage\]"),
        ("cost = 1\n", r"\[cost\] must be a table"),
        ("[cost]\ngb_second_arm64 = -1\n", "cost.gb_second_arm64 must be a number >= 0"),
        ('[cost]\nrequest_per_million = "0.2"\n', "cost.request_per_million must be a number"),
        ("[cost]\nfree_tier_requests = true\n", "cost.free_tier_requests must be a number"),
        ('[cost]\nfree_tier = "yes"\n', "cost.free_tier must be true or false"),
        ("[usage]\nretention_days = 0\n", "usage.retention_days"),
        ("[usage]\nretention_days = 1.5\n", "usage.retention_days"),
        ("[usage]\nflush_interval_s = 0\n", "usage.flush_interval_s"),
        ("[usage]\nflush_interval_s = 301\n", "usage.flush_interval_s"),
    ],
)
def test_bad_values_are_refused(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(f)


def test_the_readme_price_table_names_every_key_and_default() -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    table = readme.split("| `[cost]` key |", 1)[1].split("\n\n", 1)[0]
    rows = [line.split(" | ") for line in table.splitlines()[2:]]
    documented: dict[str, str] = {}
    for keys, defaults, *_ in rows:
        for key, default in zip(keys.split(", "), defaults.split(", "), strict=True):
            documented[key.strip("| `")] = default
    cost = CostConfig()
    assert set(documented) == {f for f in CostConfig.__dataclass_fields__}
    for key, default in documented.items():
        value = getattr(cost, key)
        if isinstance(value, bool):
            assert str(value).lower() == default, key
        else:
            assert float(default) == value, key
