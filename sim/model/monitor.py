"""Monitoring snapshots: every server's /varz-style counters, sampled at an interval.

The servers keep plain integer counters as messages pass
(:class:`~sim.model.counters.Counters`): messages and payload bytes in and out,
by connection kind, as nats-server counts them — every connection kind
counts, and a message handed to N connections (clients, routes, gateways)
adds N to ``out_msgs`` (``server/client.go`` readLoop stats and
``processMsgResults`` ``updateStats``; ``server/gateway.go``
``sendMsgToGateways``).  One :class:`Monitor` for the whole network reads
them every ``interval`` of simulated time — one scheduled callback per
sample, nothing per message — into a :class:`~sim.snapshots.Snapshots`
record.  Per server and sample (``server/monitor.go``):

* ``connections`` — client connections now (``Varz.Connections``,
  ``len(s.clients)``); ``total_connections`` — accepted since the run
  started (``s.totalClients``);
* ``subscriptions`` — the account sublist's count (``acc.sl.Count()``),
  which holds the clients' subscriptions *and* the shadow subscriptions
  learned over routes (``processRemoteSub`` inserts them into ``acc.sl``;
  one per route, subject and queue); ``route_subscriptions`` is the latter
  alone (the sum of /routez ``subscriptions``).  Gateway interest lives in
  the gateway's own sublist (``processGatewayRSub``: ``gw.outsim``) and is
  not counted, as in nats-server; nor are the system account's internal
  subscriptions, which the model has none of;
* ``slow_consumers`` — clients closed as slow consumers (``s.slowConsumers``);
* ``routes`` and ``remotes`` — route connections and the servers they lead
  to (``numRoutes``, ``numRemotes``): equal in the model, which has one
  route per server pair as nats-server 2.9 does (2.10+ pools three per pair
  by default, so its ``routes`` reads three times ``remotes``);
* ``gateways`` / ``gateways_in`` — outbound and inbound gateway connections
  (/gatewayz ``outbound_gateways``, ``inbound_gateways``);
* ``pending_bytes`` — bytes queued in the server for its clients beyond
  what their sockets absorbed (/connz ``pending_bytes``, summed): only a
  stalled client (``slow_consumer`` fault) makes any.

Per route and outbound gateway connection and sample, the RTT the server
sees (/routez and /gatewayz ``rtt``).  A gateway's is the model's own
PING→PONG measurement (:mod:`sim.model.gateway`), refreshed every gateway
ping interval as nats-server does.  A route's is measured at each sample by
a PING that crosses the route's current latency (faults included) each way,
behind whatever is in flight on it (TCP keeps order) — nats-server refreshes
it only at each route ping (every 30 s by default).  While the route is
blackholed no PONG comes back and the last value stays, as nats-server's
``c.rtt`` does.  Its latency draws come from the monitor's own random
streams, so a run with monitoring gives the same results as one without.

The counters run from the start of the run and are kept across a server
crash and restart (a restarted nats-server starts again from zero): rates
are plain differences, and totals can be checked against the results tables.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from sim.rng import Affine, Dist, affine_sampler
from sim.snapshots import Snapshots

if TYPE_CHECKING:
    from sim.model.clock import Call
    from sim.model.link import Link
    from sim.model.network import Network
    from sim.model.server import Server

__all__ = ["Monitor"]

NAN = math.nan


class Monitor:
    """Samples every server of ``net`` every ``interval`` seconds until ``end``.

    Parameters
    ----------
    net : Network
        The model to read.
    interval : float
        Simulated seconds between samples; the first is at 0.
    end : float
        The run's end: samples are taken before it, :meth:`finish` takes the last.
    """

    def __init__(self, net: Network, interval: float, end: float) -> None:
        self.net = net
        self.clock = net.clock
        self.interval = interval
        self.end = end
        self.record = Snapshots()
        self._k = 0
        self._last = -math.inf
        self._tcp_buffer = net.scenario.topology.server.tcp_buffer
        #: route link → its twin sampler (same distribution, the monitor's stream)
        self._twins: dict[Link, Affine] = {}
        #: (server, peer) → the route RTT last measured
        self._rtt: dict[tuple[int, int], float] = {}

    def start(self) -> None:
        """Schedule the first sample, at time 0; the servers count every route arrival from now."""
        for s in self.net.servers_by_idx:
            s.counting = True  # before the run: every delivery plan is made counting
        self.clock.at(0.0, self._tick)

    def _tick(self, ev: Call) -> None:
        self.sample(self.clock.now)
        self._k += 1
        t = self._k * self.interval
        if t < self.end:
            self.clock.at(t, self._tick)

    def finish(self, end: float) -> None:
        """Take the last sample at the run's ``end`` (the run stops before events at ``end``)."""
        if self._last < end:
            self.sample(end)

    def sample(self, t: float) -> None:
        """Record one row per server, and one per route and outbound gateway connection."""
        self._last = t
        for s in self.net.servers_by_idx:
            self.record.add_server(t, s.idx, self._values(s))
            self._links(t, s)

    def _values(self, s: Server) -> tuple[int, ...]:
        """``s``'s values in :data:`sim.snapshots.SERVER_COLUMNS` order."""
        gw = s.gw
        c = s.counters
        c.fold(s.used_plans)
        s.used_plans.clear()
        route_subs = len(s.route_subs)
        pending = sum(max(0, cl.unread - self._tcp_buffer) for cl in s.clients.values())
        return (
            int(s.up),
            len(s.clients),
            c.total_connections,
            sum(s.rm.values()) + route_subs,
            route_subs,
            c.slow_consumers,
            len(s.routes),
            len(s.routes),
            len(gw.outbound) if gw is not None else 0,
            len(gw.inbound) if gw is not None else 0,
            pending,
            c.in_client_msgs,
            c.in_client_bytes,
            c.in_route_msgs,
            c.in_route_bytes,
            s.gateway_in,
            c.in_gateway_bytes,
            c.out_client_msgs,
            c.out_client_bytes,
            c.out_route_msgs,
            c.out_route_bytes,
            c.out_gateway_msgs,
            c.out_gateway_bytes,
        )

    def _links(self, t: float, s: Server) -> None:
        servers = self.net.servers_by_idx
        for peer, (ab, _, _) in s.routes.items():
            back = servers[peer].routes.get(s.idx)
            if back is not None:
                rtt = self._route_rtt(t, s, peer, ab, back[0])
                self.record.add_link(t, s.idx, "route", peer, rtt)
        if s.gw is not None:
            for ob in s.gw.outbound.values():
                rtt = ob.rtt if ob.rtt > 0 else NAN  # nats-server shows 0s until the first PONG
                self.record.add_link(t, s.idx, "gateway", ob.peer.idx, rtt)

    def _route_rtt(self, t: float, s: Server, peer: int, ab: Link, ba: Link) -> float:
        """A PING sent from ``s`` at ``t`` over ``ab``, its PONG back over ``ba``: the RTT."""
        t1 = t + self._one_way(s, peer, ab)
        if t1 < ab.last:
            t1 = ab.last
        t2 = t1 + self._one_way(s, peer, ba)
        if t2 < ba.last:
            t2 = ba.last
        key = (s.idx, peer)
        if math.isfinite(t2):
            self._rtt[key] = t2 - t
        return self._rtt.get(key, NAN)

    def _one_way(self, s: Server, peer: int, link: Link) -> float:
        """One latency draw on ``link`` as it is now, from the monitor's own stream."""
        twin = self._twins.get(link)
        if twin is None:
            spec = self.net.route_latency(s, self.net.servers_by_idx[peer])
            rng = self.net.streams.stream(f"monitor:{link.name}")
            twin = self._twins[link] = affine_sampler(Dist.of(spec.dist, **spec.params()), rng)
        return link.low + link.span * twin.draw(twin.stream)
