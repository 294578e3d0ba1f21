"""JetStream publishers and consumers — or the same clients over core NATS (``mode: core``).

Publishers behave as an application around nats.go's ``js.Publish``: each
message is a request to the stream subject with an ``_INBOX`` reply; the
PubAck that comes back says stored (with its sequence), duplicate, or error.
An attempt with no PubAck within ``ack_timeout``, or answered with a 503 "no
responders" (no stream leader has the subject's interest), is tried again
after ``retry_wait``, up to ``retries`` more times — the same message, with
the same ``Nats-Msg-Id`` if ``msg_id`` is on, which is what lets the stream
drop the copy a lost PubAck made the publisher send twice.

Consuming clients of a push consumer subscribe to its deliver subject (as a
queue group when there are several), those of a pull consumer ask for
``batch`` messages at a time and ask again when a batch is complete or its
``expires`` is over.  Each message is handled for ``process_time`` (one at a
time) and then acked unless the consumer's ack policy is ``none``.

In core mode the publishers publish plainly and the consumers subscribe to
the subject (a queue group when there are several): at-most-once, the
baseline the JetStream runs are compared with.
"""

from __future__ import annotations

from typing import Any

from sim.jstrace import JsPubOutcome, JsStoreOutcome
from sim.model.client import Client
from sim.model.clock import Call
from sim.model.jetstream.consumer import deliver_subject, next_subject, parse_ack
from sim.model.message import Msg
from sim.model.network import Network
from sim.scenario.jetstream_checks import stream_for_subject
from sim.scenario.spec import ConsumerSpec, JetStreamWorkload, JsConsumers, JsPublishers
from sim.subjects import expand_subject_template
from sim.trace import MsgKind
from sim.workloads.base import Arrivals

__all__ = ["build_jetstream"]

#: what a PubAck says → how the publisher settles the attempt
_PUBACK = {
    JsStoreOutcome.STORED: JsPubOutcome.ACKED,
    JsStoreOutcome.DUPLICATE: JsPubOutcome.DUPLICATE,
    JsStoreOutcome.STREAM_FULL: JsPubOutcome.ERROR,
}
#: bytes of an ack and of a pull request's JSON body, roughly
ACK_SIZE = 0
PULL_SIZE = 30


class _Attempt:
    __slots__ = ("app", "msg", "n")

    def __init__(self, app: int, n: int, msg: Msg) -> None:
        self.app = app
        self.n = n
        self.msg = msg


class JsPublisher:
    """One publishing client: numbers its messages, waits for PubAcks, retries."""

    def __init__(
        self, net: Network, client: Client, spec: JsPublishers, subjects: list[str], w: Any
    ) -> None:
        self.net = net
        self.client = client
        self.spec = spec
        self.subjects = subjects
        self.core = w.mode == "core"
        self.workload = w.name
        self.app_of: dict[int, int] = w.app_of
        self.rng = net.streams.stream(f"pub:{client.name}")
        self.jt = net.trace.js
        self.prefix = f"_INBOX.{client.name}."
        self.inbox: Any = None
        self.pending: dict[str, _Attempt] = {}
        self.seq = 0
        client.status_handler = self._on_no_responders
        client.kill_handlers.append(self._on_kill)

    def fire(self) -> None:
        """Publish one new application message (none while the process is dead)."""
        if self.client.alive:
            self._attempt(self.jt.new_app(), 1)

    def _subject(self) -> str:
        n = len(self.subjects)
        return self.subjects[self.rng.randrange(n)] if n > 1 else self.subjects[0]

    def _attempt(self, app: int, n: int) -> None:
        client = self.client
        if self.core:
            msg = client.publish(self._subject(), self.spec.size, MsgKind.PUBLISH)
            if msg is not None:
                self.app_of[msg.id] = app
                self.jt.add_publish(msg.id, app, 1, False, msg.t_pub, JsPubOutcome.SENT, -1)
            return
        if self.inbox is None:
            self.inbox = client.subscribe(self.prefix + "*", handler=self._on_reply)
        self.seq += 1
        token = str(self.seq)
        msg = client.publish(self._subject(), self.spec.size, MsgKind.REQUEST, self.prefix + token)
        if msg is None:
            return
        js = self.net.jetstream
        js.app_of[msg.id] = app
        if self.spec.msg_id:
            js.msg_ids[msg.id] = f"{self.workload}-{app}"
        self.pending[token] = _Attempt(app, n, msg)
        self.net.clock.after(self.spec.ack_timeout, self._on_timeout, token)

    def _settle(self, token: str, outcome: JsPubOutcome, seq: int = -1) -> None:
        a = self.pending.pop(token)
        now = self.net.clock.now
        self.jt.add_publish(a.msg.id, a.app, a.n, self.spec.msg_id, now, outcome, seq)
        retry = outcome in (JsPubOutcome.TIMEOUT, JsPubOutcome.NO_RESPONDERS)
        if retry and a.n <= self.spec.retries and self.client.alive:
            self.net.clock.after(self.spec.retry_wait, self._retry, (a.app, a.n + 1))

    def _retry(self, ev: Call) -> None:
        app, n = ev._value
        if self.client.alive:
            self._attempt(app, n)

    def _on_reply(self, ev: Call) -> None:
        reply: Msg = ev._value
        token = reply.subject[len(self.prefix) :]
        if token not in self.pending:
            return  # late: the attempt timed out already
        outcome, seq = self.net.jetstream.pub_results[reply.request]
        self._settle(token, _PUBACK[outcome], seq)

    def _on_no_responders(self, request: Msg) -> None:
        token = request.reply[len(self.prefix) :] if request.reply else ""
        if token in self.pending:
            self._settle(token, JsPubOutcome.NO_RESPONDERS)

    def _on_timeout(self, ev: Call) -> None:
        if ev._value in self.pending:
            self._settle(ev._value, JsPubOutcome.TIMEOUT)

    def _on_kill(self) -> None:
        for token in list(self.pending):
            self._settle(token, JsPubOutcome.UNSETTLED)

    def close(self, end: float) -> None:
        """The run ended: attempts still waiting for their PubAck are unsettled."""
        for token in list(self.pending):
            self._settle(token, JsPubOutcome.UNSETTLED)


