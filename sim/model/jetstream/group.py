"""A replication group: its Raft nodes, one per server, and the route between any two.

The rules each node follows are in :mod:`.raft`; the group places the nodes,
starts the first term, says who leads, and carries messages between nodes
on the route links of their servers.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from sim.model.clock import Call, Clock
from sim.model.jetstream.raft import Entry, RaftNode

if TYPE_CHECKING:
    from sim.model.server import Server

__all__ = ["RaftGroup"]


class RaftGroup:
    """The nodes of one replication group and how they reach each other.

    Parameters
    ----------
    name : str
        The group's name (the stream's).
    servers : list of Server
        The servers of its replicas; the first one leads from the start.
    clock : Clock
    rngs : callable
        ``rngs(server) -> random.Random``: each node's stream for its timeouts.
    write_time : float
        Seconds a node's store takes per entry.
    apply : callable
        ``apply(node, index, entry)``: a committed entry reaches a node's state.
    on_role : callable
        ``on_role(node, leader)``: the node became (True) or stopped being the leader.
    """

    def __init__(
        self,
        name: str,
        servers: list[Server],
        clock: Clock,
        rngs: Callable[[Server], random.Random],
        write_time: float,
        apply: Callable[[RaftNode, int, Entry], None],
        on_role: Callable[[RaftNode, bool], None],
    ) -> None:
        self.name = name
        self.clock = clock
        self.write_time = write_time
        self.apply = apply
        self.on_role = on_role
        self.nodes = {s.idx: RaftNode(self, s, rngs(s)) for s in servers}
        self.members = list(self.nodes)
        self.quorum = len(self.members) // 2 + 1
        #: (server, leader, term) at every change of leader, for the failover analysis
        self.history: list[tuple[float, int, int]] = []

    def start(self) -> None:
        """The group exists at time 0 with its first server as leader (term 1).

        nats-server has the placement's preferred peer campaign at once when
        it creates a group (``CampaignImmediately`` in jetstream_cluster.go);
        the simulation starts with that election done.
        """
        first = self.nodes[self.members[0]]
        for node in self.nodes.values():
            node.term = 1
            node.voted = first.idx
            if node is not first and node.up:
                node.arm_election()
        if first.up:
            first._become_leader()

    def freshest(self) -> RaftNode | None:
        """The running node with the most up-to-date log (last term, then length)."""
        running = [n for n in self.nodes.values() if n.up]
        if not running:
            return None
        return max(running, key=lambda n: (n.log[-1].term if n.log else 0, len(n.log)))

    def peers_of(self, node: RaftNode) -> list[int]:
        """The other members of ``node``'s group."""
        return [m for m in self.members if m != node.idx]

    @property
    def leader(self) -> RaftNode | None:
        """The node leading the latest term, if any runs."""
        best = None
        for node in self.nodes.values():
            if node.is_leader and (best is None or node.term > best.term):
                best = node
        return best

    def send(
        self,
        src: RaftNode,
        dst: int,
        fn: Callable[[RaftNode, Call], None],
        arg: Any,
        t: float | None = None,
    ) -> bool:
        """Send ``arg`` from ``src`` to member ``dst`` over their route; False if there is none."""
        route = src.server.routes.get(dst)
        if route is None or not src.up:
            return False
        target = self.nodes[dst]
        route[0].send(
            self.clock.now if t is None else t, getattr(target, fn.__name__), (src.idx, arg)
        )
        return True
