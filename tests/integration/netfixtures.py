"""A fake internet for network tests, and the probe function that runs inside sandboxes.

The fake internet is a network namespace this test run creates, wired to the host with a
veth (`lbtinet`, host side 198.18.0.1/24, far side 198.18.0.2/24; 198.18.0.0/15 is the
benchmarking range, never routed on the real internet). A server in it answers every TCP
connection with the address it came from, and records every UDP datagram's source. The
metadata address 169.254.169.254 is routed there too, so that if the firewall failed to stop
a sandbox, its packets would still never leave this host.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.conftest import TEST_TAG
from tests.integration.conftest import Daemon

INET_NS = f"{TEST_TAG}-inet"
INET_HOST_IF = "lbtinet"
HOST_ADDR = "198.18.0.1"
INET_ADDR = "198.18.0.2"
METADATA_ADDR = "169.254.169.254"
TCP_PORTS = (80, 443, 5432, 2222)
UDP_PORT = 5353

# Serves in whatever namespace it is started in: TCP on argv ports answers the peer's
# address; UDP on UDP_PORT appends each datagram's source to the file argv[1].
SERVER = textwrap.dedent(
    """
    import socket, sys, threading
    log = sys.argv[1]
    def tcp(port):
        s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("0.0.0.0", port)); s.listen(64)
        while True:
            c, peer = s.accept()
            try:
                c.sendall(peer[0].encode())
            finally:
                c.close()
    def udp(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("0.0.0.0", port))
        while True:
            data, peer = s.recvfrom(2048)
            with open(log, "a") as f:
                f.write(peer[0] + " " + data.decode(errors="replace") + "\\n")
    ports = [int(p) for p in sys.argv[2].split(",")]
    for p in ports:
        threading.Thread(target=tcp, args=(p,), daemon=True).start()
    threading.Thread(target=udp, args=(int(sys.argv[3]),), daemon=True).start()
    print("ready", flush=True)
    threading.Event().wait()
    """
)

# The function every network test deploys: it tries each target and says what happened.
PROBE = """
import json, socket, threading

def _own_address():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.connect(("198.18.0.2", 9))  # a UDP connect sends nothing; it picks a source
        return s.getsockname()[0]
    finally:
        s.close()

def _listen(port):
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(16)
    def serve():
        while True:
            c, _ = srv.accept()
            c.sendall(b"sandbox")
            c.close()
    threading.Thread(target=serve, daemon=True).start()

LISTENING = set()

def handler(event, context):
    out = {"ip": _own_address(), "host": socket.gethostname()}
    for port in event.get("listen", []):
        if port not in LISTENING:
            _listen(port)
            LISTENING.add(port)
    for name, (host, port) in event.get("tcp", {}).items():
        s = socket.socket()
        s.settimeout(event.get("timeout", 1.0))
        try:
            s.connect((host, port))
            out[name] = "ok:" + s.recv(64).decode()
        except OSError as e:
            out[name] = "blocked:" + type(e).__name__
        finally:
            s.close()
    for spoof in event.get("udp_spoof", []):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.setsockopt(socket.SOL_IP, 15, 1)  # IP_FREEBIND: bind an address we do not own
            s.bind((spoof["from"], 0))
            s.sendto(spoof["tag"].encode(), (spoof["to"], spoof["port"]))
            out["spoof:" + spoof["tag"]] = "sent"
        except OSError as e:
            out["spoof:" + spoof["tag"]] = "refused:" + type(e).__name__
        finally:
            s.close()
    if event.get("raw"):
        try:
            socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_UDP).close()
            out["raw"] = "allowed"
        except OSError as e:
            out["raw"] = "refused:" + type(e).__name__
    return out
