"""A NATS server: its sublist, its routes, and how it routes one message.

The routing rules follow nats-server ``processMsgResults`` and
``processInboundClientMsg`` (server/client.go), summarised in the digest §3–§4
and §7:

* a message from a client goes to every matching local subscription, once to
  every route whose peer has plain interest, and for each queue group to one
  member picked at random over the whole cluster, where a peer's shadow
  subscription counts ``weight`` times (its member count) — no local
  preference inside a cluster;
* a message that arrived over a route goes to local clients only (one hop);
  for a queue group named in the route message, to a random local member, or
  if none is left, one more hop to another server's member (the ``rsub``
  fallback for stale interest);
* interest travels as RS+/RS- over routes, in the same FIFO stream as the
  messages: plain subjects on the 0↔1 transition of the local count, queue
  groups on every change, carrying the member count;
* a request (a message with a reply subject) that was delivered nowhere —
  and a forward to a route counts as delivered — earns the requester a 503
  "no responders" status.

A server is a single FIFO processor: each message costs ``processing``
seconds, so bursts queue.  Every owed delivery that does not happen is booked
as a drop with its reason, here or at the next server.
"""

from __future__ import annotations

import math
import random
from heapq import heappush
from typing import TYPE_CHECKING, Any

from sim.model.clock import NORMAL, Call, Clock
from sim.model.counters import Counters
from sim.model.intent import Expect, InterestLedger, allowed
from sim.model.link import Link
from sim.model.message import LOCAL, Msg, Sub
from sim.subjects import MatchResult, SubjectTrie
from sim.trace import DropReason, Trace

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Server"]

_NOT_YET = DropReason.INTEREST_NOT_YET_PROPAGATED

#: creates a :class:`Call` without an ``__init__`` frame (hot path; see sim.model.clock)
_new = object.__new__


class _RemoteView:
    """Route interest in one subject: peers with plain interest, queue members by group.

    Also caches, for the common message with no queue group anywhere, what
    :meth:`Server.on_client_msg` does with the peers: one ``(link, callbacks)``
    pair per peer to send to, and the owed subscriptions on servers that are
    not among them (dropped: their interest has not arrived yet) for the
    :class:`~sim.model.intent.Expect` it last saw.
    """

    __slots__ = ("expect", "missing", "peers", "queues", "sends")

    def __init__(self, peers: tuple[int, ...], queues: dict[str, tuple[Sub, ...]]) -> None:
        self.peers = peers
        self.queues = queues
        self.sends: tuple[tuple[Link, tuple[Callable[[Call], None]]], ...] | None = None
        self.expect: Expect | None = None
        self.missing: tuple[Sub, ...] = ()


class _LocalPlan:
    """What a server does with a message on one subject for its own subscriptions.

    Built from one match of the server's local sublist and the message's
    :class:`~sim.model.intent.Expect` (what the server's clients are owed),
    and cached on that Expect until the sublist changes (``gen``): the
    subscriptions in delivery order and their links, which of them are owed
    the message (``oks``), and the batch the trace records for a delivery to
    all of them (``rec``).  ``owed`` lists the owed subscriptions; ``short``
    is true when some of them are not in the sublist (yet, or any more), so
    the delivery must book drops.
    """

    __slots__ = (
        "counted",
        "downs",
        "fast",
        "gen",
        "oks",
        "owed",
        "plain",
        "queues",
        "r_bytes",
        "r_msgs",
        "rec",
        "short",
    )

    def __init__(
        self,
        r: MatchResult,
        mine: tuple[tuple[Sub, ...], frozenset[Sub]] | None,
        gen: int,
        subject: str,
        filtering: bool,
    ) -> None:
        plain: tuple[Sub, ...] = r.plain  # type: ignore[assignment]
        queues: dict[str, tuple[Sub, ...]] = r.queues  # type: ignore[assignment]
        if filtering:
            plain, queues = allowed(plain, queues, subject)
        self.gen = gen
        self.plain = plain
        self.queues = queues
        self.downs = tuple(s.down for s in plain)
        #: some subscriptions, none of which needs an event of its own (no handler)
        #: or a look at its client's reading (no reader)
        self.fast = bool(plain) and all(s.handler is None and s.reader is None for s in plain)
        owed = mine[1] if mine is not None else ()
        self.oks = tuple(s in owed for s in plain)
        self.owed: tuple[Sub, ...] = mine[0] if mine is not None else ()
        self.short = sum(self.oks) < len(self.owed)
        #: what the trace records per batch (Trace.batch_id); set by the server
        self.rec = -1
        #: whether route arrivals on the fast path count themselves here (set by
        #: the server while a monitor samples), and how many did since the
        #: counters last took them: messages, payload bytes (Counters.fold)
        self.counted = False
        self.r_msgs = self.r_bytes = 0


