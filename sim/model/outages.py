"""What faults do to a running network: crashes, lame duck, cut paths, latency, dead clients.

Each operation changes the model the way the real event would, and leaves
detection to the mechanism that detects it in NATS (digest §2, §3, §5, §8):

* a process crash or a connection reset closes TCP at once: both ends see
  it, routes and gateways are redialled, clients reconnect;
* a silent failure (a machine that dies, a blackholed path) closes nothing:
  data waits in TCP (see :mod:`sim.model.wire`) until an end's pings go
  unanswered ``max_pings_out`` times — routes ping every
  min(``ping_interval``, 30 s), gateways every min(``ping_interval``, 15 s),
  clients and servers each other every ``ping_interval`` (2 min) — and the
  connection is closed as stale; if the path heals first, the data arrives late.

Servers are named by id here; :mod:`sim.faults` turns scenario names into ids.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.model.client import owner_client
from sim.model.clock import Call
from sim.model.mesh import stale_at
from sim.trace import DropReason

if TYPE_CHECKING:
    from sim.model.client import Client
    from sim.model.gateway import Outbound
    from sim.model.link import Link
    from sim.model.network import Network
    from sim.model.server import Server

__all__ = ["Outages"]

#: nats-server ``firstClientPingInterval``: its first ping to a client
FIRST_CLIENT_PING = 2.0


class Outages:
    """The fault operations on one network, and the state they keep (holds, spikes, counts)."""

    def __init__(self, net: Network) -> None:
        self.net = net
        self.clock = net.clock
        self.trace = net.trace
        self.wire = net.wire
        self.opts = net.scenario.topology.server
        #: how many faults hold each server down; it runs again at 0
        self.down_count: dict[int, int] = {}
        #: servers in lame-duck mode (they refuse new clients)
        self.lame: set[int] = set()
        #: latency changes in force: server pair → stack of (add, factor)
        self.spikes: dict[frozenset[int], list[tuple[float, float]]] = {}
        #: each link's own latency offset and scale before any change
        self._base: dict[Link, tuple[float, float]] = {}
        #: called with (server, running) after a server stops or starts (JetStream's
        #: replication groups follow their servers this way)
        self.watchers: list[Callable[[Server, bool], None]] = []

    # ----------------------------------------------------------------- servers
    def crash(self, srv: Server, silent: bool = False, reason: DropReason | None = None) -> None:
        """``srv`` stops: at once for its peers (process crash) or unnoticed (``silent``)."""
        self.down_count[srv.idx] = self.down_count.get(srv.idx, 0) + 1
        if not srv.up:
            return
        reason = reason or DropReason.SERVER_DOWN
        now = self.clock.now
        srv.up = False
        self.wire.down.add(srv.idx)
        self.wire.down_reason[srv.idx] = reason
        self.lame.discard(srv.idx)
        how = (
            "silent_crash"
            if silent
            else ("lame_duck" if reason == DropReason.LAME_DUCK else "crash")
        )
        self.trace.add_event(now, srv.idx, "server_down", how, reason)
        if silent:
            for conn in [c for c in self.net.mesh.conns.values() if srv.idx in (c.a, c.b)]:
                self.net.mesh.hold(conn, reason)
            for other in self.net.servers_by_idx:
                if other.gw is None:
                    continue
                for ob in list(other.gw.outbound.values()):
                    if other is srv or ob.peer is srv:
                        self._hold_gateway(other, ob, reason)
            for c in list(srv.clients.values()):
                self._hold_client(c, reason)
        else:
            self._shut(srv, reason)
        for watch in self.watchers:
            watch(srv, False)

    def _shut(self, srv: Server, reason: DropReason) -> None:
        """Close every connection of ``srv`` now and forget its state."""
        self.net.mesh.close_all(srv.idx, reason)
        if srv.gw is not None:
            for cluster in list(srv.gw.outbound):
                self.close_gateway(srv, cluster, reason, redial=False)
            for other in self.net.servers_by_idx:
                if other.gw is not None and other is not srv:
                    ob = other.gw.outbound.get(srv.cluster)
                    if ob is not None and ob.peer is srv:
                        self.close_gateway(other, srv.cluster, reason)
        for c in list(srv.clients.values()):
            c.connection_lost(reason)
        srv.reset()
        if srv.gw is not None:
            srv.gw.reset()

    def start(self, srv: Server, how: str = "restart") -> None:
        """``srv`` (re)starts empty, dials its seed routes and gateways (``how``: restart, join)."""
        n = self.down_count.get(srv.idx, 0)
        if n > 1:
            self.down_count[srv.idx] = n - 1
            return
        self.down_count.pop(srv.idx, None)
        if srv.up:
            return
        # a machine that died silently reboots: what its peers still held is reset now
        self._shut(srv, self.wire.down_reason.get(srv.idx, DropReason.SERVER_DOWN))
        srv.up = True
        self.wire.down.discard(srv.idx)
        self.wire.down_reason.pop(srv.idx, None)
        self.trace.add_event(self.clock.now, srv.idx, "server_up", how, 0.0)
        mesh = self.net.mesh
        mesh.start(srv)
        rng = mesh.rng
        for p in self.net.servers_by_idx:
            if p.up and p is not srv and srv.idx in mesh.seeds.get(p.idx, ()):
                # their explicit route to it is retried every connect_retry
                mesh._dial(p, srv, False, self.opts.connect_retry * rng.random())
        if srv.gw is not None:
            self.net.dial_gateways(srv, immediate=False)
        for watch in self.watchers:
            watch(srv, True)

    def lame_duck(self, srv: Server) -> None:
        """Put ``srv`` in lame-duck mode (``lameDuckMode``), then shut it down.

        It refuses new clients at once, closes the connected ones one by one
        after the grace period, spread over the rest of the lame-duck
        duration (at most 1 s apart), then shuts down.
        """
        if not srv.up or srv.idx in self.lame:
            return
        self.lame.add(srv.idx)
        self.trace.add_event(self.clock.now, srv.idx, "lame_duck", srv.name, 0.0)
        self.clock.after(self.opts.lame_duck_grace, self._lame_close, srv)

    def _lame_close(self, ev: Call) -> None:
        srv: Server = ev._value
        if srv.idx not in self.lame or not srv.up:
            return
        clients = sorted(srv.clients.values(), key=lambda c: c.id)
        span = max(self.opts.lame_duck_duration - self.opts.lame_duck_grace, 1.0)
        step = min(span / len(clients), 1.0) if clients else 0.0
        order = list(clients)
        self.net.streams.stream(f"lame_duck:{srv.name}").shuffle(order)
        for k, c in enumerate(order):
            self.clock.after(k * step, self._lame_kick, (srv, c))
        self.clock.after(len(order) * step, self._lame_exit, srv)

    def _lame_kick(self, ev: Call) -> None:
        srv, c = ev._value
        if srv.idx in self.lame and c.server is srv:
            c.connection_lost(DropReason.LAME_DUCK)

    def _lame_exit(self, ev: Call) -> None:
        srv = ev._value
        if srv.idx in self.lame:
            self.crash(srv, reason=DropReason.LAME_DUCK)

    def accepts(self, srv: Server) -> bool:
        """False while ``srv`` is in lame-duck mode (its client listener is closed)."""
        return srv.idx not in self.lame

    # ---------------------------------------------------------------- gateways
    def close_gateway(
        self, a: Server, cluster: str, reason: DropReason, redial: bool = True
    ) -> None:
        """Close ``a``'s outbound gateway to ``cluster``; what it carried is lost."""
        ob = a.gw.outbound.get(cluster)
        if ob is None:
            return
        ib = ob.peer.gw.inbound.get(a.idx)
        links = [ob.link] + ([ib.link] if ib is not None else [])
        self.wire.lose({("g", a.idx, ob.peer.idx)}, reason, links)
        if redial and a.up:
            a.gw.close_outbound(cluster, reason)
        else:
            a.gw.outbound.pop(cluster, None)
            ob.peer.gw.inbound.pop(a.idx, None)
            a.gw._reorder()

    def _hold_gateway(self, a: Server, ob: Outbound, reason: DropReason) -> None:
        ib = ob.peer.gw.inbound.get(a.idx)
        links = [ob.link] + ([ib.link] if ib is not None else [])
        if ob.link in self.wire.held:
            return
        self.wire.hold({("g", a.idx, ob.peer.idx)}, links)
        interval = a.gw.ping_interval
        t = stale_at(ob.t, ob.first, interval, self.opts.max_pings_out, self.clock.now)
        self.clock.at(t, self._gateway_stale, (a, ob, reason))

    def _gateway_stale(self, ev: Call) -> None:
        a, ob, reason = ev._value
        if a.gw.outbound.get(ob.cluster) is ob and ob.link in self.wire.held:
            self.close_gateway(a, ob.cluster, reason)

    # ----------------------------------------------------------------- clients
    def _hold_client(self, c: Client, reason: DropReason) -> None:
        if c.up in self.wire.held:
            return
        self.wire.hold({("c", c.id)}, (c.up, c.down), c.must_scan())
        now = self.clock.now
        p = c.profile
        mine = stale_at(c.connected_at, p.ping_interval, p.ping_interval, p.max_pings_out, now)
        o = self.opts
        theirs = stale_at(c.connected_at, FIRST_CLIENT_PING, o.ping_interval, o.max_pings_out, now)
        t = mine if not c.server.up else min(mine, theirs)
        self.clock.at(t, self._client_stale, (c, c.up, reason))

    def _client_stale(self, ev: Call) -> None:
        c, up, reason = ev._value
        if c.up is up and up in self.wire.held:
            c.connection_lost(reason)

    def kill(self, clients: list[Client]) -> None:
        """The clients' processes die (their timers cancelled in one pass over the queue)."""
        dead = set()
        for c in clients:
            if c.alive:
                c.kill(cancel=False)
                dead.add(c)
        if dead:
            self.wire.cancel(lambda cb, _v: owner_client(cb) in dead)

    def revive(self, clients: list[Client]) -> None:
        """The killed clients' processes start again."""
        for c in clients:
            c.restart()

    # ------------------------------------------------------------------- paths
    def cut(self, pairs: set[frozenset[int]], reason: DropReason, silent: bool) -> None:
        """Cut the paths between server pairs: connections on them reset, or are blackholed."""
        for pair in pairs:
            self.wire.block(pair, reason, silent)
        mesh = self.net.mesh
        for conn in list(mesh.conns.values()):
            if frozenset((conn.a, conn.b)) in pairs:
                if silent:
                    mesh.hold(conn, reason)
                else:
                    mesh.close(conn.a, conn.b, reason)
        for a in self.net.servers_by_idx:
            if a.gw is None:
                continue
            for ob in list(a.gw.outbound.values()):
                if frozenset((a.idx, ob.peer.idx)) in pairs:
                    if silent:
                        self._hold_gateway(a, ob, reason)
                    else:
                        self.close_gateway(a, ob.cluster, reason)
        for c in self.net.clients_by_idx:
            if c.state == "connected" and frozenset((c.home, c.server.idx)) in pairs:
                if silent:
                    self._hold_client(c, reason)
                else:
                    c.connection_lost(reason)

    def heal(self, pairs: set[frozenset[int]], reason: DropReason, silent: bool) -> None:
        """End one cut of the paths: held connections whose path is clear get their data through."""
        for pair in pairs:
            self.wire.unblock(pair, reason, silent)
        wire = self.wire
        for conn in list(self.net.mesh.conns.values()):
            if conn.held and wire.cut(conn.a, conn.b) is None and not wire.down & {conn.a, conn.b}:
                self.net.mesh.release(conn)
        for a in self.net.servers_by_idx:
            if a.gw is None or not a.up:
                continue
            for ob in list(a.gw.outbound.values()):
                if ob.link in wire.held and wire.reachable(a.idx, ob.peer.idx):
                    ib = ob.peer.gw.inbound.get(a.idx)
                    links = [ob.link] + ([ib.link] if ib is not None else [])
                    wire.release({("g", a.idx, ob.peer.idx)}, links)
        for c in self.net.clients_by_idx:
            if (
                c.state == "connected"
                and c.up in wire.held
                and wire.reachable(c.home, c.server.idx)
            ):
                t = wire.release({("c", c.id)}, (c.up, c.down))
                self.trace.retime({s.id for s in c.subs.values()}, t)
                c.released(t)

    # ----------------------------------------------------------------- latency
    def links_between(self, pairs: set[frozenset[int]]) -> list[Link]:
        """The route and gateway links (both directions) between the server pairs."""
        out: list[Link] = []
        for conn in self.net.mesh.conns.values():
            if frozenset((conn.a, conn.b)) in pairs:
                out += [conn.ab, conn.ba]
        for a in self.net.servers_by_idx:
            if a.gw is None:
                continue
            for ob in a.gw.outbound.values():
                if frozenset((a.idx, ob.peer.idx)) in pairs:
                    out.append(ob.link)
                    ib = ob.peer.gw.inbound.get(a.idx)
                    if ib is not None:
                        out.append(ib.link)
        return out

    def change_latency(self, pairs: set[frozenset[int]], add: float, factor: float) -> None:
        """Scale and add to the latency between the server pairs, until :meth:`restore_latency`."""
        for pair in pairs:
            self.spikes.setdefault(pair, []).append((add, factor))
        for link in self.links_between(pairs):
            self._base.setdefault(link, (link.low, link.span))
        self._apply(pairs)

    def restore_latency(self, pairs: set[frozenset[int]], add: float, factor: float) -> None:
        """Undo one :meth:`change_latency` on the pairs."""
        for pair in pairs:
            stack = self.spikes.get(pair, [])
            if (add, factor) in stack:
                stack.remove((add, factor))
            if not stack:
                self.spikes.pop(pair, None)
        self._apply(pairs)

    def adjust(self, link: Link, a: int, b: int) -> None:
        """Apply the latency changes in force between ``a`` and ``b`` to a new ``link``."""
        if frozenset((a, b)) in self.spikes:
            self._base[link] = (link.low, link.span)
            self._apply_one(link, self.spikes[frozenset((a, b))])

    def _apply(self, pairs: set[frozenset[int]]) -> None:
        for pair in pairs:
            stack = self.spikes.get(pair, [])
            for link in self.links_between({pair}):
                self._apply_one(link, stack)

    def _apply_one(self, link: Link, stack: list[tuple[float, float]]) -> None:
        low, span = self._base.setdefault(link, (link.low, link.span))
        for add, factor in stack:
            low, span = low * factor + add, span * factor
        held = self.wire.held.get(link)
        if held is not None:
            self.wire.held[link] = (low, held[1])
        else:
            link.low = low
        link.span = span

    def describe(self, ids: Any) -> str:
        """Server names for an event detail."""
        names = [self.net.servers_by_idx[i].name for i in sorted(ids)]
        return ", ".join(names)
