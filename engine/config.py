"""The daemon's configuration: one frozen tree, loaded from TOML, unknown keys rejected.

Every field documents its unit and default; the README's configuration table mirrors this.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from engine.errors import ConfigError
from netns.addressing import check_prefix
from netns.errors import VpcConfigError
from netns.model import Vpc, check_vpc_set, parse_vpc


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxConfig:
    keep_warm_s: float = 600.0  # idle environments are reclaimed after this many seconds
    mb_per_vcpu: float = 1769.0  # memory that buys one vCPU of CPU quota (AWS: 1,769 MB)
    max_vcpus: float = 6.0  # CPU quota cap, also capped at the host's CPU count
    pids_max: int = 1024  # processes + threads per sandbox (Lambda's quota)
    nofile: int = 1024  # RLIMIT_NOFILE per sandbox (Lambda's quota)
    uid_base: int = 200000  # first uid/gid handed to sandboxes; one per live sandbox
    uid_count: int = 4096  # how many uids, hence the most sandboxes alive at once
    cgroup_parent: str = "lambdalet"  # name of the parent cgroup (must contain "lambdalet")
    init_timeout_s: float = 10.0  # Lambda's init phase limit
    # Init may use every vCPU a function may have (Lambda boosts init) for at most this long;
    # then, or at Ready, the memory-proportional quota applies. 0 turns the boost off.
    init_boost_s: float = 1.0
    prewarm: int = 2  # stems (prepared, unspecialized sandboxes) kept ready for cold starts
    prewarm_max: int = 16  # ready stems at most while cold starts come fast (see Stems)
    teardown_timeout_s: float = 10.0  # bound on waiting for a killed sandbox's cgroup to empty
    # Freeze an idle environment's cgroup between invokes (as Lambda does); thaw on reuse.
    freeze_idle: bool = True
    # MB of host memory kept free (MemAvailable): a cold start needs this plus its MemorySize,
    # reclaiming least recently used idle environments first, else a 429; idle ones are also
    # reclaimed whenever the host falls below it. None: 5 % of MemTotal, at most 1024; 0: off.
    memory_reserve_mb: int | None = None
    # MB the environments may use together (the sum of their cgroups' usage): a cold start
    # also needs its MemorySize within it, reclaiming least recently used idle environments
    # first, else a 429. A bound the config decides, whatever else the host runs (the
    # reserve still applies). None: no limit but the reserve.
    memory_limit_mb: int | None = None
    # SnapStart: a version's template goes after this long without an invoke (rebuilt on
    # the next one, which meanwhile starts as an ordinary cold start).
    snapstart_idle_s: float = 900.0


@dataclass(frozen=True, slots=True, kw_only=True)
class NetworkConfig:
    enabled: bool = True  # false: sandboxes get a loopback-only network namespace
    default_cidr: str = "10.254.0.0/16"  # addresses of functions without VpcConfig (NATed)
    eni_pool: int = 2  # ready ENIs kept per network (default network, each VpcConfig in use)
    eni_pool_max: int = 16  # ready ENIs per network at most while cold starts come fast
    if_prefix: str = "lb-"  # host-side veth names: "lb" + up to 3 characters + "-"
    nft_table: str = "lambdalet"  # the one nftables table (family inet) the daemon owns
    netns_prefix: str = "lambdalet-"  # /run/netns/<prefix><name> for attached hosts
    # DNS servers written to the sandboxes' /etc/resolv.conf; None: the host's own
    # non-loopback ones (reached through NAT).
    nameservers: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class RuntimesConfig:
    # Where node and pythonX.Y are looked for (they must live under /usr, /bin or /lib:
    # sandboxes see only those host directories).
    search_path: tuple[str, ...] = ("/usr/local/bin", "/usr/bin", "/bin")
    # Explicit interpreters by runtime name, e.g. {"python3.12" = "/usr/local/bin/python3.12",
    # "nodejs22.x" = "/usr/local/bin/node22"}; they win over the search.
    interpreters: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True, kw_only=True)
class ConcurrencyConfig:
    account_limit: int = 1000  # ConcurrentExecutions: in-flight invokes across all functions
    unreserved_minimum: int = 100  # reservations may not shrink the shared pool below this


@dataclass(frozen=True, slots=True, kw_only=True)
class EventsConfig:
    # Asynchronous invokes running at once (each also takes a concurrency unit of its
    # function and an execution environment); the rest wait in the durable queue.
    workers: int = 64
    # Multiplies every async retry delay and divides event ages: 1.0 is AWS's (1 and 2 minutes
    # between retries, events kept up to MaximumEventAgeInSeconds); tests use e.g. 0.01.
    time_scale: float = 1.0


LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")


@dataclass(frozen=True, slots=True, kw_only=True)
class DaemonConfig:
    # SIGTERM: in-flight invokes (and async attempts) get this long to finish before what is
    # left is cut short; keep it below the unit's TimeoutStopSec (45 s in scripts/).
    stop_timeout_s: float = 30.0
    status_interval_s: float = 5.0  # how often systemd's STATUS= line is refreshed
    # The daemon's log level (`lambdalet serve --log-level` wins), and levels per logger
    # ({"engine.sources" = "DEBUG"}). Both change on SIGHUP.
    log_level: str = "INFO"
    log_levels: dict[str, str] = field(default_factory=dict)


# The retention periods CloudWatch Logs accepts (PutRetentionPolicy's values, in AWS's order).
LOG_RETENTION_DAYS: Final = (
    1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557,
    2922, 3288, 3653,
)  # fmt: skip


@dataclass(frozen=True, slots=True, kw_only=True)
class LogsConfig:
    # Days a log group keeps its events when it has no retention policy of its own
    # (PutRetentionPolicy); one of AWS's values (1, 3, 5, 7, 14, 30, ...). None: forever.
    retention_days: int | None = None
    # Bytes on disk per log group at most: past it the streams whose latest event is oldest
    # are removed (never one an environment still writes to). None: unbounded.
    max_group_bytes: int | None = 256 * 1024 * 1024
    sweep_interval_s: float = 60.0  # how often retention and the size bound are applied


@dataclass(frozen=True, slots=True, kw_only=True)
class UsageConfig:
    # The usage ledger behind `lambdalet cost`: per-minute aggregates, kept this many days.
    retention_days: int = 400
    # Seconds between flushes of the in-memory aggregates to disk: a kill -9 loses at most the
    # usage of this long (a clean stop flushes everything).
    flush_interval_s: float = 5.0


@dataclass(frozen=True, slots=True, kw_only=True)
class CostConfig:
    """Lambda's public prices (USD, us-east-1) that `lambdalet cost` prices usage at."""

    request_per_million: float = 0.20  # every invoke, on-demand or provisioned
    gb_second_x86_64: float = 0.0000166667  # on-demand duration (init included)
    gb_second_arm64: float = 0.0000133334
    # Provisioned concurrency: configured environments x memory x time configured ...
    provisioned_gb_second_x86_64: float = 0.0000041667
    provisioned_gb_second_arm64: float = 0.0000033334
    # ... and the duration of the invokes those environments serve.
    provisioned_duration_gb_second_x86_64: float = 0.0000097222
    provisioned_duration_gb_second_arm64: float = 0.0000077778
    # SnapStart: each published version's snapshot, cached for as long as the version exists
    # (3 hours at least), per GB of its memory and second; and each environment restored
    # from it, per GB of its memory.
    snapstart_cache_gb_second: float = 0.0000015046
    snapstart_restore_gb: float = 0.0001397998
    # Lambda's monthly free tier, deducted from on-demand requests and duration per calendar
    # month (UTC) when on.
    free_tier: bool = False
    free_tier_requests: int = 1_000_000
    free_tier_gb_seconds: float = 400_000.0

    def duration_rate(self, architecture: str, *, provisioned: bool = False) -> float:
        arm = architecture == "arm64"
        if provisioned:
            return (
                self.provisioned_duration_gb_second_arm64
                if arm
                else self.provisioned_duration_gb_second_x86_64
            )
        return self.gb_second_arm64 if arm else self.gb_second_x86_64

    def provisioned_rate(self, architecture: str) -> float:
        if architecture == "arm64":
            return self.provisioned_gb_second_arm64
        return self.provisioned_gb_second_x86_64


