"""The model object: servers, routes and clients built from a scenario.

:class:`Network` owns the run's shared services — the SimPy environment and
its :class:`~sim.model.clock.Clock`, the :class:`~sim.trace.Trace`, the
:class:`~sim.model.intent.InterestLedger` and the named random streams — and
gives the workload drivers handles to add clients.  Every source of
randomness draws from a stream named after itself (``route:a-1->a-2``,
``client:ticks.pub0:up``, ``queue:a-1``), so adding a component never shifts
the draws of another (common random numbers for before/after comparisons).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import simpy

from sim.errors import ScenarioError
from sim.model.client import Client
from sim.model.clock import Clock
from sim.model.gateway import Gateways
from sim.model.intent import InterestLedger
from sim.model.link import Link
from sim.model.server import Server
from sim.model.topology import describe_dist, region_base_latency, topology_graph
from sim.rng import Dist, RandomStreams, affine_sampler, make_sampler
from sim.scenario.spec import DistSpec, Placement, Scenario
from sim.trace import Trace

if TYPE_CHECKING:
    import networkx as nx

__all__ = ["Network"]


class Network:
    """A NATS cluster (or several) ready to run.

    Parameters
    ----------
    scenario : Scenario
        The validated scenario.
    seed : int
        Root seed of every random stream.
    """

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.env = simpy.Environment()
        self.clock = Clock(self.env)
        self.trace = Trace()
        self.ledger = InterestLedger()
        self.streams = RandomStreams(seed)
        self.servers: dict[str, Server] = {}
        self.clients: dict[str, Client] = {}
        #: workload name → its responders (objects with start/stop and ``cluster``),
        #: registered by the workload builders for faults to act on
        self.responders: dict[str, list[Any]] = {}
        self._build_servers()
        self._build_routes()
        self._build_gateways()

    # ------------------------------------------------------------------ build
    def sampler(self, spec: DistSpec, stream: str) -> Callable[[], float]:
        """Return a draw function for ``spec`` on the named random stream."""
        return make_sampler(Dist.of(spec.dist, **spec.params()), self.streams.stream(stream))

    def link(self, name: str, spec: DistSpec) -> Link:
        """A link whose latency follows ``spec``, drawn from the stream named ``name``."""
        dist = Dist.of(spec.dist, **spec.params())
        return Link(name, self.clock, affine_sampler(dist, self.streams.stream(name)))

    def _build_servers(self) -> None:
        topo = self.scenario.topology
        for cname, cluster in topo.clusters.items():
            processing = topo.processing if cluster.processing is None else cluster.processing
            for sname in cluster.server_names(cname):
                idx = self.trace.add_server(sname, cname, cluster.region)
                rng = self.streams.stream(f"queue:{sname}")
                self.servers[sname] = Server(
                    idx, sname, cname, self.clock, self.trace, self.ledger, rng, processing
                )

    def _route_latency(self) -> dict[frozenset[str], DistSpec]:
        return {frozenset(link.between): link.latency for link in self.scenario.topology.links}

    def _build_routes(self) -> None:
        """Join each cluster's servers in a full mesh of routes (digest §3)."""
        overrides = self._route_latency()
        default = self.scenario.topology.latency.intra_cluster
        for a in self.servers.values():
            for b in self.servers.values():
                if a is b or a.cluster != b.cluster:
                    continue
                spec = overrides.get(frozenset((a.name, b.name)), default)
                name = f"route:{a.name}->{b.name}"
                a.add_route(b, self.link(name, spec))

    def _gateway_link(self, src: Server, dst: Server) -> Link:
        """One direction of a gateway connection: region base latency plus jitter."""
        topo = self.scenario.topology
        regions = {c: spec.region for c, spec in topo.clusters.items()}
        base = region_base_latency(topo, regions[src.cluster], regions[dst.cluster])
        name = f"gateway:{src.name}->{dst.name}"
        jitter = topo.latency.jitter
        if jitter is None:
            return Link(name, self.clock, lambda: base)
        draw = self.sampler(jitter, name)
        return Link(name, self.clock, lambda: base + draw())

    def _build_gateways(self) -> None:
        """Join the clusters: each server dials one random server of every other cluster."""
        by_cluster: dict[str, list[Server]] = {}
        for s in self.servers.values():
            by_cluster.setdefault(s.cluster, []).append(s)
        cluster_of = [s.cluster for s in self.servers.values()]
        for s in self.servers.values():
            s.cluster_ids = frozenset(m.idx for m in by_cluster[s.cluster])
            s.cluster_of = cluster_of
        if len(by_cluster) < 2:
            return
        spec = self.scenario.topology.gateways
        for s in self.servers.values():
            rng = self.streams.stream(f"gateway:{s.name}")
            s.gw = Gateways(s, spec, self.clock, self.trace, rng, self._gateway_link)
            s.gw.members = by_cluster
        for s in self.servers.values():
            rng = self.streams.stream(f"gateway-pick:{s.name}")
            for cname, members in by_cluster.items():
                if cname != s.cluster:
                    s.gw.connect(cname, members[rng.randrange(len(members))])

    def graph(self) -> nx.DiGraph:
        """The topology as a networkx graph (see :func:`sim.model.topology.topology_graph`)."""
        topo = self.scenario.topology
        servers = [
            {"name": s.name, "cluster": s.cluster, "region": topo.clusters[s.cluster].region}
            for s in self.servers.values()
        ]
        clients = [
            {"name": c.name, "workload": w, "role": role, "server": self.servers_by_idx[sid].name}
            for c, (_, w, role, sid) in zip(self.clients.values(), self.trace.clients, strict=True)
        ]
        overrides = self._route_latency()
        edges = []
        for a in self.servers.values():
            for b_idx in a.routes:
                b = self.servers_by_idx[b_idx]
                spec = overrides.get(frozenset((a.name, b.name)), topo.latency.intra_cluster)
                edges.append(self._edge(a.name, b.name, "route", spec, 0.0))
            for ob in a.gw.outbound.values() if a.gw is not None else ():
                regions = (topo.clusters[a.cluster].region, topo.clusters[ob.cluster].region)
                base = region_base_latency(topo, *regions)
                edges.append(self._edge(a.name, ob.peer.name, "gateway", topo.latency.jitter, base))
        for c in clients:
            edges.append(self._edge(c["name"], c["server"], "client", topo.latency.client, 0.0))
        return topology_graph(servers, clients, edges)

    @staticmethod
    def _edge(src: str, dst: str, kind: str, spec: DistSpec | None, base: float) -> dict[str, Any]:
        mean = base + (Dist.of(spec.dist, **spec.params()).mean() if spec is not None else 0.0)
        return {
            "src": src,
            "dst": dst,
            "kind": kind,
            "latency": describe_dist(spec, base),
            "mean_latency": mean,
        }

    @property
    def servers_by_idx(self) -> list[Server]:
        """Servers in id order."""
        return list(self.servers.values())

    # ---------------------------------------------------------------- clients
    def candidates(self, placement: Placement) -> list[str]:
        """Return the servers a group of clients may be placed on, in scenario order."""
        if placement.servers is not None:
            return list(placement.servers)
        if placement.cluster is not None:
            return [s.name for s in self.servers.values() if s.cluster == placement.cluster]
        return list(self.servers)

    def place(self, placement: Placement, stream: str) -> list[str]:
        """Return one server name per client of ``placement``."""
        cands = self.candidates(placement)
        if placement.per_server is not None:
            return [s for s in cands for _ in range(placement.per_server)]
        n = placement.count or 0
        if placement.placement == "random":
            rng = self.streams.stream(stream)
            return [cands[rng.randrange(len(cands))] for _ in range(n)]
        return [cands[i % len(cands)] for i in range(n)]

    def add_client(
        self,
        name: str,
        workload: str,
        workload_id: int,
        role: str,
        server: str,
        latency: DistSpec | None = None,
    ) -> Client:
        """Connect a new client named ``name`` to ``server``."""
        if name in self.clients:
            raise ScenarioError("<scenario>", "workloads", f"duplicate client name '{name}'")
        srv = self.servers[server]
        spec = latency or self.scenario.topology.latency.client
        up = self.link(f"client:{name}:up", spec)
        down = self.link(f"client:{name}:down", spec)
        cid = self.trace.add_client(name, workload, role, srv.idx)
        client = Client(cid, name, srv, up, down, self.clock, self.trace, self.ledger, workload_id)
        self.clients[name] = client
        return client
