"""A client connection: publishes, subscribes, reconnects as the NATS client libraries do.

A client is connected to one server over two one-way links (``up`` to the
server, ``down`` from it), each FIFO with its own latency stream.  What the
client *does* with messages — reply, time out, count — belongs to the
workloads, which register handlers on the subscriptions they make.

When its connection dies the client reconnects as nats.go's ``doReconnect``
does (digest §8): the current server goes to the end of the pool, the next
one is tried at once, and the client sleeps ``reconnect_wait`` (+ up to
``reconnect_jitter``) only before the attempt that completes a pass over the
pool; a server leaves the pool after ``max_reconnect`` failed attempts.
Once connected it re-sends every subscription, then the publishes it
buffered meanwhile (up to ``reconnect_buffer`` bytes; beyond that a publish
fails and is booked as ``reconnect_buffer_full``).  Its subscriptions on the
new server are new rows in the trace (new ids, the new server).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.model.accounts import split_account
from sim.model.clock import Call, Clock
from sim.model.intent import InterestLedger
from sim.model.link import Link
from sim.model.message import Msg, Sub, TrackedMsg
from sim.trace import DropReason, MsgKind, Trace

if TYPE_CHECKING:
    from sim.model.server import Server

__all__ = ["CONNECTED", "DEAD", "GAVE_UP", "RECONNECTING", "Client", "owner_client"]

CONNECTED, RECONNECTING, GAVE_UP, DEAD = "connected", "reconnecting", "gave_up", "dead"

#: bytes a buffered ``PUB <subject> <size>\r\n…\r\n`` takes besides subject and payload
PUB_OVERHEAD = 12


def _deny_filter(
    perms: Any, queue: str | None, to_local: Callable[[str], str] | None = None
) -> Callable[[str], bool]:
    """``Sub.deny`` for a subscription of a client with ``perms`` (``checkDenySub``).

    It sees stored subjects; a shadow subscription's messages are checked on
    the subject the client receives them on (``to_local``, the import's mapping).
    """

    def deny(stored: str) -> bool:
        subject = split_account(stored)[1]
        return perms.delivery_denied(to_local(subject) if to_local else subject, queue)

    return deny


def owner_client(cb: Any) -> Any:
    """The client a scheduled callback belongs to: itself, or its workload object's client."""
    owner = getattr(cb, "__self__", None)
    if owner is None or isinstance(owner, Client):
        return owner
    return getattr(owner, "client", None)


class Client:
    """One NATS client connection.

    Parameters
    ----------
    cid : int
        The client's id in the trace.
    name : str
        Unique name, ``<workload>.<role><n>``.
    server : Server
        The server it is connected to.
    up, down : Link
        Client → server and server → client directions of the connection.
    workload : int
        Id of the workload the client belongs to.
    no_responders : bool
        Whether the client asks for 503 no-responders status messages; nats.go
        and nats.py both do whenever the server supports headers (digest §7).
    net : Network, optional
        Where reconnects find servers, links and reachability; without it the
        client never reconnects.
    profile : ClientProfile, optional
        The client library's options (reconnect, buffer, pings, pending limits).
    """

    def __init__(
        self,
        cid: int,
        name: str,
        server: Server,
        up: Link,
        down: Link,
        clock: Clock,
        trace: Trace,
        ledger: InterestLedger,
        workload: int,
        no_responders: bool = True,
        net: Any = None,
        profile: Any = None,
    ) -> None:
        self.id = cid
        self.name = name
        self.server = server
        self.up = up
        self.down = down
        self.clock = clock
        self.trace = trace
        self.ledger = ledger
        self.workload = workload
        self.no_responders = no_responders
        self.net = net
        self.profile = profile
        #: where the client runs: its first server's place (for partitions)
        self.home = server.idx
        #: latency of its connections (a DistSpec; new links on each reconnect)
        self.latency: Any = None
        #: servers it is configured with beyond its cluster (ids), tried after it
        self.failover: list[int] = []
        #: called with the request message when a 503 no-responders status arrives
        self.status_handler: Callable[[Msg], None] | None = None
        #: called when the client process is killed (workloads settle what is pending)
        self.kill_handlers: list[Callable[[], None]] = []
        self.state = CONNECTED
        #: logical subscription key → its Sub on the current connection
        self.subs: dict[int, Sub] = {}
        self._key_of: dict[int, int] = {}  # trace sub id → logical key
        self._keys = 0
        #: publishes waiting for a connection, and their bytes
        self.buffer: list[Msg] = []
        self.buffered = 0
        self.connected_at = 0.0
        self.lost_at = 0.0
        self.lost_reason = DropReason.LINK_DOWN
        self.connections = 1
        #: reconnect state: the server pool (ids), attempts per server, pass position,
        #: and (nats.py) when each server last failed
        self.pool: list[int] = []
        self.attempts: dict[int, int] = {}
        self.failed_at: dict[int, float] = {}
        self._pass = 0
        #: messages per second the application handles (None: at once)
        self.read_rate: float | None = None
        #: per subscription (trace id): completion times and bytes of what waits to be handled
        self._pending: dict[int, tuple[deque[tuple[float, int]], list[float]]] = {}
        #: stalls in force (a hung process reads nothing), and since when
        self._stalls = 0
        self.stall_from = math.inf
        #: what reached the socket and waits to be read: (arrival, msg, sub, owed, via)
        self._waiting: list[tuple[float, Msg, Sub, bool, int]] = []
        #: when the socket was last read (it is read in order)
        self._read_last = 0.0
        #: bytes written to the stalled socket and not read; when writes started to block
        self.unread = 0
        self.blocked_at = math.nan
        #: its account (sim.model.accounts.Account; None: $G of a scenario without
        #: accounts) and its user's permissions (None: everything allowed)
        self.account: Any = None
        self.perms: Any = None
        #: the prefix of its account's subject space ("" without accounts)
        self.ns = ""
        #: logical key of a subscription → keys of its shadow subscriptions (stream imports)
        self._shadows: dict[int, list[int]] = {}
        #: permission violations the server answered with -ERR
        self.errors = 0
        server.clients[cid] = self
        server.counters.total_connections += 1

    def __repr__(self) -> str:
        return f"<Client {self.name} on {self.server.name}>"

    @property
    def alive(self) -> bool:
        """False once the client process was killed (until it is restarted)."""
        return self.state != DEAD

    # --------------------------------------------------------------- messages
    def publish(
        self,
        subject: str,
        size: int,
        kind: MsgKind = MsgKind.PUBLISH,
        reply: str | None = None,
        request: int = -1,
        track: Any = None,
    ) -> Msg | None:
        """Publish now; the message reaches the server after the link delay.

        ``subject`` and ``reply`` are in the client's account (a reply's
        subject is the reply subject of the request it answers, already in
        the requester's space); ``track`` is the latency probe a reply to a
        sampled service request carries.  While reconnecting the message
        waits in the reconnect buffer (or is lost if the buffer is full); a
        dead client publishes nothing (None).
        """
        state = self.state
        if state != CONNECTED and state != RECONNECTING:
            return None
        now = self.clock.env._now
        if self.account is not None:
            return self._publish_in_account(subject, size, kind, reply, request, track)
        mid = self.trace.add_msg(now, self.id, self.server.idx, subject, size, kind, 0, request)
        msg = Msg(mid, subject, reply, size, now, self, kind, self.workload, request)
        if state == CONNECTED:
            self.up.send(now, self.server.on_client_msg, msg)
            return msg
        return self._buffer(msg, size, subject, reply)

    def _buffer(self, msg: Msg, size: int, subject: str, reply: str | None) -> Msg:
        """Keep a publish made while reconnecting in the reconnect buffer, if it fits."""
        now = self.clock.env._now
        need = size + len(subject) + (len(reply) + 1 if reply else 0) + PUB_OVERHEAD
        if self.buffered + need <= self.profile.reconnect_buffer:
            self.buffer.append(msg)
            self.buffered += need
        else:
            self.net.wire.lose_unrouted(msg, DropReason.RECONNECT_BUFFER_FULL, now)
        return msg

    def _publish_in_account(
        self, subject: str, size: int, kind: MsgKind, reply: str | None, request: int, track: Any
    ) -> Msg:
        """Publish as a client of an account: permissions, subject space, service imports.

        A publish the user may not make still goes to the server, which drops
        it (``on_denied_pub``).  A publish on an imported service's subject is
        re-published into the exporter's space (``processServiceImport``; done
        here, at the requester's connection, since the requester's server does
        it on arrival).  A sampled one carries a latency probe.
        """
        now = self.clock.env._now
        perms = self.perms
        denied = False
        if kind == MsgKind.REPLY:
            if perms is not None and not self._may_reply(subject, request, now):
                denied = True
        else:
            if perms is not None and not perms.can_publish(subject):
                denied = True
            # a denied publish is owed what it would have reached (booked as denied)
            imported = self.account.service_import(subject)
            if imported is not None:
                si, subject = imported
                if not denied and si.sampled():
                    track = self.net.latency.probe(si, self)
            else:
                subject = self.ns + subject
        if reply is not None:
            reply = self.ns + reply
        mid = self.trace.add_msg(now, self.id, self.server.idx, subject, size, kind, 0, request)
        cls = Msg if track is None or denied else TrackedMsg
        msg = cls(mid, subject, reply, size, now, self, kind, self.workload, request)
        if denied:
            if self.state == CONNECTED:
                self.up.send(now, self.server.on_denied_pub, msg)
            else:
                self.net.wire.lose_unrouted(msg, DropReason.PERMISSION_DENIED, now)
            return msg
        if track is not None:
            msg.track = track
        if self.state == CONNECTED:
            srv = self.server
            self.up.send(now, srv.on_client_msg if track is None else srv.on_client_tracked, msg)
            return msg
        return self._buffer(msg, size, subject, reply)

    def _may_reply(self, subject: str, request: int, now: float) -> bool:
        """Whether the user may publish this reply (its permissions, or ``allow_responses``).

        A reply to a request from another account goes to a ``_R_.`` subject
        in nats-server (the response mapping), so that is what is checked.
        """
        perms = self.perms
        account, visible = split_account(subject)
        if account != self.account.name:
            visible = "_R_." + visible.rpartition(".")[2]
        if perms.can_publish(visible):
            return True
        resp = perms.responses
        return (
            resp is not None and request >= 0 and now - self.trace.msg_time[request] <= resp.expires
        )

    def on_permission_error(self, ev: Call) -> None:
        """The server's ``-ERR 'Permissions Violation for Publish …'`` arrives."""
        self.errors += 1
        _, subject = split_account(ev._value.subject)
        self.trace.add_event(
            self.clock.now,
            self.server.idx,
            "permission_violation",
            f"{self.name} publish {subject}",
        )

    def subscribe(
        self,
        subject: str,
        queue: str | None = None,
        handler: Callable[[Call], None] | None = None,
    ) -> Sub:
        """Send SUB now; ``handler`` (if any) is called at each delivery.

        ``subject`` is in the client's account.  A subscription its user may
        not make is refused (recorded lost with ``permission_denied``, never
        owed anything); one that a stream import covers brings its shadow
        subscriptions in the exporters' spaces along.
        """
        if self.account is not None:
            perms = self.perms
            if perms is not None and not perms.can_subscribe(subject, queue):
                return self._refuse(subject, queue, handler)
            filtered = perms is not None and perms.filters_delivery(subject, queue)
            deny = _deny_filter(perms, queue) if filtered else None
            key = self._subscribe(self.ns + subject, queue, handler, deny)
            shadows = self._shadows[key] = []
            for shadow, im in self.account.shadows(subject):
                deny = _deny_filter(perms, queue, im.to_local) if filtered else None
                shadows.append(self._subscribe(shadow, queue, handler, deny))
            return self.subs[key]
        return self.subs[self._subscribe(subject, queue, handler)]

    def _refuse(
        self, subject: str, queue: str | None, handler: Callable[[Call], None] | None
    ) -> Sub:
        """A SUB its user may not make: refused with -ERR (``subPermissionViolation``)."""
        now = self.clock.now
        sid = self.trace.add_sub(self.id, self.ns + subject, queue, now, self.server.idx)
        sub = Sub(
            sid, self.ns + subject, queue, client=self, server=self.server.idx, handler=handler
        )
        sub.lost = DropReason.PERMISSION_DENIED
        self.trace.lose_sub(sid, now, DropReason.PERMISSION_DENIED)
        self.errors += 1
        detail = f"{self.name} subscribe {subject}" + (f" queue {queue}" if queue else "")
        self.trace.add_event(now, self.server.idx, "permission_violation", detail)
        return sub

    def _subscribe(
        self,
        subject: str,
        queue: str | None,
        handler: Callable[[Call], None] | None,
        deny: Callable[[str], bool] | None = None,
    ) -> int:
        """Make one subscription on a stored (namespaced) subject; return its key."""
        self._keys += 1
        key = self._keys
        sub = self._new_sub(key, subject, queue, handler, deny)
        if self.state == CONNECTED:
            self.up.send(self.clock.now, self.server.on_client_sub, sub)
        elif self.state == RECONNECTING:
            # sent with the others once reconnected (as a new row): this one never
            # reached a server, and what it is owed meanwhile is lost with the cause
            sub.lost = self.lost_reason
            self.trace.lose_sub(sub.id, self.clock.now, self.lost_reason)
        return key

    def _new_sub(
        self,
        key: int,
        subject: str,
        queue: str | None,
        handler: Callable[[Call], None] | None,
        deny: Callable[[str], bool] | None = None,
    ) -> Sub:
        now = self.clock.now
        sid = self.trace.add_sub(self.id, subject, queue, now, self.server.idx)
        sub = Sub(sid, subject, queue, client=self, server=self.server.idx, handler=handler)
        sub.deny = deny
        if self.read_rate is not None or self._stalls or self._waiting:
            sub.reader = self.read
        self.subs[key] = sub
        self._key_of[sid] = key
        if self.state != DEAD:
            self.ledger.add(sub)
        return sub

    def unsubscribe(self, sub: Sub) -> None:
        """Send UNSUB now (for its shadow subscriptions too); the server stops delivering."""
        key = self._key_of.get(sub.id, -1)
        for k in self._shadows.pop(key, ()):
            self._unsubscribe(k)
        self._unsubscribe(key)

    def _unsubscribe(self, key: int) -> None:
        cur = self.subs.pop(key, None)
        if cur is None:
            return
        now = self.clock.now
        if self.state != DEAD:
            self.ledger.remove(cur)
        self.trace.end_sub(cur.id, now)
        if self.state == CONNECTED:
            self.up.send(now, self.server.on_client_unsub, cur)

    def on_no_responders(self, ev: Call) -> None:
        """A 503 status arrives for the request ``ev.value``."""
        if self.status_handler is not None:
            self.status_handler(ev._value)

    # ------------------------------------------------------------ connection
    def connection_lost(self, reason: DropReason) -> None:
        """The connection closed (reset, stale, or closed by the server): reconnect.

        What was on its way in either direction is lost with ``reason``, and
        so is every message owed to its subscriptions until they are back.
        """
        if self.state != CONNECTED:
            return
        now = self.clock.now
        self.state = RECONNECTING
        self.lost_at = now
        self.lost_reason = reason
        self._close(reason)
        self.trace.add_event(now, self.server.idx, "client_disconnected", self.name, reason)
        if not self.profile.allow_reconnect:
            self._give_up()
            return
        self._pass = 0
        self.attempts = {}
        self.failed_at = {}
        if not self.pool:
            self.pool = self.net.client_pool(self)
        if self.profile.pool_walk == "nats.py" and self.profile.randomize:
            # nats.py shuffles the whole pool (the lost server too) on each reconnect
            self.net.client_rng(self).shuffle(self.pool)
        self._next_attempt()

    def _close(self, reason: DropReason) -> None:
        """Close the current connection at both ends; book what it carried."""
        now = self.clock.now
        self.server.drop_client(self)
        self._lose_waiting(reason)
        self._read_last = 0.0
        for sub in self.subs.values():
            sub.lost = reason
            self.trace.lose_sub(sub.id, now, reason)
        self.net.wire.lose({("c", self.id)}, reason, (self.up, self.down), self.must_scan())

    def must_scan(self) -> bool | None:
        """True when its handler Calls may lie beyond its links' last arrival (it reads late)."""
        return True if self.read_rate is not None or self._stalls or self._waiting else None

    def _next_attempt(self, ev: Call | None = None) -> None:
        """Pick the next server as nats.go ``selectNextServer`` does, sleeping after a pass."""
        if self.state != RECONNECTING:
            return
        p = self.profile
        if p.pool_walk == "nats.py":
            self._next_attempt_py()
            return
        cur = self.server.idx
        if cur in self.pool:
            self.pool.remove(cur)
            if p.max_reconnect < 0 or self.attempts.get(cur, 0) < p.max_reconnect:
                self.pool.append(cur)
        if not self.pool:
            self._give_up()
            return
        nxt = self.pool[0]
        self.server = self.net.servers_by_idx[nxt]
        delay = 0.0
        if self._pass + 1 >= len(self.pool):
            self._pass = 0
            delay = p.reconnect_wait + p.reconnect_jitter * self.net.client_rng(self).random()
        else:
            self._pass += 1
        self.attempts[nxt] = self.attempts.get(nxt, 0) + 1
        if self._stalls:
            return  # a hung process does not reconnect; resume() restarts the loop
        self.clock.after(delay, self._attempt, nxt)

    def _next_attempt_py(self) -> None:
        """Pick the next server as nats.py ``_select_next_server`` does.

        Round robin over the pool; a server that failed more than
        ``max_reconnect`` times leaves it; the client sleeps
        ``reconnect_wait`` (+ jitter) before a server whose last attempt
        failed less than ``reconnect_wait`` ago.
        """
        p = self.profile
        now = self.clock.now
        while True:
            if not self.pool:
                self._give_up()
                return
            nxt = self.pool.pop(0)
            if p.max_reconnect > 0 and self.attempts.get(nxt, 0) > p.max_reconnect:
                continue
            self.pool.append(nxt)
            break
        self.server = self.net.servers_by_idx[nxt]
        delay = 0.0
        last = self.failed_at.get(nxt)
        if last is not None and now < last + p.reconnect_wait:
            delay = p.reconnect_wait + p.reconnect_jitter * self.net.client_rng(self).random()
        if self._stalls:
            return  # a hung process does not reconnect; resume() restarts the loop
        self.clock.after(delay, self._attempt, nxt)

    def _failed(self, srv: int) -> None:
        """An attempt on ``srv`` failed: nats.py counts it now; then try the next server."""
        if self.profile.pool_walk == "nats.py":
            self.failed_at[srv] = self.clock.now
            self.attempts[srv] = self.attempts.get(srv, 0) + 1
        self._next_attempt()

    def _timed_out(self, ev: Call) -> None:
        if self.state == RECONNECTING:
            self._failed(ev._value)

    def _attempt(self, ev: Call) -> None:
        """Dial server ``ev.value``: connected after a handshake, refused, or timed out."""
        if self.state != RECONNECTING:
            return
        srv = self.net.servers_by_idx[ev._value]
        wire = self.net.wire
        if wire.reachable(self.home, srv.idx) and self.net.outages.accepts(srv):
            # TCP handshake, then INFO/CONNECT/PING/PONG: about two round trips
            self.up, self.down = self.net.client_links(self)
            t = self.down.arrival(self.up.arrival(self.clock.now))
            t = self.down.arrival(self.up.arrival(t)) + self.profile.connect_overhead
            self.clock.at(t, self._handshake_done, srv)
        elif srv.idx in wire.down or not self.net.outages.accepts(srv):
            self._failed(srv.idx)  # connection refused at once
        else:
            self.clock.after(self.profile.connect_timeout, self._timed_out, srv.idx)

    def _handshake_done(self, ev: Call) -> None:
        srv = ev._value
        if self.state != RECONNECTING:
            return
        if not self.net.wire.reachable(self.home, srv.idx) or not self.net.outages.accepts(srv):
            self._failed(srv.idx)
            return
        self._connect(srv)

    def _connect(self, srv: Server) -> None:
        """Connected to ``srv``: re-send the subscriptions, then the buffered publishes."""
        now = self.clock.now
        gap = now - self.lost_at
        self.server = srv
        self.state = CONNECTED
        self.connected_at = now
        first = self.connections == 0
        self.connections += 1
        self.attempts[srv.idx] = 0
        srv.clients[self.id] = self
        srv.counters.total_connections += 1
        for key, old in list(self.subs.items()):
            if old.lost or old.server != srv.idx:
                self.ledger.remove(old)
            sub = self._new_sub(key, old.subject, old.queue, old.handler, old.deny)
            self.up.send(now, srv.on_client_sub, sub)
        for msg in self.buffer:
            self.up.send(
                now, srv.on_client_msg if msg.track is None else srv.on_client_tracked, msg
            )
        self.buffer = []
        self.buffered = 0
        if first:
            self.trace.add_event(now, srv.idx, "client_connected", self.name, 0.0)
        else:
            self.trace.add_event(now, srv.idx, "client_reconnected", self.name, gap)

    def _give_up(self) -> None:
        """The pool is exhausted (or reconnecting is off): closed for good."""
        now = self.clock.now
        self.state = GAVE_UP
        for msg in self.buffer:
            self.net.wire.lose_unrouted(msg, self.lost_reason, now)
        self.buffer = []
        self.buffered = 0
        self.trace.add_event(now, self.server.idx, "client_gave_up", self.name, self.lost_reason)

    # ----------------------------------------------------------------- reading
    def read(self, t: float, msg: Msg, sub: Sub, owed: bool, via: int) -> float | None:
        """When the application gets ``msg``, which reached the socket at ``t``.

        None: not now — dropped (and booked if owed), or waiting until the
        socket is read again (a stall, or a blackholed connection: ``t`` is
        ``inf``), when :meth:`_read_waiting` records it.

        A stalled client reads nothing; the server sees the unread bytes pile
        up — past the kernel buffers (``tcp_buffer``) its writes block, and it
        closes the client as a slow consumer when its pending bytes pass
        ``max_pending`` or a write has blocked for ``write_deadline`` (digest
        §2, ``queueOutbound``, ``handleWriteTimeout``).  What the client reads
        waits in the subscription's pending queue for the application
        (``read_rate``); past the library's pending limits it is dropped as a
        client-side slow consumer.  The socket is read in order: nothing is
        read before what came earlier.
        """
        if self._stalls and t >= self.stall_from:
            self._unread(msg)
            self._waiting.append((t, msg, sub, owed, via))
            return None
        if t == math.inf or self._waiting:
            self._waiting.append((t, msg, sub, owed, via))
            return None
        return self._consume(t, msg, sub, owed)

    def _consume(self, t: float, msg: Msg, sub: Sub, owed: bool) -> float | None:
        """The library reads ``msg`` at ``t``: when the application has it (None: dropped)."""
        if t < self._read_last:
            t = self._read_last
        self._read_last = t
        rate = self.read_rate
        if rate is None:
            return t
        queue, state = self._pending.setdefault(sub.id, (deque(), [0.0, 0.0]))
        while queue and queue[0][0] <= t:
            state[1] -= queue.popleft()[1]
        p = self.profile
        if len(queue) >= p.pending_msgs or state[1] + msg.size > p.pending_bytes:
            if owed:
                self.trace.add_drop(
                    msg.id, sub.id, None, self.server.idx, t, DropReason.SLOW_CONSUMER_CLIENT
                )
            return None
        done = max(t, state[0]) + 1.0 / rate
        state[0] = done
        state[1] += msg.size
        queue.append((done, msg.size))
        return done

    def _read_waiting(self, t0: float) -> None:
        """Read what waited (stalled, or held on a blackholed path) from ``t0`` on, in order.

        What is still held on a blackholed connection (``inf``) keeps waiting,
        and so does everything after it.
        """
        waiting, self._waiting = self._waiting, []
        for k, (t, msg, sub, owed, via) in enumerate(waiting):
            if t == math.inf:
                self._waiting = waiting[k:]
                return
            done = self._consume(max(t, t0), msg, sub, owed)
            if done is not None:
                self.trace.add_delivery(msg.id, sub.id, done, via, owed)
                if sub.handler is not None:
                    self.clock.at(done, sub.handler, msg)

    def released(self, t: float) -> None:
        """The blackholed connection healed: what it held arrives at ``t`` (see Wire.release)."""
        self._waiting = [(t if w[0] == math.inf else w[0], *w[1:]) for w in self._waiting]
        if not self._stalls:
            self._read_waiting(t)

    def _lose_waiting(self, reason: DropReason) -> None:
        """The connection closed: what waited to be read is lost with it."""
        now = self.clock.now
        for _, msg, sub, owed, _ in self._waiting:
            if owed:
                self.trace.add_drop(msg.id, sub.id, None, sub.server, now, reason)
        self._waiting = []

    def _unread(self, msg: Msg) -> None:
        """Count ``msg`` as written to the stalled socket; close a slow consumer like the server."""
        if self.state != CONNECTED:
            return
        self.unread += msg.size + len(msg.subject) + PUB_OVERHEAD
        opts = self.net.scenario.topology.server
        over = self.unread - opts.tcp_buffer
        if over <= 0:
            return
        now = self.clock.now
        if over > opts.max_pending:
            self.clock.at(now, self._slow_close, (self.connections, 1))
        elif math.isnan(self.blocked_at):
            self.blocked_at = now
            self.clock.at(now + opts.write_deadline, self._slow_close, (self.connections, 2))

    def _slow_close(self, ev: Call) -> None:
        number, why = ev._value
        if self.state != CONNECTED or number != self.connections or not self._stalls:
            return
        self.trace.add_event(self.clock.now, self.server.idx, "slow_consumer", self.name, why)
        self.server.counters.slow_consumers += 1
        self.connection_lost(DropReason.SLOW_CONSUMER_SERVER)

    def stall(self) -> None:
        """Stop reading from the socket (the process hangs) until :meth:`resume`.

        Stalls nest: reading resumes when every one of them has ended.
        """
        if not self._stalls:
            self.stall_from = self.clock.now
        self._stalls += 1
        self._set_readers()

    def resume(self) -> None:
        """End one stall; when none is left, what piled up is read now."""
        if not self._stalls:
            return
        self._stalls -= 1
        if self._stalls:
            return
        self.stall_from = math.inf
        self.unread = 0
        self.blocked_at = math.nan
        self._read_waiting(self.clock.now)
        self._set_readers()
        if self.state == RECONNECTING:
            self.clock.after(0.0, self._next_attempt)

    def _set_readers(self) -> None:
        slow = self.read_rate is not None or self._stalls > 0 or bool(self._waiting)
        for sub in self.subs.values():
            sub.reader = self.read if slow else None
        self.server.replan()

    # ----------------------------------------------------------------- process
    def kill(self, cancel: bool = True) -> None:
        """The client process dies: its connection resets, it means nothing any more.

        Its own timers and its workload's are cancelled (``cancel`` False: the
        caller cancels those of many clients in one pass, see ``owns``).
        """
        if self.state == DEAD:
            return
        now = self.clock.now
        was_connected = self.state == CONNECTED
        self.state = DEAD
        for sub in self.subs.values():
            self.ledger.remove(sub)
        if was_connected:
            self._close(DropReason.CLIENT_KILLED)
        for msg in self.buffer:
            self.net.wire.lose_unrouted(msg, DropReason.CLIENT_KILLED, now)
        self.buffer = []
        self.buffered = 0
        for handler in self.kill_handlers:
            handler()
        if cancel:
            self.net.wire.cancel(lambda cb, _v: owner_client(cb) is self)
        self.trace.add_event(now, self.server.idx, "client_killed", self.name, 0.0)

    def restart(self) -> None:
        """The killed process starts again: it connects and makes its subscriptions anew."""
        if self.state != DEAD:
            return
        self.state = RECONNECTING
        self.lost_at = self.clock.now
        self.lost_reason = DropReason.CLIENT_KILLED
        for sub in self.subs.values():
            sub.lost = DropReason.CLIENT_KILLED  # owed again once re-made on the new connection
        self._dial_home()

    def first_connect(self, ev: Call | None = None) -> None:
        """Connect for the first time (a client whose server was not running when it was made)."""
        self.lost_at = self.clock.now
        self._dial_home()

    def _dial_home(self) -> None:
        """A starting process dials its configured server first, then the rest of the pool."""
        self.attempts = {}
        self.failed_at = {}
        home = self.net.servers_by_idx[self.home]
        self.server = home
        self.pool = self.net.client_pool(self)
        if self.profile.pool_walk == "nats.py":
            self.pool.append(self.pool.pop(0))  # tried first, so next round it comes last
        else:
            self._pass = 1 if len(self.pool) > 1 else 0
            self.attempts[home.idx] = 1
        self.clock.after(0.0, self._attempt, home.idx)
