"""Optional Linux network namespaces giving each cluster its own address.

Per region-pair delays need the delay proxy to know which cluster a connection comes
from. With one namespace per cluster (created here, by the run itself), every
cluster's servers have their own source address, so one proxy per destination can
classify connections by peer address (``DelayProxy(source_delays=...)``) and each
destination server can advertise a single proxy address that is right for everyone.

Layout for cluster *i* (default base ``10.231.0.0/16``)::

    root namespace                      namespace <prefix><i>
    veth <prefix><i>h  10.231.i.1/30 ── veth <prefix><i>n  10.231.i.2/30
                                        lo up, default route via 10.231.i.1

The root side can reach ``10.231.i.2``; a namespace reaches the root side's
addresses (``10.231.j.1`` of any cluster, where proxies listen) through its default
route. Nothing is forwarded beyond this machine (no NAT, ``ip_forward`` untouched).

Needs Linux, root and iproute2 (``ip``). :func:`netns_available` returns ``False``
otherwise and :func:`require_netns` raises :class:`NetnsUnavailable` with the reason.
Everything created is deleted again by :func:`delete_namespace` / the
:func:`cluster_namespaces` context manager (in a ``finally``), also on failure.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

__all__ = [
    "ClusterNamespace",
    "NetnsError",
    "NetnsUnavailable",
    "cluster_namespaces",
    "create_namespace",
    "delete_namespace",
    "netns_available",
    "netns_unavailable_reason",
    "require_netns",
]

DEFAULT_BASE = "10.231.0.0/16"


class NetnsError(RuntimeError):
    """An ``ip`` command failed while setting up or tearing down namespaces."""


class NetnsUnavailable(NetnsError):
    """Namespaces cannot be used here (not Linux, not root, or no iproute2)."""


def netns_unavailable_reason() -> str | None:
    """Why namespaces cannot be used here, or ``None`` when they can."""
    if not sys.platform.startswith("linux"):
        return f"network namespaces need Linux (this is {sys.platform})"
    if not hasattr(os, "geteuid") or os.geteuid() != 0:
        return "network namespaces need root (natsim falls back to one delay per destination)"
    if shutil.which("ip") is None:
        return "network namespaces need iproute2: no 'ip' command on PATH"
    return None


def netns_available() -> bool:
    """Whether this process can create namespaces (Linux, root, ``ip`` present)."""
    return netns_unavailable_reason() is None


def require_netns() -> None:
    """Raise :class:`NetnsUnavailable` with the reason unless namespaces are usable."""
    reason = netns_unavailable_reason()
    if reason is not None:
        raise NetnsUnavailable(reason)


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    argv = ["ip", *args]
    proc = subprocess.run(argv, capture_output=True, text=True, timeout=30, check=False)
    if check and proc.returncode != 0:
        raise NetnsError(f"{' '.join(argv)} failed ({proc.returncode}): {proc.stderr.strip()}")
    return proc


@dataclass(frozen=True)
class ClusterNamespace:
    """One cluster's namespace and the veth pair linking it to the root namespace."""

    cluster: str
    netns: str  # namespace name (ip netns ...)
    host_if: str  # veth end in the root namespace
    ns_if: str  # veth end inside the namespace
    host_addr: str  # address of host_if (proxies for this side listen here)
    ns_addr: str  # address of ns_if (the cluster's servers bind here)
    prefixlen: int = 30

    def exec_argv(self, argv: Sequence[str]) -> list[str]:
        """*argv* wrapped to run inside the namespace (``ip netns exec``)."""
        return ["ip", "netns", "exec", self.netns, *argv]


def _subnet(base: str, index: int) -> tuple[str, str]:
    net = ipaddress.ip_network(base)
    if not (net.is_private or net.is_link_local):
        raise ValueError(f"namespace base {base} is not a private or link-local range")
    sub = ipaddress.ip_network(f"{net.network_address + index * 256}/30")
    if not sub.subnet_of(net):  # type: ignore[arg-type]
        raise ValueError(f"cluster index {index} does not fit in {base}")
    hosts = list(sub.hosts())
    return str(hosts[0]), str(hosts[1])


def create_namespace(
    cluster: str,
    index: int,
    *,
    prefix: str | None = None,
    base: str = DEFAULT_BASE,
) -> ClusterNamespace:
    """Create namespace, veth pair and addresses for cluster number *index*.

    *prefix* names the namespace and interfaces (``<prefix><index>``, ``...h`` /
    ``...n``; interface names are kept within Linux's 15 characters); by default a
    random ``ns<4 hex>`` so concurrent runs do not collide. *base* is a private
    (10.x, 172.16/12, 192.168/16) or link-local (169.254/16) range; cluster *i* uses
    the /30 at offset ``i*256``. On any failure everything created so far is removed
    and :class:`NetnsError` is raised.
    """
    require_netns()
    prefix = prefix or f"ns{secrets.token_hex(2)}"
    host_if, ns_if = f"{prefix}{index}h", f"{prefix}{index}n"
    if len(host_if) > 15:
        raise ValueError(f"interface name {host_if!r} longer than 15 characters")
    host_addr, ns_addr = _subnet(base, index)
    ns = ClusterNamespace(cluster, f"{prefix}{index}", host_if, ns_if, host_addr, ns_addr)
    try:
        _ip("netns", "add", ns.netns)
        _ip("link", "add", host_if, "type", "veth", "peer", "name", ns_if)
        _ip("link", "set", ns_if, "netns", ns.netns)
        _ip("addr", "add", f"{host_addr}/30", "dev", host_if)
        _ip("link", "set", host_if, "up")
        _ip("-n", ns.netns, "addr", "add", f"{ns_addr}/30", "dev", ns_if)
        _ip("-n", ns.netns, "link", "set", ns_if, "up")
        _ip("-n", ns.netns, "link", "set", "lo", "up")
        _ip("-n", ns.netns, "route", "add", "default", "via", host_addr)
    except BaseException:
        delete_namespace(ns)
        raise
    return ns


def delete_namespace(ns: ClusterNamespace) -> bool:
    """Delete *ns*'s veth pair and namespace (best effort); ``True`` if all gone."""
    # Deleting either veth end deletes the pair; deleting the namespace deletes the
    # end inside it. Try both so a half-created setup is cleaned up too.
    _ip("link", "del", ns.host_if, check=False)
    _ip("netns", "del", ns.netns, check=False)
    exists = _ip("netns", "list", check=False).stdout.split()
    link = _ip("link", "show", ns.host_if, check=False)
    return ns.netns not in exists and link.returncode != 0


@contextlib.contextmanager
def cluster_namespaces(
    clusters: Sequence[str], *, prefix: str | None = None, base: str = DEFAULT_BASE
) -> Iterator[dict[str, ClusterNamespace]]:
    """Create one namespace per cluster; yield ``{cluster: ClusterNamespace}``.

    Everything is torn down in a ``finally``, also when creation fails half-way.
    Raises :class:`NetnsUnavailable` when namespaces cannot be used here.
    """
    require_netns()
    prefix = prefix or f"ns{secrets.token_hex(2)}"
    made: dict[str, ClusterNamespace] = {}
    try:
        for i, cluster in enumerate(clusters):
            made[cluster] = create_namespace(cluster, i + 1, prefix=prefix, base=base)
        yield made
    finally:
        for ns in made.values():
            delete_namespace(ns)
