"""Service latency tracking: one probe per sampled request, one sample per answer.

nats-server measures a tracked service request at two servers (digest §10,
``sendTrackingLatency``, ``trackRemoteReply``, ``ServiceLatency.merge`` in
server/accounts.go and server/client.go):

* the requester's server notes ``ts`` when it handles the request through
  the service import, and when the response comes back computes
  ``serviceRTT = now − ts``;
* if the responder is one of its own clients: ``service = serviceRTT −
  responder.rtt``, ``system`` ≈ 0 (the internal time since ``now``),
  ``total = requestor.rtt + serviceRTT + system``;
* otherwise the responder's server measured M2 — from delivering the request
  to its client to handling that client's reply: ``M2.service = that −
  responder.rtt`` — and the requester's server merges: ``system =
  serviceRTT − (M2.service + responder.rtt)``, ``service = M2.service``,
  ``total = requestor.rtt + serviceRTT``;
* negative durations are clamped to 0 (``sanitizeLatencyMetric``);
  ``start = ts − requestor.rtt``.

The result is published in the *exporting* account on the export's results
subject, by the requester's server, as a ``io.nats.server.metric.v1.service_latency``
event.  Client RTTs are what the server measured by PING/PONG: here, twice
the mean one-way latency of the client's connection (:meth:`Network.client_rtt`).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sim.trace import MsgKind

if TYPE_CHECKING:
    from sim.model.accounts import ServiceImport
    from sim.model.message import Msg, Sub
    from sim.model.server import Server

__all__ = ["SERVICE_LATENCY_TYPE", "LatencyProbe", "LatencyTracker", "sample_json"]

#: ``ServiceLatencyType`` (server/events.go)
SERVICE_LATENCY_TYPE = "io.nats.server.metric.v1.service_latency"

_NAN = math.nan


class LatencyProbe:
    """The server-side times of one sampled request and its first reply."""

    __slots__ = (
        "done",
        "reply_at",
        "req_server",
        "requester",
        "responder",
        "si",
        "starts",
        "tracker",
        "ts",
    )

    def __init__(self, tracker: LatencyTracker, si: ServiceImport, requester: Any) -> None:
        self.tracker = tracker
        self.si = si
        self.requester = requester
        #: when the requester's server handled the request (``si.ts``), and which server
        self.ts = _NAN
        self.req_server = -1
        #: client id → when its server delivered it the request (``M2.RequestStart``)
        self.starts: dict[int, float] = {}
        #: the client that replied first, and when its server handled the reply
        self.responder: Any = None
        self.reply_at = _NAN
        self.done = False

    def handled(self, server: Server, t0: float, msg: Msg) -> None:
        """``server`` handled the tracked request or a reply to it at ``t0``."""
        if msg.kind == MsgKind.REPLY:
            if self.responder is None:
                self.responder = msg.client
                self.reply_at = t0
        elif self.req_server < 0:
            self.ts = t0
            self.req_server = server.idx

    def delivered(self, server: Server, sub: Sub, t0: float, msg: Msg) -> None:
        """``server`` delivered the request or a reply to ``sub`` at ``t0``."""
        client = sub.client
        if msg.kind != MsgKind.REPLY:
            self.starts.setdefault(client.id, t0)
        elif client is self.requester and not self.done and msg.client is self.responder:
            self.done = True
            self.tracker.finish(self, server, t0)


class LatencyTracker:
    """Makes probes for sampled requests and turns finished ones into samples.

    The samples are recorded (the ``service_latency`` table) and published on
    the export's results subject by a system client of the requester's server,
    so subscribers of the scenario receive them as any message.
    """

    def __init__(self, net: Any) -> None:
        self.net = net
        self._system: dict[int, Any] = {}
        self._ids = 0

    def probe(self, si: ServiceImport, requester: Any) -> LatencyProbe:
        """A probe for a request ``requester`` is sending through ``si``."""
        return LatencyProbe(self, si, requester)

    def finish(self, p: LatencyProbe, server: Server, t_back: float) -> None:
        """The reply reached the requester's server: compute, record and publish the sample."""
        net = self.net
        req_rtt = net.client_rtt(p.requester)
        resp_rtt = net.client_rtt(p.responder)
        service_rtt = t_back - p.ts
        local = p.responder.server is server
        if local:
            service = service_rtt - resp_rtt
            system = 0.0
            total = req_rtt + service_rtt + system
        else:
            start2 = p.starts.get(p.responder.id, p.reply_at)
            service = max(0.0, (p.reply_at - start2) - resp_rtt)
            system = service_rtt - (service + resp_rtt)
            total = req_rtt + service_rtt
        service = max(0.0, service)
        system = max(0.0, system)
        start = p.ts - req_rtt
        lat = p.si.latency
        assert lat is not None
        exporter = p.si.exporter
        sample_id = self._ids
        self._ids += 1
        row = (
            sample_id,
            t_back,
            exporter.name,
            p.requester.account.name,
            p.si.source,
            p.requester.id,
            p.responder.id,
            server.idx,
            p.responder.server.idx,
            start,
            service,
            system,
            total,
            req_rtt,
            resp_rtt,
            200,
        )
        payload = sample_json(row, net.trace.servers, [c[0] for c in net.trace.clients])
        sysclient = self._system_client(server)
        msg = sysclient.publish(exporter.prefix + lat.subject, len(payload))
        net.trace.add_latency_sample(row, msg.id if msg is not None else -1)

    def _system_client(self, server: Server) -> Any:
        """The server's internal client that publishes its samples (created once)."""
        c = self._system.get(server.idx)
        if c is None:
            c = self._system[server.idx] = self.net.add_system_client(server)
        return c


