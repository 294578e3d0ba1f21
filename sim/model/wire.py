"""The network under the connections: what is reachable, and what happens to data in flight.

Links (:mod:`sim.model.link`) schedule each message's arrival as a
:class:`~sim.model.clock.Call` on SimPy's queue, with no record kept per
message.  When a connection breaks, this module finds its messages on the
queue by *who they are addressed to and who sent them* — every callback the
model schedules carries its sender in its argument — and does one of three
things (control plane only: the hot path pays nothing for faults):

* **lose** them: the connection was reset or closed; every owed delivery a
  lost message carried is booked as a drop with the fault's reason;
* **hold** them: the path is blackholed (a partition, a silent crash, a cut
  cable) but neither end has noticed.  TCP keeps retransmitting, so the data
  is not lost yet: the link's latency becomes infinite (``Link.low = inf``),
  so what is in flight and what is sent later waits at ``t = inf``;
* **release** them: the path healed before either end closed the
  connection; the held data arrives, in order, at TCP's next retransmission
  after the heal (RTO 200 ms doubling up to 120 s: Linux ``TCP_RTO_MIN`` and
  ``TCP_RTO_MAX``).

Connection keys: ``("r", a, b)`` a route between servers ``a < b``;
``("g", a, b)`` the gateway connection server ``a`` dialled to server ``b``;
``("c", cid)`` a client's connection.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from heapq import heapify, heappush
from typing import TYPE_CHECKING, Any

from sim.model.clock import NORMAL, Call, Clock
from sim.trace import DropReason, Trace

if TYPE_CHECKING:
    from sim.model.intent import InterestLedger
    from sim.model.link import Link
    from sim.model.message import Msg

__all__ = ["Wire", "retransmit_at"]

ConnKey = tuple

#: Linux TCP retransmission timeout bounds (include/net/tcp.h TCP_RTO_MIN / TCP_RTO_MAX)
RTO_MIN = 0.2
RTO_MAX = 120.0
INF = math.inf


def retransmit_at(t_cut: float, t_heal: float) -> float:
    """Return when data stuck since ``t_cut`` is retransmitted first after ``t_heal``.

    The retransmission timer starts at 200 ms and doubles on each unanswered
    retry, capped at 120 s (exponential backoff, RFC 6298).
    """
    rto, t = RTO_MIN, t_cut + RTO_MIN
    while t < t_heal:
        rto = min(2 * rto, RTO_MAX)
        t += rto
    return t


def _noop(ev: Call) -> None:
    """What a cancelled Call runs (it stays on the queue; removing it costs a heapify)."""


class Wire:
    """Reachability between servers and the fate of data on broken connections.

    Parameters
    ----------
    clock, trace, ledger
        Shared run services.
    decode : callable
        ``(callback, value) -> (connection key, kind, receiver) | None``:
        which connection a scheduled Call travels on, what it carries
        (``"route"``, ``"fallback"``, ``"gateway"``, ``"gw_reply"``,
        ``"client"``, or ``"control"``) and the receiving server's id; None
        for Calls on no connection.
    owed_on : callable
        ``(msg, kind, value, receiver) -> list of (sub id, queue)``: the owed
        deliveries a lost message of that kind would have made.
    """

    def __init__(
        self,
        clock: Clock,
        trace: Trace,
        ledger: InterestLedger,
        decode: Callable[[Any, Any], tuple[ConnKey, str, int] | None],
        owed_on: Callable[[Msg, str, Any, int], Iterable[tuple[int, str | None]]],
    ) -> None:
        self.clock = clock
        self.trace = trace
        self.ledger = ledger
        self.decode = decode
        self.owed_on = owed_on
        #: servers that are not running, and why (SERVER_DOWN, LAME_DUCK)
        self.down: set[int] = set()
        self.down_reason: dict[int, DropReason] = {}
        #: blocked server pairs (frozenset) → the (reason, silent) of every fault
        #: cutting it, latest last: no new connection gets through while any
        #: lasts; silent ones also blackhole the live connections
        self.blocked: dict[frozenset[int], list[tuple[DropReason, bool]]] = {}
        #: held links: link → (its latency offset before the hold, hold start)
        self.held: dict[Link, tuple[float, float]] = {}

    # ------------------------------------------------------------- reachability
    def block(self, pair: frozenset[int], reason: DropReason, silent: bool) -> None:
        """Cut the path between two server locations (cuts nest)."""
        self.blocked.setdefault(pair, []).append((reason, silent))

    def unblock(self, pair: frozenset[int], reason: DropReason, silent: bool) -> None:
        """End one cut of the path between two server locations."""
        cuts = self.blocked.get(pair)
        if cuts and (reason, silent) in cuts:
            cuts.remove((reason, silent))
        if not cuts:
            self.blocked.pop(pair, None)

    def cut(self, a: int, b: int) -> tuple[DropReason, bool] | None:
        """Return (reason, silent) if the path between locations ``a`` and ``b`` is cut."""
        if a == b:
            return None
        cuts = self.blocked.get(frozenset((a, b)))
        return cuts[-1] if cuts else None

    def reachable(self, a: int, b: int) -> bool:
        """True if location ``a`` can open a connection to server ``b`` now."""
        return b not in self.down and self.cut(a, b) is None

    # ------------------------------------------------------------------ queue
    def _take(self, conns: set[ConnKey]) -> list[tuple[tuple, tuple[ConnKey, str, int]]]:
        """Remove and return the queued Calls travelling on ``conns`` (queue order)."""
        q = self.clock.env._queue
        taken, kept = [], []
        decode = self.decode
        for entry in q:
            call = entry[3]
            cbs = getattr(call, "callbacks", None)
            hit = decode(cbs[0], call._value) if cbs and type(call) is Call else None
            if hit is not None and hit[0] in conns:
                taken.append((entry, hit))
            else:
                kept.append(entry)
        if taken:
            q[:] = kept
            heapify(q)
            taken.sort(key=lambda e: (e[0][0], e[0][2]))
        return taken

    def quiet(self, links: Iterable[Link]) -> bool:
        """True if nothing can be in flight on ``links`` (their last arrival is past).

        Every send on a link moves its ``last`` arrival, so a connection whose
        links are all quiet has nothing on the queue: no scan is needed.
        """
        now = self.clock.now
        links = list(links)
        return bool(links) and all(link.last <= now for link in links)

    def lose(
        self,
        conns: set[ConnKey],
        reason: DropReason,
        links: Iterable[Link] = (),
        scan: bool | None = None,
    ) -> int:
        """Everything in flight (or held) on ``conns`` is lost; return how many messages.

        ``links`` are the connections' links: their holds end with them.  The
        queue is scanned unless the links are :meth:`quiet` (``scan`` True
        forces it: Calls scheduled beyond the links' last arrival).
        """
        links = list(links)
        if scan is None:
            scan = not self.quiet(links)
        if not scan:
            for link in links:
                self.held.pop(link, None)
            return 0
        for link in links:
            self.held.pop(link, None)
        n = 0
        now = self.clock.now
        for entry, (_, kind, dst) in self._take(conns):
            if kind == "control":
                continue
            value = entry[3]._value
            if kind == "client":
                self.lose_unrouted(value, reason, now)
            else:
                msg = value[0]
                for sid, queue in self.owed_on(msg, kind, value, dst):
                    self.trace.add_drop(msg.id, sid, queue, dst, now, reason)
            n += 1
        return n

    def lose_unrouted(self, msg: Msg, reason: DropReason, t: float) -> None:
        """Book a message lost before any server routed it: its owed copies, or itself.

        What it is owed is what it would have been owed at its first server
        now (the ledger, as for a routed message).
        """
        expect = self.ledger.expect(msg.subject)
        msg.expect = expect
        self.trace.msg_expected[msg.id] = expect.total
        server = msg.client.server.idx
        add = self.trace.add_drop
        for subs, _ in expect.by_server.values():
            for s in subs:
                add(msg.id, s.id, None, server, t, reason)
        for q in expect.queues:
            add(msg.id, -1, q, server, t, reason)
        if expect.total == 0:
            add(msg.id, -1, None, server, t, reason)

    # ------------------------------------------------------------------- holds
    def hold(self, conns: set[ConnKey], links: Iterable[Link], scan: bool | None = None) -> None:
        """Blackhole ``links`` (the directions of ``conns``): data waits at ``t = inf``."""
        now = self.clock.now
        links = list(links)
        busy = not self.quiet(links) if scan is None else scan
        for link in links:
            if link not in self.held:
                self.held[link] = (link.low, now)
                link.low = INF
                if busy:
                    link.last = INF  # what is in flight now waits too (FIFO)
        if not busy:
            return
        q = self.clock.env._queue
        for entry, _ in self._take(conns):
            heappush(q, (INF, NORMAL, entry[2], entry[3]))

    def release(self, conns: set[ConnKey], links: Iterable[Link]) -> float:
        """End the hold on ``links``: held data arrives at the next retransmission.

        Returns that arrival time (the links stay FIFO: nothing sent later
        overtakes it).
        """
        now = self.clock.now
        t_arrive = now
        links = list(links)
        # a link that carried nothing during the hold has its old last arrival
        moved = not links or any(link.last == INF for link in links)
        for link in links:
            saved = self.held.pop(link, None)
            if saved is None:
                continue
            link.low = saved[0]
            t_arrive = max(t_arrive, retransmit_at(saved[1], now))
        for link in links:
            if link.last == INF:
                link.last = t_arrive
        if not moved:
            return t_arrive
        q = self.clock.env._queue
        for entry, _ in self._take(conns):
            t = t_arrive if entry[0] == INF else entry[0]
            heappush(q, (t, NORMAL, entry[2], entry[3]))
        return t_arrive

    def cancel(self, match: Callable[[Any, Any], bool]) -> None:
        """Make queued Calls whose (callback, value) ``match`` do nothing when they come."""
        for entry in self.clock.env._queue:
            call = entry[3]
            cbs = getattr(call, "callbacks", None)
            if cbs and type(call) is Call and match(cbs[0], call._value):
                call.callbacks = [_noop]