@dataclass(frozen=True, slots=True, kw_only=True)
class MetricsConfig:
    # Prometheus metrics: GET /metrics on the API socket and TCP listener (unsigned there), and
    # the counters behind it on the invoke path; false turns both off.
    enabled: bool = True
    # Also serve GET /metrics alone on this loopback "host:port" (e.g. "127.0.0.1:9464").
    listen: str | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    state_dir: Path = Path("/var/lib/lambdalet")  # registry, code blobs, logs
    socket_path: Path = Path("/run/lambdalet/lambdalet.sock")  # the API's unix socket
    socket_group: str | None = None  # group given rw access to the socket (mode 0660)
    # Optional loopback TCP listener ("127.0.0.1:9001") for boto3 / the AWS CLI, which cannot
    # speak HTTP over a unix socket. Every request on it must be SigV4-signed by a key in
    # `credentials_file` (any local user can reach a TCP port).
    http_listen: str | None = None
    # Access key id -> secret, in the AWS shared-credentials format; root-owned, mode 0600.
    credentials_file: Path = Path("/etc/lambdalet/credentials")
    # Optional loopback listener serving function URLs
    # (http://<url-id>.lambda-url.<region>.localhost:<port>/).
    function_url_listen: str | None = None
    region: str = "us-east-1"  # shown in ARNs and AWS_REGION
    examples_dir: Path | None = None  # deploy each example function found here at start-up
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)
    network: NetworkConfig = field(default_factory=NetworkConfig)
    runtimes: RuntimesConfig = field(default_factory=RuntimesConfig)
    concurrency: ConcurrencyConfig = field(default_factory=ConcurrencyConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    daemon: DaemonConfig = field(default_factory=DaemonConfig)
    logs: LogsConfig = field(default_factory=LogsConfig)
    usage: UsageConfig = field(default_factory=UsageConfig)
    cost: CostConfig = field(default_factory=CostConfig)
    metrics: MetricsConfig = field(default_factory=MetricsConfig)
    vpcs: tuple[Vpc, ...] = ()  # [[vpc]] documents (read-only through the API)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def _build(cls: type[Any], data: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    if cls is Config:
        fields = {("vpc" if k == "vpcs" else k): v for k, v in fields.items()}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown configuration key(s) in {where}: {', '.join(unknown)}")
    args: dict[str, Any] = {}
    for name, value in data.items():
        if name == "sandbox":
            if not isinstance(value, dict):
                raise ConfigError("[sandbox] must be a table")
            args[name] = _build(SandboxConfig, value, "[sandbox]")
        elif name == "network":
            if not isinstance(value, dict):
                raise ConfigError("[network] must be a table")
            if isinstance(value.get("nameservers"), list):
                value = {**value, "nameservers": tuple(value["nameservers"])}
            args[name] = _build(NetworkConfig, value, "[network]")
        elif name == "runtimes":
            args[name] = _build_runtimes(value)
        elif name == "concurrency":
            if not isinstance(value, dict):
                raise ConfigError("[concurrency] must be a table")
            args[name] = _build(ConcurrencyConfig, value, "[concurrency]")
        elif name == "events":
            if not isinstance(value, dict):
                raise ConfigError("[events] must be a table")
            args[name] = _build(EventsConfig, value, "[events]")
        elif name == "daemon":
            if not isinstance(value, dict):
                raise ConfigError("[daemon] must be a table")
            args[name] = _build(DaemonConfig, value, "[daemon]")
        elif name == "logs":
            if not isinstance(value, dict):
                raise ConfigError("[logs] must be a table")
            args[name] = _build(LogsConfig, value, "[logs]")
        elif name in ("usage", "cost"):
            if not isinstance(value, dict):
                raise ConfigError(f"[{name}] must be a table")
            table = UsageConfig if name == "usage" else CostConfig
            args[name] = _build(table, value, f"[{name}]")
        elif name == "metrics":
            if not isinstance(value, dict):
                raise ConfigError("[metrics] must be a table")
            args[name] = _build(MetricsConfig, value, "[metrics]")
        elif name == "vpc":
            if not isinstance(value, list) or not all(isinstance(v, dict) for v in value):
                raise ConfigError("vpc must be an array of tables ([[vpc]])")
            try:
                args["vpcs"] = tuple(parse_vpc(toml_vpc_document(doc)) for doc in value)
            except VpcConfigError as exc:
                raise ConfigError(f"{where}: [[vpc]]: {exc}") from exc
        elif name in ("state_dir", "socket_path", "examples_dir", "credentials_file"):
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{name} must be a path string")
            args[name] = Path(value)
        else:
            args[name] = value
    return cls(**args)


def _build_runtimes(value: Any) -> RuntimesConfig:
    if not isinstance(value, dict):
        raise ConfigError("[runtimes] must be a table")
    unknown = sorted(set(value) - {"search_path", "interpreters"})
    if unknown:
        raise ConfigError(f"unknown configuration key(s) in [runtimes]: {', '.join(unknown)}")
    search = value.get("search_path", RuntimesConfig().search_path)
    if not isinstance(search, list | tuple) or not all(
        isinstance(d, str) and d.startswith("/") for d in search
    ):
        raise ConfigError("runtimes.search_path must be a list of absolute directories")
    interpreters = value.get("interpreters", {})
    if not isinstance(interpreters, dict):
        raise ConfigError("[runtimes.interpreters] must be a table of runtime = path")
    for runtime, path in interpreters.items():
        if not re.fullmatch(r"python3\.(?:1[02-9]|[2-9]\d)|nodejs\d+\.x", runtime):
            raise ConfigError(
                f"runtimes.interpreters: {runtime!r} is not a runtime lambdalet can exec"
                " (python3.10, python3.12 and newer, nodejs<N>.x)"
            )
        if not isinstance(path, str) or not path.startswith("/"):
            raise ConfigError(f"runtimes.interpreters.{runtime} must be an absolute path")
    return RuntimesConfig(search_path=tuple(search), interpreters=dict(interpreters))


def toml_vpc_document(table: dict[str, Any]) -> dict[str, Any]:
    """A [[vpc]] table as a VPC document: TOML's natural `[[vpc.subnet]]` and
    `[[vpc.security_group]]` arrays are the document's `subnets` / `security_groups`."""
    doc = dict(table)
    for singular, plural in (("subnet", "subnets"), ("security_group", "security_groups")):
        if singular in doc:
            if plural in doc:
                raise ConfigError(f"[[vpc]] has both {singular} and {plural}; use one")
            doc[plural] = doc.pop(singular)
    return doc


def validate(config: Config) -> Config:
    sb = config.sandbox
    if "lambdalet" not in sb.cgroup_parent or "/" in sb.cgroup_parent:
        raise ConfigError("sandbox.cgroup_parent must be one path component containing 'lambdalet'")
    if sb.uid_base < 1000 or sb.uid_count < 1 or sb.uid_base + sb.uid_count > 2**31:
        raise ConfigError("sandbox.uid_base must be >= 1000 and the range must fit in 31 bits")
    if sb.mb_per_vcpu <= 0 or sb.max_vcpus <= 0 or sb.pids_max < 16 or sb.nofile < 64:
        raise ConfigError("sandbox.mb_per_vcpu/max_vcpus must be > 0, pids_max >= 16, nofile >= 64")
    if not 0 <= sb.prewarm <= 64:
        raise ConfigError("sandbox.prewarm must be between 0 and 64")
    if not sb.prewarm <= sb.prewarm_max <= 256:
        raise ConfigError("sandbox.prewarm_max must be between sandbox.prewarm and 256")
    if sb.keep_warm_s < 0 or sb.init_timeout_s <= 0 or sb.teardown_timeout_s <= 0:
        raise ConfigError("sandbox timeouts must be positive")
    if isinstance(sb.snapstart_idle_s, bool) or not 10 <= sb.snapstart_idle_s <= 7 * 86400:
        raise ConfigError("sandbox.snapstart_idle_s must be between 10 and 604800 seconds")
    if not 0 <= sb.init_boost_s <= sb.init_timeout_s:
        raise ConfigError("sandbox.init_boost_s must be between 0 and sandbox.init_timeout_s")
    if not isinstance(sb.freeze_idle, bool):  # "false" in quotes would be truthy
        raise ConfigError("sandbox.freeze_idle must be true or false")
    reserve = sb.memory_reserve_mb
    if reserve is not None and (
        isinstance(reserve, bool) or not isinstance(reserve, int) or not 0 <= reserve <= 2**20
    ):
        raise ConfigError("sandbox.memory_reserve_mb must be a whole number of MB, 0 to 1048576")
    limit = sb.memory_limit_mb
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 128 <= limit <= 2**20
    ):
        raise ConfigError("sandbox.memory_limit_mb must be a whole number of MB, 128 to 1048576")
    for key in ("http_listen", "function_url_listen"):
        value = getattr(config, key)
        if value is not None:
            parse_listen(value, key)
    if config.http_listen is not None and config.http_listen == config.function_url_listen:
        raise ConfigError("http_listen and function_url_listen must be different ports")
    _validate_metrics(config)
    limits = config.concurrency
    if limits.account_limit < 1 or not 0 <= limits.unreserved_minimum <= limits.account_limit:
        raise ConfigError(
            "concurrency.account_limit must be >= 1 and unreserved_minimum between 0 and it"
        )
    events = config.events
    if not 1 <= events.workers <= 10_000 or not 0 < events.time_scale <= 1:
        raise ConfigError("events.workers must be 1..10000 and events.time_scale in (0, 1]")
    _validate_daemon(config.daemon)
    _validate_logs(config.logs)
    _validate_usage(config)
    if not config.credentials_file.is_absolute():
        raise ConfigError("credentials_file must be an absolute path")
    if not config.state_dir.is_absolute() or not config.socket_path.is_absolute():
        raise ConfigError("state_dir and socket_path must be absolute paths")
    _validate_network(config)
    return config


