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

import simpy

from sim.errors import ScenarioError
from sim.model.clock import Clock
from sim.model.client import Client
from sim.model.intent import InterestLedger
from sim.model.link import Link
from sim.model.server import Server
from sim.rng import Dist, RandomStreams, make_sampler
from sim.scenario.spec import DistSpec, Placement, Scenario
from sim.trace import Trace

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
        self._build_servers()
        self._build_routes()

    # ------------------------------------------------------------------ build
    def sampler(self, spec: DistSpec, stream: str) -> Callable[[], float]:
        """Return a draw function for ``spec`` on the named random stream."""
        return make_sampler(Dist.of(spec.dist, **spec.params()), self.streams.stream(stream))

    def _build_servers(self) -> None:
        topo = self.scenario.topology
        for cname, cluster in topo.clusters.items():
            processing = topo.processing if cluster.processing is None else cluster.processing
            for sname in cluster.server_names(cname):
                idx = self.trace.add_server(sname, cname)
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
                a.add_route(b, Link(name, self.clock, self.sampler(spec, name)))

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
        up = Link(f"client:{name}:up", self.clock, self.sampler(spec, f"client:{name}:up"))
        down = Link(f"client:{name}:down", self.clock, self.sampler(spec, f"client:{name}:down"))
        cid = self.trace.add_client(name, workload, role, srv.idx)
        client = Client(
            cid, name, srv, up, down, self.clock, self.trace, self.ledger, workload_id
        )
        self.clients[name] = client
        return client