class JsConsumerApp:
    """One consuming client: receives, handles for ``process_time``, acks."""

    def __init__(
        self,
        net: Network,
        client: Client,
        group: JsConsumers,
        consumer: ConsumerSpec | None,
        w: Any,
        shared: bool,
    ) -> None:
        self.net = net
        self.client = client
        self.consumer = consumer
        self.w = w
        self.shared = shared
        self.process = net.sampler(group.process_time, f"process:{client.name}")
        self.busy = 0.0
        self.jt = net.trace.js
        self.prefix = f"_INBOX.{client.name}."
        self.pulls = 0
        self.received = 0

    def start(self, ev: Call | None = None) -> None:
        """Subscribe (core: the subject; push: the deliver subject) or start pulling."""
        c, client = self.consumer, self.client
        if c is None:
            queue = self.w.name if self.shared else None
            client.subscribe(self.w.subject, queue, handler=self.on_msg)
        elif c.mode == "push":
            queue = c.name if self.shared else None
            client.subscribe(deliver_subject(c.stream, c.name), queue, handler=self.on_msg)
        else:
            client.subscribe(self.prefix + "*", handler=self.on_msg)
            self._pull()

    def on_msg(self, ev: Call) -> None:
        """A message arrives: record it, handle it, ack it."""
        msg: Msg = ev._value
        now = self.net.clock.now
        c = self.consumer
        if c is None:
            app = self.w.app_of.get(msg.id, -1)
            self.jt.add_delivery(self.client.id, -1, -1, -1, 1, app, msg.id, now)
            return
        if msg.reply is None:
            return  # a status message (a 503 to a pull request)
        stream, name, count, seq = parse_ack(msg.reply)
        app = self.net.jetstream.stored_app(stream, seq)
        sid, cid = self.jt.stream_id(stream), self.jt.consumer_id(f"{stream}/{name}")
        self.jt.add_delivery(self.client.id, sid, cid, seq, count, app, msg.id, now)
        done = max(self.busy, now) + self.process()
        self.busy = done
        if c.ack_policy != "none":
            self.net.clock.at(done, self._ack, msg.reply)
        if c.mode == "pull":
            self.received += 1
            if self.received >= c.batch:
                self.net.clock.at(done, self._pull)

    def _ack(self, ev: Call) -> None:
        self.client.publish(ev._value, ACK_SIZE, MsgKind.PUBLISH)

    def _pull(self, ev: Call | None = None) -> None:
        """Ask for the next batch; ask again when it expires unanswered.

        The expiry timer is not the client's (a plain function): a killed
        process's timers are cancelled, and this one must survive to start
        pulling again once the process is restarted.
        """
        c = self.consumer
        if c is None:
            return
        self.pulls += 1
        self.received = 0
        if self.client.alive:
            reply = f"{self.prefix}{self.pulls}"
            self.client.publish(next_subject(c.stream, c.name), PULL_SIZE, MsgKind.REQUEST, reply)
        self.net.clock.after(c.expires, lambda ev: self._expired(ev), self.pulls)

    def _expired(self, ev: Call) -> None:
        if ev._value == self.pulls:
            self._pull()


def build_jetstream(net: Network, spec: JetStreamWorkload, wid: int, end: float) -> None:
    """Create the workload's consuming and publishing clients and schedule them."""
    w = _Shared(spec)
    consumer = None
    stream = stream_for_subject(net.scenario, spec.subject) if spec.mode == "jetstream" else None
    consumers = {c.name: c for c in net.scenario.consumers if stream and c.stream == stream.name}
    for g, group in enumerate(spec.consumers):
        servers = net.place(group, f"placement:{spec.name}:con{g}")
        if spec.mode == "jetstream":
            consumer = consumers[group.consumer or ""]
        for k, server in enumerate(servers):
            suffix = f"con{k}" if g == 0 else f"con{g}.{k}"
            client = net.add_client(
                f"{spec.name}.{suffix}", spec.name, wid, "consumer", server, group
            )
            app = JsConsumerApp(net, client, group, consumer, w, len(servers) > 1)
            net.clock.at(group.start, app.start)
    pubs = spec.publishers
    subjects = expand_subject_template(pubs.subject or spec.subject)
    stop = end if pubs.stop is None else min(pubs.stop, end)
    for i, server in enumerate(net.place(pubs, f"placement:{spec.name}:pub")):
        client = net.add_client(f"{spec.name}.pub{i}", spec.name, wid, "publisher", server, pubs)
        publisher = JsPublisher(net, client, pubs, subjects, w)
        net.at_end.append(publisher.close)
        Arrivals(
            net.clock,
            publisher.rng,
            pubs.rate,
            pubs.arrival == "poisson",
            pubs.start,
            stop,
            publisher.fire,
        )


class _Shared:
    """What a workload's clients share: its spec's name, subject, mode, and core message numbers."""

    def __init__(self, spec: JetStreamWorkload) -> None:
        self.name = spec.name
        self.subject = spec.subject
        self.mode = spec.mode
        #: core mode: core message id → application message number
        self.app_of: dict[int, int] = {}