class Server:
    """One nats-server in a cluster.

    Parameters
    ----------
    idx : int
        The server's id in the trace.
    name, cluster : str
        Names as the scenario gives them.
    clock, trace, ledger
        Shared run services.
    rng : random.Random
        This server's own stream, used for queue-member selection.
    processing : float
        Seconds of server time per message.
    """

    def __init__(
        self,
        idx: int,
        name: str,
        cluster: str,
        clock: Clock,
        trace: Trace,
        ledger: InterestLedger,
        rng: random.Random,
        processing: float,
    ) -> None:
        self.idx = idx
        self.name = name
        self.cluster = cluster
        self.clock = clock
        self.trace = trace
        self.ledger = ledger
        self.rng = rng
        self.processing = processing
        #: the sublist, split in two: subscriptions of this server's own clients…
        self.local = SubjectTrie()
        #: …and shadow subscriptions learned over routes (RS+)
        self.remote = SubjectTrie()
        self._views: dict[str, _RemoteView] = {}
        self._views_gen = self.remote.genid
        self.busy = 0.0
        #: local interest ref counts, key (subject, queue) — nats-server ``acc.rm``
        self.rm: dict[tuple[str, str | None], int] = {}
        #: shadow subscriptions learned over routes, key (peer, subject, queue)
        self.route_subs: dict[tuple[int, str, str | None], Sub] = {}
        #: peer index → (link to it, its message handler, its interest handler)
        self.routes: dict[int, tuple[Link, Callable[[Call], None], Callable[[Call], None]]] = {}
        # bound once for the hot paths
        self._env = clock.env
        self._queue = clock.env._queue
        self._eid = clock.env._eid
        self._msg_expected = trace.msg_expected
        self._a_time = trace.dlv_time.append
        self._a_msg = trace.dlv_msg.append
        self._a_via = trace.dlv_via.append
        self._a_rec = trace.dlv_rec.append
        #: gateway state (sim.model.gateway.Gateways) when the scenario has several clusters
        self.gw: Any = None
        #: ids of the servers of this cluster (owed copies elsewhere are booked by gateways)
        self.cluster_ids: frozenset[int] = frozenset((idx,))
        #: server id → cluster name, for every server of the network
        self.cluster_of: list[str] = []
        #: messages received over gateways (/gatewayz inbound msgs)
        self.gateway_in = 0
        #: False while crashed (or not yet joined)
        self.up = True
        #: client id → client, the connections this server holds
        self.clients: dict[int, Any] = {}
        #: peer → why its route went away (until it is back): the reason owed
        #: copies on that peer's clients are dropped meanwhile
        self.route_lost: dict[int, DropReason] = {}
        #: why this server is down (SERVER_DOWN, or LAME_DUCK after a lame-duck stop)
        self.down_reason = DropReason.SERVER_DOWN
        #: set by the network: server id → whether it runs, and the reason the
        #: path to a server is cut (see sim.model.wire)
        self.wire: Any = None
        #: /varz-style counters since the run started (sim.model.monitor samples them)
        self.counters = Counters()
        #: True while a monitor samples the counters: new plans count the route
        #: arrivals of the fast path, client publishes, deliveries on the fast
        #: path and route sends (uncounted otherwise: they are the hot path)
        self.counting = False
        #: counted plans used since the counters last took their counts
        self.used_plans: list[_LocalPlan] = []

    def reset(self) -> None:
        """Forget every subscription, route and client: the process restarts empty."""
        gen = max(self.local.genid, self.remote.genid) + 1
        self.local = SubjectTrie()
        self.remote = SubjectTrie()
        # cached plans and views compare generations: never reuse an old one
        self.local.genid = self.remote.genid = gen
        self._views = {}
        self._views_gen = self.remote.genid
        self.busy = 0.0
        self.rm = {}
        self.route_subs = {}
        self.routes = {}
        self.clients = {}
        self.route_lost = {}

    def __repr__(self) -> str:
        return f"<Server {self.name} ({self.cluster})>"

    def remote_view(self, subject: str) -> _RemoteView:
        """Return which peers have plain interest in ``subject``, and their queue members."""
        if self._views_gen != self.remote.genid:
            self._views.clear()
            self._views_gen = self.remote.genid
        view = self._views.get(subject)
        if view is None:
            r = self.remote.match(subject)
            view = self._views[subject] = _RemoteView(
                tuple(dict.fromkeys(s.peer for s in r.plain)), r.queues
            )
        return view

    def local_plan(self, expect: Expect, subject: str) -> _LocalPlan:
        """Return what this server does for its own clients with a message on ``subject``.

        ``expect`` is the message's Expect; the plan is cached on it, per server.
        """
        plan = expect.plans.get(self.idx)
        if plan is None or plan.gen != self.local.genid:
            plan = _LocalPlan(
                self.local.match(subject),
                expect.by_server.get(self.idx),
                self.local.genid,
                subject,
                expect.filtering,
            )
            plan.rec = self.trace.batch_id(tuple(s.id for s in plan.plain), plan.oks)
            plan.counted = self.counting
            expect.plans[self.idx] = plan
        return plan

    # ------------------------------------------------------------------ routes
    def add_route(self, peer: Server, link: Link) -> None:
        """Open a route to ``peer`` over ``link`` and send it all local interest."""
        self.routes[peer.idx] = (link, peer.on_route_msg, peer.on_route_sub)
        self.route_lost.pop(peer.idx, None)
        self._views.clear()  # their cached sends may name the old route to peer
        t = self.clock.now
        for (subject, queue), n in self.rm.items():
            link.send(t, peer.on_route_sub, (self.idx, subject, queue, 1 if queue is None else n))

    def remove_route(self, peer: int, reason: DropReason) -> None:
        """The route to ``peer`` closed: forget it and every subscription learned on it.

        As ``removeRoute`` → ``removeRemoteSubs``: the shadow subscriptions go
        in one batch, and their weight leaves the cluster-wide gateway tally.
        """
        if self.routes.pop(peer, None) is None:
            return
        self.route_lost[peer] = reason
        self._views.clear()
        for key in [k for k in self.route_subs if k[0] == peer]:
            sub = self.route_subs.pop(key)
            self.remote.remove(sub.subject, sub, sub.queue)
            if self.gw is not None:
                self.gw.change(sub.subject, sub.queue, -sub.weight)

    def why(self, srv: int, s: Sub | None = None) -> DropReason:
        """Why an owed copy for subscription ``s`` on server ``srv`` does not get there from here.

        Its client's connection died (the reason it died of), its server is
        down, the route to it is gone (the reason it went), or — nothing
        broken — its interest has not arrived yet.
        """
        if s is not None and s.lost:
            return DropReason(s.lost)
        wire = self.wire
        if wire is not None and srv in wire.down:
            return wire.down_reason.get(srv, DropReason.SERVER_DOWN)
        lost = self.route_lost.get(srv)
        return lost if lost is not None else _NOT_YET

    def queue_why(self, members: tuple[Sub, ...]) -> DropReason:
        """Why no member of an owed queue group was reachable from here.

        Interest still on its way to this server wins (a member would have
        been picked a moment later); otherwise the first member's broken
        connection, server or route (:meth:`why`), or the gateway to its
        cluster that is down.
        """
        reasons = []
        for s in members:
            if s.lost:
                reasons.append(DropReason(s.lost))
            elif self.cluster_of and self.cluster_of[s.server] != self.cluster:
                lost = self.gw.lost.get(self.cluster_of[s.server]) if self.gw is not None else None
                reasons.append(lost if lost is not None else self.why(s.server, s))
            else:
                reasons.append(self.why(s.server, s))
        return _NOT_YET if not reasons or _NOT_YET in reasons else reasons[0]

    # ---------------------------------------------------------------- interest
    def on_client_sub(self, ev: Call) -> None:
        """A client's SUB arrives: insert it and propagate the change to routes."""
        sub: Sub = ev._value
        self.local.insert(sub.subject, sub, sub.queue)
        key = (sub.subject, sub.queue)
        n = self.rm.get(key, 0) + 1
        self.rm[key] = n
        if sub.queue is not None or n == 1:
            self._send_interest(sub.subject, sub.queue, n if sub.queue is not None else 1)
        if self.gw is not None:
            self.gw.change(sub.subject, sub.queue, 1)

    def on_client_unsub(self, ev: Call) -> None:
        """A client's UNSUB arrives: remove it and propagate the change to routes."""
        self.remove_local(ev._value)

    def replan(self) -> None:
        """Forget the cached delivery plans (a client's way of reading changed)."""
        self.local.genid += 1

    def drop_client(self, client: Any) -> None:
        """Close ``client``'s connection: its subscriptions go as if unsubscribed."""
        if self.clients.pop(client.id, None) is None:
            return
        for sub in list(client.subs.values()):
            if sub.server == self.idx:
                self.remove_local(sub)

    def remove_local(self, sub: Sub) -> None:
        """Remove a client subscription from the sublist and propagate the change."""
        if not self.local.remove(sub.subject, sub, sub.queue):
            return
        key = (sub.subject, sub.queue)
        n = self.rm[key] - 1
        if n:
            self.rm[key] = n
        else:
            del self.rm[key]
        if sub.queue is not None or n == 0:
            self._send_interest(sub.subject, sub.queue, n)
        if self.gw is not None:
            self.gw.change(sub.subject, sub.queue, -1)

    def _send_interest(self, subject: str, queue: str | None, weight: int) -> None:
        """Send RS+ (weight > 0) or RS- (weight 0) to every route."""
        t = self.clock.now
        arg = (self.idx, subject, queue, weight)
        for link, _, on_sub in self.routes.values():
            link.send(t, on_sub, arg)

    def on_route_sub(self, ev: Call) -> None:
        """An RS+/RS- arrives from a peer: update the shadow subscription."""
        peer, subject, queue, weight = ev._value
        key = (peer, subject, queue)
        sub = self.route_subs.get(key)
        before = sub.weight if sub is not None else 0
        if weight > 0:
            if sub is None:
                sub = Sub(-1, subject, queue, server=self.idx, peer=peer, weight=weight)
                self.route_subs[key] = sub
                self.remote.insert(subject, sub, queue)
            else:
                sub.weight = weight
        elif sub is not None:
            del self.route_subs[key]
            self.remote.remove(subject, sub, queue)
        if self.gw is not None and weight != before:
            # route-learned interest counts toward the cluster-wide tally (processRemoteSub)
            self.gw.change(subject, queue, weight - before)

    # ---------------------------------------------------------------- messages
    def _start(self) -> float:
        """Queue one message on the server's processor; return when it is done."""
        now = self._env._now
        t0 = (self.busy if self.busy > now else now) + self.processing
        self.busy = t0
        return t0

    def _deliver_plan(self, plan: _LocalPlan, msg: Msg, t0: float, via: int) -> None:
        """Deliver ``msg`` to the plain subscriptions of ``plan``; book the owed ones missing."""
        if plan.fast:
            # the hot loop: only the arrival time is computed per delivery
            # (Link.arrival inlined); the rest is recorded once per batch
            a_time = self._a_time
            downs = plan.downs
            for down in downs:
                t = t0 + (down.low + down.span * down.draw(down.stream))
                if t < down.last:
                    t = down.last
                down.last = t
                a_time(t)
            self._a_msg(msg.id)
            self._a_via(via)
            self._a_rec(plan.rec)
            if plan.counted:
                counters = self.counters
                n = len(downs)
                counters.out_client_msgs += n
                counters.out_client_bytes += n * msg.size
        elif plan.plain:
            self._deliver_all(plan, msg, t0, via)
        if plan.short:
            self._drop_missing(msg, plan.owed, t0)

    def on_client_msg(self, ev: Call) -> None:
        """A client's PUB arrives: route it as nats-server does for a client message."""
        msg: Msg = ev._value
        now = self._env._now
        t0 = (self.busy if self.busy > now else now) + self.processing  # _start inlined
        self.busy = t0
        if self.counting:
            counters = self.counters
            counters.in_client_msgs += 1
            counters.in_client_bytes += msg.size
        me = self.idx
        msg.origin = me
        subject = msg.subject
        expect = msg.expect = self.ledger.expect(subject)
        self._msg_expected[msg.id] = expect.total
        if msg.gr is not None and self.gw is not None and msg.gr[0] != self.cluster:
            self._send_mapped_reply(msg, t0)
            return
        self._route_client(msg, expect, t0, LOCAL)

    def _route_client(self, msg: Msg, expect: Expect, t0: float, via: int) -> None:
        """Route a message as published here: local, peers, queue groups, gateways; book misses.

        ``via`` is where it came from (LOCAL for a client's PUB; the gateway or
        route hop a ``_GR_`` reply took to its requester's server).
        """
        me = self.idx
        subject = msg.subject
        # local_plan and remote_view inlined when their caches hold
        plan = expect.plans.get(me)
        if plan is None or plan.gen != self.local.genid:
            plan = self.local_plan(expect, subject)
        view = self._views.get(subject)
        if view is None or self._views_gen != self.remote.genid:
            view = self.remote_view(subject)
        self._deliver_plan(plan, msg, t0, via)
        delivered = bool(plan.plain)
        served: set[str] = set()
        if plan.queues or view.queues or expect.queues:
            delivered = self._route_with_queues(msg, plan, view, t0, served) or delivered
        else:
            if view.peers:
                delivered = True
                self._send_to_peers(view, (msg, None, me), t0)
            if view.expect is not expect:
                peers = view.peers
                mates = self.cluster_ids
                view.missing = tuple(
                    s
                    for srv, (subs, _) in expect.by_server.items()
                    if srv != me and srv not in peers and srv in mates
                    for s in subs
                )
                view.expect = expect
            if view.missing:
                # owed on servers whose interest has not reached this one yet
                add_drop, mid, why = self.trace.add_drop, msg.id, self.why
                for s in view.missing:
                    add_drop(mid, s.id, None, me, t0, why(s.server, s))
        if self.gw is not None:
            delivered = self._to_gateways(msg, t0, served) or delivered
        if expect.queues:
            for q in expect.queues:
                if q not in served:
                    reason = self.queue_why(expect.queues[q])
                    self.trace.add_drop(msg.id, -1, q, me, t0, reason)
        if expect.total == 0:
            self.trace.add_drop(msg.id, -1, None, me, t0, DropReason.NO_INTEREST)
        if not delivered and msg.reply is not None:
            self._no_responders(msg, t0)

    def _to_gateways(self, msg: Msg, t0: float, served: set[str]) -> bool:
        """Send a client message to the other clusters; book what they are owed and miss.

        Owed copies in a cluster the message is sent to are booked by that
        cluster's gateway server; those in clusters it is not sent to (their
        interest has not arrived) are dropped here.
        """
        gw = self.gw
        if msg.reply is not None and gw.should_map_reply(msg.reply):
            msg.gr = (self.cluster, self.idx)
        sent = gw.send(msg, t0, served)
        cluster_of, mine = self.cluster_of, self.cluster
        lost = gw.lost
        self._drop_unreached(
            msg,
            t0,
            lambda srv: cluster_of[srv] not in sent and cluster_of[srv] != mine,
            None,
            lambda srv: lost.get(cluster_of[srv]),
        )
        return bool(sent)

    def _send_mapped_reply(self, msg: Msg, t0: float) -> None:
        """A reply to a ``_GR_``-mapped request goes straight back to the requester's cluster.

        Nothing is delivered here or elsewhere on the way (its subject is the
        ``_GR_.`` one); the requester's server routes it to everyone owed
        (:meth:`_reply_at_home`), so copies are booked there — or here, all
        of them, when there is no gateway to that cluster.
        """
        if not self.gw.send_direct(msg, t0, msg.gr[0], self.idx):
            self._lose_reply(msg, t0)

    def _lose_reply(self, msg: Msg, t0: float) -> None:
        """Book every owed copy of a ``_GR_`` reply that cannot reach its requester's server."""
        self._drop_unreached(msg, t0, lambda srv: True)
        for q in msg.expect.queues:
            self.trace.add_drop(msg.id, -1, q, self.idx, t0, self.queue_why(msg.expect.queues[q]))
        if msg.expect.total == 0:
            self.trace.add_drop(msg.id, -1, None, self.idx, t0, DropReason.NO_INTEREST)

    def on_gateway_reply(self, ev: Call) -> None:
        """A ``_GR_`` reply arrives from another cluster: handle it, or route it to its server.

        As ``handleGatewayReply`` (server/gateway.go): the gateway server sends
        it over the route to the requester's server if that is another one
        (:meth:`on_route_reply`), else handles it itself (:meth:`_reply_at_home`).
        """
        msg, via = ev._value
        t0 = self._start()
        self.gateway_in += 1
        self.counters.in_gateway_bytes += msg.size
        target = msg.gr[1]
        if target == self.idx:
            self._reply_at_home(msg, t0, via)
        elif target in self.routes:
            link, on_msg, _ = self.routes[target]
            link.send(t0, on_msg.__self__.on_route_reply, (msg, None, self.idx))
            self.counters.route_out(msg.size, 1)
        else:
            self._lose_reply(msg, t0)

    def on_route_reply(self, ev: Call) -> None:
        """A ``_GR_`` reply routed here by this cluster's gateway server: handle it."""
        msg, _, via = ev._value
        self.counters.in_route_msgs += 1
        self.counters.in_route_bytes += msg.size
        self._reply_at_home(msg, self._start(), via)

    def _reply_at_home(self, msg: Msg, t0: float, via: int) -> None:
        """The requester's server routes a ``_GR_`` reply as if published here.

        ``handleGatewayReply`` strips the prefix and calls ``processMsgResults``
        (local subscriptions, routes — allowed route to route — and queue
        groups), then ``sendMsgToGateways`` with the real subject "in case
        they have interest on that reply subject": every subscription on the
        reply subject in the supercluster gets it, not only the requester.
        Checked against nats-server 2.15.1 (docs/conformance.md).
        """
        self._route_client(msg, msg.expect, t0, via)

    def on_gateway_msg(self, ev: Call) -> None:
        """A message arrives over a gateway: route it inside this cluster only.

        As ``processInboundGatewayMsg`` does: local clients get it, peers with
        plain interest get it over their route (one hop), and each queue group
        named by the sender gets one member over the whole cluster.  It is
        never sent on to another gateway.  In optimistic mode a message this
        cluster has no interest in is answered with RS-.
        """
        msg, queues, origin = ev._value
        t0 = self._start()
        self.gateway_in += 1
        self.counters.in_gateway_bytes += msg.size
        me = self.idx
        expect: Expect = msg.expect
        plan = self.local_plan(expect, msg.subject)
        view = self.remote_view(msg.subject)
        self._deliver_plan(plan, msg, t0, origin)
        targets: dict[int, list[str] | None] = dict.fromkeys(view.peers)
        for q in queues or ():
            members = plan.queues.get(q, ()) + view.queues.get(q, ())
            if not members:
                if q in expect.queues:
                    self.trace.add_drop(msg.id, -1, q, me, t0, DropReason.QUEUE_MEMBER_GONE)
                continue
            pick = self._pick(members)
            if pick.peer < 0:
                self._deliver_one(pick, msg, t0, origin, q in expect.queues)
            else:
                names = targets.get(pick.peer)
                if names is None:
                    targets[pick.peer] = [q]
                else:
                    names.append(q)
        for peer, names in targets.items():
            link, on_msg, _ = self.routes[peer]
            link.send(t0, on_msg, (msg, names, me))
        self.counters.route_out(msg.size, len(targets))
        mates = self.cluster_ids
        self._drop_unreached(msg, t0, lambda srv: srv != me and srv in mates and srv not in targets)
        if not plan.plain and not view.peers and not plan.queues and not view.queues:
            self.gw.no_interest(origin, msg.subject)

    def on_client_tracked(self, ev: Call) -> None:
        """A sampled service request (or its reply) arrives: route it, then stamp its probe.

        Service latency tracking needs the server's own times: when the
        requester's server handled the request (``si.ts``) and when the
        responder's server handled the reply (digest §10).
        """
        msg: Msg = ev._value
        now = self._env._now
        msg.track.handled(self, (self.busy if self.busy > now else now) + self.processing, msg)
        self.on_client_msg(ev)

    def on_denied_pub(self, ev: Call) -> None:
        """A PUB the client's permissions deny arrives: drop it, answer ``-ERR``.

        As ``pubPermissionViolation`` (server/client.go): the message is not
        routed, the connection stays open, and the client gets the error.  It
        was read, so it counts in ``in_msgs`` (``processInboundClientMsg``
        counts before it checks permissions).
        """
        msg: Msg = ev._value
        t0 = self._start()
        self.counters.in_client_msgs += 1
        self.counters.in_client_bytes += msg.size
        msg.origin = self.idx
        self.wire.lose_unrouted(msg, DropReason.PERMISSION_DENIED, t0)
        client = msg.client
        if client.server is self and client.alive:
            self.clock.at(client.down.arrival(t0), client.on_permission_error, msg)

    def _send_to_peers(self, view: _RemoteView, arg: tuple, t0: float) -> None:
        """Send the route message ``arg`` to every peer of ``view`` (no queue group involved)."""
        sends = view.sends
        if sends is None:
            routes = self.routes
            sends = view.sends = tuple((routes[p][0], (routes[p][1],)) for p in view.peers)
        # Link.send inlined, and the argument tuple shared by all the Calls
        queue, eid = self._queue, self._eid
        for link, cbs in sends:
            t = t0 + (link.low + link.span * link.draw(link.stream))
            if t < link.last:
                t = link.last
            link.last = t
            c = _new(Call)
            c.callbacks = cbs
            c._value = arg
            heappush(queue, (t, NORMAL, next(eid), c))
        n = len(sends)
        self.clock.scheduled += n
        if self.counting:
            counters = self.counters
            counters.out_route_msgs += n
            counters.out_route_bytes += n * arg[0].size

    def _route_with_queues(
        self, msg: Msg, plan: _LocalPlan, view: _RemoteView, t0: float, served: set[str]
    ) -> bool:
        """Route a client message when a queue group is involved; return True if delivered.

        Picks the queue members (adding their groups to ``served``), sends one
        route message per target peer (with its queue list) and books the owed
        subscriptions on servers of this cluster it does not reach.
        """
        me = self.idx
        targets: dict[int, list[str] | None] = dict.fromkeys(view.peers)
        delivered = self._route_queues(msg, plan.queues, view.queues, targets, t0, served)
        if targets:
            delivered = True
            routes = self.routes
            for peer, queues in targets.items():
                link, on_msg, _ = routes[peer]
                link.send(t0, on_msg, (msg, queues, me))
            self.counters.route_out(msg.size, len(targets))
        mates = self.cluster_ids
        self._drop_unreached(msg, t0, lambda srv: srv != me and srv in mates and srv not in targets)
        return delivered

    def _drop_unreached(
        self,
        msg: Msg,
        t0: float,
        unreached: Callable[[int], bool],
        reason: DropReason | None = None,
        cause: Callable[[int], DropReason | None] | None = None,
    ) -> None:
        """Book every owed subscription on a server ``unreached(server id)`` says this hop misses.

        With no ``reason``, each gets :meth:`why` — by default their interest
        had not reached the server that routed the message (or the cluster it
        sends to) — unless ``cause(server id)`` names a broken connection.
        """
        add_drop = self.trace.add_drop
        for srv, (subs, _) in msg.expect.by_server.items():
            if unreached(srv):
                broken = cause(srv) if cause is not None else None
                for s in subs:
                    r = reason
                    if r is None:
                        r = broken if broken is not None and not s.lost else self.why(srv, s)
                    add_drop(msg.id, s.id, None, self.idx, t0, r)

    def _deliver_all(self, plan: _LocalPlan, msg: Msg, t0: float, via: int) -> None:
        """Deliver ``msg`` to the plain subscriptions of ``plan`` one by one (some have handlers).

        The arrival at each client is computed, not scheduled (the connection's
        latency, kept FIFO); only a subscription with a handler gets an event.
        """
        for s, ok in zip(plan.plain, plan.oks, strict=True):
            self._deliver_one(s, msg, t0, via, ok)

    def _deliver_one(self, s: Sub, msg: Msg, t0: float, via: int, expected: bool) -> None:
        """Deliver ``msg`` to the local subscription ``s``; ``expected``: was it owed."""
        counters = self.counters
        counters.out_client_msgs += 1
        counters.out_client_bytes += msg.size
        t = s.down.arrival(t0)
        if s.reader is not None:
            read = s.reader(t, msg, s, expected, via)
            if read is None:
                return  # the client dropped it (and booked it if owed)
            t = read
        self.trace.add_delivery(msg.id, s.id, t, via, expected)
        if msg.track is not None:
            msg.track.delivered(self, s, t0, msg)
        if s.handler is not None:
            self.clock.at(t, s.handler, msg)

    def _route_queues(
        self,
        msg: Msg,
        local: dict[str, tuple[Sub, ...]],
        remote: dict[str, tuple[Sub, ...]],
        targets: dict[int, list[str] | None],
        t0: float,
        served: set[str],
    ) -> bool:
        """Pick one member per queue group over the cluster; return True if a local one got it.

        Groups routed to a peer are added to ``targets`` (the RMSG queue list);
        every group picked is added to ``served``.  Owed groups nobody serves
        are booked by the caller, after the gateways had their chance.
        """
        owed = msg.expect.queues
        delivered = False
        for q in dict.fromkeys([*local, *remote]):
            pick = self._pick(local.get(q, ()) + remote.get(q, ()))
            if pick.peer < 0:
                self._deliver_one(pick, msg, t0, LOCAL, q in owed)
                delivered = True
            else:
                names = targets.get(pick.peer)
                if names is None:
                    targets[pick.peer] = [q]
                else:
                    names.append(q)
        served.update(local)
        served.update(remote)
        return delivered

    def _pick(self, members: tuple[Sub, ...]) -> Sub:
        """Pick a member with probability proportional to its weight (nats-server ``qw``)."""
        if len(members) == 1:
            return members[0]
        total = 0
        for m in members:
            total += m.weight
        x = self.rng.randrange(total)
        for m in members:
            x -= m.weight
            if x < 0:
                return m
        return members[-1]

    def on_route_msg(self, ev: Call) -> None:
        """A message arrives over a route: deliver locally only (one hop)."""
        # The hottest callback (most server visits are route arrivals):
        # _start, local_plan and _deliver_plan inlined.
        msg, queues, via = ev._value
        now = self._env._now
        t0 = (self.busy if self.busy > now else now) + self.processing
        self.busy = t0
        plan = msg.expect.plans.get(self.idx)
        if plan is None or plan.gen != self.local.genid:
            plan = self.local_plan(msg.expect, msg.subject)
        if plan.fast:
            a_time = self._a_time
            for down in plan.downs:
                t = t0 + (down.low + down.span * down.draw(down.stream))
                if t < down.last:
                    t = down.last
                down.last = t
                a_time(t)
            self._a_msg(msg.id)
            self._a_via(via)
            self._a_rec(plan.rec)
            if plan.counted:
                # routes in and clients out, counted on the plan (Counters.fold)
                m = plan.r_msgs
                if not m:
                    self.used_plans.append(plan)
                plan.r_msgs = m + 1
                plan.r_bytes += msg.size
        else:
            counters = self.counters
            counters.in_route_msgs += 1
            counters.in_route_bytes += msg.size
            if plan.plain:
                self._deliver_all(plan, msg, t0, via)
        if plan.short:
            self._drop_missing(msg, plan.owed, t0)
        if queues:
            for q in queues:
                self._queue_from_route(msg, q, plan.queues.get(q, ()), via, t0)

    def _queue_from_route(
        self, msg: Msg, q: str, members: tuple[Sub, ...], via: int, t0: float
    ) -> None:
        """Give a routed queue message to a random local member, else fall back one hop.

        The fallback (nats-server's ``rsub``) covers interest that went stale
        while the message was on the route; it is taken once, never bounced on
        (see :meth:`on_route_fallback`).
        """
        if members:
            pick = members[self.rng.randrange(len(members))] if len(members) > 1 else members[0]
            self._deliver_one(pick, msg, t0, via, q in msg.expect.queues)
            return
        if via == msg.origin:
            for m in self.remote_view(msg.subject).queues.get(q, ()):
                if m.peer != via:
                    link, on_msg, _ = self.routes[m.peer]
                    link.send(t0, on_msg.__self__.on_route_fallback, (msg, [q], self.idx))
                    self.counters.route_out(msg.size, 1)
                    return
        if q in msg.expect.queues:
            self.trace.add_drop(msg.id, -1, q, self.idx, t0, DropReason.QUEUE_MEMBER_GONE)

    def on_route_fallback(self, ev: Call) -> None:
        """A queue message re-sent by a peer whose chosen member had left (the ``rsub`` hop).

        It is an ordinary RMSG to nats-server, so ``processMsgResults`` hands it
        to this server's plain subscribers as well — which already had their
        copy if the publishing server saw their interest.  Those deliveries
        are recorded as not owed (``expected`` False): duplicates that
        :func:`sim.analysis.duplicates` counts, not part of the books.
        """
        msg, queues, via = ev._value
        t0 = self._start()
        counters = self.counters
        counters.in_route_msgs += 1
        counters.in_route_bytes += msg.size
        plan = self.local_plan(msg.expect, msg.subject)
        for s in plan.plain:
            self._deliver_one(s, msg, t0, via, False)
        for q in queues:
            self._queue_from_route(msg, q, plan.queues.get(q, ()), via, t0)

    def _drop_missing(self, msg: Msg, owed: tuple[Sub, ...], t0: float) -> None:
        """Book a drop for each owed local subscription this server does not hold."""
        have = {id(s) for s in self.local.match(msg.subject).plain}
        stop = self.trace.sub_stop
        for s in owed:
            if id(s) not in have:
                if s.lost:
                    reason = DropReason(s.lost)
                else:
                    reason = _NOT_YET if math.isnan(stop[s.id]) else DropReason.UNSUBSCRIBED
                self.trace.add_drop(msg.id, s.id, None, self.idx, t0, reason)

    def _no_responders(self, msg: Msg, t0: float) -> None:
        """Send the 503 status if the requester asked for it and holds its reply subscription."""
        client = msg.client
        if not client.no_responders:
            return
        for s in self.local.match(msg.reply).plain:
            if s.client is client:
                self.clock.at(client.down.arrival(t0), client.on_no_responders, msg)
                return
