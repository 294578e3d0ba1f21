"""A consumer: its replicated state, and the leader that delivers and redelivers.

As nats-server's consumer (server/consumer.go):

* a push consumer delivers only while its deliver subject has interest on the
  leader's server (``hasDeliveryInterest``);
* the leader delivers stored messages in sequence order — redeliveries first
  (``getNextMsg`` takes the redelivery queue before new messages) — as core
  messages: to the consumer's deliver subject (push) or to the reply subject
  of a waiting pull request (``processNextMsgRequest``), each with the ack
  reply subject ``$JS.ACK.<stream>.<consumer>.<delivery count>.<sequence>``;
* with ``ack_policy`` explicit or all, a delivered message stays pending
  until acked; at most ``max_ack_pending`` are pending at once; one not acked
  within ``ack_wait`` — or ``backoff[n-1]`` for the n-th delivery when a
  backoff list is given — is redelivered (``checkPending``), until
  ``max_deliver`` deliveries, after which it is dropped from pending
  (``notifyDeliveryExceeded``); an ack of sequence n with ack_policy all acks
  everything up to n (``processAckMsg``);
* the delivered and acked state is replicated with the stream's replicas
  (``updateDelivered``, ``processReplicatedAck``): here as entries in the
  stream's own log (a durable consumer's only; an ephemeral one keeps its
  state on its leader alone), so a new leader picks up what was delivered and
  not acked and redelivers it once its ack wait has run out.
"""

from __future__ import annotations

from collections import deque
from typing import TYPE_CHECKING, Any

from sim.model.clock import Call
from sim.trace import MsgKind

if TYPE_CHECKING:
    from sim.model.client import Client
    from sim.model.jetstream.raft import RaftNode
    from sim.model.message import Msg, Sub
    from sim.scenario.spec import ConsumerSpec

__all__ = [
    "ConsumerLeader",
    "ConsumerState",
    "ack_subject",
    "deliver_subject",
    "parse_ack",
    "reply_home",
]

#: how often a push consumer without a subscriber looks for one again (simulator's choice)
INTEREST_POLL = 0.1


def ack_subject(stream: str, consumer: str, count: int, seq: int) -> str:
    """The reply subject a delivery carries (a shortened ``$JS.ACK`` form)."""
    return f"$JS.ACK.{stream}.{consumer}.{count}.{seq}"


def parse_ack(subject: str) -> tuple[str, str, int, int]:
    """``(stream, consumer, delivery count, sequence)`` of an ack reply subject."""
    t = subject.split(".")
    return t[2], t[3], int(t[4]), int(t[5])


def deliver_subject(stream: str, consumer: str) -> str:
    """The deliver subject of a push consumer."""
    return f"_DELIVER.{stream}.{consumer}"


def next_subject(stream: str, consumer: str) -> str:
    """The subject a pull consumer's clients send their requests for messages to."""
    return f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{consumer}"


def reply_home(reply: Msg | None, gr: tuple[str, int] | None, cluster: str) -> None:
    """Send ``reply`` straight back over the gateway its request came by (``_GR_.`` mapping).

    As a responder does (:mod:`sim.workloads.request_reply`, digest §5): a
    request that crossed a gateway with its reply subject mapped is answered
    directly to the requester's cluster.
    """
    if reply is not None and gr is not None and gr[0] != cluster:
        reply.gr = gr


class ConsumerState:
    """What every replica knows of a consumer: delivered-but-unacked messages, acks."""

    def __init__(self, spec: ConsumerSpec) -> None:
        self.spec = spec
        #: unacked sequence → (delivery count, time delivered)
        self.delivered: dict[int, tuple[int, float]] = {}
        #: the highest sequence delivered
        self.last = 0
        #: sequences acked (or given up on), and with ack_policy all the floor
        self.acked: set[int] = set()
        self.floor = 0

    def done(self, seq: int) -> bool:
        """True if ``seq`` needs no more delivery (acked, or given up on)."""
        return seq <= self.floor or seq in self.acked

    def delivered_to(self, seq: int, count: int, t: float) -> None:
        """Delivery number ``count`` of ``seq`` went out at ``t``."""
        self.last = max(self.last, seq)
        if self.spec.ack_policy == "none":
            self.acked.add(seq)
        elif not self.done(seq):
            self.delivered[seq] = (max(count, self.delivered.get(seq, (0, t))[0]), t)

    def acked_to(self, seq: int, only: bool = False) -> None:
        """``seq`` was acked (with ack_policy all, every sequence up to it; ``only``: just it)."""
        if self.spec.ack_policy == "all" and not only:
            self.floor = max(self.floor, seq)
            for s in [s for s in self.delivered if s <= seq]:
                del self.delivered[s]
        else:
            self.acked.add(seq)
            self.delivered.pop(seq, None)


