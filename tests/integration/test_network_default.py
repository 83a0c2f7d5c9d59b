"""The default network (functions without VpcConfig): NAT out, nothing else in or out."""

from __future__ import annotations

import ipaddress
import os
import socket
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.integration.conftest import Daemon, wait_until
from tests.integration.netfixtures import (
    HOST_ADDR,
    INET_ADDR,
    INET_NS,
    METADATA_ADDR,
    PROBE,
    UDP_PORT,
    Server,
    connect_from,
    fake_internet,
    probe,
    raw_send_in,
    sandbox_pid,
    wait_for_udp,
)

pytestmark = pytest.mark.privileged


@pytest.fixture(scope="module")
def internet(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    yield from fake_internet(tmp_path_factory.mktemp("inet"))


@pytest.fixture(scope="module")
def host_listener() -> Iterator[int]:
    """A TCP service on the host, on every address: sandboxes must not reach it."""
    srv = socket.socket()
    srv.bind(("0.0.0.0", 0))
    srv.listen(16)
    port: int = srv.getsockname()[1]
    stop = threading.Event()

    def serve() -> None:
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = srv.accept()
                conn.sendall(b"host")
                conn.close()
            except OSError:
                pass

    t = threading.Thread(target=serve, daemon=True)
    t.start()
    yield port
    stop.set()
    t.join()
    srv.close()


def test_a_function_reaches_the_internet_through_nat(
    daemon: Daemon, deploy: Callable[..., str], internet: Server
) -> None:
    name = deploy(PROBE, Timeout=15)
    out = probe(daemon, name, {"tcp": {"web": [INET_ADDR, 80], "tls": [INET_ADDR, 443]}})
    # The far end sees the host's address: the sandbox's own was masqueraded.
    assert out["web"] == f"ok:{HOST_ADDR}"
    assert out["tls"] == f"ok:{HOST_ADDR}"
    assert ipaddress.IPv4Address(out["ip"]) in ipaddress.IPv4Network(daemon.default_cidr)


def test_a_function_cannot_reach_the_host_or_the_metadata_service(
    daemon: Daemon, deploy: Callable[..., str], internet: Server, host_listener: int
) -> None:
    name = deploy(PROBE, Timeout=15)
    out = probe(
        daemon,
        name,
        {
            "tcp": {
                "host": [HOST_ADDR, host_listener],
                "metadata": [METADATA_ADDR, 80],
                "control": [INET_ADDR, 80],
                "api_loopback": ["127.0.0.1", daemon.port],  # the sandbox's own loopback
                "api_host": [HOST_ADDR, daemon.port],
            }
        },
    )
    assert out["control"] == f"ok:{HOST_ADDR}"  # the network works...
    assert out["host"].startswith("blocked:")  # ...but not towards the host
    assert out["metadata"].startswith("blocked:")
    assert out["api_loopback"].startswith("blocked:")  # the daemon's API is not in reach
    assert out["api_host"].startswith("blocked:")
    assert connect_from(INET_NS, HOST_ADDR, host_listener) == "ok:host"  # the service is up


def test_nothing_reaches_a_sandbox_from_outside_or_from_another_sandbox(
    daemon: Daemon, deploy: Callable[..., str], internet: Server
) -> None:
    listener = deploy(PROBE, Timeout=15)
    other = deploy(PROBE, Timeout=15)
    address = probe(daemon, listener, {"listen": [8080]})["ip"]
    # The listener is there: the sandbox reaches itself on its own address.
    assert probe(daemon, listener, {"tcp": {"self": [address, 8080]}})["self"] == "ok:sandbox"
    assert connect_from(INET_NS, address, 8080).startswith("blocked:")
    out = probe(daemon, other, {"tcp": {"neighbour": [address, 8080]}})
    assert out["neighbour"].startswith("blocked:")
    assert out["ip"] != address


def test_a_sandbox_cannot_send_from_an_address_it_does_not_own(
    daemon: Daemon, deploy: Callable[..., str], internet: Server
) -> None:
    name = deploy(PROBE, Timeout=15)
    first = probe(daemon, name, {})
    own = first["ip"]
    neighbour = str(ipaddress.IPv4Address(own) + 1)
    out = probe(
        daemon,
        name,
        {
            "raw": True,
            "udp_spoof": [
                {"from": neighbour, "to": INET_ADDR, "port": UDP_PORT, "tag": "freebind"},
            ],
        },
    )
    assert out["raw"].startswith("refused:")  # no CAP_NET_RAW: no crafted packets
    assert out["spoof:freebind"] != "sent" or not wait_for_udp(internet, "freebind", 0.5)
    # Negative control: root with CAP_NET_RAW inside the same namespace crafts packets. The
    # honest one arrives (NATed); the spoofed ones are dropped by the host.
    pid = sandbox_pid(daemon.cgroup_parent, first["host"])
    raw_send_in(pid, own, INET_ADDR, UDP_PORT, "honest")
    raw_send_in(pid, neighbour, INET_ADDR, UDP_PORT, "neighbour")
    raw_send_in(pid, "8.8.8.8", INET_ADDR, UDP_PORT, "public")
    assert wait_for_udp(internet, "honest") == [HOST_ADDR]
    assert wait_for_udp(internet, "neighbour", timeout_s=0.5) == []
    assert wait_for_udp(internet, "public", timeout_s=0.2) == []


def test_the_sandbox_sees_one_interface_with_ipv6_off(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    name = deploy(
        """
        import os, socket
        def handler(event, context):
            return {
                "links": sorted(os.listdir("/proc/sys/net/ipv4/conf")),
                "eth0_v6_off": open("/proc/sys/net/ipv6/conf/eth0/disable_ipv6").read().strip(),
                "routes": open("/proc/net/route").read().split("\\n")[1:3],
            }
        """
    )
    resp = daemon.invoke(name, {})
    assert resp.status == 200, resp.body
    out = resp.json()
    assert out["links"] == ["all", "default", "eth0", "lo"]
    assert out["eth0_v6_off"] == "1"


def test_environments_leave_no_links_behind_when_they_go(
    daemon_factory: Callable[[], Daemon], tmp_path: Path
) -> None:
    d = daemon_factory()
    d.start()
    try:
        assert d.create("net-gone", PROBE).status == 201
        assert d.invoke("net-gone", {}).status == 200
        assert list_links(d.if_prefix)  # the environment's ENI and the ready ones
    finally:
        d.stop()
    assert wait_until(lambda: not list_links(d.if_prefix), 5), list_links(d.if_prefix)


def list_links(prefix: str) -> list[str]:
    return [n for n in os.listdir("/sys/class/net") if n.startswith(prefix)]


def test_every_sandbox_process_is_in_the_enis_namespace_init_included(
    daemon: Daemon, deploy: Callable[..., str]
) -> None:
    # Stems make no network namespace of their own when networking is on: their init and
    # runtime start in the host's and join the ENI's at specialization. A process left in
    # the host's would show the host's interfaces in /proc/<pid>/net/dev to the function.
    name = deploy(
        """
        import os
        def handler(event, context):
            seen = {}
            for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
                try:
                    lines = open(f"/proc/{pid}/net/dev").read().splitlines()[2:]
                except OSError as exc:
                    seen[pid] = type(exc).__name__
                    continue
                seen[pid] = sorted(line.split(":")[0].strip() for line in lines)
            return seen
        """
    )
    resp = daemon.invoke(name, {})
    assert resp.status == 200, resp.body
    seen = resp.json()
    assert seen.get("1") == ["eth0", "lo"], seen  # init, readable and in the ENI's namespace
    assert all(links == ["eth0", "lo"] for links in seen.values()), seen
    # The control: a process in the host's namespace (this test) shows the host's interfaces
    # there, the ENIs' host ends among them.
    assert daemon.if_prefix in Path("/proc/self/net/dev").read_text()