def _validate_daemon(daemon: DaemonConfig) -> None:
    for key in ("stop_timeout_s", "status_interval_s"):
        value = getattr(daemon, key)
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 3600:
            raise ConfigError(f"daemon.{key} must be a number of seconds, above 0 and <= 3600")
    if not isinstance(daemon.log_levels, dict):
        raise ConfigError("[daemon.log_levels] must be a table of logger = level")
    levels = {"daemon.log_level": daemon.log_level}
    levels |= {f"daemon.log_levels.{k}": v for k, v in daemon.log_levels.items()}
    for key, level in levels.items():
        if not isinstance(level, str) or level.upper() not in LOG_LEVELS:
            raise ConfigError(f"{key} must be one of {', '.join(LOG_LEVELS)}, got {level!r}")


def _validate_logs(logs: LogsConfig) -> None:
    days = logs.retention_days
    if days is not None and (isinstance(days, bool) or days not in LOG_RETENTION_DAYS):
        allowed = ", ".join(map(str, LOG_RETENTION_DAYS))
        raise ConfigError(f"logs.retention_days must be one of {allowed} (or left out)")
    size = logs.max_group_bytes
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ConfigError("logs.max_group_bytes must be a positive number of bytes")
    if not isinstance(logs.sweep_interval_s, int | float) or logs.sweep_interval_s <= 0:
        raise ConfigError("logs.sweep_interval_s must be a positive number of seconds")