class ConsumerLeader:
    """A consumer's live side on its stream's leader: deliveries, timers, acks, pulls."""

    def __init__(self, stream: Any, state: ConsumerState, node: RaftNode, client: Client) -> None:
        self.stream = stream
        self.state = state
        self.spec = state.spec
        self.node = node
        self.client = client
        self.clock = node.clock
        self.cid = stream.trace.js.consumer_id(f"{stream.name}/{self.spec.name}")
        #: sequence → delivery count of what waits for an ack
        self.pending: dict[int, int] = {}
        self.redeliver: deque[int] = deque()
        self.cursor = state.last
        #: pull requests: [reply subject, messages still wanted, expiry, _GR_ mapping]
        self.waiting: deque[list[Any]] = deque()
        self.active = False
        self.subs: list[Sub] = []
        self._polling = False

    def start(self) -> None:
        """Subscribe for acks (and pull requests); take over what the state says is pending."""
        self.active = True
        name, sname = self.spec.name, self.stream.name
        self.subs.append(self.client.subscribe(f"$JS.ACK.{sname}.{name}.>", handler=self.on_ack))
        if self.spec.mode == "pull":
            self.subs.append(self.client.subscribe(next_subject(sname, name), handler=self.on_next))
        now = self.clock.now
        for seq, (count, t) in sorted(self.state.delivered.items()):
            self.pending[seq] = count
            self.clock.at(max(now, t + self._wait(count)), self._check, (seq, count))
        self.pump()

    def stop(self) -> None:
        """Leadership moved on: stop delivering; the subscriptions go."""
        self.active = False
        for sub in self.subs:
            self.client.unsubscribe(sub)
        self.subs = []

    def _wait(self, count: int) -> float:
        backoff = self.spec.backoff
        return backoff[min(count, len(backoff)) - 1] if backoff else self.spec.ack_wait

    def _propose(self, data: tuple) -> None:
        if self.spec.durable:
            self.node.propose(data)
        else:
            self.stream.replicas[self.node.idx].apply_local(data)

    # ------------------------------------------------------------- delivery
    def pump(self, ev: Call | None = None) -> None:
        """Deliver what can go now: redeliveries first, then new messages.

        ``max_ack_pending`` caps new messages only: a redelivery is pending already.
        """
        if not self.active or not self.node.is_leader:
            return
        replica = self.stream.replicas[self.node.idx]
        while True:
            dest = self._destination()
            if dest is None:
                return
            seq = self._next_seq(replica, self._room())
            if seq is None:
                return
            self._deliver(seq, dest, replica.msgs[seq][2])

    def _room(self) -> bool:
        """True if a new message may be delivered (fewer than max_ack_pending wait for acks)."""
        return self.spec.ack_policy == "none" or len(self.pending) < self.spec.max_ack_pending

    def _destination(self) -> str | None:
        if self.spec.mode == "push":
            subject = deliver_subject(self.stream.name, self.spec.name)
            if self._interest(subject):
                return subject
            if not self._polling:
                # nats-server resumes on the interest change; here: look again shortly
                self._polling = True
                self.clock.after(INTEREST_POLL, self._poll)
            return None
        now = self.clock.now
        while self.waiting and (self.waiting[0][1] <= 0 or self.waiting[0][2] <= now):
            self.waiting.popleft()
        return self.waiting[0][0] if self.waiting else None

    def _interest(self, subject: str) -> bool:
        """Whether the leader's server knows a subscriber of ``subject`` (``hasDeliveryInterest``).

        Its own clients and route interest; beyond a gateway it assumes there is some.
        """
        srv = self.node.server
        local = srv.local.match(subject)
        if local.plain or local.queues or srv.gw is not None:
            return True
        view = srv.remote_view(subject)
        return bool(view.peers or view.queues)

    def _poll(self, ev: Call) -> None:
        self._polling = False
        self.pump()

    def _next_seq(self, replica: Any, room: bool) -> int | None:
        """The next sequence to deliver: a due redelivery, else (with ``room``) a new one."""
        while self.redeliver:
            seq = self.redeliver.popleft()
            if seq in self.pending and seq in replica.msgs:
                return seq
            self.pending.pop(seq, None)
        if not room:
            return None
        replica.expire(self.clock.now)
        while self.cursor < replica.last_seq:
            self.cursor += 1
            if self.cursor in replica.msgs and not self.state.done(self.cursor):
                return self.cursor
        return None

    def _deliver(self, seq: int, dest: str, size: int) -> None:
        now = self.clock.now
        count = self.pending.get(seq, 0) + 1
        reply = ack_subject(self.stream.name, self.spec.name, count, seq)
        sent = self.client.publish(dest, size, MsgKind.PUBLISH, reply)
        if self.spec.mode == "pull":
            self.waiting[0][1] -= 1
            reply_home(sent, self.waiting[0][3], self.node.server.cluster)
        if self.spec.ack_policy != "none":
            self.pending[seq] = count
            self.clock.at(now + self._wait(count), self._check, (seq, count))
        self._propose(("dlv", self.spec.name, seq, count, now))

    def _check(self, ev: Call) -> None:
        """Ack wait over for delivery ``count`` of ``seq``: redeliver it, or give up."""
        seq, count = ev._value
        if not self.active or self.pending.get(seq) != count:
            return
        if 0 < self.spec.max_deliver <= count:
            del self.pending[seq]
            self.stream.trace.add_event(
                self.clock.now,
                self.node.idx,
                "max_deliver",
                f"{self.stream.name}/{self.spec.name}",
                seq,
            )
            self._propose(("term", self.spec.name, seq))
        else:
            self.redeliver.append(seq)
        self.pump()

    # ----------------------------------------------------------- requests
    def on_ack(self, ev: Call) -> None:
        """An ack arrives on ``$JS.ACK…``: the message (or all up to it) is done."""
        msg: Msg = ev._value
        if not self.active:
            return
        _, _, _, seq = parse_ack(msg.subject)
        if self.spec.ack_policy == "all":
            for s in [s for s in self.pending if s <= seq]:
                del self.pending[s]
        else:
            self.pending.pop(seq, None)
        self.stream.trace.js.add_ack(self.stream.sid, self.cid, seq, self.clock.now, self.node.idx)
        self._propose(("ack", self.spec.name, seq))
        self.pump()

    def on_next(self, ev: Call) -> None:
        """A pull request arrives: it waits for up to ``batch`` messages until ``expires``."""
        msg: Msg = ev._value
        if not self.active or msg.reply is None:
            return
        self.waiting.append(
            [msg.reply, self.spec.batch, self.clock.now + self.spec.expires, msg.gr]
        )
        self.pump()
