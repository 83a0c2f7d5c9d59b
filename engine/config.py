"""The daemon's configuration: one frozen tree, loaded from TOML, unknown keys rejected.

Every field documents its unit and default; the README's configuration table mirrors this.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from engine.errors import ConfigError


@dataclass(frozen=True, slots=True, kw_only=True)
class SandboxConfig:
    keep_warm_s: float = 600.0  # idle environments are reclaimed after this many seconds
    mb_per_vcpu: float = 1769.0  # memory that buys one vCPU of CPU quota (AWS: 1,769 MB)
    max_vcpus: float = 6.0  # CPU quota cap, also capped at the host's CPU count
    pids_max: int = 1024  # processes + threads per sandbox (Lambda's quota)
    nofile: int = 1024  # RLIMIT_NOFILE per sandbox (Lambda's quota)
    uid_base: int = 200000  # first uid/gid handed to sandboxes; one per live sandbox
    uid_count: int = 1000  # how many uids, hence the most sandboxes alive at once
    cgroup_parent: str = "lambdalet"  # name of the parent cgroup (must contain "lambdalet")
    init_timeout_s: float = 10.0  # Lambda's init phase limit
    prewarm: int = 2  # stems (prepared, unspecialized sandboxes) kept ready for cold starts
    teardown_timeout_s: float = 10.0  # bound on waiting for a killed sandbox's cgroup to empty


@dataclass(frozen=True, slots=True, kw_only=True)
class Config:
    state_dir: Path = Path("/var/lib/lambdalet")  # registry, code blobs, logs
    socket_path: Path = Path("/run/lambdalet/lambdalet.sock")  # the API's unix socket
    socket_group: str | None = None  # group given rw access to the socket (mode 0660)
    # Optional loopback TCP listener ("127.0.0.1:9001") for boto3 / the AWS CLI, which cannot
    # speak HTTP over a unix socket. Off by default: any local user can reach a TCP port.
    http_listen: str | None = None
    region: str = "us-east-1"  # shown in ARNs and AWS_REGION
    examples_dir: Path | None = None  # deploy each example function found here at start-up
    sandbox: SandboxConfig = field(default_factory=SandboxConfig)

    def replace(self, **changes: Any) -> Config:
        return dataclasses.replace(self, **changes)


def _build(cls: type[Any], data: dict[str, Any], where: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(data) - set(fields))
    if unknown:
        raise ConfigError(f"unknown configuration key(s) in {where}: {', '.join(unknown)}")
    args: dict[str, Any] = {}
    for name, value in data.items():
        if name == "sandbox":
            if not isinstance(value, dict):
                raise ConfigError("[sandbox] must be a table")
            args[name] = _build(SandboxConfig, value, "[sandbox]")
        elif name in ("state_dir", "socket_path", "examples_dir"):
            if not isinstance(value, str):
                raise ConfigError(f"{where}.{name} must be a path string")
            args[name] = Path(value)
        else:
            args[name] = value
    return cls(**args)


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
    if sb.keep_warm_s < 0 or sb.init_timeout_s <= 0 or sb.teardown_timeout_s <= 0:
        raise ConfigError("sandbox timeouts must be positive")
    if config.http_listen is not None:
        host, _, port = config.http_listen.rpartition(":")
        if host.strip("[]") not in ("127.0.0.1", "::1", "localhost") or not port.isdigit():
            raise ConfigError(
                "http_listen must be a loopback address with a port, e.g. 127.0.0.1:9001"
            )
    if not config.state_dir.is_absolute() or not config.socket_path.is_absolute():
        raise ConfigError("state_dir and socket_path must be absolute paths")
    return config


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