def _validate_usage(config: Config) -> None:
    usage = config.usage
    if not _number(usage.retention_days, whole=True) or not 1 <= usage.retention_days <= 3650:
        raise ConfigError("usage.retention_days must be a whole number of days, 1 to 3650")
    if not _number(usage.flush_interval_s) or not 0 < usage.flush_interval_s <= 300:
        raise ConfigError("usage.flush_interval_s must be in (0, 300] seconds")
    cost = config.cost
    for f in dataclasses.fields(CostConfig):
        value = getattr(cost, f.name)
        if f.name == "free_tier":
            if not isinstance(value, bool):
                raise ConfigError("cost.free_tier must be true or false")
        elif not _number(value) or value < 0:
            raise ConfigError(f"cost.{f.name} must be a number >= 0")


def _number(value: Any, *, whole: bool = False) -> bool:
    """An int (or, unless `whole`, a float) from TOML; not a bool, which is an int in Python."""
    kinds = (int,) if whole else (int, float)
    return isinstance(value, kinds) and not isinstance(value, bool)


def _validate_metrics(config: Config) -> None:
    metrics = config.metrics
    if not isinstance(metrics.enabled, bool):
        raise ConfigError("metrics.enabled must be true or false")
    if metrics.listen is None:
        return
    if not isinstance(metrics.listen, str):
        raise ConfigError('metrics.listen must be a string such as "127.0.0.1:9464"')
    if not metrics.enabled:
        raise ConfigError("metrics.listen needs metrics.enabled = true")
    address = parse_listen(metrics.listen, "metrics.listen")
    for key in ("http_listen", "function_url_listen"):
        other = getattr(config, key)
        if other is not None and parse_listen(other, key) == address:
            raise ConfigError(f"metrics.listen and {key} must be different ports")


