"""The delay proxies of a real run: which exist, and the faults applied through them.

One :class:`~sim.real.proxy.ProxyMeshThread` carries every proxy of a run.
Its destinations are named ``gw:<server>`` (that server's gateway port),
``rt:<server>`` (its route port) and ``cl:<server>`` (its client port); its
sources are a cluster for gateway proxies (every server of a cluster dials
the same proxy, the proxy cannot tell them apart on loopback), a server for
route proxies (one per (source server, destination server) pair) and
:data:`CLIENTS` for client proxies (one per server, with ``client_latency``).

:class:`ProxyControl` applies a scenario's ``latency`` faults to those
proxies as the model does (``base × factor + add``, stacked, undone at the
end of ``for``), and its ``link_down`` / ``partition`` faults by cutting them
(:meth:`~sim.real.proxy.DelayProxy.cut`).  Paths such a fault crosses get a
proxy even without emulated latency (:func:`fault_paths`, delay 0).
"""

from __future__ import annotations

from itertools import combinations
from typing import Any

from sim.rng import Dist
from sim.scenario.spec import Scenario

__all__ = [
    "CLIENTS",
    "ProxyControl",
    "client_delays",
    "fault_paths",
    "gateway_delays",
    "route_delays",
]

#: the source name of client proxies: all clients share one per server
CLIENTS = "clients"


def gateway_delays(scenario: Scenario) -> dict[tuple[str, str], float]:
    """Return the one-way base delay (s) from each cluster to each server of another cluster."""
    from sim.model.topology import region_base_latency

    topo = scenario.topology
    out: dict[tuple[str, str], float] = {}
    for src, sspec in topo.clusters.items():
        for dst, dspec in topo.clusters.items():
            if src == dst:
                continue
            base = region_base_latency(topo, sspec.region, dspec.region)
            for server in dspec.server_names(dst):
                out[(src, server)] = base
    return out


def _mean(spec: Any) -> float:
    return Dist.of(spec.dist, **spec.params()).mean()


def route_delays(scenario: Scenario, intra_cluster: bool = False) -> dict[tuple[str, str], float]:
    """Return the one-way delay (s) of each route (source server, destination server) to proxy.

    The scenario's ``topology.links`` between two servers of one cluster
    (both directions, the distribution's mean); with ``intra_cluster`` every
    other pair of a cluster too, at ``latency.intra_cluster``'s mean.
    """
    topo = scenario.topology
    cluster = topo.server_cluster()
    out: dict[tuple[str, str], float] = {}
    if intra_cluster:
        d = _mean(topo.latency.intra_cluster)
        for c, spec in topo.clusters.items():
            for a in spec.server_names(c):
                for b in spec.server_names(c):
                    if a != b:
                        out[(a, b)] = d
    for link in topo.links:
        a, b = link.between
        if a in cluster and b in cluster and cluster[a] == cluster[b] and a != b:
            d = _mean(link.latency)
            out[(a, b)] = out[(b, a)] = d
    return out


def client_delays(scenario: Scenario) -> dict[str, float]:
    """Return the one-way client-connection delay (s) for each server's client proxy.

    ``topology.latency.client``'s mean, the same for every server: one proxy
    per server carries all its clients, as the model gives every client
    connection the same distribution.
    """
    d = _mean(scenario.topology.latency.client)
    return dict.fromkeys(scenario.topology.server_cluster(), d)


def fault_paths(scenario: Scenario) -> tuple[set[tuple[str, str]], set[tuple[str, str]]]:
    """The routes and gateways ``link_down`` / ``partition`` faults cut, to put behind proxies.

    Returns ``(routes, gateways)``: (source server, destination server) pairs
    of one cluster, both directions, and (source cluster, destination server)
    pairs — for a fault between two clusters every server of each is a
    destination of the other.
    """
    from sim.scenario.checks import resolve_names

    cluster = scenario.topology.server_cluster()
    routes: set[tuple[str, str]] = set()
    gateways: set[tuple[str, str]] = set()
    for f in scenario.faults:
        if f.action == "link_down":
            groups = [resolve_names(scenario, g) for g in f.link_down]
        elif f.action == "partition":
            groups = [resolve_names(scenario, g) for g in f.partition]
        else:
            continue
        for g1, g2 in combinations(groups, 2):
            for a in g1:
                for b in g2:
                    if a == b:
                        continue
                    if cluster[a] == cluster[b]:
                        routes |= {(a, b), (b, a)}
                    else:
                        gateways |= {(cluster[a], b), (cluster[b], a)}
    return routes, gateways


class ProxyControl:
    """Change and restore the delays of a run's proxies, cut and heal them, for faults.

    Parameters
    ----------
    mesh : ProxyMeshThread
        The run's proxies (keys ``(cluster, "gw:<server>")`` and
        ``(server, "rt:<server>")``).
    base : dict
        The base one-way delay of every proxy key.
    cluster : dict
        Server → cluster.
    """

    def __init__(self, mesh: Any, base: dict[tuple[str, str], float], cluster: dict[str, str]):
        self.mesh = mesh
        self.base = dict(base)
        self.cluster = cluster
        self.stacks: dict[tuple[str, str], list[tuple[float, float]]] = {}
        #: cuts in force per proxy key: their modes, in order ("reset" / "blackhole")
        self.cuts: dict[tuple[str, str], list[str]] = {}

    def keys_between(self, groups: list[list[str]]) -> list[tuple[str, str]]:
        """The proxy keys that carry traffic between servers of different groups."""
        keys: list[tuple[str, str]] = []
        for g1, g2 in combinations(groups, 2):
            for a in g1:
                for b in g2:
                    if a == b:
                        continue
                    ca, cb = self.cluster[a], self.cluster[b]
                    if ca != cb:
                        cand = [(ca, f"gw:{b}"), (cb, f"gw:{a}")]
                    else:
                        cand = [(a, f"rt:{b}"), (b, f"rt:{a}")]
                    keys += [k for k in cand if k in self.base and k not in keys]
        return keys

    def _apply(self, key: tuple[str, str]) -> float:
        d = self.base[key]
        for add, factor in self.stacks.get(key, []):
            d = d * factor + add
        self.mesh.set_delay(key[0], key[1], d)
        return d

    def change(self, keys: list[tuple[str, str]], add: float, factor: float) -> None:
        """Scale and add to the delay of the proxies ``keys`` (stacking with others)."""
        for k in keys:
            self.stacks.setdefault(k, []).append((add, factor))
            self._apply(k)

    def restore(self, keys: list[tuple[str, str]], add: float, factor: float) -> None:
        """Undo one :meth:`change`."""
        for k in keys:
            stack = self.stacks.get(k, [])
            if (add, factor) in stack:
                stack.remove((add, factor))
            self._apply(k)

    def cut(self, keys: list[tuple[str, str]], mode: str) -> None:
        """Cut the proxies ``keys`` (``"reset"`` or ``"blackhole"``); cuts stack."""
        for k in keys:
            modes = self.cuts.setdefault(k, [])
            modes.append(mode)
            self.mesh.cut(k[0], k[1], "reset" if "reset" in modes else mode)

    def heal(self, keys: list[tuple[str, str]], mode: str) -> None:
        """Undo one :meth:`cut`; a proxy forwards again when no cut holds it."""
        for k in keys:
            modes = self.cuts.get(k, [])
            if mode in modes:
                modes.remove(mode)
            if modes:
                self.mesh.cut(k[0], k[1], "reset" if "reset" in modes else modes[0])
            else:
                self.mesh.heal(k[0], k[1])
