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

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import simpy

from sim.errors import ScenarioError
from sim.model.accounts import Accounts
from sim.model.client import Client
from sim.model.clock import Clock
from sim.model.gateway import Gateways
from sim.model.intent import InterestLedger
from sim.model.jetstream import JetStream
from sim.model.latency import LatencyTracker
from sim.model.link import Link
from sim.model.mesh import Mesh
from sim.model.message import Msg
from sim.model.outages import Outages
from sim.model.server import Server
from sim.model.topology import describe_dist, region_base_latency, topology_graph
from sim.model.wire import ConnKey, Wire
from sim.rng import Dist, RandomStreams, affine_sampler, make_sampler
from sim.scenario.checks import resolve_names
from sim.scenario.spec import DistSpec, Placement, Scenario, client_profile
from sim.trace import DropReason, Trace

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
        self.clients_by_idx: list[Client] = []
        #: workload name → its responders (objects with start/stop and ``cluster``),
        #: registered by the workload builders for faults to act on
        self.responders: dict[str, list[Any]] = {}
        self.wire = Wire(self.clock, self.trace, self.ledger, self._decode, self._owed_on)
        self.outages: Outages | None = None
        self.accounts = Accounts(scenario, self.streams)
        self.latency = LatencyTracker(self)
        self._system_wid = -1
        self._build_servers()
        self._build_routes()
        self._build_gateways()
        self.outages = Outages(self)
        #: more ``decode(owner, function, value)`` for Calls of layers built on the
        #: core (JetStream's replication), tried by :meth:`_decode`
        self.decoders: list[Callable[[Any, Any, Any], tuple[ConnKey, str, int] | None]] = []
        #: called with the end time once the run is over, before the books close
        #: (drivers and layers settle what they still wait for)
        self.at_end: list[Callable[[float], None]] = []
        #: the JetStream layer (sim.model.jetstream.JetStream) when the scenario has streams
        self.jetstream: Any = None
        if scenario.streams:
            self.jetstream = JetStream(self)
            self.at_end.append(self.jetstream.close)

    def begin(self) -> None:
        """The build is over: changes to the route mesh are measured from now on."""
        self.mesh.begin()

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
                srv = Server(
                    idx, sname, cname, self.clock, self.trace, self.ledger, rng, processing
                )
                srv.wire = self.wire
                self.servers[sname] = srv
        #: servers in id order
        self.servers_by_idx: list[Server] = list(self.servers.values())
        for f in self.scenario.faults:
            if f.join:
                for name in f.join:
                    # not running until the fault starts it
                    srv = self.servers[name]
                    srv.up = False
                    self.wire.down.add(srv.idx)

    def _route_latency(self) -> dict[frozenset[str], DistSpec]:
        return {frozenset(link.between): link.latency for link in self.scenario.topology.links}

    def route_latency(self, a: Server, b: Server) -> DistSpec:
        """One-way latency of the routes between ``a`` and ``b`` (link override or default)."""
        return self._route_latency().get(
            frozenset((a.name, b.name)), self.scenario.topology.latency.intra_cluster
        )

    def route_link(self, a: Server, b: Server, number: int) -> Link:
        """The a → b direction of the ``number``-th route connection between a and b."""
        name = f"route:{a.name}->{b.name}" + (f"#{number}" if number else "")
        link = self.link(name, self.route_latency(a, b))
        if self.outages is not None:
            self.outages.adjust(link, a.idx, b.idx)
        return link

    def _build_routes(self) -> None:
        """Connect each cluster's servers to their seed routes; gossip completes the mesh.

        A cluster without ``routes`` has every server configured with every
        other (an explicit full mesh, digest §3).  The seed routes are up at
        time 0; routes learned by gossip follow at the speed of the INFO
        exchange.
        """
        topo = self.scenario.topology
        seeds: dict[int, set[int]] = {}
        for cname, cluster in topo.clusters.items():
            names = cluster.server_names(cname)
            for sname in names:
                listed = cluster.routes if cluster.routes is not None else names
                seeds[self.servers[sname].idx] = {self.servers[p].idx for p in listed if p != sname}
        self.mesh = Mesh(
            self.servers_by_idx,
            seeds,
            self.clock,
            self.trace,
            self.wire,
            self.streams.stream("mesh"),
            self.route_link,
            topo.server,
        )
        for a in self.servers_by_idx:
            if not a.up:
                continue
            for b in sorted(seeds[a.idx]):
                if self.servers_by_idx[b].up:
                    self.mesh.connect(a, self.servers_by_idx[b])

    def _gateway_link(self, src: Server, dst: Server) -> Link:
        """One direction of a gateway connection: region base latency plus jitter."""
        topo = self.scenario.topology
        regions = {c: spec.region for c, spec in topo.clusters.items()}
        base = region_base_latency(topo, regions[src.cluster], regions[dst.cluster])
        name = f"gateway:{src.name}->{dst.name}"
        jitter = topo.latency.jitter
        if jitter is None:
            link = Link(name, self.clock, lambda: base)
        else:
            draw = self.sampler(jitter, name)
            link = Link(name, self.clock, lambda: base + draw())
        if self.outages is not None:
            self.outages.adjust(link, src.idx, dst.idx)
        return link

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
        opts = self.scenario.topology.server
        for s in self.servers.values():
            rng = self.streams.stream(f"gateway:{s.name}")
            s.gw = Gateways(s, spec, self.clock, self.trace, rng, self._gateway_link)
            s.gw.members = by_cluster
            s.gw.wire = self.wire
            s.gw.retry = (opts.connect_retry, opts.dial_timeout)
            s.gw.ping_interval = spec.ping_interval or min(
                opts.ping_interval, opts.gateway_ping_max
            )
        for s in self.servers.values():
            if s.up:
                self.dial_gateways(s)

    def dial_gateways(self, s: Server, immediate: bool = True) -> None:
        """``s`` opens its outbound gateway to a random server of every other cluster.

        At build time the connections are up at once; a server that (re)starts
        later dials them (a round trip each).
        """
        rng = self.streams.stream(f"gateway-pick:{s.name}")
        for cname, members in s.gw.members.items():
            if cname == s.cluster:
                continue
            pick = members[rng.randrange(len(members))]
            if not immediate:
                s.gw._dial_later(cname, 0.0, pick)
            elif pick.up and self.wire.reachable(s.idx, pick.idx):
                s.gw.connect(cname, pick)
            else:
                s.gw.lost[cname] = DropReason.SERVER_DOWN
                s.gw._dial_later(cname, s.gw.retry[0])

    def snapshot(self) -> dict[str, Any]:
        """The routing structure at this moment, as plain data (for diffs between runs).

        Per server: whether it runs, its route peers, its outbound gateway per
        remote cluster, and its interest — its own clients' subscriptions and
        what it learned over routes (``subject`` or ``subject queue`` → count
        or queue weight) and, with gateways, the cluster-wide tally it
        advertises.
        """
        out: dict[str, Any] = {}
        names = [s.name for s in self.servers_by_idx]
        for s in self.servers_by_idx:
            local = {
                (f"{k[0]} {k[1]}" if k[1] else k[0]): n
                for k, n in sorted(self.rm_items(s), key=lambda kv: (kv[0][0], kv[0][1] or ""))
            }
            learned: dict[str, int] = {}
            for (_, subject, queue), sub in s.route_subs.items():
                key = f"{subject} {queue}" if queue else subject
                learned[key] = learned.get(key, 0) + sub.weight
            entry: dict[str, Any] = {
                "cluster": s.cluster,
                "up": s.up,
                "routes": sorted(names[p] for p in s.routes),
                "local_interest": _capped(local),
                "route_interest": _capped(dict(sorted(learned.items()))),
                "clients": len(s.clients),
            }
            if s.gw is not None:
                entry["gateways"] = {c: ob.peer.name for c, ob in sorted(s.gw.outbound.items())}
                entry["gateway_interest"] = _capped(
                    {
                        (f"{k[0]} {k[1]}" if k[1] else k[0]): n
                        for k, n in sorted(
                            s.gw.tally.items(), key=lambda kv: (kv[0][0], kv[0][1] or "")
                        )
                    }
                )
            out[s.name] = entry
        return out

    @staticmethod
    def rm_items(s: Server) -> list[tuple[tuple[str, str | None], int]]:
        """A server's local interest ref counts (subject, queue) → count."""
        return list(s.rm.items())

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
        group: Placement | None = None,
    ) -> Client:
        """Connect a new client named ``name`` to ``server``, with ``group``'s options."""
        if name in self.clients:
            raise ScenarioError("<scenario>", "workloads", f"duplicate client name '{name}'")
        srv = self.servers[server]
        latency = group.latency if group is not None else None
        spec = latency or self.scenario.topology.latency.client
        up = self.link(f"client:{name}:up", spec)
        down = self.link(f"client:{name}:down", spec)
        account, perms, user = self.accounts.for_group(group)
        enabled = self.accounts.enabled
        cid = self.trace.add_client(
            name, workload, role, srv.idx, account.name if enabled else None, user
        )
        if group is not None:
            profile = client_profile(self.scenario, group)
        else:
            profile = self.scenario.clients.resolve()
        client = Client(
            cid,
            name,
            srv,
            up,
            down,
            self.clock,
            self.trace,
            self.ledger,
            workload_id,
            net=self,
            profile=profile,
        )
        client.latency = spec
        if enabled:
            client.account, client.perms, client.ns = account, perms, account.prefix
        if group is not None and group.failover:
            client.failover = [
                self.servers[n].idx for n in resolve_names(self.scenario, group.failover)
            ]
        self.clients[name] = client
        self.clients_by_idx.append(client)
        if not srv.up:
            # its server has not joined yet: it connects when its group starts
            # (to that server if it has joined by then, else to another)
            del srv.clients[cid]
            srv.counters.total_connections -= 1
            client.state = "reconnecting"
            client.lost_reason = DropReason.SERVER_DOWN
            client.connections = 0
            self.clock.at(getattr(group, "start", 0.0), client.first_connect)
        return client

    def internal_client(
        self, server: Server, name: str, role: str, workload: str | None, wid: int
    ) -> Client:
        """A server's internal client (nats-server's ``createInternalClient`` kinds).

        Its links cost no time; it is no client connection of the server (not
        counted, not closed or reconnected by faults: it lives and dies with
        the server), and is in no account's space: it publishes and
        subscribes stored subjects as they are.
        """
        cid = self.trace.add_client(name, workload, role, server.idx)  # type: ignore[arg-type]
        zero = DistSpec(dist="constant", value=0.0)
        client = Client(
            cid,
            name,
            server,
            self.link(f"{name}:up", zero),
            self.link(f"{name}:down", zero),
            self.clock,
            self.trace,
            self.ledger,
            wid,
            no_responders=False,
            net=self,
            profile=self.scenario.clients.resolve(),
        )
        client.latency = zero
        del server.clients[cid]
        self.clients[name] = client
        self.clients_by_idx.append(client)
        return client

    def add_system_client(self, server: Server) -> Client:
        """The internal client a server publishes its service latency samples with."""
        if self._system_wid < 0:
            self._system_wid = self.trace.add_workload("$SYS", "system")
        name = f"$SYS.{server.name}"
        return self.internal_client(server, name, "system", "$SYS", self._system_wid)

    def client_rtt(self, client: Client) -> float:
        """The RTT the server measures for ``client``'s connection (PING→PONG).

        Twice the mean one-way latency of its current connection (the region
        distance included when it reconnected elsewhere): a server's figure
        comes from one ping, this one is its expectation.
        """
        mean = Dist.of(client.latency.dist, **client.latency.params()).mean()
        base = client.up.low - _affine_low(client.latency)
        return 2.0 * (mean + max(0.0, base))

    # ------------------------------------------------------------- reconnects
    def client_pool(self, client: Client) -> list[int]:
        """The servers ``client`` knows: its server, then the rest of that cluster.

        Learned from INFO ``connect_urls`` (digest §8); shuffled unless the
        profile says not to (nats.go and nats.py both shuffle by default).
        """
        cur = client.server
        others = [s.idx for s in self.servers_by_idx if s.cluster == cur.cluster and s is not cur]
        if client.profile.randomize:
            self.client_rng(client).shuffle(others)
        extra = [i for i in client.failover if i != cur.idx and i not in others]
        if client.profile.randomize:
            self.client_rng(client).shuffle(extra)
        return [cur.idx, *others, *extra]

    def client_rng(self, client: Client) -> random.Random:
        """The client's stream for reconnect choices (pool order, jitter)."""
        return self.streams.stream(f"client:{client.name}:reconnect")

    def client_links(self, client: Client) -> tuple[Link, Link]:
        """Fresh links for the client's next connection (its own latency streams).

        A client that connects to a server in another region than its first
        server's pays the distance between the regions on top (one way).
        """
        k = client.connections
        spec = client.latency
        up = self.link(f"client:{client.name}:up#{k}", spec)
        down = self.link(f"client:{client.name}:down#{k}", spec)
        topo = self.scenario.topology
        home = topo.clusters[self.servers_by_idx[client.home].cluster].region
        there = topo.clusters[client.server.cluster].region
        if home != there and home is not None and there is not None:
            base = region_base_latency(topo, home, there)
            up.low += base
            down.low += base
        return up, down

    # ------------------------------------------------------------ connections
    def _decode(self, cb: Any, value: Any) -> tuple[ConnKey, str, int] | None:
        """Which connection a scheduled Call travels on (see :class:`~sim.model.wire.Wire`)."""
        owner = getattr(cb, "__self__", None)
        if owner is None:
            return None
        fn = cb.__func__
        if isinstance(owner, Server):
            me = owner.idx
            if (
                fn is Server.on_route_msg
                or fn is Server.on_route_fallback
                or fn is Server.on_route_reply
            ):
                via = value[2]
                kind = "fallback" if fn is Server.on_route_fallback else "route"
                return ("r", min(via, me), max(via, me)), kind, me
            if fn is Server.on_route_sub:
                return ("r", min(value[0], me), max(value[0], me)), "control", me
            if fn is Server.on_gateway_msg:
                return ("g", value[2], me), "gateway", me
            if fn is Server.on_gateway_reply:
                return ("g", value[1], me), "gw_reply", me
            if fn is Server.on_client_msg:
                return ("c", value.client.id), "client", me
            if fn is Server.on_client_sub or fn is Server.on_client_unsub:
                return ("c", value.client.id), "control", me
            return None
        if isinstance(owner, Gateways):
            me = owner.server.idx
            if fn is Gateways._on_ping:
                return ("g", value[0], me), "control", me
            if fn is Gateways.on_interest or fn is Gateways.on_all_subs:
                return ("g", me, value[0]), "control", me
            if fn is Gateways._on_pong:
                return ("g", me, value[0].peer.idx), "control", me
            return None
        if isinstance(owner, Mesh):
            if fn is Mesh.on_info:
                a, b = value[0], value[1]
                return ("r", min(a, b), max(a, b)), "control", b
            return None
        if isinstance(owner, Client):
            if fn is Client.on_no_responders:
                return ("c", owner.id), "control", -1
            return None
        for decode in self.decoders:
            hit = decode(owner, fn, value)
            if hit is not None:
                return hit
        client = getattr(owner, "client", None)
        if isinstance(client, Client) and any(s.handler == cb for s in client.subs.values()):
            return ("c", client.id), "control", -1
        return None

    def _owed_on(self, msg: Msg, kind: str, value: Any, dst: int) -> list[tuple[int, str | None]]:
        """The owed deliveries a message lost on its way to server ``dst`` would have made."""
        expect = msg.expect
        out: list[tuple[int, str | None]] = []
        if kind == "gateway":
            servers = self.servers_by_idx[dst].cluster_ids
        elif kind == "gw_reply":
            servers = frozenset((msg.gr[1],))
        elif kind == "route":
            servers = frozenset((dst,))
        else:
            servers = frozenset()
        for srv in sorted(servers):
            entry = expect.by_server.get(srv)
            if entry is not None:
                out.extend((s.id, None) for s in entry[0])
        if kind != "gw_reply":
            for q in value[1] or ():
                if q in expect.queues:
                    out.append((-1, q))
        return out


#: interest entries kept per table in a snapshot (the rest are counted under "...")
SNAPSHOT_CAP = 500


def _capped(table: dict[str, int]) -> dict[str, int]:
    """The first :data:`SNAPSHOT_CAP` entries, and how many more there were under ``"..."``."""
    if len(table) <= SNAPSHOT_CAP:
        return table
    items = list(table.items())
    return {**dict(items[:SNAPSHOT_CAP]), "...": len(items) - SNAPSHOT_CAP}


def _affine_low(spec: DistSpec) -> float:
    """The ``low`` a link of latency ``spec`` starts with (before any region distance)."""
    return affine_sampler(Dist.of(spec.dist, **spec.params()), random.Random(0)).low