def parse_listen(value: str, key: str = "listen") -> tuple[str, int]:
    """A loopback "host:port" (a sandbox can never reach the host's loopback)."""
    host, _, port = value.rpartition(":")
    host = host.strip("[]")
    if host not in ("127.0.0.1", "::1", "localhost") or not port.isdigit() or int(port) > 65535:
        raise ConfigError(f"{key} must be a loopback address with a port, e.g. 127.0.0.1:9001")
    return ("127.0.0.1" if host == "localhost" else host), int(port)


def _validate_network(config: Config) -> None:
    net = config.network
    try:
        default = ipaddress.IPv4Network(net.default_cidr)
    except ValueError as exc:
        raise ConfigError(f"network.default_cidr: {exc}") from exc
    if not 8 <= default.prefixlen <= 28:
        raise ConfigError("network.default_cidr must have a prefix length between 8 and 28")
    if default.overlaps(ipaddress.IPv4Network("169.254.0.0/16")):
        raise ConfigError("network.default_cidr must not overlap 169.254.0.0/16 (link-local)")
    try:
        check_prefix(net.if_prefix)
    except ValueError as exc:
        raise ConfigError(f"network.if_prefix: {exc}") from exc
    if not re.fullmatch(r"lambdalet[a-z0-9_]{0,40}", net.nft_table):
        raise ConfigError("network.nft_table must be 'lambdalet' followed by [a-z0-9_]")
    if not re.fullmatch(r"lambdalet[a-z0-9-]{0,40}-", net.netns_prefix):
        raise ConfigError("network.netns_prefix must be 'lambdalet', [a-z0-9-], ending in '-'")
    for ns in net.nameservers or ():
        try:
            ipaddress.IPv4Address(ns)
        except ValueError as exc:
            raise ConfigError(f"network.nameservers: {exc}") from exc
    if not 0 <= net.eni_pool <= 64:
        raise ConfigError("network.eni_pool must be between 0 and 64")
    if not net.eni_pool <= net.eni_pool_max <= 256:
        raise ConfigError("network.eni_pool_max must be between network.eni_pool and 256")
    try:
        check_vpc_set(config.vpcs, reserved=(default,))
    except VpcConfigError as exc:
        raise ConfigError(f"[[vpc]]: {exc}") from exc


def load_config(path: Path | None, **overrides: Any) -> Config:
    """Read `path` (TOML) if given, apply command-line overrides, validate."""
    config = Config()
    if path is not None:
        try:
            with open(path, "rb") as f:
                data = tomllib.load(f)
        except OSError as exc:
            raise ConfigError(f"cannot read config file {path}: {exc.strerror}") from exc
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {path} is not valid TOML: {exc}") from exc
        config = _build(Config, data, os.fspath(path))
    config = config.replace(**{k: v for k, v in overrides.items() if v is not None})
    return validate(config)
