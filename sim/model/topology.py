"""Topology as data: where servers are, and how far apart regions are.

Pure functions of the scenario (no SimPy): the inter-region one-way latency
base, and the networkx graph of servers, clients, routes, gateways and client
connections that a run exposes as ``result.topology``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.errors import ScenarioError
from sim.regions import REGIONS, great_circle_km
from sim.scenario.spec import DistSpec, Topology

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["describe_dist", "region_base_latency", "region_coordinates", "topology_graph"]


def region_coordinates(topo: Topology) -> dict[str, tuple[float, float]]:
    """Return (lat, lon) of every region the scenario declares or the bundled table knows."""
    coords = dict(REGIONS)
    coords.update({name: (r.lat, r.lon) for name, r in topo.regions.items()})
    return coords


def region_base_latency(topo: Topology, a: str | None, b: str | None) -> float:
    """One-way base latency in seconds between regions ``a`` and ``b`` (jitter excluded).

    From the ``latency.regions`` matrix when given (either direction; halved
    when ``matrix: rtt``), else great-circle distance / fibre speed + overhead.
    Clusters without a region, or in the same region, are ``overhead`` apart.
    """
    lat = topo.latency
    if a is None or b is None or a == b:
        return lat.overhead
    if lat.regions is not None:
        row = lat.regions.get(a, {})
        value = row.get(b, lat.regions.get(b, {}).get(a))
        if value is None:
            raise ScenarioError(
                "<scenario>", "topology.latency.regions", f"no latency between {a!r} and {b!r}"
            )
        return value / 2 if lat.matrix == "rtt" else value
    coords = region_coordinates(topo)
    for r in (a, b):
        if r not in coords:
            raise ScenarioError(
                "<scenario>", "topology.clusters", f"unknown region {r!r} (no coordinates)"
            )
    return great_circle_km(coords[a], coords[b]) / lat.fibre + lat.overhead


def describe_dist(spec: DistSpec | None, base: float = 0.0) -> str:
    """A short text for a latency model: ``'27.2ms + lognormal(...)'``."""
    parts = []
    if base:
        parts.append(f"{base * 1000:.3g}ms")
    if spec is not None:
        if spec.dist == "constant":
            parts.append(f"{(spec.value or 0.0) * 1000:.3g}ms")
        else:
            args = ", ".join(f"{k}={v}" for k, v in sorted(spec.params().items()))
            parts.append(f"{spec.dist}({args})")
    return " + ".join(parts) or "0ms"


def topology_graph(
    servers: list[dict[str, Any]],
    clients: list[dict[str, Any]],
    edges: list[dict[str, Any]],
) -> nx.DiGraph:
    """Build the graph: server and client nodes; route, gateway and client edges.

    Node attributes: ``kind`` (server/client), ``cluster``, ``region``
    (servers), ``workload``/``role`` (clients).  Edge attributes: ``kind``
    (route, gateway, client), ``latency`` (text), ``mean_latency`` (s, base
    plus the distribution's mean).  A gateway edge points from the server
    holding the outbound connection to the one it dialled.
    """
    import networkx as nx

    g = nx.DiGraph()
    for s in servers:
        g.add_node(s["name"], kind="server", **{k: v for k, v in s.items() if k != "name"})
    for c in clients:
        g.add_node(c["name"], kind="client", **{k: v for k, v in c.items() if k != "name"})
    for e in edges:
        g.add_edge(e["src"], e["dst"], **{k: v for k, v in e.items() if k not in ("src", "dst")})
    return g
