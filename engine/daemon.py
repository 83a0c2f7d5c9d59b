"""``lambdalet serve``: the root daemon, as a checklist.

check privileges → prepare the state directory → sweep a crashed predecessor's leftovers →
open the registry → bind the API socket safely → start the spawner and the pool → deploy
examples → serve HTTP until SIGTERM/SIGINT → tear every sandbox down → remove the socket.

Resource handling: everything the daemon creates (cgroups under the configured parent, the
socket, sandboxes) is released on the way out, also on errors; what a SIGKILLed daemon
leaves behind is removed by the next start's sweep.
"""

from __future__ import annotations

import functools
import grp
import ipaddress
import json
import logging
import os
import shutil
import signal
import socket
import stat
import sys
import time
from pathlib import Path
from typing import Any

import trio
from hypercorn.config import Config as HypercornConfig

from engine.api.common import MAX_CONTROL_BODY_BYTES, guard
from engine.api.concurrency import ConcurrencyApi, concurrency_routes
from engine.api.functions import Api, build_app
from engine.api.resources import ResourceApi, resource_routes
from engine.auth.credentials import CredentialsFile
from engine.auth.gate import SigV4Middleware
from engine.config import Config, parse_listen
from engine.control.functions import FunctionService
from engine.errors import ApiError, ConfigError
from engine.host.http_serve import Binding, serve_bindings
from engine.invoke.concurrency import Concurrency
from engine.invoke.invoker import Invoker
from engine.invoke.pool import PoolPaths, open_pool
from engine.invoke.provisioned import Provisioner
from engine.model.function_requests import CreateFunctionRequest, parse_create_function
from engine.network.service import open_network
from engine.registry.packaging import zip_directory
from engine.registry.registry import Registry
from engine.runtime.catalog import RuntimeCatalog, discover, stage_exec_python
from engine.urls.api import UrlApi, url_routes
from engine.urls.server import UrlServer
from engine.urls.service import UrlService
from sandbox.cgroups import Cgroups
from sandbox.errors import SandboxError
from sandbox.launcher import open_spawner
from sandbox.rootfs import check_mount_api

logger = logging.getLogger(__name__)

EXAMPLE_CONFIG = "lambdalet.json"
_DEFAULT_ROLE = "arn:aws:iam::000000000000:role/lambdalet"


def check_host(config: Config) -> None:
    if os.geteuid() != 0:
        raise ConfigError(
            "lambdalet serve must run as root: it creates namespaces, cgroups and mounts "
            "(run it with sudo, or as the systemd service)"
        )
    if config.network.enabled and shutil.which("nft") is None:
        raise ConfigError(
            "networking needs the nft command (Debian/Ubuntu package 'nftables'; "
            "scripts/setup.sh installs it), or set network.enabled = false"
        )
    base = os.path.realpath(sys.base_prefix)
    if not (base == "/usr" or base.startswith("/usr/")):
        raise ConfigError(
            f"the daemon's Python ({sys.executable}, stdlib under {base}) must be the "
            "distribution's interpreter (/usr/bin/python3.11 or a venv made from it): sandboxes "
            "see only /usr, so its standard library must live there"
        )


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


def sweep_leftovers(cgroups: Cgroups) -> int:
    """Kill and remove sandbox cgroups a crashed predecessor left; returns how many."""
    swept = 0
    for name in cgroups.children():
        try:
            for _ in range(200):
                cgroups.kill_all(name)
                if not cgroups.populated(name):
                    break
                time.sleep(0.005)  # start-up only: nothing is served yet
            for _ in range(100):
                try:
                    cgroups.destroy(name)
                    break
                except SandboxError:
                    time.sleep(0.005)
            swept += 1
        except (OSError, SandboxError) as exc:
            logger.error("could not remove leftover cgroup %s: %s", name, exc)
    return swept


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


