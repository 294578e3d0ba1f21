"""A client connection: publishes, subscribes, and receives status messages.

A client is connected to one server over two one-way links (``up`` to the
server, ``down`` from it), each FIFO with its own latency stream.  What the
client *does* with messages — reply, time out, count — belongs to the
workloads, which register handlers on the subscriptions they make.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from sim.model.clock import Call, Clock
from sim.model.intent import InterestLedger
from sim.model.link import Link
from sim.model.message import Msg, Sub
from sim.trace import MsgKind, Trace

if TYPE_CHECKING:
    from sim.model.server import Server

__all__ = ["Client"]


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
        #: called with the request message when a 503 no-responders status arrives
        self.status_handler: Callable[[Msg], None] | None = None

    def __repr__(self) -> str:
        return f"<Client {self.name} on {self.server.name}>"

    def publish(
        self,
        subject: str,
        size: int,
        kind: MsgKind = MsgKind.PUBLISH,
        reply: str | None = None,
        request: int = -1,
    ) -> Msg:
        """Publish now; the message reaches the server after the link delay."""
        now = self.clock.env._now
        mid = self.trace.add_msg(now, self.id, self.server.idx, subject, size, kind, 0, request)
        msg = Msg(mid, subject, reply, size, now, self, kind, self.workload, request)
        self.up.send(now, self.server.on_client_msg, msg)
        return msg

    def subscribe(
        self,
        subject: str,
        queue: str | None = None,
        handler: Callable[[Call], None] | None = None,
    ) -> Sub:
        """Send SUB now; ``handler`` (if any) is called at each delivery."""
        now = self.clock.now
        sid = self.trace.add_sub(self.id, subject, queue, now)
        sub = Sub(sid, subject, queue, client=self, server=self.server.idx, handler=handler)
        self.ledger.add(sub)
        self.up.send(now, self.server.on_client_sub, sub)
        return sub

    def unsubscribe(self, sub: Sub) -> None:
        """Send UNSUB now; the server stops delivering once it arrives."""
        now = self.clock.now
        self.ledger.remove(sub)
        self.trace.end_sub(sub.id, now)
        self.up.send(now, self.server.on_client_unsub, sub)

    def on_no_responders(self, ev: Call) -> None:
        """A 503 status arrives for the request ``ev.value``."""
        if self.status_handler is not None:
            self.status_handler(ev._value)
