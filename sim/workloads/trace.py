"""Replaying recorded traffic: each trace client sends its rows at their times.

Trace clients are created at build time, in order of first appearance in the
trace, and placed by the workload's ``clients:`` mapping or its default
``placement`` rule.  The file is read lazily, once, while the run goes: each
trace client has exactly one pending event (its next row), re-armed from its
own callback as :class:`~sim.workloads.base.Arrivals` does, and a shared
reader hands it its next row, buffering the rows of other clients it reads
past on the way (only rows not yet due are ever held).

A row is sent at ``time_offset + time / speed``, exactly; rows at or after the
end of the run are not sent.  A ``publish`` row is published as is (with its
``reply``, if any).  A ``request`` row is sent the way the request/reply
requesters send theirs (:class:`~sim.workloads.request_reply.Requester`): on
the client's muxed inbox ``_INBOX.<client>.<n>`` (the trace's ``reply`` is not
used), the first reply wins, "no responders" ends it at once, and the row's
``timeout`` (else the workload's) bounds the wait.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterator

from sim.model.client import Client
from sim.model.clock import Call
from sim.model.network import Network
from sim.scenario.checks import resolve_names
from sim.scenario.spec import Placement, Requesters, TraceWorkload
from sim.trace import MsgKind
from sim.tracefile import TraceRow, iter_trace, scan_trace
from sim.workloads.base import client_subjects
from sim.workloads.pubsub import _build_subscribers
from sim.workloads.request_reply import Requester, Responder, _Pending

__all__ = ["build_trace", "trace_client_name"]

_PUBLISH = MsgKind.PUBLISH
_REQUEST = MsgKind.REQUEST


def trace_client_name(workload: str, client: str) -> str:
    """Return the natsim client name of trace client ``client`` of ``workload``."""
    return f"{workload}/{client}"


class _Reader:
    """Reads the trace once, handing each client its rows in file order."""

    __slots__ = ("_queues", "_rows")

    def __init__(self, rows: Iterator[TraceRow], clients: list[str]) -> None:
        self._rows = rows
        self._queues: dict[str, deque[TraceRow]] = {c: deque() for c in clients}

    def next_for(self, client: str) -> TraceRow | None:
        """Return the next row of ``client`` (None after its last)."""
        q = self._queues[client]
        if q:
            return q.popleft()
        for row in self._rows:
            if row.client == client:
                return row
            self._queues[row.client].append(row)
        return None


class _TraceRequester(Requester):
    """A trace client's request side: the Requester's inbox, replies and timeouts."""

    def request(self, subject: str, size: int, timeout: float) -> None:
        """Send one request on the muxed inbox and wait up to ``timeout`` for the reply."""
        client = self.client
        if not client.alive:
            return
        if self.inbox is None:
            self.inbox = client.subscribe(self.prefix + "*", handler=self._on_reply)
        self.seq += 1
        token = str(self.seq)
        msg = client.publish(subject, size, _REQUEST, self.prefix + token)
        if msg is None:
            return
        self.pending[token] = _Pending(msg)
        self.net.clock.after(timeout, self._on_deadline, token)


class _TraceClient:
    """One trace client: sends its rows at their times, one pending event at a time."""

    __slots__ = ("_cbs", "_row", "client", "clock", "end", "name", "offset", "reader", "requester")
    __slots__ += ("speed", "timeout")

    def __init__(
        self,
        net: Network,
        spec: TraceWorkload,
        name: str,
        client: Client,
        reader: _Reader,
        requests: bool,
        end: float,
    ) -> None:
        self.name = name
        self.client = client
        self.clock = net.clock
        self.reader = reader
        self.offset = spec.time_offset
        self.speed = spec.speed
        self.timeout = spec.timeout
        self.end = end
        self._cbs = (self._tick,)
        self._row: TraceRow | None = None
        self.requester: _TraceRequester | None = None
        if requests:
            template = Requesters.model_construct(count=1, rate=0.0, timeout=spec.timeout)
            self.requester = _TraceRequester(net, client, template, [])

    def at(self, row_time: float) -> float:
        """Return the simulated time of a row at ``row_time`` in the trace."""
        return self.offset + row_time / self.speed

    def start(self, first: float) -> None:
        """Arm the first row (read when it fires)."""
        t = self.at(first)
        if t < self.end:
            self.clock.at(t, self._tick)

    def _tick(self, ev: Call) -> None:
        row = self._row if self._row is not None else self.reader.next_for(self.name)
        if row is None:
            return
        if row.kind == "request" and self.requester is not None:
            timeout = row.timeout if row.timeout is not None else self.timeout
            self.requester.request(row.subject, row.size, timeout)
        else:
            self.client.publish(row.subject, row.size, _PUBLISH, row.reply)
        nxt = self.reader.next_for(self.name)
        self._row = nxt
        if nxt is not None:
            t = self.at(nxt.time)
            if t < self.end:
                self.clock.at(t, self._tick)


def _servers_for(net: Network, spec: TraceWorkload) -> dict[str, str]:
    """Return trace client → server, in order of first appearance."""
    summary = scan_trace(spec.trace_path(), spec.format)
    p = spec.placement
    scenario = net.scenario
    if p.servers is not None:
        default = list(p.servers)
    elif p.cluster is not None:
        default = resolve_names(scenario, p.cluster)
    else:
        default = list(net.servers)
    rng = net.streams.stream(f"placement:{spec.name}:trace")
    turns: dict[tuple[str, ...], int] = {}
    out: dict[str, str] = {}
    for name in summary.first:
        target = spec.clients.get(name)
        cands = default if target is None else resolve_names(scenario, target)
        key = tuple(cands)
        k = turns.get(key, 0)
        turns[key] = k + 1
        if p.placement == "random":
            out[name] = cands[rng.randrange(len(cands))]
        else:
            out[name] = cands[k % len(cands)]
    return out


def build_trace(net: Network, spec: TraceWorkload, wid: int, end: float) -> None:
    """Create the trace's receivers and clients and arm each client's first row."""
    for g, group in enumerate(spec.subscribers):
        _build_subscribers(net, spec, wid, g, group, end)  # type: ignore[arg-type]
    for g, group in enumerate(spec.responders):
        template = group.subject or spec.subject or ""
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
    path = spec.trace_path()
    summary = scan_trace(path, spec.format)
    servers = _servers_for(net, spec)
    p = spec.placement
    group = Placement(count=1, latency=p.latency, client=p.client, failover=p.failover)
    reader = _Reader(iter_trace(path, spec.format), list(summary.first))
    for name, first in summary.first.items():
        requests = name in summary.requesters
        role = "requester" if requests else "publisher"
        cname = trace_client_name(spec.name, name)
        client = net.add_client(cname, spec.name, wid, role, servers[name], group)
        _TraceClient(net, spec, name, client, reader, requests, end).start(first)