"""


def probe(daemon: Daemon, name: str, event: dict[str, Any]) -> dict[str, Any]:
    """Invoke the PROBE function; its result (the invoke itself must succeed)."""
    resp = daemon.invoke(name, event)
    assert resp.status == 200, resp.body
    assert "x-amz-function-error" not in resp.headers, resp.body
    result: dict[str, Any] = resp.json()
    return result


def ip(*args: str, netns: str | None = None, check: bool = True) -> str:
    cmd = ["ip", *(["-n", netns] if netns else []), *args]
    result = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)}: {result.stderr.strip()}")
    return result.stdout


@dataclass
class Server:
    """The server script running in a namespace; `udp_log` collects datagram sources."""

    process: subprocess.Popen[str]
    udp_log: Path

    def udp_sources(self) -> list[str]:
        return self.udp_log.read_text().splitlines() if self.udp_log.exists() else []

    def stop(self) -> None:
        self.process.kill()
        self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()


def start_server(netns: str, log_dir: Path, ports: tuple[int, ...] = TCP_PORTS) -> Server:
    log = log_dir / f"udp-{netns}.log"
    script = log_dir / "server.py"
    script.write_text(SERVER)
    proc = subprocess.Popen(
        ["ip", "netns", "exec", netns, sys.executable, "-I", str(script), str(log),
         ",".join(map(str, ports)), str(UDP_PORT)],
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    assert proc.stdout is not None
    if proc.stdout.readline().strip() != "ready":
        proc.kill()
        raise RuntimeError(f"server in {netns} did not start")
    return Server(proc, log)


def fake_internet(log_dir: Path) -> Iterator[Server]:
    """Build the fake internet; yield its server; remove everything afterwards."""
    ip("netns", "add", INET_NS)
    try:
        ip("link", "add", INET_HOST_IF, "type", "veth", "peer", "name", "eth0", "netns", INET_NS)
        ip("addr", "add", f"{HOST_ADDR}/24", "dev", INET_HOST_IF)
        ip("link", "set", INET_HOST_IF, "up")
        ip("addr", "add", f"{INET_ADDR}/24", "dev", "eth0", netns=INET_NS)
        ip("addr", "add", f"{METADATA_ADDR}/32", "dev", "lo", netns=INET_NS)
        ip("link", "set", "eth0", "up", netns=INET_NS)
        ip("link", "set", "lo", "up", netns=INET_NS)
        ip("route", "add", "default", "via", HOST_ADDR, netns=INET_NS)
        ip("route", "add", f"{METADATA_ADDR}/32", "via", INET_ADDR, "dev", INET_HOST_IF)
        server = start_server(INET_NS, log_dir)
        try:
            yield server
        finally:
            server.stop()
    finally:
        ip("route", "del", f"{METADATA_ADDR}/32", check=False)
        ip("link", "del", INET_HOST_IF, check=False)
        ip("netns", "del", INET_NS, check=False)


def connect_from(netns: str, host: str, port: int, timeout_s: float = 1.0) -> str:
    """Try a TCP connection from inside `netns`; 'ok:<greeting>' or 'blocked:<error>'."""
    code = (
        "import socket, sys\n"
        "s = socket.socket(); s.settimeout(float(sys.argv[3]))\n"
        "try:\n"
        "    s.connect((sys.argv[1], int(sys.argv[2]))); print('ok:' + s.recv(64).decode())\n"
        "except OSError as e:\n"
        "    print('blocked:' + type(e).__name__)\n"
    )
    result = subprocess.run(
        ["ip", "netns", "exec", netns, sys.executable, "-I", "-c", code, host, str(port),
         str(timeout_s)],
        capture_output=True, text=True, check=True, timeout=30,
    )  # fmt: skip
    return result.stdout.strip()


RAW_SEND = textwrap.dedent(
    """
    import socket, struct, sys
    src, dst, port, tag = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4].encode()
    udp = struct.pack("!HHHH", 40000, port, 8 + len(tag), 0) + tag  # checksum 0: none
    hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 0, 0, 0, 64, 17, 0,
                      socket.inet_aton(src), socket.inet_aton(dst))  # the kernel fills the rest
    s = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_RAW)
    s.sendto(hdr + udp, (dst, 0))
    """
)


def raw_send_in(pid: int, src: str, dst: str, port: int, tag: str) -> None:
    """As root, with CAP_NET_RAW, inside the network namespace of `pid`: send one UDP
    datagram from `src` (spoofed or not). The negative control for the host's anti-spoofing."""
    subprocess.run(
        ["nsenter", f"--net=/proc/{pid}/ns/net", sys.executable, "-I", "-c", RAW_SEND,
         src, dst, str(port), tag],
        check=True, timeout=30,
    )  # fmt: skip


def sandbox_pid(daemon_cgroup_parent: str, hostname: str) -> int:
    """A process of the sandbox whose hostname is `hostname` (lambdalet-<sandbox id>)."""
    sandbox_id = hostname.removeprefix("lambdalet-")
    procs = Path("/sys/fs/cgroup/pids") / daemon_cgroup_parent / f"sb-{sandbox_id}" / "cgroup.procs"
    pids = [int(p) for p in procs.read_text().split()]
    return max(pids)  # the runtime (init's pid is lower)


def wait_for_udp(server: Server, tag: str, timeout_s: float = 2.0) -> list[str]:
    """Sources of datagrams carrying `tag` that arrived within `timeout_s`."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        hits = [line.split()[0] for line in server.udp_sources() if line.endswith(" " + tag)]
        if hits:
            return hits
        time.sleep(0.05)
    return []


def dumps(value: object) -> bytes:
    return json.dumps(value).encode()