def _ns(seconds: float) -> int:
    return round(float(seconds) * 1e9)


def sample_json(row: tuple, servers: Sequence[tuple[str, str]], clients: Sequence[str]) -> bytes:
    """The sample as nats-server publishes it (``ServiceLatency``, server/accounts.go).

    ``row`` is a ``service_latency`` record (sim.results.LATENCY_COLUMNS up to
    ``status``, ids for clients and servers); ``servers`` gives (name,
    cluster) and ``clients`` the name by id.  Durations in nanoseconds,
    ``start`` as an RFC 3339 time on the simulated clock (its epoch taken as
    1970-01-01T00:00:00Z), client info as ``ClientInfo``.
    """
    (sid, t, exporter, importer, _subject, req, resp, req_srv, resp_srv) = row[:9]
    start, service, system, total, req_rtt, resp_rtt, status = row[9:16]

    def info(cid: int, srv: int, acc: str, rtt: float) -> dict[str, Any]:
        return {
            "acc": str(acc),
            "rtt": _ns(rtt),
            "server": str(servers[int(srv)][0]),
            "cluster": str(servers[int(srv)][1]),
            "name": str(clients[int(cid)]),
            "kind": "Client",
            "client_type": "nats",
        }

    body = {
        "type": SERVICE_LATENCY_TYPE,
        "id": f"sample-{int(sid)}",
        "timestamp": _rfc3339(float(t)),
        "status": int(status),
        "requestor": info(req, req_srv, importer, req_rtt),
        "responder": info(resp, resp_srv, exporter, resp_rtt),
        "start": _rfc3339(float(start)),
        "service": _ns(service),
        "system": _ns(system),
        "total": _ns(total),
    }
    return json.dumps(body, separators=(",", ":")).encode()


def _rfc3339(t: float) -> str:
    """A simulated time as RFC 3339 with nanoseconds, the clock's epoch being the Unix epoch."""
    whole = math.floor(t)
    stamp = datetime.fromtimestamp(whole, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    return f"{stamp}.{_ns(t - whole):09d}Z"