def sd_notify(state: str) -> None:
    addr = os.environ.get("NOTIFY_SOCKET")
    if not addr:
        return
    if addr.startswith("@"):
        addr = "\0" + addr[1:]
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM | socket.SOCK_CLOEXEC) as s:
        try:
            s.connect(addr)
            s.sendall(state.encode())
        except OSError as exc:
            logger.warning("sd_notify(%s) failed: %s", state, exc)


def discover_runtimes(config: Config) -> RuntimeCatalog:
    """What this host runs; exec'd pythons get their runtime staged under the state dir."""
    staged = stage_exec_python(config.state_dir / "runtimes" / "python-exec")
    os.chmod(staged.parent, 0o755)
    return discover(
        search_path=config.runtimes.search_path,
        interpreters=config.runtimes.interpreters,
        exec_python_dir=staged,
    )


def load_examples(examples_dir: Path, runtimes: RuntimeCatalog) -> list[CreateFunctionRequest]:
    """Each example is a directory with a lambdalet.json (CreateFunction settings)."""
    requests = []
    for directory in sorted(p for p in examples_dir.iterdir() if (p / EXAMPLE_CONFIG).is_file()):
        settings: dict[str, Any] = json.loads((directory / EXAMPLE_CONFIG).read_text())
        body = {"FunctionName": directory.name, "Role": _DEFAULT_ROLE, **settings}
        body["Code"] = {"ZipFile": zip_directory(directory, exclude=(EXAMPLE_CONFIG,))}
        requests.append(
            parse_create_function(
                body,
                supported_runtimes=runtimes.names(),
                explain_runtime=runtimes.unsupported_reason,
            )
        )
    return requests


async def deploy_examples(
    functions: FunctionService, examples_dir: Path, runtimes: RuntimeCatalog
) -> list[str]:
    """Create each example function that does not exist yet; returns the names created."""
    deployed = []
    for req in await trio.to_thread.run_sync(load_examples, examples_dir, runtimes):
        try:
            functions.get(req.name)
            continue
        except ApiError:
            pass
        await functions.create(req)
        deployed.append(req.name)
    return deployed


