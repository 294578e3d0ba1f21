"""The JetStream layer of a network: its streams, internal clients, and fault hooks.

Built by :class:`~sim.model.network.Network` when a scenario has ``streams``.
It hooks into the core only through the core's own abstractions:

* each server gets an *internal client* (nats-server's internal JetStream
  client of the account, ``jsa``/``sendq``): a connection with no latency
  that subscribes the leader's subjects and publishes PubAcks and consumer
  deliveries, so they route, cross gateways, get lost and are booked like any
  core message; it is not one of the server's client connections, so a crash
  does not make it reconnect elsewhere — it stops with its server;
* replication travels on the route links between servers, and is held,
  released or lost with them (a decoder given to :class:`~sim.model.wire.Wire`
  tells it which connection a Raft message is on);
* the fault operations tell it when a server stops or starts
  (``Outages.watchers``): the server's Raft nodes stop or rejoin.

Publish headers and PubAck bodies are not modelled as bytes: the tables
``app_of`` (core message → application message), ``msg_ids`` (core message →
``Nats-Msg-Id``) and ``pub_results`` (publish → what its PubAck says) stand
for them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sim.jstrace import JsStoreOutcome
from sim.model.client import Client
from sim.model.jetstream.raft import RaftNode
from sim.model.jetstream.stream import Stream
from sim.trace import DropReason

if TYPE_CHECKING:
    from sim.model.server import Server
    from sim.model.wire import ConnKey
    from sim.scenario.spec import StreamSpec

__all__ = ["JetStream"]

_RAFT_CALLS = (
    RaftNode.on_append,
    RaftNode.on_append_reply,
    RaftNode.on_vote_request,
    RaftNode.on_vote,
)


class JetStream:
    """The streams of a network and what they share.

    Parameters
    ----------
    net : Network
        The core network, built; the streams' first leaders are elected at
        once (time 0).
    """

    def __init__(self, net: Any) -> None:
        self.net = net
        self.clock = net.clock
        self.trace = net.trace
        self.clients: dict[int, Client] = {}
        #: core message id → application message number / Nats-Msg-Id / PubAck content
        self.app_of: dict[int, int] = {}
        self.msg_ids: dict[int, str] = {}
        self.pub_results: dict[int, tuple[JsStoreOutcome, int]] = {}
        sc = net.scenario
        self.streams: dict[str, Stream] = {}
        for spec in sc.streams:
            consumers = [c for c in sc.consumers if c.stream == spec.name]
            self.streams[spec.name] = Stream(spec, consumers, self, self._place(spec))
        net.decoders.append(self._decode)
        net.outages.watchers.append(self._on_server)
        for stream in self.streams.values():
            stream.start()

    def _place(self, spec: StreamSpec) -> list[Server]:
        """The servers of a stream's replicas: as listed, or drawn from its cluster."""
        servers = self.net.servers
        if spec.servers is not None:
            return [servers[n] for n in spec.servers]
        cluster = spec.cluster or next(iter(self.net.scenario.topology.clusters))
        members = [s for s in self.net.servers_by_idx if s.cluster == cluster]
        rng = self.net.streams.stream(f"placement:stream:{spec.name}")
        return rng.sample(members, spec.replicas)

    def internal(self, srv: Server) -> Client:
        """The server's internal JetStream client (made on first use)."""
        client = self.clients.get(srv.idx)
        if client is None:
            name = f"$JS.{srv.name}"
            client = self.net.internal_client(srv, name, "jetstream", None, -1)
            self.clients[srv.idx] = client
        return client

    def stored_app(self, stream: str, seq: int) -> int:
        """The application message stored in ``stream`` as ``seq`` (-1 if unknown)."""
        return self.streams[stream].apps.get(seq, -1)

    # ---------------------------------------------------------------- hooks
    def _on_server(self, srv: Server, running: bool) -> None:
        """A server stopped or started: its Raft nodes follow; its internal traffic is lost."""
        for stream in self.streams.values():
            node = stream.group.nodes.get(srv.idx)
            if node is None:
                continue
            if running:
                node.restarted()
            else:
                node.crashed()
        client = self.clients.get(srv.idx)
        if client is not None and not running:
            for sub in list(client.subs.values()):
                client.unsubscribe(sub)
            reason = self.net.wire.down_reason.get(srv.idx, DropReason.SERVER_DOWN)
            self.net.wire.lose({("c", client.id)}, reason, (client.up, client.down), scan=True)

    def _decode(self, owner: Any, fn: Any, value: Any) -> tuple[ConnKey, str, int] | None:
        """The route a Raft message travels on (see ``Network._decode``)."""
        if isinstance(owner, RaftNode) and fn in _RAFT_CALLS:
            src, dst = value[0], owner.idx
            return ("r", min(src, dst), max(src, dst)), "control", dst
        return None

    def close(self, end: float) -> None:
        """The run ended: book what the streams still wait for."""
        for stream in self.streams.values():
            stream.close(end)
