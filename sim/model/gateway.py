"""Gateways: how the clusters of a supercluster exchange interest and messages.

Follows nats-server ``server/gateway.go`` (digest §4.5 and §5):

* every server holds one **outbound** connection to one server of each other
  cluster (picked at random, seeded) and accepts **inbound** ones; messages
  travel on outbound connections, interest (RS+/RS-) on inbound ones, i.e.
  back along the same TCP connection;
* a server advertises its **cluster-wide** interest — its own clients' and
  what it learned over routes — on every 0↔1 transition of a subject's count,
  to every server holding an inbound gateway to it (``gatewayUpdateSubInterest``);
  queue interest always, with weight 1 (``sendQueueSubOrUnsubToGateways``);
* in ``interest_only`` mode (every nats-server since 2.9) a message crosses
  only on an explicit match; in legacy ``optimistic`` mode it crosses unless
  the remote said "no interest" (RS-) for that subject, and the remote
  switches the account to interest-only after ``interest_only_threshold``
  such replies by sending all its subscriptions;
* outbound connections are kept sorted by the RTT this server measured with
  PING/PONG (first after ~1 s, then every 15 s; an unmeasured RTT counts as
  0), which is the order in which queue groups look for a remote member;
* a reply to a subscription this cluster made in the last 2 s crosses with
  the ``_GR_.`` prefix, so it finds its way back before the inbox interest
  has propagated (``shouldMapReplyForGatewaySend``, ``handleGatewayReply``).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.model.clock import Call, Clock
from sim.model.link import Link
from sim.scenario.spec import GatewaySpec
from sim.subjects import SubjectTrie, subject_matches
from sim.trace import DropReason, Trace

if TYPE_CHECKING:
    from sim.model.message import Msg
    from sim.model.server import Server

__all__ = ["Gateways", "Inbound", "Outbound"]

INTEREST_ONLY = "interest_only"
OPTIMISTIC = "optimistic"


class Outbound:
    """An outbound gateway connection from this server to one server of a remote cluster."""

    __slots__ = (
        "cluster",
        "first",
        "link",
        "mode",
        "ni",
        "order",
        "peer",
        "plain",
        "queues",
        "rtt",
        "t",
    )

    def __init__(self, cluster: str, peer: Server, link: Link, mode: str, order: int) -> None:
        self.cluster = cluster
        self.peer = peer
        self.link = link
        self.mode = mode
        self.order = order
        self.rtt = 0.0  # unmeasured; nats-server's c.rtt is 0 until the first PONG
        self.t = 0.0  # when it connected (its ping schedule starts there)
        self.first = 1.0  # delay of its first ping (setFirstPingTimer)
        self.plain = SubjectTrie()  # remote cluster's plain interest (interest-only mode)
        self.queues = SubjectTrie()  # remote cluster's queue interest (always)
        self.ni: set[str] = set()  # optimistic mode: subjects the remote said it does not want

    def interest(self, subject: str) -> tuple[bool, dict[str, tuple]]:
        """Return (plain interest?, queue groups with interest) for ``subject``."""
        if self.mode == INTEREST_ONLY:
            psi = bool(self.plain.match(subject).plain)
        else:
            psi = subject not in self.ni
        return psi, self.queues.match(subject).queues


class Inbound:
    """An inbound gateway connection: a remote server's outbound, seen from this end."""

    __slots__ = ("count", "link", "mode", "remote", "sent_ni")

    def __init__(self, remote: Server, link: Link, mode: str) -> None:
        self.remote = remote
        self.link = link  # this server → remote: interest and PONGs
        self.mode = mode
        self.sent_ni: set[str] = set()  # optimistic: RS- sent and not cleared
        self.count = 0  # RS- sent for the (single) account


