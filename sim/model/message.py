"""Messages and subscriptions as the model handles them (slotted, cheap to create)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["LOCAL", "Msg", "Sub", "TrackedMsg"]

#: ``Sub.peer`` of a subscription held by a client of the server itself.
LOCAL = -1


class Msg:
    """One published message on its way through the network.

    ``expect`` is set when the message reaches its first server: the
    subscriptions that were interested in it at that moment (see
    :mod:`sim.model.intent`), against which deliveries and drops are booked.
    """

    __slots__ = (
        "client",
        "expect",
        "gr",
        "id",
        "kind",
        "origin",
        "reply",
        "request",
        "size",
        "subject",
        "t_pub",
        "workload",
    )

    #: the service-latency probe of a sampled request and its reply (a
    #: :class:`TrackedMsg` sets it; a class attribute costs plain messages nothing)
    track: Any = None

    def __init__(
        self,
        mid: int,
        subject: str,
        reply: str | None,
        size: int,
        t_pub: float,
        client: Any,
        kind: int,
        workload: int,
        request: int = -1,
    ) -> None:
        self.id = mid
        self.subject = subject
        self.reply = reply
        self.size = size
        self.t_pub = t_pub
        self.client = client
        self.kind = kind
        self.workload = workload
        self.request = request
        self.origin = -1
        self.expect: Any = None
        #: (cluster, server id) of the requester's server when a request crossed a
        #: gateway with its reply mapped to ``_GR_.`` (digest §5); copied onto the reply
        self.gr: tuple[str, int] | None = None


class TrackedMsg(Msg):
    """A message whose service latency is measured (``track``: its probe, sim.model.latency)."""

    __slots__ = ("track",)


class Sub:
    """A subscription as a server's sublist holds it.

    A client's own subscription has ``peer == LOCAL`` and ``client`` set.  A
    subscription learned over a route (a "shadow" sub, RS+) has ``peer`` = the
    index of the server it came from and, for a queue group, ``weight`` = the
    number of members there (nats-server ``qw``, digest §1 and §3).
    """

    __slots__ = (
        "client",
        "deny",
        "down",
        "handler",
        "id",
        "lost",
        "peer",
        "queue",
        "reader",
        "server",
        "subject",
        "weight",
    )

    def __init__(
        self,
        sid: int,
        subject: str,
        queue: str | None,
        client: Any = None,
        server: int = -1,
        peer: int = LOCAL,
        weight: int = 1,
        handler: Callable[..., None] | None = None,
    ) -> None:
        self.id = sid
        self.subject = subject
        self.queue = queue
        self.client = client
        self.server = server
        self.peer = peer
        self.weight = weight
        self.handler = handler
        #: the server → client link deliveries travel on (None for a route's shadow sub)
        self.down = client.down if client is not None else None
        #: the DropReason its connection died of (0 while the connection lives)
        self.lost = 0
        #: the client's reader when it does not read at once (a read rate, a
        #: stall): ``reader(arrival, msg, sub, owed, via) -> time read``, or None
        #: when the client records it later or drops it
        self.reader: Callable[..., float | None] | None = None
        #: ``deny(subject) -> bool`` when the client's permissions filter what this
        #: subscription gets (nats-server ``checkDenySub``); None: no filter
        self.deny: Callable[[str], bool] | None = None

    def __repr__(self) -> str:
        who = f"client {self.client.name}" if self.client is not None else f"route {self.peer}"
        q = f" queue {self.queue}" if self.queue else ""
        return f"<Sub {self.subject}{q} {who}>"
