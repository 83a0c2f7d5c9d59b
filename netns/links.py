"""Kernel adapter: build and remove ENIs (network namespace + routed veth) with pyroute2.

Everything here blocks; the engine calls it through `trio.to_thread.run_sync`. Namespaces
are made by moving the *worker thread* (unshare / setns act on the calling thread only) rather
than by pyroute2's netns helpers, which fork a process per call (~10-16 ms each on this
host); the thread always returns to the host namespace before the call ends.

An ENI's namespace is held by an open file descriptor that the caller owns (and hands to
the sandbox). Closing the last reference destroys the namespace, and the kernel then removes
the veth pair and its host route by itself, in the background. So a crashed daemon leaves no
ENI behind, and teardown costs the request path nothing. Attached hosts are the exception:
their namespace is also bind-mounted under /run/netns so that users can `ip netns exec` in.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from pyroute2 import IPRoute, NetlinkError

from netns import _nsapi
from netns.addressing import GATEWAY, EniPlan
from netns.errors import NetnsError

NETNS_RUN_DIR = "/run/netns"
_NUD_PERMANENT = 0x80
_RT_SCOPE_LINK = 253
SANDBOX_IFNAME = "eth0"


def _write(path: str, value: str) -> None:
    with open(path, "w") as f:
        f.write(value)


@contextlib.contextmanager
def _thread_in(fd: int) -> Iterator[None]:
    """Run the block with this thread in netns `fd`, then come back to where it was."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _nsapi.setns_net(fd)
        try:
            yield
        finally:
            _return_home(home)
    finally:
        os.close(home)


def _return_home(home: int) -> None:
    try:
        _nsapi.setns_net(home)
    except OSError:  # a worker thread stuck in a sandbox's namespace must never run again
        os.abort()


def _new_namespace() -> int:
    """A new, empty network namespace (loopback up, IPv6 off for new links); returns its fd."""
    home = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
    try:
        _nsapi.unshare_net()
        try:
            fd = os.open("/proc/thread-self/ns/net", os.O_RDONLY | os.O_CLOEXEC)
            _write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1")
            _write("/proc/sys/net/ipv6/conf/all/accept_ra", "0")
            with IPRoute() as ipr:
                ipr.link("set", index=1, state="up")  # lo is always index 1
        finally:
            _return_home(home)
    finally:
        os.close(home)
    return fd


def _given_namespace(netns_fd: int) -> int:
    """A new fd of an existing namespace, set up as `_new_namespace` sets up its own."""
    fd = os.dup(netns_fd)
    try:
        with _thread_in(fd):
            _write("/proc/sys/net/ipv6/conf/default/disable_ipv6", "1")
            _write("/proc/sys/net/ipv6/conf/all/accept_ra", "0")
    except BaseException:
        os.close(fd)
        raise
    return fd


def _configure_host_end(ipr: IPRoute, plan: EniPlan, ns_fd: int) -> None:
    ipr.link(
        "add",
        ifname=plan.host_ifname,
        kind="veth",
        address=plan.host_mac,
        peer={"ifname": SANDBOX_IFNAME, "net_ns_fd": ns_fd, "address": plan.sandbox_mac},
    )
    conf = f"/proc/sys/net/ipv4/conf/{plan.host_ifname}"
    _write(f"/proc/sys/net/ipv6/conf/{plan.host_ifname}/disable_ipv6", "1")
    _write(f"{conf}/rp_filter", "1")  # strict: packets from the ENI must carry its address
    _write(f"{conf}/forwarding", "1")
    (index,) = ipr.link_lookup(ifname=plan.host_ifname)
    ipr.link("set", index=index, state="up")
    dst = f"{plan.address}/32"
    ipr.route("replace", dst=dst, oif=index, scope=_RT_SCOPE_LINK)
    ipr.neigh(
        "replace",
        dst=str(plan.address),
        lladdr=plan.sandbox_mac,
        ifindex=index,
        state=_NUD_PERMANENT,
    )


def _configure_sandbox_end(plan: EniPlan) -> None:
    with IPRoute() as ipr:
        (index,) = ipr.link_lookup(ifname=SANDBOX_IFNAME)
        ipr.addr("add", index=index, address=str(plan.address), prefixlen=32)
        ipr.link("set", index=index, state="up")
        ipr.route("add", dst=f"{GATEWAY}/32", oif=index, scope=_RT_SCOPE_LINK)
        ipr.neigh(
            "replace", dst=str(GATEWAY), lladdr=plan.host_mac, ifindex=index, state=_NUD_PERMANENT
        )
        ipr.route("add", dst="0.0.0.0/0", gateway=str(GATEWAY), oif=index)


def create_eni(plan: EniPlan, *, netns_fd: int | None = None) -> int:
    """Build an ENI and return a descriptor of its namespace (the caller closes it): a new
    namespace, or `netns_fd`'s (loopback already up there; the result is a new fd of it)."""
    try:
        fd = _new_namespace() if netns_fd is None else _given_namespace(netns_fd)
    except OSError as exc:
        raise NetnsError(
            f"cannot create a network namespace for {plan.host_ifname}: {exc}"
        ) from exc
    try:
        with IPRoute() as ipr:
            _configure_host_end(ipr, plan, fd)
        with _thread_in(fd):
            _configure_sandbox_end(plan)
        if plan.bind_path is not None:
            _name_namespace(fd, plan.bind_path)
    except (OSError, NetlinkError, ValueError) as exc:
        os.close(fd)  # the namespace, and the veth with it, go away
        raise NetnsError(f"cannot build ENI {plan.host_ifname} ({plan.address}): {exc}") from exc
    return fd


def _name_namespace(fd: int, path: str) -> None:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "x"):
        pass
    try:
        _nsapi.bind_mount(f"/proc/self/fd/{fd}", path)
    except OSError:
        os.unlink(path)
        raise


def remove_named(path: str) -> None:
    """Unname a namespace; it dies once no process or fd holds it."""
    try:
        _nsapi.umount_detach(path)
    except OSError:
        pass
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def delete_link(ifname: str) -> None:
    """Delete a host veth end (and so its pair) now; a missing link is not an error."""
    with IPRoute() as ipr:
        try:
            ipr.link("del", ifname=ifname)
        except NetlinkError as exc:
            if exc.code != 19:  # ENODEV
                raise


def links_with_prefix(prefix: str) -> list[str]:
    with IPRoute() as ipr:
        names = [link.get("ifname") for link in ipr.get_links()]
    return sorted(n for n in names if isinstance(n, str) and n.startswith(prefix))


def named_namespaces(prefix: str, run_dir: str = NETNS_RUN_DIR) -> list[str]:
    try:
        return sorted(os.path.join(run_dir, n) for n in os.listdir(run_dir) if n.startswith(prefix))
    except FileNotFoundError:
        return []
