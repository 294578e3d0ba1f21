"""A stream: what its replicas store, and what its leader does with a publish.

Every replica applies the committed log in order (nats-server
``applyStreamEntries`` → ``processJetStreamMsg``, server/jetstream_cluster.go
and server/stream.go), so all of them hold the same messages, the same
de-duplication table and the same consumer state:

* a message entry gets the next stream sequence, unless its ``Nats-Msg-Id``
  was stored within ``duplicate_window`` (``checkMsgId``: then it is a
  duplicate, acknowledged with the first copy's sequence), or the stream is at
  a limit with ``discard: new`` (refused with an error PubAck); with
  ``discard: old`` the oldest messages make room (``max_msgs``,
  ``max_bytes``), and messages older than ``max_age`` are removed;
* a delivery or ack entry updates a consumer's replicated state (see
  :mod:`.consumer`).

The leader captures the stream's subjects with an internal subscription on
its server (``subscribeToStream``), checks the message id before proposing
(``processClusteredInboundMsg``), proposes the message to the group and, once
it is committed and applied, answers the publisher's reply subject with the
PubAck — a core message like any reply.  Only the leader subscribes, so while
a group has no leader a publish finds no interest (503 "no responders").
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.jstrace import JsStoreOutcome
from sim.model.clock import Call
from sim.model.jetstream.consumer import ConsumerLeader, ConsumerState, reply_home
from sim.model.jetstream.group import RaftGroup
from sim.model.jetstream.raft import Entry, RaftNode
from sim.trace import MsgKind

if TYPE_CHECKING:
    from sim.model.client import Client
    from sim.model.message import Msg, Sub
    from sim.scenario.spec import ConsumerSpec, StreamSpec

__all__ = ["PUBACK_SIZE", "Pub", "Replica", "Stream"]

#: bytes of a PubAck's JSON body ({"stream":"…","seq":n}), roughly
PUBACK_SIZE = 40


class Pub:
    """A publish as the stream log carries it (subject, size, its headers that matter)."""

    __slots__ = ("app", "gr", "msg", "msg_id", "reply", "size", "t_prop", "t_pub")

    def __init__(self, msg: Msg, app: int, msg_id: str | None, t_prop: float) -> None:
        self.msg = msg.id
        #: when the leader proposed it: every replica judges the duplicate window and
        #: the limits at this time (the entry's timestamp), so all assign the same sequence
        self.t_prop = t_prop
        self.app = app
        self.msg_id = msg_id
        self.reply = msg.reply
        #: the request's ``_GR_.`` reply mapping, if it crossed a gateway (see Msg.gr)
        self.gr = msg.gr
        self.size = msg.size
        self.t_pub = msg.t_pub


class Replica:
    """One replica's stream state: messages by sequence, duplicate ids, consumers."""

    def __init__(self, stream: Stream, node: RaftNode) -> None:
        self.stream = stream
        self.node = node
        #: seq → (app, publish msg id, size, time stored), oldest first
        self.msgs: dict[int, tuple[int, int, int, float]] = {}
        self.last_seq = 0
        self.bytes = 0
        #: Nats-Msg-Id → (seq, time stored)
        self.dedupe: dict[str, tuple[int, float]] = {}
        self.consumers = {c.name: ConsumerState(c) for c in stream.consumer_specs}

    def duplicate_of(self, msg_id: str | None, now: float) -> int:
        """The sequence ``msg_id`` was stored under within the window, else 0."""
        if msg_id is None:
            return 0
        hit = self.dedupe.get(msg_id)
        if hit is None or now - hit[1] > self.stream.spec.dedupe_window:
            return 0
        return hit[0]

    def full(self, size: int) -> bool:
        """True if storing one more message of ``size`` bytes passes a limit."""
        spec = self.stream.spec
        over_msgs = spec.max_msgs is not None and len(self.msgs) + 1 > spec.max_msgs
        over_bytes = spec.max_bytes is not None and self.bytes + size > spec.max_bytes
        return over_msgs or over_bytes

    def apply(self, entry: Entry) -> tuple[JsStoreOutcome, int] | None:
        """Apply one committed entry; for a message, return (outcome, sequence)."""
        data = entry.data
        if data is None:
            return None
        kind = data[0]
        if kind == "msg":
            return self._store(data[1])
        state = self.consumers[data[1]]
        if kind == "dlv":
            state.delivered_to(data[2], data[3], data[4])
        else:
            state.acked_to(data[2], only=kind == "term")
        return None

    def apply_local(self, data: tuple) -> None:
        """Apply consumer state that is not replicated (an ephemeral consumer's)."""
        self.apply(Entry(0, data))

    def _store(self, pub: Pub) -> tuple[JsStoreOutcome, int]:
        now = pub.t_prop
        self.expire(now)
        dup = self.duplicate_of(pub.msg_id, now)
        if dup:
            return JsStoreOutcome.DUPLICATE, dup
        spec = self.stream.spec
        if spec.discard == "new" and self.full(pub.size):
            return JsStoreOutcome.STREAM_FULL, 0
        while self.msgs and self.full(pub.size):
            self._remove_first()
        self.last_seq += 1
        self.msgs[self.last_seq] = (pub.app, pub.msg, pub.size, now)
        self.bytes += pub.size
        if pub.msg_id is not None:
            self.dedupe[pub.msg_id] = (self.last_seq, now)
        return JsStoreOutcome.STORED, self.last_seq

    def _remove_first(self) -> None:
        seq = next(iter(self.msgs))
        self.bytes -= self.msgs.pop(seq)[2]

    def expire(self, now: float) -> None:
        """Remove messages older than ``max_age`` and duplicate ids older than the window."""
        age = self.stream.spec.max_age
        if age > 0:
            while self.msgs and now - next(iter(self.msgs.values()))[3] > age:
                self._remove_first()
        window = self.stream.spec.dedupe_window
        while self.dedupe and now - next(iter(self.dedupe.values()))[1] > window:
            del self.dedupe[next(iter(self.dedupe))]


