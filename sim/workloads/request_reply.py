"""Request/reply: requesters with a muxed inbox, responders with a service time.

Requesters behave as nats.go and nats.py do by default (digest §7): one
wildcard subscription ``_INBOX.<id>.*`` per connection, made just before the
first request, each request replying to ``_INBOX.<id>.<n>``; the first reply
wins and later ones are ignored; the timeout is the client's own; a 503
status means "no responders".  In scatter-gather mode the requester keeps
every reply that arrives within the gather window instead.

Responders handle one request at a time, like a subscription callback in
nats.py or nats.go, so a burst queues behind the service time.
"""

from __future__ import annotations

import math

from sim.model.client import Client
from sim.model.clock import Call
from sim.model.message import Msg, Sub
from sim.model.network import Network
from sim.scenario.spec import Requesters, RequestReplyWorkload, Responders
from sim.subjects import expand_subject_template
from sim.trace import MsgKind, Outcome
from sim.workloads.base import Arrivals, client_subjects

__all__ = ["build_request_reply"]


class _Pending:
    """A request waiting for its reply (or gathering replies)."""

    __slots__ = ("first", "msg", "replies", "responder")

    def __init__(self, msg: Msg) -> None:
        self.msg = msg
        self.replies = 0
        self.first = math.nan
        self.responder = -1


class Requester:
    """One requesting client."""

    def __init__(self, net: Network, client: Client, spec: Requesters, subjects: list[str]):
        self.net = net
        self.client = client
        self.spec = spec
        self.subjects = subjects
        self.rng = net.streams.stream(f"req:{client.name}")
        self.prefix = f"_INBOX.{client.name}."
        self.inbox = None
        self.pending: dict[str, _Pending] = {}
        self.seq = 0
        client.status_handler = self._on_no_responders
        client.kill_handlers.append(self._on_kill)

    def fire(self) -> None:
        """Send one request (none while the process is dead)."""
        if not self.client.alive:
            return
        if self.inbox is None:
            self.inbox = self.client.subscribe(self.prefix + "*", handler=self._on_reply)
        self.seq += 1
        token = str(self.seq)
        n = len(self.subjects)
        subject = self.subjects[self.rng.randrange(n)] if n > 1 else self.subjects[0]
        msg = self.client.publish(subject, self.spec.size, MsgKind.REQUEST, self.prefix + token)
        if msg is None:
            return  # the process is dead: nothing is sent
        self.pending[token] = _Pending(msg)
        wait = self.spec.gather if self.spec.gather is not None else self.spec.timeout
        self.net.clock.after(wait, self._on_deadline, token)

    def _settle(self, token: str, outcome: Outcome) -> None:
        p = self.pending.pop(token)
        self.net.trace.add_request(
            p.msg.id, outcome, self.net.clock.now, p.first, p.responder, p.replies
        )

    def _on_reply(self, ev: Call) -> None:
        reply: Msg = ev._value
        token = reply.subject.rpartition(".")[2]
        p = self.pending.get(token)
        if p is None:
            return  # late or duplicate: the first reply already won, or the request timed out
        p.replies += 1
        if p.replies == 1:
            p.first = self.net.clock.now
            p.responder = reply.client.id
        if self.spec.gather is None:
            self._settle(token, Outcome.OK)

    def _on_no_responders(self, request: Msg) -> None:
        token = request.reply.rpartition(".")[2] if request.reply else ""
        if token in self.pending and self.pending[token].replies == 0:
            self._settle(token, Outcome.NO_RESPONDERS)

    def _on_kill(self) -> None:
        """The requester process dies: its pending requests end unanswered."""
        for token in list(self.pending):
            self._settle(token, Outcome.CLIENT_GONE)

    def _on_deadline(self, ev: Call) -> None:
        token = ev._value
        p = self.pending.get(token)
        if p is not None:
            self._settle(token, Outcome.OK if p.replies else Outcome.TIMEOUT)


class Responder:
    """One responding client: serves requests one at a time.

    ``start``/``stop`` subscribe and unsubscribe it (the service instance
    coming up or shutting down); faults call them too.
    """

    def __init__(self, net: Network, client: Client, spec: Responders, subject: str):
        self.net = net
        self.client = client
        self.subject = subject
        self.queue = spec.queue
        self.size = spec.size
        self.service = net.sampler(spec.service_time, f"service:{client.name}")
        self.busy = 0.0
        self.sub: Sub | None = None

    @property
    def cluster(self) -> str:
        """The cluster of the server the responder is connected to."""
        return self.client.server.cluster

    def start(self, ev: Call | None = None) -> None:
        """Subscribe (no-op if already subscribed)."""
        if self.sub is None:
            self.sub = self.client.subscribe(self.subject, self.queue, handler=self.on_request)

    def stop(self, ev: Call | None = None) -> None:
        """Unsubscribe; requests already received are still answered."""
        if self.sub is not None:
            self.client.unsubscribe(self.sub)
            self.sub = None

    def on_request(self, ev: Call) -> None:
        """A request arrives: reply after the service time, behind earlier requests."""
        now = self.net.clock.now
        done = (self.busy if self.busy > now else now) + self.service()
        self.busy = done
        self.net.clock.at(done, self._reply, ev._value)

    def _reply(self, ev: Call) -> None:
        req: Msg = ev._value
        if req.reply is not None:
            reply = self.client.publish(
                req.reply, self.size, MsgKind.REPLY, request=req.id, track=req.track
            )
            if reply is not None and req.gr is not None and req.gr[0] != self.cluster:
                # the request crossed a gateway with a _GR_. reply: this server maps
                # the reply back and sends it straight home (digest §5)
                reply.gr = req.gr


def build_request_reply(net: Network, spec: RequestReplyWorkload, wid: int, end: float) -> None:
    """Create the workload's responders and requesters and schedule them."""
    for g, group in enumerate(spec.responders):
        template = group.subject or spec.subject
        for k, server in enumerate(net.place(group, f"placement:{spec.name}:rsp{g}")):
            suffix = f"rsp{k}" if g == 0 else f"rsp{g}.{k}"
            client = net.add_client(
                f"{spec.name}.{suffix}", spec.name, wid, "responder", server, group
            )
            responder = Responder(net, client, group, client_subjects(template, k))
            net.responders.setdefault(spec.name, []).append(responder)
            net.clock.at(group.start, responder.start)
            if group.stop is not None and group.stop < end:
                net.clock.at(group.stop, responder.stop)
    req = spec.requesters
    subjects = expand_subject_template(req.subject or spec.subject)
    stop = end if req.stop is None else min(req.stop, end)
    for i, server in enumerate(net.place(req, f"placement:{spec.name}:req")):
        name = f"{spec.name}.req{i}"
        client = net.add_client(name, spec.name, wid, "requester", server, req)
        requester = Requester(net, client, req, subjects)
        Arrivals(
            net.clock,
            requester.rng,
            req.rate,
            req.arrival == "poisson",
            req.start,
            stop,
            requester.fire,
        )