async def serve(
    config: Config, *, task_status: trio.TaskStatus[Path] = trio.TASK_STATUS_IGNORED
) -> None:
    """Run the daemon until SIGTERM/SIGINT (or cancellation)."""
    check_host(config)
    paths = prepare_state_dir(config)
    try:
        check_mount_api(os.fspath(config.state_dir))
    except SandboxError as exc:
        raise ConfigError(str(exc)) from exc
    try:
        cgroups = Cgroups.detect(parent_name=config.sandbox.cgroup_parent)
        cgroups.prepare()
    except SandboxError as exc:
        raise ConfigError(f"cannot use cgroups: {exc}") from exc
    swept = sweep_leftovers(cgroups)
    if swept:
        logger.warning("removed %d sandbox(es) left by a previous daemon", swept)
    logger.info("cgroups: %s", cgroups.describe())
    runtimes = await trio.to_thread.run_sync(discover_runtimes, config)  # runs node --version
    logger.info("runtimes: %s", ", ".join(runtimes.names()))
    credentials = load_credentials(config)
    registry = Registry(config.state_dir, region=config.region)
    listen = bind_api_socket(config.socket_path, config.socket_group)
    tcp = [bind_tcp(address) for address in (config.http_listen, config.function_url_listen)]
    try:
        functions = FunctionService(registry)
        async with (
            open_network(
                config=config, registry=registry, functions=registry.all_functions
            ) as network,
            open_spawner(tag=config.sandbox.cgroup_parent) as spawner,
            open_pool(
                config=config,
                cgroups=cgroups,
                spawner=spawner,
                paths=paths,
                code_dir=functions.code_dir,
                opt_dir=functions.opt_dir,
                runtimes=runtimes,
                network=network,
            ) as pool,
            trio.open_nursery() as nursery,
        ):
            functions.pool = pool
            functions.network = network
            concurrency = Concurrency(
                account_limit=config.concurrency.account_limit,
                unreserved_minimum=config.concurrency.unreserved_minimum,
            )
            invoker = Invoker(
                functions=functions, pool=pool, region=config.region, concurrency=concurrency
            )
            provisioner = Provisioner(functions, pool, region=config.region)
            url_port = (
                parse_listen(config.function_url_listen)[1] if config.function_url_listen else None
            )
            urls = UrlService(functions, region=config.region, port=url_port)
            functions.on_delete += [
                concurrency.forget,
                provisioner.forget_function,
                urls.forget_function,
            ]
            extra = [
                *resource_routes(ResourceApi(functions, region=config.region), guard),
                *concurrency_routes(ConcurrencyApi(functions, concurrency, provisioner), guard),
                *url_routes(UrlApi(urls), guard),
            ]
            app = build_app(
                Api(
                    functions=functions,
                    invoker=invoker,
                    region=config.region,
                    runtimes=runtimes,
                    concurrency=concurrency,
                    network=network,
                ),
                extra,
            )
            if config.examples_dir is not None:
                names = await deploy_examples(functions, config.examples_dir, runtimes)
                if names:
                    logger.info("deployed example functions: %s", ", ".join(names))
            nursery.start_soon(provisioner.run)
            bindings = [Binding(app, listen, log_peer=True)]
            api_tcp, url_tcp = tcp
            if api_tcp is not None:
                assert credentials is not None and config.http_listen is not None
                signed = SigV4Middleware(
                    app,
                    credentials=credentials,
                    hosts=listen_hosts(config.http_listen),
                    region=config.region,
                    max_body=MAX_CONTROL_BODY_BYTES,
                )
                bindings.append(Binding(signed, api_tcp))
            if url_tcp is not None:
                server = UrlServer(urls, invoker, credentials=credentials, region=config.region)
                bindings.append(Binding(server, url_tcp))
            await _serve_http(bindings, config, task_status)
            nursery.cancel_scope.cancel()
    finally:
        listen.close()
        for sock in tcp:
            if sock is not None:
                sock.close()
        registry.close()
        try:
            os.unlink(config.socket_path)
        except FileNotFoundError:
            pass
        try:
            cgroups.remove_parent()
        except (OSError, SandboxError) as exc:
            logger.warning("could not remove the cgroup parent: %s", exc)


def load_credentials(config: Config) -> CredentialsFile | None:
    """The API's TCP listener needs the credentials file (fatal if missing or unsafe);
    function URLs use it only for AWS_IAM URLs."""
    credentials = CredentialsFile(config.credentials_file)
    if config.http_listen is not None:
        keys = credentials.load()
        logger.info("TCP API: %d access key(s) from %s", len(keys), config.credentials_file)
        return credentials
    if config.function_url_listen is not None and config.credentials_file.exists():
        credentials.load()
        return credentials
    return None


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


async def _serve_http(
    bindings: list[Binding], config: Config, task_status: trio.TaskStatus[Path]
) -> None:
    hc = HypercornConfig()
    hc.accesslog = None
    hc.errorlog = logging.getLogger("hypercorn.error")
    hc.keep_alive_timeout = 75
    stop = trio.Event()
    async with trio.open_nursery() as nursery:

        async def watch_signals() -> None:
            with trio.open_signal_receiver(signal.SIGTERM, signal.SIGINT) as signals:
                async for signum in signals:
                    logger.info("received %s; shutting down", signal.Signals(signum).name)
                    sd_notify("STOPPING=1")
                    stop.set()
                    return

        nursery.start_soon(watch_signals)
        await nursery.start(functools.partial(serve_bindings, bindings, hc, shutdown=stop.wait))
        sd_notify("READY=1")
        logger.info("lambdalet listening on %s", config.socket_path)
        for name in ("http_listen", "function_url_listen"):
            if getattr(config, name):
                logger.info("%s: %s", name, getattr(config, name))
        task_status.started(config.socket_path)
        await stop.wait()
        nursery.cancel_scope.cancel()


__all__ = ["bind_api_socket", "serve"]
