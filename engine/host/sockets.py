"""The daemon's listening sockets: the API's unix socket (bound safely: root-owned directory, mode
0660, no stale or foreign socket replaced) and the optional loopback TCP listeners."""

from __future__ import annotations

import grp
import os
import socket
import stat
from pathlib import Path

from engine.config import parse_listen
from engine.errors import ConfigError


def bind_api_socket(path: Path, group: str | None) -> socket.socket:
    """Bind the API's unix socket, refusing unsafe locations; mode 0660, owner root."""
    parent = path.parent
    parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    st = os.lstat(parent)
    if st.st_uid != 0 or st.st_mode & (stat.S_IWGRP | stat.S_IWOTH) or stat.S_ISLNK(st.st_mode):
        raise ConfigError(
            f"refusing to create the API socket in {parent}: the directory must be owned by "
            "root, not a symlink, and writable by nobody else"
        )
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        pass
    else:
        if not stat.S_ISSOCK(st.st_mode):
            raise ConfigError(f"refusing to replace {path}: it exists and is not a socket")
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as probe:
            try:
                probe.connect(os.fspath(path))
            except OSError:
                os.unlink(path)  # a stale socket from a daemon that died
            else:
                raise ConfigError(f"another lambdalet daemon is already listening on {path}")
    gid = 0
    if group is not None:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            raise ConfigError(f"socket_group {group!r} does not exist") from None
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    old_umask = os.umask(0o177)  # never visible with looser permissions, even for a moment
    try:
        sock.bind(os.fspath(path))
    finally:
        os.umask(old_umask)
    os.chown(path, 0, gid)
    os.chmod(path, 0o660)
    sock.listen(128)
    sock.setblocking(False)
    return sock


def bind_tcp(address: str | None) -> socket.socket | None:
    if address is None:
        return None
    host, port = parse_listen(address)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"cannot listen on {address}: {exc.strerror}") from exc
    sock.setblocking(False)
    return sock


def listen_hosts(address: str) -> tuple[str, ...]:
    """The Host header values a signed request to `address` may carry."""
    host, port = parse_listen(address)
    names = ["[::1]", "localhost"] if host == "::1" else ["127.0.0.1", "localhost"]
    return tuple(f"{name}:{port}" for name in names)