class Gateways:
    """One server's gateway state: outbound and inbound connections, cluster-wide interest.

    Parameters
    ----------
    server : Server
        The owner; its ``gw`` attribute points back here.
    spec : GatewaySpec
        Mode, thresholds and timers.
    rng : random.Random
        This server's gateway stream (ping jitter, reconnect choices).
    link_factory : callable
        ``(src, dst) -> Link`` for a gateway connection direction.
    """

    def __init__(
        self,
        server: Server,
        spec: GatewaySpec,
        clock: Clock,
        trace: Trace,
        rng: random.Random,
        link_factory: Callable[[Server, Server], Link],
    ) -> None:
        self.server = server
        self.spec = spec
        self.clock = clock
        self.trace = trace
        self.rng = rng
        self.link_factory = link_factory
        self.outbound: dict[str, Outbound] = {}
        self.ordered: list[Outbound] = []
        self.inbound: dict[int, Inbound] = {}
        #: cluster-wide interest counts, key (subject, queue) — nats-server ``gw.pasi``
        self.tally: dict[tuple[str, str | None], int] = {}
        #: subscriptions made in the cluster within the reply-mapping window
        self.recent = SubjectTrie()
        self._recent_ids = 0
        #: cluster name → its servers, for choosing where to (re)dial; set by the network
        self.members: dict[str, list[Server]] = {}
        #: cluster → why this server has no outbound connection to it (until it is back)
        self.lost: dict[str, DropReason] = {}
        #: the network's reachability (sim.model.wire.Wire), set by the network
        self.wire: Any = None
        #: PING period on outbound connections: RTT measurement and stale detection
        #: alike (set by the network from the scenario; 15 s is nats-server's cap)
        self.ping_interval = spec.ping_interval or 15.0
        #: retry timing: (connect retry, dial timeout) — gatewayConnectDelay, DEFAULT_ROUTE_DIAL
        self.retry = (1.0, 1.0)
        #: the running outbound dial per cluster, so that one close starts one redial loop
        self._dialing: dict[str, int] = {}

    def reset(self) -> None:
        """Forget every connection and all interest: the server restarts."""
        self.outbound = {}
        self.ordered = []
        self.inbound = {}
        self.tally = {}
        self.recent = SubjectTrie()
        self.lost = {}
        self._dialing = {}

    # ------------------------------------------------------------- connections
    def connect(self, cluster: str, peer: Server) -> None:
        """Open an outbound connection to ``peer`` (of ``cluster``); it accepts it."""
        link = self.link_factory(self.server, peer)
        ob = Outbound(cluster, peer, link, self.spec.mode, len(self.outbound))
        ob.t = self.clock.now
        self.outbound[cluster] = ob
        self.lost.pop(cluster, None)
        self._reorder()
        peer.gw.accept(self.server)
        first = self.spec.first_ping * (1 + 0.2 * self.rng.random())
        ob.first = first
        self.clock.after(first, self._ping, ob)

    def accept(self, remote: Server) -> None:
        """Accept ``remote``'s outbound connection and send it this cluster's interest.

        On accept nats-server sends all queue subscriptions, and in
        interest-only mode all plain ones (``sendQueueSubsToGateway``,
        ``switchAccountToInterestMode``).
        """
        ib = Inbound(remote, self.link_factory(self.server, remote), self.spec.mode)
        self.inbound[remote.idx] = ib
        for (subject, queue), n in self.tally.items():
            if n > 0 and (queue is not None or ib.mode == INTEREST_ONLY):
                self._send_interest(ib, subject, queue, True)

    def _reorder(self) -> None:
        self.ordered = sorted(self.outbound.values(), key=lambda o: (o.rtt, o.order))

    # ---------------------------------------------------------------- interest
    def change(self, subject: str, queue: str | None, delta: int) -> None:
        """The cluster-wide count of (subject, queue) at this server changes by ``delta``."""
        key = (subject, queue)
        before = self.tally.get(key, 0)
        after = before + delta
        if after > 0:
            self.tally[key] = after
        else:
            self.tally.pop(key, None)
        if delta > 0 and self.spec.reply_mapping_window > 0:
            self._remember(subject)
        if before <= 0 < after:
            self._announce(subject, queue, True)
        elif after <= 0 < before:
            self._announce(subject, queue, False)

    def _remember(self, subject: str) -> None:
        """Track a new subscription for the reply-mapping window (gw.rsubs)."""
        self._recent_ids += 1
        token = self._recent_ids
        self.recent.insert(subject, token)
        self.clock.after(
            self.spec.reply_mapping_window,
            lambda ev: self.recent.remove(subject, token),
        )

    def _announce(self, subject: str, queue: str | None, add: bool) -> None:
        for ib in self.inbound.values():
            if queue is not None or ib.mode == INTEREST_ONLY:
                self._send_interest(ib, subject, queue, add)
            elif add and ib.sent_ni:
                cleared = [s for s in ib.sent_ni if subject_matches(subject, s)]
                for s in sorted(cleared):
                    ib.sent_ni.discard(s)
                    self._send_interest(ib, s, None, True)

    def _send_interest(self, ib: Inbound, subject: str, queue: str | None, add: bool) -> None:
        arg = (self.server.idx, self.server.cluster, subject, queue, add)
        ib.link.send(self.clock.now, ib.remote.gw.on_interest, arg)

    def on_interest(self, ev: Call) -> None:
        """RS+/RS- from the remote cluster arrives on our outbound connection."""
        _, cluster, subject, queue, add = ev._value
        ob = self.outbound.get(cluster)
        if ob is None:
            return
        if queue is not None:
            if add:
                ob.queues.insert(subject, subject, queue)
            else:
                ob.queues.remove(subject, subject, queue)
        elif ob.mode == INTEREST_ONLY:
            if add:
                ob.plain.insert(subject, subject)
            else:
                ob.plain.remove(subject, subject)
        elif add:
            ob.ni.discard(subject)
        else:
            ob.ni.add(subject)

    def no_interest(self, origin: int, subject: str) -> None:
        """Optimistic mode: a message arrived that this cluster does not want; reply RS-.

        After ``interest_only_threshold`` RS- on one inbound connection the
        account switches to interest-only: all plain subscriptions are sent
        (AllSubsStart … AllSubsComplete, modelled as one message).
        """
        ib = self.inbound.get(origin)
        if ib is None or ib.mode == INTEREST_ONLY or subject in ib.sent_ni:
            return
        ib.sent_ni.add(subject)
        ib.count += 1
        self._send_interest(ib, subject, None, False)
        if ib.count >= self.spec.interest_only_threshold:
            ib.mode = INTEREST_ONLY
            ib.sent_ni.clear()
            subjects = [s for (s, q), n in self.tally.items() if q is None and n > 0]
            arg = (self.server.idx, self.server.cluster, subjects)
            ib.link.send(self.clock.now, ib.remote.gw.on_all_subs, arg)
            self.trace.add_event(
                self.clock.now, self.server.idx, "gateway_interest_only", ib.remote.name, ib.count
            )

    def on_all_subs(self, ev: Call) -> None:
        """The remote switched the account to interest-only and sent all its subscriptions."""
        _, cluster, subjects = ev._value
        ob = self.outbound.get(cluster)
        if ob is None:
            return
        ob.mode = INTEREST_ONLY
        ob.ni.clear()
        for s in subjects:
            ob.plain.insert(s, s)
        self.trace.add_event(self.clock.now, self.server.idx, "gateway_mode", cluster, 0.0)

    # ----------------------------------------------------------------- messages
    def should_map_reply(self, reply: str) -> bool:
        """True if a subscription matching ``reply`` was made in this cluster within the window."""
        return bool(self.recent.match(reply).plain)

    def send(self, msg: Msg, t0: float, served: set[str]) -> dict[str, bool]:
        """Send ``msg`` to every cluster with interest; return cluster → plain interest.

        Queue groups not ``served`` inside this cluster go to the first
        cluster in RTT order that has a member (and are then marked served).
        """
        sent: dict[str, bool] = {}
        for ob in self.ordered:
            psi, groups = ob.interest(msg.subject)
            queues = [q for q in groups if q not in served] if groups else None
            if queues:
                served.update(queues)
            if not psi and not queues:
                continue
            sent[ob.cluster] = psi
            arg = (msg, queues or None, self.server.idx)
            ob.link.send(t0, ob.peer.on_gateway_msg, arg)
        if sent:
            self.server.counters.gateway_out(msg.size, len(sent))
        return sent

    def send_direct(self, msg: Msg, t0: float, cluster: str, src: int) -> bool:
        """Send a ``_GR_``-mapped reply straight to ``cluster``, with no interest check."""
        ob = self.outbound.get(cluster)
        if ob is None:
            return False
        ob.link.send(t0, ob.peer.on_gateway_reply, (msg, src))
        self.server.counters.gateway_out(msg.size, 1)
        return True

    # --------------------------------------------------------------------- RTT
    def _ping(self, ev: Call) -> None:
        ob: Outbound = ev._value
        if self.outbound.get(ob.cluster) is not ob:
            return  # the connection was replaced
        now = self.clock.now
        ob.link.send(now, ob.peer.gw._on_ping, (self.server.idx, ob, now))
        self.clock.after(self.ping_interval, self._ping, ob)

    def _on_ping(self, ev: Call) -> None:
        origin, ob, sent = ev._value
        ib = self.inbound.get(origin)
        if ib is not None:
            ib.link.send(self.clock.now, ib.remote.gw._on_pong, (ob, sent))

    def _on_pong(self, ev: Call) -> None:
        ob, sent = ev._value
        if self.outbound.get(ob.cluster) is not ob:
            return
        ob.rtt = self.clock.now - sent
        self._reorder()
        self.trace.add_event(self.clock.now, self.server.idx, "gateway_rtt", ob.cluster, ob.rtt)

    # ------------------------------------------------------------------ failure
    def disconnect(self, cluster: str, reconnect_to: Server | None = None) -> None:
        """Lose the outbound connection to ``cluster`` (reset) and redial after the delay."""
        self.close_outbound(cluster, DropReason.LINK_DOWN, reconnect_to)

    def close_outbound(
        self, cluster: str, reason: DropReason, reconnect_to: Server | None = None
    ) -> Outbound | None:
        """Lose the outbound connection to ``cluster`` and reconnect after the delay.

        All interest learned on it goes with it: nothing is sent to that
        cluster until a new connection is up and the remote has re-sent its
        interest (``removeRemoteGatewayConnection``).  The retry comes after
        1 s + rand(0-100 ms) (``reconnectGateway``), to ``reconnect_to`` or a
        random server of that cluster (nats-server shuffles the URLs); a dial
        that fails is retried every ``connect_retry`` (plus the dial timeout
        when the path is blackholed), forever (explicit gateways).
        """
        ob = self.outbound.pop(cluster, None)
        if ob is None:
            return None
        ob.peer.gw.inbound.pop(self.server.idx, None)
        self.lost[cluster] = reason
        self._reorder()
        self.trace.add_event(self.clock.now, self.server.idx, "gateway_down", cluster, reason)
        delay = 1.0 + 0.1 * self.rng.random()
        self._dial_later(cluster, delay, reconnect_to)
        return ob

    def _dial_later(self, cluster: str, delay: float, prefer: Server | None = None) -> None:
        token = self._dialing.get(cluster, 0) + 1
        self._dialing[cluster] = token
        self.clock.after(delay, self._dial, (cluster, token, prefer))

    def _dial(self, ev: Call) -> None:
        cluster, token, prefer = ev._value
        me = self.server
        if self._dialing.get(cluster) != token or cluster in self.outbound or not me.up:
            return
        members = self.members.get(cluster, [])
        peer = prefer if prefer is not None else members[self.rng.randrange(len(members))]
        wire = self.wire
        if wire is None or wire.reachable(me.idx, peer.idx):
            # TCP connect and the INFO exchange: about one round trip
            rtt = 2 * self.link_factory(me, peer).arrival(0.0)
            self.clock.after(rtt, self._established, (cluster, token, peer))
            return
        self._redial(cluster, peer)

    def _established(self, ev: Call) -> None:
        cluster, token, peer = ev._value
        me = self.server
        if self._dialing.get(cluster) != token or cluster in self.outbound or not me.up:
            return
        if self.wire is not None and not self.wire.reachable(me.idx, peer.idx):
            self._redial(cluster, peer)
            return
        self.connect(cluster, peer)
        self.trace.add_event(self.clock.now, me.idx, "gateway_up", cluster, 0.0)

    def _redial(self, cluster: str, peer: Server) -> None:
        """The dial failed: retry after the connect delay (plus the dial timeout if blackholed)."""
        wire = self.wire
        connect_retry, dial_timeout = self.retry
        cut = wire.cut(self.server.idx, peer.idx)
        blackholed = peer.idx not in wire.down and cut is not None
        self._dial_later(cluster, connect_retry + (dial_timeout if blackholed else 0.0))
