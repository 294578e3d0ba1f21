"""What a server counts for its monitoring endpoints, as messages pass.

nats-server keeps these as plain integers updated where messages enter and
leave (``server/client.go`` readLoop stats and ``processMsgResults``
``updateStats``; ``server/gateway.go`` ``sendMsgToGateways``): every
connection kind counts, and a message handed to N connections adds N to
``out_msgs``.  :class:`~sim.model.server.Server` holds one
:class:`Counters` and increments it as messages pass.  On the hot path —
client publishes, deliveries of a batch, route sends, and route arrivals
(which count on their delivery plan: messages, bytes) — it counts only
while a monitor samples (``Server.counting``; plans are marked when made,
and :meth:`Counters.fold` takes their counts; :mod:`sim.model.monitor`
folds, then samples).

Measured on the reference benchmark (bench/bench_hotpath.py, model and
SimPy code, Python bytecodes executed per delivery): 274 without
counters; 304 with four counter updates per route arrival; 291 counting
route arrivals on plans always; 282 counting them only while monitored.
Paired bench runs later showed the other hot-path counters still cost
~7 % of the delivery rate unmonitored, so they are guarded the same way.
The counters live in this slotted object, one attribute of the Server.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

__all__ = ["Counters"]


class Counters:
    """Messages and payload bytes in and out by connection kind, and a few totals.

    Messages in over gateways are the server's ``gateway_in``.  The counts
    run from the start of the run and survive a server restart (a restarted
    nats-server starts again from zero; see docs/monitoring.md).  They are
    complete only in a monitored run: without a monitor, the hot path
    (publishes, batch deliveries, route sends and arrivals) is not counted.
    """

    __slots__ = (
        "in_client_bytes",
        "in_client_msgs",
        "in_gateway_bytes",
        "in_route_bytes",
        "in_route_msgs",
        "out_client_bytes",
        "out_client_msgs",
        "out_gateway_bytes",
        "out_gateway_msgs",
        "out_route_bytes",
        "out_route_msgs",
        "slow_consumers",
        "total_connections",
    )

    def __init__(self) -> None:
        self.in_client_msgs = self.in_client_bytes = 0
        self.in_route_msgs = self.in_route_bytes = 0
        self.in_gateway_bytes = 0
        self.out_client_msgs = self.out_client_bytes = 0
        self.out_route_msgs = self.out_route_bytes = 0
        self.out_gateway_msgs = self.out_gateway_bytes = 0
        #: clients closed as slow consumers (/varz ``slow_consumers``)
        self.slow_consumers = 0
        #: client connections accepted (/varz ``total_connections``, ``s.totalClients``)
        self.total_connections = 0

    def fold(self, plans: Iterable[Any]) -> None:
        """Take the route arrivals counted on delivery ``plans`` since the last fold.

        A route arrival on the fast path counts itself on the server's
        delivery plan for its subject (``r_msgs``, ``r_bytes``: see
        ``Server.on_route_msg``) instead of updating four counters; it
        delivered the message to every one of the plan's ``downs``.
        """
        for plan in plans:
            m, b = plan.r_msgs, plan.r_bytes
            n = len(plan.downs)
            self.in_route_msgs += m
            self.in_route_bytes += b
            self.out_client_msgs += m * n
            self.out_client_bytes += b * n
            plan.r_msgs = plan.r_bytes = 0

    def route_out(self, size: int, n: int) -> None:
        """A message of ``size`` bytes sent on ``n`` routes."""
        self.out_route_msgs += n
        self.out_route_bytes += n * size

    def gateway_out(self, size: int, n: int) -> None:
        """A message of ``size`` bytes sent on ``n`` gateway connections."""
        self.out_gateway_msgs += n
        self.out_gateway_bytes += n * size