class _Capture:
    """The leader's internal subscription on the stream's subjects (a handler with a client)."""

    def __init__(self, stream: Stream, node: RaftNode, client: Client) -> None:
        self.stream = stream
        self.node = node
        self.client = client
        self.subs: list[Sub] = []

    def on_msg(self, ev: Call) -> None:
        self.stream.on_publish(self.node, ev._value)


class Stream:
    """One stream: its replication group, its replicas, its leader's subscriptions.

    Parameters
    ----------
    spec : StreamSpec
    consumers : list of ConsumerSpec
        The consumers defined on it.
    js : JetStream
        The layer's shared services (clock, trace, internal clients, tables).
    servers : list of Server
        Its replicas' servers; the first leads from the start.
    """

    def __init__(
        self, spec: StreamSpec, consumers: list[ConsumerSpec], js: Any, servers: list
    ) -> None:
        self.spec = spec
        self.name = spec.name
        self.consumer_specs = consumers
        self.js = js
        self.clock = js.clock
        self.trace = js.trace
        self.sid = js.trace.js.stream_id(spec.name)
        self.group = RaftGroup(
            spec.name,
            servers,
            js.clock,
            # by server only: groups placed alike time their elections alike
            lambda s: js.net.streams.fresh(f"raft:{s.name}"),
            spec.write_time,
            self._apply,
            self._on_role,
        )
        self.replicas = {idx: Replica(self, n) for idx, n in self.group.nodes.items()}
        #: highest log index applied anywhere (each index is recorded once)
        self.top = 0
        #: stream sequence → application message number, as committed
        self.apps: dict[int, int] = {}
        #: (js_stored row, log index, publish msg id) of every committed message
        self.stored_rows: list[tuple[int, int, int]] = []
        #: captured publishes waiting for their commit: msg id → (server, time)
        self.waiting: dict[int, tuple[int, float]] = {}
        #: the leader's live parts: its capture subscription and consumer leaders
        self._capture: dict[int, _Capture] = {}
        self.leaders: dict[int, list[ConsumerLeader]] = {}
        #: a new leader's server → the index it must apply before its consumers start
        self._catch_up: dict[int, int] = {}

    def start(self) -> None:
        """Elect the first leader (see :meth:`RaftGroup.start`)."""
        self.group.start()

    # ---------------------------------------------------------- leadership
    def _on_role(self, node: RaftNode, leader: bool) -> None:
        srv = node.server
        self.trace.add_event(
            self.clock.now,
            srv.idx,
            "stream_leader" if leader else "stream_follower",
            self.name,
            node.term,
        )
        if leader:
            client = self.js.internal(srv)
            cap = self._capture[srv.idx] = _Capture(self, node, client)
            cap.subs = [client.subscribe(s, handler=cap.on_msg) for s in self.spec.subjects]
            # consumers start once the new leader has applied everything before its
            # term's first entry: their state must include what its predecessor committed
            self._catch_up[srv.idx] = len(node.log)
            if node.applied >= len(node.log):
                self._start_consumers(node)
            return
        self._catch_up.pop(srv.idx, None)
        cap = self._capture.pop(srv.idx, None)
        if cap is not None:
            for sub in cap.subs:
                cap.client.unsubscribe(sub)
        for c in self.leaders.pop(srv.idx, []):
            c.stop()

    def _start_consumers(self, node: RaftNode) -> None:
        self._catch_up.pop(node.idx, None)
        client = self.js.internal(node.server)
        replica = self.replicas[node.idx]
        self.leaders[node.idx] = [
            ConsumerLeader(self, replica.consumers[c.name], node, client)
            for c in self.consumer_specs
        ]
        for c in self.leaders[node.idx]:
            c.start()

    # ------------------------------------------------------------- publish
    def on_publish(self, node: RaftNode, msg: Msg) -> None:
        """A publish reached the leader's subscription: answer a duplicate, or propose it."""
        now = self.clock.now
        srv = node.idx
        if not node.is_leader:
            self.trace.js.add_capture(
                msg.id, self.sid, srv, now, JsStoreOutcome.STREAM_NO_QUORUM, 0
            )
            return
        replica = self.replicas[srv]
        pub = Pub(msg, self.js.app_of.get(msg.id, -1), self.js.msg_ids.get(msg.id), now)
        dup = replica.duplicate_of(pub.msg_id, now)
        if dup:
            self._settle(node, pub, JsStoreOutcome.DUPLICATE, dup)
            return
        if self.spec.discard == "new" and replica.full(pub.size):
            self._settle(node, pub, JsStoreOutcome.STREAM_FULL, 0)
            return
        self.waiting[msg.id] = (srv, now)
        node.propose(("msg", pub))

    def _apply(self, node: RaftNode, index: int, entry: Entry) -> None:
        replica = self.replicas[node.idx]
        result = replica.apply(entry)
        first = index > self.top
        if first:
            self.top = index
        if node.is_leader and self._catch_up.get(node.idx) == index:
            self._start_consumers(node)
        if result is None:
            return
        outcome, seq = result
        pub: Pub = entry.data[1]
        if first:
            self._record(pub, node.idx, outcome, seq)
            if outcome == JsStoreOutcome.STORED:
                self.apps[seq] = pub.app
                row = self.trace.js.add_stored(
                    self.sid, seq, pub.msg, pub.app, self.clock.now, node.idx, index
                )
                self.stored_rows.append((row, index, pub.msg))
        if node.is_leader:
            # a new leader applying what its predecessor committed answers again
            # (processJetStreamMsg responds whenever it runs on the leader)
            self._ack(node, pub, outcome, seq)
            if outcome == JsStoreOutcome.STORED:
                for c in self.leaders.get(node.idx, ()):
                    c.pump()

    def _settle(self, node: RaftNode, pub: Pub, outcome: JsStoreOutcome, seq: int) -> None:
        """The leader answers a publish without proposing it (a duplicate id, a full stream)."""
        self._record(pub, node.idx, outcome, seq)
        self._ack(node, pub, outcome, seq)

    def _record(self, pub: Pub, server: int, outcome: JsStoreOutcome, seq: int) -> None:
        self.waiting.pop(pub.msg, None)
        self.trace.js.add_capture(pub.msg, self.sid, server, self.clock.now, outcome, seq)

    def _ack(self, node: RaftNode, pub: Pub, outcome: JsStoreOutcome, seq: int) -> None:
        """Send the PubAck from the leader's server to the publisher's reply subject."""
        if pub.reply is None or not node.server.up:
            return
        self.js.pub_results[pub.msg] = (outcome, seq)
        client = self.js.internal(node.server)
        ack = client.publish(pub.reply, PUBACK_SIZE, MsgKind.REPLY, request=pub.msg)
        reply_home(ack, pub.gr, node.server.cluster)

    def close(self, end: float) -> None:
        """The run ended: book the publishes still waiting for a commit; check the logs.

        A committed entry must be in the log of every later leader (Raft's
        leader completeness): each stored message is marked ``in_log`` if the
        most up-to-date running replica — the leader, if there is one — still
        holds it at its index.
        """
        ref = self.group.leader or self.group.freshest()
        if ref is not None:
            log, in_log = ref.log, self.trace.js.st_in_log
            for row, index, mid in self.stored_rows:
                e = log[index - 1].data if index <= len(log) else None
                in_log[row] = int(e is not None and e[0] == "msg" and e[1].msg == mid)
        leader = self.group.leader
        pending = set()
        if leader is not None:
            pending = {
                e.data[1].msg
                for e in leader.log[leader.commit :]
                if e.data is not None and e.data[0] == "msg"
            }
        for mid, (srv, _) in sorted(self.waiting.items()):
            outcome = (
                JsStoreOutcome.IN_FLIGHT_AT_END
                if mid in pending
                else JsStoreOutcome.STREAM_NO_QUORUM
            )
            self.trace.js.add_capture(mid, self.sid, srv, end, outcome, 0)
        self.waiting.clear()
