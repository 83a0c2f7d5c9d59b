"""The state directory (0700) and what sandboxes see of it: an empty rootfs mount point, the logs
folder, and a minimal read-only /etc (users, hosts, name service)."""

from __future__ import annotations

import ipaddress
import os
from pathlib import Path

from engine.config import Config
from engine.invoke.plan import PoolPaths


def prepare_state_dir(config: Config) -> PoolPaths:
    state = config.state_dir
    state.mkdir(parents=True, exist_ok=True)
    os.chmod(state, 0o700)
    rootfs = state / "rootfs"  # only ever a mount point inside sandboxes' mount namespaces
    rootfs.mkdir(exist_ok=True)
    logs = state / "logs"
    logs.mkdir(exist_ok=True)
    etc = state / "etc"
    etc.mkdir(exist_ok=True)
    os.chmod(etc, 0o755)
    write_sandbox_etc(
        etc,
        uid_base=config.sandbox.uid_base,
        uid_count=config.sandbox.uid_count,
        nameservers=sandbox_nameservers(config) if config.network.enabled else (),
    )
    return PoolPaths(rootfs_dir=rootfs, etc_dir=etc, logs_dir=logs)


def sandbox_nameservers(config: Config) -> tuple[str, ...]:
    """DNS servers for sandboxes: the configured ones, else the host's that a sandbox can
    reach through NAT (loopback resolvers such as systemd-resolved's 127.0.0.53 are skipped;
    their upstream servers are used when systemd publishes them)."""
    if config.network.nameservers is not None:
        return config.network.nameservers
    for path in ("/etc/resolv.conf", "/run/systemd/resolve/resolv.conf"):
        found = tuple(
            ns for ns in read_nameservers(path) if not ipaddress.ip_address(ns).is_loopback
        )
        if found:
            return found
    return ()


def read_nameservers(path: str) -> list[str]:
    try:
        with open(path) as f:
            lines = f.read().splitlines()
    except OSError:
        return []
    out = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver":
            try:
                out.append(str(ipaddress.IPv4Address(parts[1])))
            except ValueError:
                continue  # IPv6 servers are unreachable: ENIs are IPv4 only
    return out


def write_sandbox_etc(
    etc: Path, *, uid_base: int, uid_count: int, nameservers: tuple[str, ...] = ()
) -> None:
    """The minimal /etc every sandbox sees (read-only): users, hosts, name service."""
    users = range(uid_base, uid_base + uid_count)
    files = {
        "passwd": "root:x:0:0:root:/root:/usr/sbin/nologin\n"
        + "".join(f"sbx_user{u}:x:{u}:{u}::/tmp:/usr/sbin/nologin\n" for u in users),
        "group": "root:x:0:\n" + "".join(f"sbx_user{u}:x:{u}:\n" for u in users),
        "hosts": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n",
        "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files dns\n",
        "resolv.conf": "".join(f"nameserver {ns}\n" for ns in nameservers),
    }
    if os.path.exists("/etc/os-release"):
        with open("/etc/os-release") as f:
            files["os-release"] = f.read()
    for name, text in files.items():
        path = etc / name
        tmp = etc / f".{name}.tmp"
        tmp.write_text(text)
        os.chmod(tmp, 0o644)
        os.replace(tmp, path)
