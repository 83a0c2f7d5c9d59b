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


VPC_TOML = """
[[vpc]]
id = "vpc-dev"
cidr = "10.0.0.0/16"
[[vpc.subnet]]
id = "subnet-private"
cidr = "10.0.1.0/24"
[[vpc.subnet]]
id = "subnet-public"
cidr = "10.0.2.0/24"
nat_gateway = true
[[vpc.security_group]]
id = "sg-db"
ingress = [{protocol = "tcp", ports = "5432", group = "sg-app"}]
[[vpc.security_group]]
id = "sg-app"
"""


def test_network_defaults_and_vpcs_from_the_file(tmp_path: Path) -> None:
    f = tmp_path / "c.toml"
    f.write_text('[network]\neni_pool = 3\nnameservers = ["192.0.2.53"]\n' + VPC_TOML)
    config = load_config(f)
    assert config.network.enabled is True
    assert config.network.eni_pool == 3
    assert config.network.nameservers == ("192.0.2.53",)
    (vpc,) = config.vpcs
    assert vpc.id == "vpc-dev"
    assert [s.id for s in vpc.subnets] == ["subnet-private", "subnet-public"]
    public = vpc.subnet("subnet-public")
    assert public is not None and public.nat_gateway
    db = vpc.security_group("sg-db")
    assert db is not None and db.ingress[0].group == "sg-app" and db.ingress[0].from_port == 5432


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[network]\ndefault_cidr = "10.0.0.0/33"\n', "default_cidr"),
        ('[network]\ndefault_cidr = "169.254.0.0/20"\n', "link-local"),
        ('[network]\nif_prefix = "veth"\n', "if_prefix"),
        ('[network]\nnft_table = "filter"\n', "nft_table"),
        ('[network]\nnameservers = ["dns.example"]\n', "nameservers"),
        ('[network]\ncolour = "blue"\n', r"unknown configuration key.*\[network\]"),
        ('[network]\ndefault_cidr = "10.0.0.0/16"\n' + VPC_TOML, "overlap"),
        (VPC_TOML.replace('"10.0.2.0/24"', '"10.9.2.0/24"'), "not inside"),
        ("[[vpc]]\ncidr = 3\n", r"\[\[vpc\]\]"),
        ("vpc = 1\n", "array of tables"),
    ],
)
def test_bad_network_settings_are_refused(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(f)


def test_the_readme_vpc_example_is_a_valid_configuration(tmp_path: Path) -> None:
    readme = (Path(__file__).parents[3] / "README.md").read_text()
    block = readme.split("# /etc/lambdalet.toml\n", 1)[1].split("```", 1)[0]
    f = tmp_path / "c.toml"
    f.write_text(block)
    (vpc,) = load_config(f).vpcs
    assert [s.id for s in vpc.subnets] == ["subnet-private", "subnet-public"]
    db = vpc.security_group("sg-db")
    assert db is not None and db.egress == ()
    app = vpc.security_group("sg-app")
    assert app is not None and app.egress[0].protocol == "all"


def test_runtimes_table(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        '[runtimes]\nsearch_path = ["/opt/bin", "/usr/bin"]\n'
        '[runtimes.interpreters]\n"python3.12" = "/usr/local/bin/python3.12"\n'
    )
    config = load_config(path)
    assert config.runtimes.search_path == ("/opt/bin", "/usr/bin")
    assert config.runtimes.interpreters == {"python3.12": "/usr/local/bin/python3.12"}
    assert load_config(None).runtimes.search_path == ("/usr/local/bin", "/usr/bin", "/bin")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('[runtimes]\nsearch_path = "/usr/bin"\n', "list of absolute directories"),
        ("[runtimes]\nfoo = 1\n", r"unknown configuration key\(s\) in \[runtimes\]: foo"),
        ('[runtimes.interpreters]\n"python3.11" = "/usr/bin/python3"\n', "not a runtime"),
        ('[runtimes.interpreters]\n"java21" = "/usr/bin/java"\n', "not a runtime"),
        ('[runtimes.interpreters]\n"nodejs22.x" = "node22"\n', "absolute path"),
    ],
)
def test_bad_runtimes_settings(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(path)


def test_logs_table(tmp_path: Path) -> None:
    assert load_config(None).logs.retention_days is None
    assert load_config(None).logs.max_group_bytes == 256 * 1024 * 1024
    f = tmp_path / "c.toml"
    f.write_text("[logs]\nretention_days = 14\nmax_group_bytes = 1000\nsweep_interval_s = 0.5\n")
    logs = load_config(f).logs
    assert (logs.retention_days, logs.max_group_bytes, logs.sweep_interval_s) == (14, 1000, 0.5)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("[logs]\nretention_days = 2\n", r"logs.retention_days must be one of 1, 3, 5, 7, 14"),
        ("[logs]\nretention_days = true\n", "logs.retention_days must be one of"),
        ("[logs]\nmax_group_bytes = 0\n", "logs.max_group_bytes must be a positive"),
        ("[logs]\nsweep_interval_s = 0\n", "logs.sweep_interval_s must be a positive"),
        ("[logs]\nkeep = 1\n", r"unknown configuration key\(s\) in \[logs\]: keep"),
        ("logs = 1\n", r"\[logs\] must be a table"),
    ],
)
def test_bad_logs_settings(tmp_path: Path, text: str, match: str) -> None:
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError, match=match):
        load_config(f)
