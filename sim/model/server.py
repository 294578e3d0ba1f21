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
from typing import TYPE_CHECKING

from sim.model.clock import Call, Clock
from sim.model.intent import Expect, InterestLedger
from sim.model.link import Link
from sim.model.message import LOCAL, Msg, Sub
from sim.subjects import SubjectTrie
from sim.trace import DropReason, Trace

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["Server"]

_NOT_YET = DropReason.INTEREST_NOT_YET_PROPAGATED


class _RemoteView:
    """Route interest in one subject: peers with plain interest, queue members by group."""

    __slots__ = ("peers", "queues")

    def __init__(self, peers: tuple[int, ...], queues: dict[str, tuple[Sub, ...]]) -> None:
        self.peers = peers
        self.queues = queues


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
        self._dlv = (
            trace.dlv_msg.append,
            trace.dlv_sub.append,
            trace.dlv_time.append,
            trace.dlv_via.append,
            trace.dlv_expected.append,
        )

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

    # ------------------------------------------------------------------ routes
    def add_route(self, peer: Server, link: Link) -> None:
        """Open a route to ``peer`` over ``link`` and send it all local interest."""
        self.routes[peer.idx] = (link, peer.on_route_msg, peer.on_route_sub)
        t = self.clock.now
        for (subject, queue), n in self.rm.items():
            link.send(t, peer.on_route_sub, (self.idx, subject, queue, 1 if queue is None else n))

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

    def on_client_unsub(self, ev: Call) -> None:
        """A client's UNSUB arrives: remove it and propagate the change to routes."""
        sub: Sub = ev._value
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

    # ---------------------------------------------------------------- messages
    def _start(self) -> float:
        """Queue one message on the server's processor; return when it is done."""
        now = self.clock.env._now
        t0 = (self.busy if self.busy > now else now) + self.processing
        self.busy = t0
        return t0

    def on_client_msg(self, ev: Call) -> None:
        """A client's PUB arrives: route it as nats-server does for a client message."""
        msg: Msg = ev._value
        t0 = self._start()
        me = self.idx
        msg.origin = me
        expect = msg.expect = self.ledger.expect(msg.subject)
        self.trace.msg_expected[msg.id] = expect.total
        r = self.local.match(msg.subject)
        view = self.remote_view(msg.subject)
        mine = expect.by_server.get(me)
        delivered = False
        if r.plain:
            delivered = True
            hit = self._deliver_all(r.plain, msg, t0, LOCAL, mine)
            if mine is not None and hit < len(mine[0]):
                self._drop_missing(msg, mine[0], t0)
        elif mine is not None:
            self._drop_missing(msg, mine[0], t0)
        targets: dict[int, list[str] | None] = dict.fromkeys(view.peers)
        if r.queues or view.queues or expect.queues:
            delivered = self._route_queues(msg, r.queues, view.queues, targets, t0) or delivered
        if targets:
            delivered = True
            routes = self.routes
            for peer, queues in targets.items():
                link, on_msg, _ = routes[peer]
                link.send(t0, on_msg, (msg, queues, me))
        if len(expect.by_server) > (mine is not None):
            for srv, (subs, _) in expect.by_server.items():
                if srv != me and srv not in targets:
                    for s in subs:
                        self.trace.add_drop(msg.id, s.id, None, me, t0, _NOT_YET)
        if expect.total == 0:
            self.trace.add_drop(msg.id, -1, None, me, t0, DropReason.NO_INTEREST)
        if not delivered and msg.reply is not None:
            self._no_responders(msg, t0)

    def _deliver_all(
        self,
        subs: tuple[Sub, ...],
        msg: Msg,
        t0: float,
        via: int,
        mine: tuple[tuple[Sub, ...], frozenset[Sub]] | None,
    ) -> int:
        """Deliver ``msg`` to local subscriptions; return how many of them were owed it.

        The arrival at each client is computed, not scheduled (the connection's
        latency, kept FIFO); only a subscription with a handler gets an event.
        """
        a_msg, a_sub, a_time, a_via, a_exp = self._dlv
        owed = mine[1] if mine is not None else ()
        mid = msg.id
        hit = 0
        for s in subs:
            down = s.down
            t = t0 + down._sample()
            if t < down.last:
                t = down.last
            down.last = t
            ok = s in owed
            hit += ok
            a_msg(mid)
            a_sub(s.id)
            a_time(t)
            a_via(via)
            a_exp(ok)
            if s.handler is not None:
                self.clock.at(t, s.handler, msg)
        return hit

    def _route_queues(
        self,
        msg: Msg,
        local: dict[str, tuple[Sub, ...]],
        remote: dict[str, tuple[Sub, ...]],
        targets: dict[int, list[str] | None],
        t0: float,
    ) -> bool:
        """Pick one member per queue group over the cluster; return True if a local one got it.

        Groups routed to a peer are added to ``targets`` (the RMSG queue list).
        """
        owed = msg.expect.queues
        delivered = False
        for q in dict.fromkeys([*local, *remote]):
            pick = self._pick(local.get(q, ()) + remote.get(q, ()))
            if pick.peer < 0:
                self._deliver_all((pick,), msg, t0, LOCAL, None)
                if q in owed:
                    self.trace.dlv_expected[-1] = True
                delivered = True
            else:
                names = targets.get(pick.peer)
                if names is None:
                    targets[pick.peer] = [q]
                else:
                    names.append(q)
        for q in owed:
            if q not in local and q not in remote:
                self.trace.add_drop(msg.id, -1, q, self.idx, t0, _NOT_YET)
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
        msg, queues, via = ev._value
        now = self.clock.env._now
        t0 = (self.busy if self.busy > now else now) + self.processing
        self.busy = t0
        r = self.local.match(msg.subject)
        mine = msg.expect.by_server.get(self.idx)
        if r.plain:
            hit = self._deliver_all(r.plain, msg, t0, via, mine)
            if mine is not None and hit < len(mine[0]):
                self._drop_missing(msg, mine[0], t0)
        elif mine is not None:
            self._drop_missing(msg, mine[0], t0)
        if queues:
            for q in queues:
                self._queue_from_route(msg, q, r.queues.get(q, ()), via, t0)

    def _queue_from_route(
        self, msg: Msg, q: str, members: tuple[Sub, ...], via: int, t0: float
    ) -> None:
        """Give a routed queue message to a random local member, else fall back one hop.

        The fallback (nats-server's ``rsub``) covers interest that went stale
        while the message was on the route; it is taken once, never bounced on.
        """
        if members:
            pick = members[self.rng.randrange(len(members))] if len(members) > 1 else members[0]
            self._deliver_all((pick,), msg, t0, via, None)
            if q in msg.expect.queues:
                self.trace.dlv_expected[-1] = True
            return
        if via == msg.origin:
            for m in self.remote_view(msg.subject).queues.get(q, ()):
                if m.peer != via:
                    link, on_msg, _ = self.routes[m.peer]
                    link.send(t0, on_msg, (msg, [q], self.idx))
                    return
        if q in msg.expect.queues:
            self.trace.add_drop(msg.id, -1, q, self.idx, t0, DropReason.QUEUE_MEMBER_GONE)

    def _drop_missing(self, msg: Msg, owed: tuple[Sub, ...], t0: float) -> None:
        """Book a drop for each owed local subscription this server does not hold."""
        have = {id(s) for s in self.local.match(msg.subject).plain}
        stop = self.trace.sub_stop
        for s in owed:
            if id(s) not in have:
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
