"""Route connections inside each cluster: dialling, gossip, failure detection, convergence.

Follows nats-server ``server/route.go`` (digest §3):

* every server dials the seed routes it is configured with (explicit
  routes); when a route registers, each end tells its other routes about the
  new peer (``forwardNewRouteInfoToKnownServers``), and a server that is not
  connected to it yet dials it (``processImplicitRoute``) — so servers that
  know one seed end up in a full mesh;
* one route per server pair survives (``handleDuplicateRoute``);
* when a route closes, the shadow subscriptions learned on it go at once;
  explicit routes are redialled after ``route_reconnect`` + rand(0-100 ms),
  then every ``connect_retry`` (plus the dial timeout while the peer does not
  answer), forever; an implicit route gets one attempt (``connect_retries``
  defaults to 0) and is otherwise re-learned by gossip;
* a route whose path is blackholed is closed as stale when ``max_pings_out``
  pings went unanswered: pings every min(``ping_interval``, ``route_ping_max``),
  the first 1 s (+0-20 %) after connecting (``setFirstPingTimer``).

It also watches each cluster's *convergence*: from the moment the route
table stops being a full mesh of the running servers until it is one again
and the last interest batch sent on a new route has arrived.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.model.clock import Call, Clock
from sim.model.link import Link
from sim.trace import DropReason, Trace

if TYPE_CHECKING:
    import random

    from sim.model.server import Server
    from sim.model.wire import Wire

__all__ = ["Mesh", "RouteConn", "stale_at"]


def stale_at(t_connected: float, first: float, interval: float, max_out: int, now: float) -> float:
    """When a connection blackholed at ``now`` is closed as stale by its pinger.

    Pings go at ``t_connected + first + k * interval``; the one after ``now``
    is the first unanswered, and the connection is closed at the tick that
    would make ``max_out + 1`` outstanding (``processPingTimer``).
    """
    t = t_connected + first
    if t <= now:
        t += interval * (int((now - t) // interval) + 1)
    return t + max_out * interval


class RouteConn:
    """One route connection between two servers (both directions)."""

    __slots__ = ("a", "ab", "b", "ba", "first", "held", "number", "synced", "t")

    def __init__(self, a: int, b: int, ab: Link, ba: Link, t: float, number: int) -> None:
        self.a, self.b = a, b
        self.ab, self.ba = ab, ba
        self.t = t
        self.number = number
        self.first = 1.0
        self.synced = t
        self.held = False

    @property
    def key(self) -> tuple[str, int, int]:
        """The connection key of :mod:`sim.model.wire`."""
        return ("r", min(self.a, self.b), max(self.a, self.b))


class Mesh:
    """The route connections of every cluster of a network.

    Parameters
    ----------
    servers : list of Server
        In id order.
    seeds : dict[int, set[int]]
        Each server's explicit routes.
    link : callable
        ``(src, dst, number) -> Link`` for the ``number``-th connection.
    options
        The scenario's ``topology.server`` (ping and retry timing).
    """

    def __init__(
        self,
        servers: list[Server],
        seeds: dict[int, set[int]],
        clock: Clock,
        trace: Trace,
        wire: Wire,
        rng: random.Random,
        link: Callable[[Server, Server, int], Link],
        options: Any,
    ) -> None:
        self.servers = servers
        self.seeds = seeds
        self.clock = clock
        self.trace = trace
        self.wire = wire
        self.rng = rng
        self.link = link
        self.opts = options
        self.conns: dict[frozenset[int], RouteConn] = {}
        self._numbers: dict[frozenset[int], int] = {}
        self._dialing: set[tuple[int, int]] = set()
        #: cluster → time its mesh stopped being complete (absent: complete)
        self.incomplete: dict[str, float] = {}
        self.interval = min(options.ping_interval, options.route_ping_max)
        #: off while the network is built (the initial mesh is not a change)
        self.watch = False

    # --------------------------------------------------------------- connect
    def connect(self, a: Server, b: Server) -> RouteConn | None:
        """Open the route a–b now (no-op if there is one) and exchange interest."""
        pair = frozenset((a.idx, b.idx))
        if pair in self.conns:
            return None
        n = self._numbers.get(pair, 0)
        self._numbers[pair] = n + 1
        now = self.clock.now
        conn = RouteConn(a.idx, b.idx, self.link(a, b, n), self.link(b, a, n), now, n)
        conn.first = 1.0 + 0.2 * self.rng.random()
        self.conns[pair] = conn
        a.add_route(b, conn.ab)
        b.add_route(a, conn.ba)
        conn.synced = max(now, conn.ab.last, conn.ba.last)
        if self.watch:
            self.trace.add_event(now, a.idx, "route_up", b.name, 0.0)
            self.trace.add_event(now, b.idx, "route_up", a.name, 0.0)
        if not self.complete(a.cluster):
            # receivers connected to ``new`` already ignore the INFO: skip it then
            self._gossip(a, b, conn)
            self._gossip(b, a, conn)
        self._check(a.cluster)
        return conn

    def _gossip(self, me: Server, new: Server, conn: RouteConn) -> None:
        """``me`` tells its other routes about ``new`` (forwardNewRouteInfoToKnownServers)."""
        now = self.clock.now
        for peer, (link, _, _) in me.routes.items():
            if peer != new.idx:
                link.send(now, self.on_info, (me.idx, peer, new.idx))

    def on_info(self, ev: Call) -> None:
        """An INFO about a route peer arrives: dial it if not connected (processImplicitRoute)."""
        _, dst, new = ev._value
        me, other = self.servers[dst], self.servers[new]
        if me.up and other.up and frozenset((dst, new)) not in self.conns:
            self._dial(me, other, implicit=True)

    def start(self, srv: Server) -> None:
        """``srv`` (re)starts: it dials its seed routes."""
        for peer in sorted(self.seeds.get(srv.idx, ())):
            self._dial(srv, self.servers[peer], implicit=False)
        self._check(srv.cluster)

    def _dial(self, a: Server, b: Server, implicit: bool, delay: float = 0.0) -> None:
        key = (a.idx, b.idx)
        if key in self._dialing:
            return
        self._dialing.add(key)
        self.clock.after(delay, self._attempt, (a, b, implicit))

    def _attempt(self, ev: Call) -> None:
        a, b, implicit = ev._value
        self._dialing.discard((a.idx, b.idx))
        if not a.up or frozenset((a.idx, b.idx)) in self.conns:
            return
        wire = self.wire
        if wire.reachable(a.idx, b.idx):
            # TCP connect and INFO exchange: about one round trip
            n = self._numbers.get(frozenset((a.idx, b.idx)), 0)
            rtt = self.link(a, b, n).arrival(0.0) * 2
            self.clock.after(rtt, self._established, (a, b, implicit))
            self._dialing.add((a.idx, b.idx))
            return
        if implicit:
            return  # connect_retries 0: gossip brings it back
        o = self.opts
        blackholed = b.idx not in wire.down and wire.cut(a.idx, b.idx) is not None
        self._dial(a, b, False, o.connect_retry + (o.dial_timeout if blackholed else 0.0))

    def _established(self, ev: Call) -> None:
        a, b, implicit = ev._value
        self._dialing.discard((a.idx, b.idx))
        if not (a.up and b.up) or not self.wire.reachable(a.idx, b.idx):
            if not implicit:
                self._dial(a, b, False, self.opts.connect_retry)
            return
        self.connect(a, b)

    # ----------------------------------------------------------------- close
    def close(self, a: int, b: int, reason: DropReason) -> None:
        """Close the route a–b: what it carried is lost, shadow subs go, redial."""
        conn = self.conns.pop(frozenset((a, b)), None)
        if conn is None:
            return
        self.wire.lose({conn.key}, reason, (conn.ab, conn.ba))
        sa, sb = self.servers[a], self.servers[b]
        now = self.clock.now
        for me, peer in ((sa, sb), (sb, sa)):
            me.remove_route(peer.idx, reason)
            self.trace.add_event(now, me.idx, "route_down", peer.name, reason)
        self._check(sa.cluster)
        delay = self.opts.route_reconnect + 0.1 * self.rng.random()
        for me, peer in ((sa, sb), (sb, sa)):
            if me.up and peer.idx in self.seeds.get(me.idx, ()):
                self._dial(me, peer, False, delay)

    def close_all(self, srv: int, reason: DropReason) -> None:
        """Close every route of server ``srv``."""
        for pair in [p for p in self.conns if srv in p]:
            a, b = sorted(pair)
            self.close(a, b, reason)

    # --------------------------------------------------------------- blackhole
    def hold(self, conn: RouteConn, reason: DropReason) -> None:
        """The path under ``conn`` is blackholed: hold its data, close it when pings say so."""
        if conn.held:
            return
        conn.held = True
        self.wire.hold({conn.key}, (conn.ab, conn.ba))
        now = self.clock.now
        o = self.opts
        t = stale_at(conn.t, conn.first, self.interval, o.max_pings_out, now)
        self.clock.at(t, self._stale, (conn, reason))

    def _stale(self, ev: Call) -> None:
        conn, reason = ev._value
        if conn.held and self.conns.get(frozenset((conn.a, conn.b))) is conn:
            self.close(conn.a, conn.b, reason)

    def release(self, conn: RouteConn) -> None:
        """The path under ``conn`` healed before the stale check: held data arrives."""
        if conn.held:
            conn.held = False
            self.wire.release({conn.key}, (conn.ab, conn.ba))

    # ------------------------------------------------------------ convergence
    def begin(self) -> None:
        """The build is over: from now on changes are watched (and so is the first mesh)."""
        self.watch = True
        for cluster in dict.fromkeys(s.cluster for s in self.servers):
            self._check(cluster)

    def complete(self, cluster: str) -> bool:
        """True if every two running servers of ``cluster`` have a route."""
        up = [s.idx for s in self.servers if s.cluster == cluster and s.up]
        return all(frozenset((a, b)) in self.conns for i, a in enumerate(up) for b in up[i + 1 :])

    def _check(self, cluster: str) -> None:
        if not self.watch:
            return
        now = self.clock.now
        done = self.complete(cluster)
        if not done and cluster not in self.incomplete:
            self.incomplete[cluster] = now
            self.trace.add_event(now, -1, "mesh_incomplete", cluster, 0.0)
        elif done and cluster in self.incomplete:
            start = self.incomplete.pop(cluster)
            members = {s.idx for s in self.servers if s.cluster == cluster}
            synced = max(
                (c.synced for c in self.conns.values() if c.a in members),
                default=now,
            )
            self.clock.at(max(now, synced), self._converged, (cluster, start))

    def _converged(self, ev: Call) -> None:
        cluster, start = ev._value
        if cluster in self.incomplete:
            return  # broke again before the interest arrived
        now = self.clock.now
        self.trace.add_event(now, -1, "converged", cluster, now - start)
