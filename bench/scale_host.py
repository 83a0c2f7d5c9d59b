"""Host-side pieces of the scale benchmark: memory and process readings, the leak snapshot,
a raw HTTP echo server (the warm baseline) and `wrk` against the function-URL listener.

Resource handling: the echo server is a child process the caller owns (`open_echo`, a context
manager that kills and reaps it); `wrk` runs to completion under a timeout.
"""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from bench.host import IF_PREFIX, BenchError, descendants

ECHO_START_TIMEOUT_S = 10.0
WRK_TIMEOUT_MARGIN_S = 30.0

# A minimal HTTP/1.1 keep-alive responder, one thread per connection: reads a request head and
# its Content-Length body, answers a fixed response. What a round trip over the unix socket
# costs the client and the kernel when the server does (almost) nothing.
ECHO_CODE = r"""
import socket, sys, threading
path, body = sys.argv[1], bytes.fromhex(sys.argv[2])
reply = (b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: "
         + str(len(body)).encode() + b"\r\n\r\n" + body)
def serve(conn):
    buf = b""
    with conn:
        while True:
            while b"\r\n\r\n" not in buf:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            head, _, buf = buf.partition(b"\r\n\r\n")
            length = 0
            for line in head.split(b"\r\n")[1:]:
                name, _, value = line.partition(b":")
                if name.strip().lower() == b"content-length":
                    length = int(value)
            while len(buf) < length:
                chunk = conn.recv(65536)
                if not chunk:
                    return
                buf += chunk
            buf = buf[length:]
            conn.sendall(reply)
srv = socket.socket(socket.AF_UNIX)
srv.bind(path)
srv.listen(64)
while True:
    c, _ = srv.accept()
    threading.Thread(target=serve, args=(c,), daemon=True).start()
"""


@contextmanager
def open_echo(socket_path: Path, response_body: bytes) -> Iterator[Path]:
    """Run the echo server on `socket_path` until the block ends (then kill and reap it)."""
    proc = subprocess.Popen(
        [sys.executable, "-I", "-S", "-c", ECHO_CODE, str(socket_path), response_body.hex()]
    )
    try:
        deadline = time.monotonic() + ECHO_START_TIMEOUT_S
        while not socket_path.exists():
            if proc.poll() is not None or time.monotonic() > deadline:
                raise BenchError("the echo server did not start")
            time.sleep(0.01)
        yield socket_path
    finally:
        proc.kill()
        proc.wait()
        socket_path.unlink(missing_ok=True)


def mem_available_kb() -> int:
    with open("/proc/meminfo") as f:
        for line in f:
            if line.startswith("MemAvailable:"):
                return int(line.split()[1])
    raise BenchError("no MemAvailable in /proc/meminfo")


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def fd_count(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


def cgroup_memory_kb(parents: list[Path]) -> int:
    """Memory charged to the sandbox groups (their own pages): memory.current (v2) or
    memory.usage_in_bytes (v1) summed over each parent's children."""
    total = 0
    for parent in parents:
        files = [*parent.glob("*/memory.current"), *parent.glob("*/memory.usage_in_bytes")]
        for f in files:
            try:
                total += int(f.read_text())
            except (OSError, ValueError):
                continue  # a group going away
    return total // 1024


def links(prefix: str = IF_PREFIX) -> int:
    return sum(1 for n in os.listdir("/sys/class/net") if n.startswith(prefix))


def nft_objects(table: str) -> int:
    """Chains, rules, sets and elements of the daemon's nft table (-1 when nft fails)."""
    try:
        out = subprocess.run(
            ["nft", "-j", "list", "ruleset"], capture_output=True, check=True, timeout=30
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return -1
    count = 0
    for item in json.loads(out).get("nftables", []):
        for kind, obj in item.items():
            if isinstance(obj, dict) and obj.get("table") == table:
                count += 1 + len(obj.get("elem", []) if kind == "set" else [])
    return count


@dataclass(frozen=True, slots=True, kw_only=True)
class Snapshot:
    """What a leak would show: the daemon's kernel objects, processes and fds."""

    cgroups: int
    links: int
    nft_objects: int
    processes: int  # the daemon's descendants (spawner, stems, sandboxes)
    daemon_fds: int
    daemon_rss_kb: int

    def diff(self, later: Snapshot) -> dict[str, int]:
        return {k: getattr(later, k) - getattr(self, k) for k in self.__slots__}


def snapshot(daemon_pid: int, groups: int, table: str) -> Snapshot:
    return Snapshot(
        cgroups=groups,
        links=links(),
        nft_objects=nft_objects(table),
        processes=len(descendants(daemon_pid)),
        daemon_fds=fd_count(daemon_pid),
        daemon_rss_kb=rss_kb(daemon_pid),
    )


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


_RATE_RE = re.compile(r"Requests/sec:\s+([0-9.]+)")
_LAT_RE = re.compile(r"^\s+(50|90|99)%\s+([0-9.]+)(us|ms|s)\s*$", re.M)
_NON2XX_RE = re.compile(r"Non-2xx or 3xx responses:\s+(\d+)")
_TOTAL_RE = re.compile(r"(\d+) requests in")
_UNIT_MS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def run_wrk(url: str, host: str, *, connections: int, seconds: float) -> dict[str, float]:
    """wrk -c `connections` (2 threads) with `Host: host`; requests/s, p50/p90/p99 ms, non-2xx."""
    argv = [
        "wrk",
        "-t",
        "2",
        "-c",
        str(connections),
        "-d",
        f"{max(1, round(seconds))}s",  # wrk takes whole seconds
        "--latency",
        "-H",
        f"Host: {host}",
        url,
    ]
    try:
        out = subprocess.run(
            argv,
            capture_output=True,
            text=True,
            check=True,
            timeout=seconds + WRK_TIMEOUT_MARGIN_S,
        ).stdout
    except (OSError, subprocess.SubprocessError) as exc:
        raise BenchError(f"wrk failed: {exc}") from exc
    rate = _RATE_RE.search(out)
    total = _TOTAL_RE.search(out)
    if rate is None or total is None:
        raise BenchError(f"cannot read wrk's output:\n{out}")
    result = {"ops_per_s": float(rate.group(1)), "n": float(total.group(1))}
    for q, value, unit in _LAT_RE.findall(out):
        result[f"p{q}_ms"] = float(value) * _UNIT_MS[unit]
    non2xx = _NON2XX_RE.search(out)
    result["non_2xx"] = float(non2xx.group(1)) if non2xx else 0.0
    return result
